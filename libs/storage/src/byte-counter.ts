import type { Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class ByteLimitError extends Error {
  constructor(
    readonly kind: 'too-large' | 'too-small',
    readonly limit: number,
  ) {
    super(kind === 'too-large' ? `Stream is larger than ${limit} bytes` : `Stream is smaller than ${limit} bytes`);
    this.name = 'ByteLimitError';
  }
}

/** Pass-through that counts (and optionally hashes) bytes, failing the stream as soon as a limit is crossed. */
export class ByteCounter extends Transform {
  bytes = 0;

  constructor(private readonly options: { minBytes?: number; maxBytes?: number; hash?: Hash } = {}) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    const { maxBytes, hash } = this.options;
    if (maxBytes !== undefined && this.bytes > maxBytes) {
      callback(new ByteLimitError('too-large', maxBytes));
      return;
    }
    hash?.update(chunk);
    callback(null, chunk);
  }

  // Runs before the readable side ends, so a too-small body fails the write before it can be committed.
  override _flush(callback: TransformCallback): void {
    const { minBytes } = this.options;
    if (minBytes !== undefined && this.bytes < minBytes) {
      callback(new ByteLimitError('too-small', minBytes));
      return;
    }
    callback();
  }
}
