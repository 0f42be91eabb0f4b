import { createHmac, timingSafeEqual } from 'node:crypto';

// The signature of a transform URL (`/files/:id/preview?…&expires&signature`): an HMAC of the file id and the
// expiry. The transform parameters are deliberately not covered (docs/image-transforms.md says why): whoever may read
// the file may have any rendition of it, and the work each rendition costs is bounded per request, not per URL.

const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

function mac(secret: string, fileId: string, expires: number): Buffer {
  // The purpose keeps this signature from ever passing for one of the storage URLs signed with the same secret.
  return createHmac('sha256', secret).update(`filehub-transform-v1\n${fileId}\n${expires}`).digest();
}

export function signTransformUrl(secret: string, fileId: string, expires: number): string {
  return mac(secret, fileId, expires).toString('base64url');
}

export type TransformUrlCheck = 'valid' | 'expired' | 'invalid';

/** Whether `signature` was made for this very file and expiry, and the expiry (unix seconds) is still ahead. */
export function checkTransformUrl(secret: string, fileId: string, expiresRaw: string | undefined, signature: string | undefined, nowMs = Date.now()): TransformUrlCheck {
  if (!expiresRaw || !signature || !/^[1-9][0-9]{0,11}$/.test(expiresRaw) || !SIGNATURE_PATTERN.test(signature)) return 'invalid';
  const expires = Number(expiresRaw);
  if (!timingSafeEqual(mac(secret, fileId, expires), Buffer.from(signature, 'base64url'))) return 'invalid';
  return nowMs > expires * 1000 ? 'expired' : 'valid';
}
