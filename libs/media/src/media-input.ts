import type { Readable } from 'node:stream';

export type MediaInput = Readable | Buffer;

export function asBytes(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  // A string chunk means someone set an encoding on the stream: the bytes are already mangled.
  throw new TypeError('Media input streams must yield bytes, not strings');
}

// sharp reads stream input into one buffer before decoding anyway; doing it here lets the header check and the
// decode share the bytes.
export async function readInput(input: MediaInput): Promise<Buffer> {
  if (Buffer.isBuffer(input)) return input;
  const chunks: Buffer[] = [];
  for await (const chunk of input as AsyncIterable<unknown>) chunks.push(asBytes(chunk));
  return Buffer.concat(chunks);
}
