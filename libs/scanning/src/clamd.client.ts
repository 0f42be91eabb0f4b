import { connect, type Socket } from 'node:net';
import { describeClamdAddress, type ClamdAddress } from './clamd-address';

/** What a scan came to. `too-large`: clamd (StreamMaxLength) or our own limit refused to look at all of it. */
export type ScanVerdict = { result: 'clean' } | { result: 'infected'; signature: string } | { result: 'too-large'; detail: string };

/**
 * The scanner could not give a verdict this time (refused or lost connection, no answer in time, an ERROR reply):
 * worth trying again later. Never a reason to treat the bytes as clean.
 */
export class ScannerUnavailableError extends Error {
  /**
   * clamd was reached but gave no verdict on this content (an ERROR reply, or silence past the time-out): perhaps
   * the content's doing (an archive too slow to unpack) rather than clamd's. A caller working through many files
   * may check clamd still answers and go on with the next one.
   */
  readonly mayBeContent: boolean;

  constructor(message: string, options?: { cause?: unknown; mayBeContent?: boolean }) {
    super(message, options);
    this.name = 'ScannerUnavailableError';
    this.mayBeContent = options?.mayBeContent ?? false;
  }
}

export interface ClamdClientOptions {
  address: ClamdAddress;
  /** Inactivity limit of one conversation: no byte accepted by clamd and no answer for this long fails it. */
  timeoutMs: number;
  /** Streams longer than this are not sent (clamd would refuse them past its StreamMaxLength anyway). */
  maxStreamBytes: number;
  /** Largest INSTREAM chunk (clamd accepts any size up to StreamMaxLength; smaller chunks bound our writes). */
  chunkBytes?: number;
}

const DEFAULT_CHUNK_BYTES = 1024 * 1024;

/**
 * A client of clamd's socket protocol (the `z` commands, answers ended by NUL): PING, VERSION and INSTREAM, which
 * takes the bytes as chunks each prefixed by its length (4 bytes, big-endian) and a zero length at the end. One
 * connection per command, as clamd closes it after answering. The bytes are streamed as they come, with
 * backpressure; nothing is buffered beyond one chunk.
 */
export class ClamdClient {
  private readonly chunkBytes: number;

  constructor(private readonly options: ClamdClientOptions) {
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  }

  get address(): string {
    return describeClamdAddress(this.options.address);
  }

  /** Resolves when clamd answers PONG. */
  async ping(signal?: AbortSignal): Promise<void> {
    const reply = await this.simple('PING', signal);
    if (reply !== 'PONG') throw new ScannerUnavailableError(`clamd at ${this.address} answered PING with ${JSON.stringify(reply)}`);
  }

  /** The engine and, with official databases, the database version and date: `ClamAV 1.4.6/27000/Tue Nov …`. */
  async version(signal?: AbortSignal): Promise<string> {
    const reply = await this.simple('VERSION', signal);
    if (!/^ClamAV /.test(reply)) throw new ScannerUnavailableError(`clamd at ${this.address} answered VERSION with ${JSON.stringify(reply)}`);
    return reply;
  }

  /**
   * Streams `body` to clamd and returns its verdict. `size`, when known, lets a stream over the limit be refused
   * without sending anything. Throws ScannerUnavailableError when there is no verdict.
   */
  async scan(body: AsyncIterable<Uint8Array>, options: { size?: number; signal?: AbortSignal } = {}): Promise<ScanVerdict> {
    const max = this.options.maxStreamBytes;
    if (options.size !== undefined && options.size > max) return tooLargeForUs(options.size, max);
    const conn = await this.open(options.signal);
    try {
      let sent = 0;
      let writeError: unknown;
      try {
        await conn.write(Buffer.from('zINSTREAM\0'));
        outer: for await (const piece of body) {
          const chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
          for (let offset = 0; offset < chunk.length; offset += this.chunkBytes) {
            // clamd answers early (and closes) when the stream passes its StreamMaxLength: stop sending then.
            if (conn.answered) break outer;
            const part = chunk.subarray(offset, offset + this.chunkBytes);
            sent += part.length;
            if (sent > max) return tooLargeForUs(sent, max);
            await conn.write(lengthPrefix(part.length));
            await conn.write(part);
          }
        }
        if (!conn.answered) await conn.write(lengthPrefix(0));
      } catch (error) {
        // A write that fails because clamd already answered and hung up is no failure: the answer counts.
        if (!(error instanceof ConnectionError)) throw error;
        writeError = error;
      }
      const reply = await conn.reply.catch((error: unknown) => {
        throw writeError ?? error;
      });
      if (!reply) throw writeError ?? new ScannerUnavailableError(`clamd at ${this.address} closed the connection without a verdict`);
      return parseScanReply(reply, this.address);
    } finally {
      conn.close();
    }
  }

  private async simple(command: 'PING' | 'VERSION', signal?: AbortSignal): Promise<string> {
    const conn = await this.open(signal);
    try {
      await conn.write(Buffer.from(`z${command}\0`));
      const reply = await conn.reply;
      if (!reply) throw new ScannerUnavailableError(`clamd at ${this.address} closed the connection without answering ${command}`);
      return reply;
    } finally {
      conn.close();
    }
  }

  private async open(signal?: AbortSignal): Promise<Connection> {
    signal?.throwIfAborted();
    const conn = new Connection(this.options.address, this.address, this.options.timeoutMs, signal);
    try {
      await conn.connected;
    } catch (error) {
      conn.close();
      throw error;
    }
    return conn;
  }
}

/** clamd's INSTREAM answers: `stream: OK`, `stream: <signature> FOUND`, `INSTREAM size limit exceeded. ERROR`, `… ERROR`. */
export function parseScanReply(reply: string, address = 'clamd'): ScanVerdict {
  const text = reply.replace(/\0+$/, '').trim();
  if (/^stream: OK$/.test(text)) return { result: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(text);
  if (found) return { result: 'infected', signature: found[1] };
  if (/size limit exceeded/i.test(text)) {
    return { result: 'too-large', detail: `clamd refused to scan the whole file (${text.replace(/\s*ERROR$/, '')}: raise its StreamMaxLength)` };
  }
  throw new ScannerUnavailableError(`clamd at ${address} answered ${JSON.stringify(text)}`, { mayBeContent: true });
}

function tooLargeForUs(size: number, max: number): ScanVerdict {
  return { result: 'too-large', detail: `The file (${size} bytes or more) is larger than the virus scanner takes (CLAMAV_MAX_STREAM_BYTES=${max})` };
}

function lengthPrefix(length: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(length);
  return header;
}

/** The socket failed or closed under us (as opposed to the body stream failing). */
class ConnectionError extends ScannerUnavailableError {}

/** One conversation with clamd: connects, writes with backpressure, collects the NUL-terminated answer. */
class Connection {
  readonly connected: Promise<void>;
  readonly reply: Promise<string>;
  answered = false;
  private readonly socket: Socket;
  private failure: Error | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly onAbort: () => void;

  constructor(
    address: ClamdAddress,
    private readonly label: string,
    timeoutMs: number,
    private readonly signal?: AbortSignal,
  ) {
    this.socket = address.kind === 'unix' ? connect({ path: address.path }) : connect({ host: address.host, port: address.port });
    this.socket.setTimeout(timeoutMs);
    this.socket.on('timeout', () => this.fail(new ConnectionError(`clamd at ${label} did not answer within ${timeoutMs} ms`, { mayBeContent: true })));
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    }).then(
      () => undefined,
      (error: Error) => {
        throw new ConnectionError(`Cannot reach clamd at ${label}: ${error.message}`, { cause: error });
      },
    );
    this.reply = new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const settle = () => {
        this.answered = true;
        this.wake();
        resolve(Buffer.concat(chunks).toString('utf8').replace(/\0[\s\S]*$/, '').trim());
      };
      this.socket.on('data', (data: Buffer) => {
        chunks.push(data);
        if (data.includes(0)) settle();
      });
      this.socket.once('end', settle);
      this.socket.once('close', () => {
        if (!this.answered) {
          if (this.failure) reject(this.failure);
          else settle();
        }
        this.wake();
      });
    });
    // Callers may not wait for the reply (a failed connect); the rejection is theirs to see, not unhandled.
    this.reply.catch(() => undefined);
    this.socket.on('error', (error: Error) => {
      this.failure ??= new ConnectionError(`Connection to clamd at ${label} failed: ${error.message}`, { cause: error });
      this.wake();
    });
    this.onAbort = () => this.fail(signal?.reason instanceof Error ? signal.reason : new Error('Scan aborted'));
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  async write(data: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.socket.destroyed) throw new ConnectionError(`clamd at ${this.label} closed the connection`);
    if (this.socket.write(data)) return;
    // Backpressure: wait until clamd has taken the bytes, or the conversation ends.
    await new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.waiters.delete(done);
        resolve();
      };
      this.socket.once('drain', done);
      this.waiters.add(done);
    });
    if (this.failure) throw this.failure;
  }

  close(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.socket.destroy();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.socket.destroy(error);
    this.wake();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
