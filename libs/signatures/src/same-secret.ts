import { createHash, timingSafeEqual } from 'node:crypto';

/** Compares a presented secret with the expected one through digests, so neither its length nor its content leaks through timing. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
