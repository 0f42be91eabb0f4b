import { z } from 'zod';

// Request shapes of the facilioo surface (seed 003). Shape and type checks here; domain rules (MIME syntax,
// category limits, tenancy) stay in the services.

// Control characters in a name end up in headers and logs; refuse them rather than strip silently.
const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

export const linkSchema = z.object({
  entityName: text(200),
  entityReference: text(500),
});
export type LinkBody = z.output<typeof linkSchema>;

export const createFileSchema = z.object({
  originalFilename: text(255),
  fileTypeId: text(100),
  externalId: text(200).optional(),
  /** The Content-Type the client will PUT with; defaults to the file type's only MIME type, if it has one. */
  contentType: text(200).optional(),
  links: z.array(linkSchema).max(50, 'takes at most 50 links').optional(),
});
export type CreateFileBody = z.output<typeof createFileSchema>;

const pagingField = z.union([z.string(), z.array(z.string())]).optional();

export const listFilesQuerySchema = z.object({
  entityName: text(200).optional(),
  entityReference: text(500).optional(),
  // Checked by parsePageRequest, which words its own messages.
  page: pagingField,
  limit: pagingField,
});
export type ListFilesQuery = z.output<typeof listFilesQuerySchema>;

export const thumbnailQuerySchema = z.object({
  width: z
    .string()
    .regex(/^[0-9]{1,4}$/, 'must be a whole number of pixels from 1 to 4096')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 4096, 'must be a whole number of pixels from 1 to 4096')
    .optional(),
});

const visibility = z.enum(['private', 'public']).transform((v) => (v === 'public' ? ('PUBLIC' as const) : ('PRIVATE' as const)));
const maxBytes = z.number().int('must be a whole number').positive('must be positive').nullable();

export const createFileTypeSchema = z.strictObject({
  key: z.string(),
  name: z.string(),
  mimeTypes: z.array(z.string()).optional(),
  extensions: z.array(z.string()).optional(),
  maxBytes: maxBytes.optional(),
  defaultVisibility: visibility.optional(),
});
export type CreateFileTypeBody = z.output<typeof createFileTypeSchema>;

// The key is what clients send as their category; it stays fixed, so it is not accepted here.
export const updateFileTypeSchema = z.strictObject({
  name: z.string().optional(),
  mimeTypes: z.array(z.string()).optional(),
  extensions: z.array(z.string()).optional(),
  maxBytes: maxBytes.optional(),
  defaultVisibility: visibility.optional(),
});
export type UpdateFileTypeBody = z.output<typeof updateFileTypeSchema>;
