import { z } from 'zod';
import { FILE_TYPES, type FileType } from './epilot.view';

// Request shapes of the epilot surface, as loose as the client's schemas are (extra keys are kept, not refused:
// CommonSaveFilePayload allows additional properties), strict where a wrong value would corrupt data.

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);
export const s3refSchema = z.object({ bucket: text(255).min(1, 'must not be empty'), key: text(1024).min(1, 'must not be empty') }, { error: 'must be {bucket, key}' });
const fileEntityId = z.union([z.literal(''), z.uuid({ error: 'must be a UUID' })]);

export const uploadFileSchema = z.object({
  filename: text(255).min(1, 'must not be empty'),
  mime_type: text(200).optional(),
  index_tag: text(64).optional(),
  metadata: z.record(z.string(), z.string({ error: 'values must be strings' })).optional(),
});
export type UploadFileBody = z.output<typeof uploadFileSchema>;

const relation = z.object({ entity_id: text(200).min(1), _schema: text(200).optional(), _tags: z.array(text(200)).max(100).optional() });

export const saveFileSchema = z
  .object({
    _id: fileEntityId.optional(),
    file_entity_id: z.string().optional(),
    relations: z.array(relation).max(500).optional(),
    _tags: z.array(text(200)).max(200).optional(),
    _purpose: z.array(text(200)).max(200).optional(),
    _manifest: z.array(text(200)).max(200).optional(),
    filename: text(255).optional(),
    type: z.enum(FILE_TYPES as [FileType, ...FileType[]], { error: `must be one of ${FILE_TYPES.join(', ')}` }).optional(),
    mime_type: text(200).optional(),
    access_control: z.enum(['private', 'public-read'], { error: "must be 'private' or 'public-read'" }).optional(),
    custom_download_url: text(4096).optional(),
    source_url: text(4096).optional(),
    s3ref: s3refSchema.optional(),
    _acl: z.object({ view: z.array(z.string()).optional(), edit: z.array(z.string()).optional(), delete: z.array(z.string()).optional() }).optional(),
  })
  .passthrough();
export type SaveFileBody = z.output<typeof saveFileSchema>;

export const batchVersionSchema = z
  .object({
    _id: fileEntityId.optional(),
    file_entity_id: z.string().optional(),
    filename: text(255).optional(),
    mime_type: text(200).optional(),
    access_control: z.enum(['private', 'public-read']).optional(),
    s3ref: s3refSchema,
  })
  .strict();
export type BatchVersionBody = z.output<typeof batchVersionSchema>;

export const saveFileV2Schema = z.union([z.array(batchVersionSchema).min(1, 'a batch needs 1 to 20 versions').max(20, 'a batch needs 1 to 20 versions'), saveFileSchema]);

export const downloadFilesSchema = z.array(z.object({ id: z.string().min(1), version: z.number().int().min(0).optional() })).min(1).max(100, 'at most 100 files per request');

export const verifyUrlSchema = z.object({ custom_download_url: z.string({ error: 'is required' }).min(1) });

export const collectionAttributesSchema = z.object({
  name: text(200).trim().min(1, 'must not be empty').optional(),
  parents: z.array(text(400)).max(20).optional(),
  starred: z.boolean().optional(),
  enabled_locations: z.array(text(200)).max(100).optional(),
  enabled_purposes: z.array(text(200)).max(100).optional(),
});
export const collectionCreateSchema = collectionAttributesSchema.extend({ name: text(200).trim().min(1, 'must not be empty') });
export type CollectionAttributes = z.output<typeof collectionAttributesSchema>;

/** Query flags arrive as strings ("true"); absent means the documented default. */
export function flag(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  if (value === 'true' || value === true) return true;
  if (value === 'false' || value === false) return false;
  return fallback;
}

export function intParam(value: unknown, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !/^\d{1,6}$/.test(value)) throw new TypeError(`${name} must be a whole number`);
  return Number(value);
}
