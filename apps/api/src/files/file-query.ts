import { z } from 'zod';

// Query and body shapes of our own REST surface (`/files`).

const one = z.string().trim().min(1).max(200).optional();

export const listFilesQuerySchema = z.object({
  status: z.enum(['UPLOADING', 'PROCESSING', 'READY', 'FAILED', 'QUARANTINED'], { error: 'must be UPLOADING, PROCESSING, READY, FAILED or QUARANTINED' }).optional(),
  /** A MIME type prefix: `image`, `application/pdf`, `text`… */
  type: z
    .string()
    .regex(/^[a-z0-9.+-]+(\/[a-z0-9.+-]*)?$/i, 'must be a MIME type or its first part, e.g. image or application/pdf')
    .optional(),
  tag: one,
  entityName: one,
  entityReference: one,
  q: one,
  page: z.string().optional(),
  limit: z.string().optional(),
  sort: z.enum(['createdAt', 'name', 'size'], { error: 'must be createdAt, name or size' }).optional(),
  order: z.enum(['asc', 'desc'], { error: 'must be asc or desc' }).optional(),
});

export const updateFileSchema = z
  .object({
    name: z
      .string()
      .trim()
      .min(1, 'must not be empty')
      .max(255, 'must be at most 255 characters')
      .refine((s) => !/[\u0000-\u001f\u007f/\\]/.test(s), 'must not contain control characters or slashes')
      .optional(),
    visibility: z.enum(['private', 'public'], { error: "must be 'private' or 'public'" }).optional(),
    tags: z.array(z.string().trim().min(1).max(100)).max(100, 'at most 100 tags').optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'name, visibility or tags: give at least one');
