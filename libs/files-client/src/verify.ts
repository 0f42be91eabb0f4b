import { jwtVerify } from 'jose';
import type { SignaturePayload } from './types';

/**
 * For app backends: checks a `signature` or `publicSignature` with your client's secret (FILE_SECRET) and answers
 * its payload. The algorithm is pinned to HS256 and the expiry is enforced, as the seed's
 * `jwt.verify(signature, FILE_SECRET, { algorithms: ['HS256'] })`. Throws when the token is forged, altered or
 * expired. Never ship the secret to a browser.
 */
export async function verifySignature(signature: string, secret: string, options: { clockToleranceSeconds?: number } = {}): Promise<SignaturePayload> {
  const { payload } = await jwtVerify(signature, new TextEncoder().encode(secret), {
    algorithms: ['HS256'],
    clockTolerance: options.clockToleranceSeconds ?? 0,
  });
  return payload as unknown as SignaturePayload;
}
