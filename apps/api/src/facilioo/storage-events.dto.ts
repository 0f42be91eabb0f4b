import { z } from 'zod';

// An S3 event notification as MinIO's webhook target POSTs it: `{EventName, Key, Records: [...]}`, one record per
// request in practice; AWS-style batches of several records are accepted too. Only the fields we use are checked.
const recordSchema = z.object({
  eventName: z.string().min(1),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      // URL-encoded, as in every S3 notification.
      key: z.string().min(1).max(2048),
      size: z.number().int().nonnegative().optional(),
    }),
  }),
});

export const storageEventSchema = z.object({
  EventName: z.string().optional(),
  Key: z.string().optional(),
  Records: z.array(recordSchema).min(1, 'must hold at least one record').max(100, 'takes at most 100 records'),
});
export type StorageEvent = z.output<typeof storageEventSchema>;
export type StorageEventRecord = StorageEvent['Records'][number];

export interface StorageEventOutcome {
  key: string;
  /** completed: the upload moved on (or already had); ignored: not an upload of ours; refused: it can't complete. */
  outcome: 'completed' | 'ignored' | 'refused';
  status?: string;
  reason?: string;
}
