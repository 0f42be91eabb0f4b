import { z } from 'zod';

export const createMultipartSchema = z
  .object({
    filename: z.string(),
    contentType: z.string().min(1).max(255).optional(),
    size: z.number().int('must be a whole number of bytes').min(1, 'must be at least 1 byte').max(Number.MAX_SAFE_INTEGER),
    partSize: z.number().int('must be a whole number of bytes').optional(),
    category: z.string().min(1).optional(),
    visibility: z.enum(['private', 'public']).optional(),
  })
  .strict();

export const signPartsSchema = z
  .object({
    partNumbers: z.array(z.number().int('part numbers are whole numbers').min(1).max(10_000)).min(1).max(1000),
  })
  .strict();

export const completeMultipartSchema = z
  .object({
    parts: z
      .array(z.object({ partNumber: z.number().int().min(1).max(10_000), etag: z.string().min(1).max(200) }).strict())
      .min(1)
      .max(10_000),
  })
  .strict();

export interface MultipartStartedView {
  fileId: string;
  uploadId: string;
  partSize: number;
  partCount: number;
  /** Unfinished uploads are aborted after this (RESUMABLE_UPLOAD_TTL_SECONDS). */
  expiresAt: string;
}

export interface SignedPartsView {
  parts: { partNumber: number; url: string }[];
  /** The URLs stop working then (SIGNED_URL_TTL_SECONDS); ask again for fresh ones. */
  expiresAt: string;
}
