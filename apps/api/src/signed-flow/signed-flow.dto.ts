import { z } from 'zod';

// Request shapes of the signed REST flow (seed 000, Condo). Like Condo's own server (packages/files/utils.js) the
// objects are strict: a key the seed does not define is refused by name, so a typo never passes silently.

const dv = z.literal(1, { error: 'must be 1 (the only data version there is)' });

const id = (what: string) =>
  z
    .string({ error: `must be a string (${what})` })
    .min(1, 'must not be empty')
    .max(200, 'must be at most 200 characters')
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

// Condo's fingerprint alphabet, with room for longer device fingerprints.
const sender = z
  .object(
    {
      dv,
      fingerprint: z
        .string({ error: 'must be a string' })
        .regex(/^[a-zA-Z0-9!#$%()*+\-;=,:[\]/.?@^_`~]{5,128}$/, 'must be 5 to 128 letters, digits or punctuation'),
    },
    { error: 'must be an object {dv: 1, fingerprint}' },
  )
  .strict();

const modelNames = z
  .array(id('a model name'), { error: 'must be an array of model names' })
  .min(1, 'must name at least one model')
  .max(50, 'must name at most 50 models');

/** The `meta` field of an upload (seed: "Upload meta structure"). */
export const uploadMetaSchema = z
  .object(
    {
      dv,
      sender,
      user: z.object({ id: id('the user id') }, { error: 'must be an object {id}' }).strict(),
      fileClientId: id('the file client id'),
      modelNames,
      organization: z.object({ id: id('the organization id') }, { error: 'must be an object {id}' }).strict().optional(),
    },
    { error: 'must be a JSON object' },
  )
  .strict();
export type UploadMeta = z.output<typeof uploadMetaSchema>;

/** The optional `attach` field of an upload. */
export const inlineAttachSchema = z
  .object({ dv, sender, modelName: id('a model name'), itemId: id('the record id') }, { error: 'must be a JSON object' })
  .strict();
export type InlineAttach = z.output<typeof inlineAttachSchema>;

export const sharePayloadSchema = z
  .object(
    {
      dv,
      sender,
      id: id('the file id'),
      user: z.object({ id: id('the user id') }, { error: 'must be an object {id}' }).strict(),
      fileClientId: id('the file client id'),
      modelNames: modelNames.optional(),
    },
    { error: 'must be a JSON object' },
  )
  .strict();
export type SharePayload = z.output<typeof sharePayloadSchema>;

export const attachPayloadSchema = z
  .object(
    {
      dv,
      sender,
      modelName: id('a model name'),
      itemId: id('the record id'),
      fileClientId: id('the file client id'),
      signature: z.string({ error: 'must be the signature string from upload or share' }).min(1, 'must not be empty').max(8192),
    },
    { error: 'must be a JSON object' },
  )
  .strict();
export type AttachPayload = z.output<typeof attachPayloadSchema>;

/** `share` and `attach` accept the payload as the body itself or wrapped as `{payload}` (how the SDK's options read). */
export function unwrapPayload(body: unknown): unknown {
  if (body && typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 1 && 'payload' in body) {
    return (body as { payload: unknown }).payload;
  }
  return body;
}
