import { createHmac, timingSafeEqual } from 'node:crypto';
import { assertValidKey } from './storage-locator';

// Pure signing and verification for the local driver's URLs; the controller only maps HTTP to these.

export const LOCAL_STORAGE_PATH = '/storage/v1';

export type SignedMethod = 'GET' | 'PUT';

export interface ObjectUrlClaims {
  method: SignedMethod;
  key: string;
  /** Unix time in seconds after which the URL is refused. */
  expires: number;
  /** Content-Disposition to answer with (GET only). */
  disposition?: string;
  /** GET: Content-Type to answer with. PUT: Content-Type the upload must carry. */
  contentType?: string;
}

export interface PostPolicyInput {
  key: string;
  /** Unix time in milliseconds. */
  expiresAt: number;
  contentType?: string;
  minBytes: number;
  maxBytes: number;
}

export interface VerifiedPostPolicy {
  key: string;
  /** Content-Type form field, when sent (pinned by the policy or free). */
  contentType?: string;
  minBytes: number;
  maxBytes: number;
}

/** A refused signed request; `code` is the S3 error code a client of S3 would see for the same mistake. */
export class SignedRequestError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 416,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SignedRequestError';
  }
}

const QUERY_PARAMS: Record<SignedMethod, readonly string[]> = {
  GET: ['expires', 'disposition', 'type', 'signature'],
  PUT: ['expires', 'type', 'signature'],
};

// Policy fields S3 also leaves out of the "every field must be covered by a condition" rule.
const UNCONDITIONED_FIELDS = new Set(['policy', 'signature', 'file']);

const SIGNATURE_PATTERN = /^[0-9a-f]{64}$/;

function hmac(secret: string, purpose: string, payload: string): Buffer {
  // The purpose keeps an object-URL signature from ever passing as a policy signature, and back.
  return createHmac('sha256', secret).update(`filehub-storage-v1:${purpose}\n${payload}`).digest();
}

function sameSignature(expected: Buffer, given: string | undefined): boolean {
  if (given === undefined || !SIGNATURE_PATTERN.test(given)) return false;
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}

function canonicalObjectUrl(claims: ObjectUrlClaims): string {
  // JSON keeps the fields unambiguous whatever characters they contain, and tells "absent" from "empty".
  return JSON.stringify([
    claims.method,
    claims.key,
    claims.expires,
    claims.disposition ?? null,
    claims.contentType ?? null,
  ]);
}

export function objectPath(key: string): string {
  return `${LOCAL_STORAGE_PATH}/object/${assertValidKey(key).split('/').map(encodeURIComponent).join('/')}`;
}

/** `baseUrl` is the public origin (plus any prefix) the API is reached at, without the `/storage/v1` part. */
export function signObjectUrl(baseUrl: string, secret: string, claims: ObjectUrlClaims): string {
  const url = new URL(baseUrl.replace(/\/+$/, '') + objectPath(claims.key));
  url.searchParams.set('expires', String(claims.expires));
  if (claims.disposition !== undefined) url.searchParams.set('disposition', claims.disposition);
  if (claims.contentType !== undefined) url.searchParams.set('type', claims.contentType);
  url.searchParams.set('signature', hmac(secret, 'object', canonicalObjectUrl(claims)).toString('hex'));
  return url.toString();
}

/** Throws SignedRequestError (403) when the URL was not signed for this method and key, was altered, or expired. */
export function verifyObjectUrl(
  secret: string,
  method: SignedMethod,
  key: string,
  query: URLSearchParams,
  nowMs: number = Date.now(),
): ObjectUrlClaims {
  const allowed = QUERY_PARAMS[method];
  const seen = new Set<string>();
  for (const name of query.keys()) {
    if (!allowed.includes(name)) {
      throw new SignedRequestError(403, 'AccessDenied', `Query parameter "${name}" is not part of a signed ${method} URL`);
    }
    if (seen.has(name)) throw new SignedRequestError(403, 'AccessDenied', `Query parameter "${name}" appears twice`);
    seen.add(name);
  }
  const signature = query.get('signature') ?? undefined;
  const expiresRaw = query.get('expires');
  if (signature === undefined || expiresRaw === null) {
    throw new SignedRequestError(403, 'AccessDenied', 'The URL is not signed: "expires" and "signature" are required');
  }
  // Strict digits only, so one expiry has exactly one spelling.
  const expires = /^[1-9][0-9]{0,11}$/.test(expiresRaw) ? Number(expiresRaw) : Number.NaN;
  const claims: ObjectUrlClaims = {
    method,
    key,
    expires,
    disposition: query.get('disposition') ?? undefined,
    contentType: query.get('type') ?? undefined,
  };
  if (Number.isNaN(expires) || !sameSignature(hmac(secret, 'object', canonicalObjectUrl(claims)), signature)) {
    throw new SignedRequestError(
      403,
      'SignatureDoesNotMatch',
      `The signature does not match this ${method} request: the URL was altered or signed for another object or method`,
    );
  }
  if (nowMs > expires * 1000) {
    throw new SignedRequestError(403, 'AccessDenied', `Request has expired at ${new Date(expires * 1000).toISOString()}`);
  }
  return claims;
}

/** Builds the S3-style policy document (base64 JSON) and its signature. */
export function signPostPolicy(secret: string, input: PostPolicyInput): { policy: string; signature: string } {
  const conditions: unknown[] = [
    { key: input.key },
    // Pinned types must match exactly; otherwise the form may carry any Content-Type (as in S3's starts-with "").
    input.contentType === undefined ? ['starts-with', '$Content-Type', ''] : { 'Content-Type': input.contentType },
    ['content-length-range', input.minBytes, input.maxBytes],
  ];
  const policy = Buffer.from(
    JSON.stringify({ expiration: new Date(input.expiresAt).toISOString(), conditions }),
    'utf8',
  ).toString('base64');
  return { policy, signature: hmac(secret, 'post-policy', policy).toString('hex') };
}

function policyFailed(condition: unknown): SignedRequestError {
  return new SignedRequestError(
    403,
    'AccessDenied',
    `Invalid according to Policy: Policy Condition failed: ${JSON.stringify(condition)}`,
  );
}

function invalidPolicy(reason: string): SignedRequestError {
  return new SignedRequestError(400, 'InvalidPolicyDocument', `Invalid Policy: ${reason}`);
}

/**
 * Checks the signature, the expiry and every condition of a POST policy against the form fields sent before
 * the file. `fields` must use lower-case names (form field names are case-insensitive, as in S3).
 */
export function verifyPostPolicy(
  secret: string,
  fields: ReadonlyMap<string, string>,
  nowMs: number = Date.now(),
): VerifiedPostPolicy {
  const policy = fields.get('policy');
  const signature = fields.get('signature');
  if (policy === undefined || signature === undefined) {
    const message = 'The form must carry the "policy" and "signature" fields before "file"';
    throw new SignedRequestError(403, 'AccessDenied', message);
  }
  if (!sameSignature(hmac(secret, 'post-policy', policy), signature)) {
    const message = 'The policy signature does not match: the policy was altered';
    throw new SignedRequestError(403, 'SignatureDoesNotMatch', message);
  }

  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(policy, 'base64').toString('utf8'));
  } catch {
    throw invalidPolicy('not base64-encoded JSON');
  }
  if (typeof document !== 'object' || document === null) throw invalidPolicy('not a JSON object');
  const { expiration, conditions } = document as { expiration?: unknown; conditions?: unknown };
  const expiresAt = typeof expiration === 'string' ? Date.parse(expiration) : Number.NaN;
  if (Number.isNaN(expiresAt) || !Array.isArray(conditions)) throw invalidPolicy('needs "expiration" and "conditions"');
  if (nowMs > expiresAt) {
    const message = `Invalid according to Policy: Policy expired at ${expiration as string}`;
    throw new SignedRequestError(403, 'AccessDenied', message);
  }

  const covered = new Set<string>();
  let sizeRange: { minBytes: number; maxBytes: number } | undefined;
  for (const condition of conditions) {
    let field: string;
    let test: (value: string) => boolean;
    if (Array.isArray(condition) && condition[0] === 'content-length-range') {
      const [, min, max] = condition as unknown[];
      if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max)) throw invalidPolicy('bad content-length-range');
      sizeRange = { minBytes: min as number, maxBytes: max as number };
      continue;
    } else if (Array.isArray(condition) && condition.length === 3 && ['eq', 'starts-with'].includes(condition[0])) {
      const [op, name, expected] = condition as unknown[];
      if (typeof name !== 'string' || !name.startsWith('$') || typeof expected !== 'string') {
        throw invalidPolicy(`bad condition ${JSON.stringify(condition)}`);
      }
      field = name.slice(1).toLowerCase();
      test = op === 'eq' ? (v) => v === expected : (v) => v.startsWith(expected);
    } else if (typeof condition === 'object' && condition !== null && !Array.isArray(condition)) {
      const entries = Object.entries(condition);
      if (entries.length !== 1 || typeof entries[0][1] !== 'string') {
        throw invalidPolicy(`bad condition ${JSON.stringify(condition)}`);
      }
      const [name, expected] = entries[0] as [string, string];
      field = name.toLowerCase();
      test = (v) => v === expected;
    } else {
      throw invalidPolicy(`unsupported condition ${JSON.stringify(condition)}`);
    }
    covered.add(field);
    if (!test(fields.get(field) ?? '')) throw policyFailed(condition);
  }

  for (const name of fields.keys()) {
    if (!UNCONDITIONED_FIELDS.has(name) && !name.startsWith('x-ignore-') && !covered.has(name)) {
      throw new SignedRequestError(403, 'AccessDenied', `Invalid according to Policy: Extra input fields: ${name}`);
    }
  }
  // Our policies always pin the key and the size; a policy without them would allow writing anything.
  const key = fields.get('key');
  if (!covered.has('key') || key === undefined) throw invalidPolicy('the key is not pinned');
  if (sizeRange === undefined) throw invalidPolicy('content-length-range is missing');
  try {
    assertValidKey(key);
  } catch {
    throw new SignedRequestError(400, 'InvalidArgument', `Invalid storage key ${JSON.stringify(key)}`);
  }
  return { key, contentType: fields.get('content-type'), ...sizeRange };
}
