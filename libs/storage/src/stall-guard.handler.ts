import { Readable } from 'node:stream';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { StorageStalledError } from './storage.driver';

type HandleArgs = Parameters<NodeHttpHandler['handle']>;
type Handled = Awaited<ReturnType<NodeHttpHandler['handle']>>;

// Request bodies in memory are handed to the socket in slices, so a store that stops reading shows as no progress.
const SLICE_BYTES = 64 * 1024;

/** A timer restarted by every sign of progress; `stop()` while nothing is expected of the store. */
class IdleTimer {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly idleMs: number,
    private readonly onIdle: () => void,
  ) {}

  arm(): void {
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(this.onIdle, this.idleMs).unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * The store's response body, failed with StorageStalledError when the store sends nothing for `idleMs` while the
 * consumer wants data. Time during which the consumer applies backpressure (a slow download: our buffer full, the
 * source paused) does not count, so slow readers are never cut.
 */
class WatchedBody extends Readable {
  private readonly idle: IdleTimer;

  constructor(
    private readonly source: Readable,
    idleMs: number,
  ) {
    super({ highWaterMark: source.readableHighWaterMark });
    this.idle = new IdleTimer(idleMs, () => this.destroy(new StorageStalledError(idleMs, 'response')));
    source.on('data', (chunk: Buffer) => {
      if (this.push(chunk)) this.idle.arm();
      else {
        // Our buffer is full: the consumer is not asking; _read resumes the source (and the watch) when it does.
        this.idle.stop();
        source.pause();
      }
    });
    source.once('end', () => {
      this.idle.stop();
      this.push(null);
    });
    source.once('error', (error) => this.destroy(error));
    source.once('close', () => {
      if (!source.readableEnded) this.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    });
    source.pause();
  }

  override _read(): void {
    this.idle.arm();
    this.source.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.idle.stop();
    this.source.destroy();
    callback(error);
  }
}

/**
 * A stream body as sent, reporting each chunk the socket takes. It reads its source only once the HTTP layer starts
 * sending (not at all when the store answers first, e.g. refuses an `Expect: 100-continue`), so the caller's stream
 * is left whole for the SDK's retry in that case; once started, a body not sent whole is released with it.
 */
class ProgressBody extends Readable {
  private started = false;

  constructor(
    private readonly source: Readable,
    private readonly onProgress: () => void,
    private readonly onError: (error: Error) => void,
  ) {
    super({ highWaterMark: source.readableHighWaterMark });
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      if (this.source.destroyed || this.source.readableEnded) {
        // A stream body cannot be sent twice (an SDK retry after a first attempt read it): say so, not a stall.
        this.onError(new Error('The request body was already sent once and cannot be read again'));
        this.destroy();
        return;
      }
      this.source.on('data', (chunk: Buffer) => {
        this.onProgress();
        if (!this.push(chunk)) this.source.pause();
      });
      this.source.once('end', () => this.push(null));
      // The failure goes to the attempt (onError aborts it); this stream only stops. Destroyed with the error, it
      // would emit 'error' to the HTTP layer's pipe(), which does not listen for it: an uncaught exception.
      this.source.once('error', (error) => {
        this.onError(error);
        this.destroy();
      });
      this.source.once('close', () => {
        if (this.source.readableEnded || this.destroyed) return;
        this.onError(Object.assign(new Error('The request body closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
        this.destroy();
      });
    }
    this.source.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.started && !this.source.readableEnded) this.source.destroy();
    callback(error);
  }
}

/** The body to send, reporting each slice the socket takes; undefined when watching it would tell nothing. */
function watchedRequestBody(body: unknown, onProgress: () => void, onError: (error: Error) => void): Readable | undefined {
  // Streams sent to S3 come from memory or disk (lib-storage's parts, tus' part files): a chunk not taken is the
  // store's doing, not a slow source's.
  if (body instanceof Readable) return new ProgressBody(body, onProgress, onError);
  if (body instanceof Uint8Array && body.byteLength > SLICE_BYTES) {
    const bytes = body;
    function* slices(): Generator<Uint8Array> {
      for (let offset = 0; offset < bytes.byteLength; offset += SLICE_BYTES) {
        onProgress();
        yield bytes.subarray(offset, offset + SLICE_BYTES);
      }
    }
    return Readable.from(slices(), { objectMode: false, highWaterMark: SLICE_BYTES });
  }
  return undefined;
}

/**
 * The S3 clients' HTTP handler: NodeHttpHandler, plus a watch that fails an attempt on which the store makes no
 * progress for `idleMs` (a store that stops answering without closing its connections would otherwise hold the
 * request until the kernel gives up on the connection, if ever). Progress is: the connection opening, the store
 * taking a slice of the request body, the response headers, a chunk of the response body. Waiting on our own side
 * never counts: a download whose reader is slow pauses the watch for as long as it applies backpressure, so only a
 * total idle time, never a total duration, is bounded. The failure is a StorageStalledError (503, like any outage),
 * not retried by the SDK: a store that stalls once usually stalls again, and the caller's deadline matters more.
 */
export class StallGuardHttpHandler extends NodeHttpHandler {
  constructor(private readonly idleMs: number) {
    super();
  }

  override async handle(request: HandleArgs[0], options: HandleArgs[1] = {}): Promise<Handled> {
    const stalled = new AbortController();
    // Once the store has answered, nothing on our side may abort the attempt: the answer (an early error's body
    // among them) is the SDK's to read.
    let answered = false;
    const idle = new IdleTimer(this.idleMs, () => stalled.abort(new StorageStalledError(this.idleMs, 'request')));
    const caller = options.abortSignal as AbortSignal | undefined;
    const signal = caller ? AbortSignal.any([caller, stalled.signal]) : stalled.signal;
    const body = watchedRequestBody(
      request.body,
      () => idle.arm(),
      (error) => {
        if (!answered) stalled.abort(error);
      },
    );
    // A copy: the SDK retries with the request it built, whose body must still be whole.
    const sent = body ? Object.assign(Object.create(Object.getPrototypeOf(request) as object) as typeof request, request, { body }) : request;
    idle.arm();
    try {
      const { response } = await super.handle(sent, { ...options, abortSignal: signal });
      answered = true;
      idle.stop();
      if (response.body instanceof Readable) response.body = new WatchedBody(response.body, this.idleMs);
      return { response };
    } catch (error) {
      answered = true;
      idle.stop();
      if (stalled.signal.aborted && !caller?.aborted) throw stalled.signal.reason;
      throw error;
    } finally {
      // Not taken whole (an early answer, a failure): release the source.
      if (body && !body.readableEnded) body.destroy();
    }
  }
}
