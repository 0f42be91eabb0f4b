import { RangeNotSatisfiableError, type ByteRange } from './storage.driver';

// S3 refuses presigned URLs valid for more than 7 days; the local driver keeps the same limit.
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

export function assertExpiresIn(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_PRESIGN_SECONDS) {
    throw new RangeError(`expiresInSeconds must be an integer from 1 to ${MAX_PRESIGN_SECONDS}, got ${seconds}`);
  }
  return seconds;
}

// Values end up as response headers; anything outside visible ASCII would be refused there (or split them).
export function assertHeaderValue(name: string, value: string | undefined): void {
  if (value !== undefined && !/^[\x20-\x7e]+$/.test(value)) {
    throw new TypeError(`${name} must be non-empty printable ASCII (encode filenames as RFC 5987 filename*)`);
  }
}

export function assertSizeLimits(minBytes: number, maxBytes: number): void {
  if (!Number.isSafeInteger(minBytes) || !Number.isSafeInteger(maxBytes) || minBytes < 0 || maxBytes < minBytes) {
    throw new RangeError(`Invalid size range ${minBytes}..${maxBytes}: need integers with 0 <= minBytes <= maxBytes`);
  }
}

/** Checks the shape of a range before any I/O; the size check happens once the object is known. */
export function assertRangeShape(key: string, range: ByteRange | undefined): void {
  if (range === undefined) return;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
    throw new RangeNotSatisfiableError(key, range);
  }
}

/** Resolves a range against the object size: start <= end < size, else RangeNotSatisfiableError. */
export function resolveRange(key: string, range: ByteRange, size: number): { start: number; end: number } {
  const end = range.end ?? size - 1;
  if (range.start > end || end >= size) throw new RangeNotSatisfiableError(key, range, size);
  return { start: range.start, end };
}

// Callers that abort get their own reason back, as with fetch().
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
}
