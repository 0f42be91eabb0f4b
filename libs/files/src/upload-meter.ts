import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Errors } from '@app/errors';

// Bytes file-type needs to recognise nearly every format it knows.
export const SNIFF_BYTES = 4100;

/**
 * Passes bytes through while counting and hashing them, keeps the first bytes for type sniffing, and fails
 * the stream with PAYLOAD_TOO_LARGE as soon as the limit is crossed, so nothing past it is written.
 */
export class UploadMeter extends Transform {
  private readonly hash = createHash('sha256');
  private readonly head: Buffer[] = [];
  private headLength = 0;
  bytes = 0;

  /** `tooLarge` makes the error past the limit (a quota's, when a quota is what limits this upload). */
  constructor(
    private readonly maxBytes: number,
    private readonly tooLarge: () => Error = () => Errors.tooLarge(maxBytes),
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) return callback(this.tooLarge());
    this.hash.update(chunk);
    if (this.headLength < SNIFF_BYTES) {
      const slice = chunk.subarray(0, SNIFF_BYTES - this.headLength);
      this.head.push(slice);
      this.headLength += slice.length;
    }
    callback(null, chunk);
  }

  /** Only meaningful once the stream has ended. */
  digest(): { size: number; sha256: string; head: Buffer } {
    return { size: this.bytes, sha256: this.hash.digest('hex'), head: Buffer.concat(this.head) };
  }
}
