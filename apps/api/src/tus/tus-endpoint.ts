import { AsyncLocalStorage } from 'node:async_hooks';
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DataStore, ERRORS, MemoryLocker, Server, Upload } from '@tus/server';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { AppError, UNAVAILABLE_RETRY_AFTER_SECONDS } from '@app/errors';
import { fileIdOfStoreId, RESUMABLE_STORE, ResumableCommitPending, ResumableUploadsService, resumableStoreId, type FileRow, type ResumableStore } from '@app/files';
import { logContext } from '@app/logging';
import { unavailableBody } from '../http/http-error.filter';
import { RedisLocker } from './redis-locker';

export const TUS_PATH = '/api/files/tus';
/** Response header naming the file a finished upload became (final PATCH, and HEAD once finished). */
export const FILE_ID_HEADER = 'Filehub-File-Id';

interface TusRequest {
  /** The upload this request may touch, checked by the controller. */
  uploadId: string;
  res: Response;
  /** The upload holds every byte but its commit met an outage: it is kept for a retry. */
  pending?: boolean;
}

// The id the controller gave a new upload (after its checks), for tus' naming hook.
const creation = new AsyncLocalStorage<TusRequest>();
// The id of the upload the controller checked the caller owns: the only one tus may touch for this request. tus
// itself would take the last `/` segment of the whole URL, query string included (`/tus/<mine>?x=/<theirs>`).
const checked = new AsyncLocalStorage<TusRequest>();

function currentRequest(): TusRequest | undefined {
  return checked.getStore() ?? creation.getStore();
}

/** Turns the finished upload into a file, noting the outcome on the request (its answer then names the file). */
async function finishFor(uploads: ResumableUploadsService, fileId: string): Promise<void> {
  try {
    await uploads.finish(fileId);
  } catch (error) {
    const request = currentRequest();
    if (request && error instanceof ResumableCommitPending) request.pending = true;
    throw error;
  }
  becameFile(fileId);
}

/** The answer names the file: set on the response now, merged into tus' answer, taken off again if that is an error. */
function becameFile(fileId: string): void {
  currentRequest()?.res.setHeader(FILE_ID_HEADER, fileId);
}

/**
 * The tus store as the tus server sees it: the resumable store, plus the step that turns a finished upload into a
 * file. That step runs inside `write` (the final PATCH) or `getUpload` (a HEAD or an empty PATCH on an upload that
 * holds every byte but is not a file yet: its final PATCH met an outage), while tus holds the upload's lock, so a
 * repeated final PATCH or a HEAD waits for it instead of racing it. Termination removes the upload's record with
 * its data.
 */
class FinishingStore extends DataStore {
  constructor(
    private readonly inner: ResumableStore,
    private readonly uploads: ResumableUploadsService,
  ) {
    super();
    // Lengths are required at creation (quotas and size limits are checked then), so deferring one is not offered.
    this.extensions = inner.extensions.filter((e) => e !== 'creation-defer-length');
  }

  override create(upload: Upload): Promise<Upload> {
    return this.inner.create(upload);
  }

  override async remove(storeId: string): Promise<void> {
    await this.uploads.terminate(mustFileId(storeId));
  }

  override async write(stream: Readable, storeId: string, offset: number): Promise<number> {
    const fileId = mustFileId(storeId);
    const progress = await this.uploads.progress(fileId);
    // A repeated final PATCH (its answer was lost): nothing more to take.
    if (progress?.finished) {
      stream.resume();
      becameFile(fileId);
      return offset;
    }
    const written = await this.inner.write(stream, storeId, offset);
    if (written === progress?.size) await finishFor(this.uploads, fileId);
    return written;
  }

  override async getUpload(storeId: string): Promise<Upload> {
    const fileId = mustFileId(storeId);
    let upload: Upload;
    try {
      upload = await this.inner.getUpload(storeId);
    } catch (error) {
      // A request that waited for the lock while the upload was being finished finds its tus data gone: the upload
      // is complete, which is what it reports.
      const progress = await this.uploads.progress(fileId);
      if (!progress?.finished) throw error;
      becameFile(fileId);
      return new Upload({ id: storeId, size: progress.size, offset: progress.size });
    }
    if (upload.size === undefined || upload.offset !== upload.size) return upload;
    // Every byte is here: the final PATCH made it a file, or met an outage doing so. Then this request (a client's
    // retry) does it now, and reports the upload complete even if it has expired meanwhile (it is a file).
    const progress = await this.uploads.progress(fileId);
    if (progress && !progress.finished) await finishFor(this.uploads, fileId);
    else becameFile(fileId);
    return new Upload({ id: storeId, size: upload.size, offset: upload.size });
  }

  override declareUploadLength(storeId: string, length: number): Promise<void> {
    return this.inner.declareUploadLength(storeId, length);
  }

  override deleteExpired(): Promise<number> {
    return this.inner.deleteExpired();
  }

  override getExpiration(): number {
    return this.inner.getExpiration();
  }
}

function uploadUrl(publicUrl: string, uploadId: string): string {
  return `${publicUrl}${TUS_PATH}/${uploadId}`;
}

function causeMessage(error: unknown): string {
  let current = error;
  while (current instanceof Error && current.cause) current = current.cause;
  return current instanceof Error ? (current.message.split('\n').filter(Boolean).at(-1) ?? current.name) : String(current);
}

function mustFileId(storeId: string): string {
  const id = fileIdOfStoreId(storeId);
  if (!id) throw new AppError('NOT_FOUND', 'Upload was not found');
  return id;
}

/** tus' protocol errors are plain text; every error of this surface is our JSON `{statusCode, error, message}`. */
class JsonErrorServer extends Server {
  constructor(
    options: ConstructorParameters<typeof Server>[0],
    private readonly publicUrl: string,
  ) {
    super(options);
  }

  override async write(context: Parameters<Server['write']>[0], headers: Headers, status: number, body = ''): ReturnType<Server['write']> {
    const request = currentRequest();
    if (status >= 400) {
      request?.res.removeHeader(FILE_ID_HEADER);
      // Outages: when to try again. A creation whose bytes are kept says where the upload is, to finish it there.
      if (status === 503) headers.set('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      const created = creation.getStore();
      if (created?.pending) headers.set('Location', uploadUrl(this.publicUrl, created.uploadId));
      headers.set('Content-Type', 'application/json; charset=utf-8');
      if (!body.startsWith('{')) body = JSON.stringify({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: body.trim() || STATUS_CODES[status] });
    }
    return super.write(context, headers, status, body);
  }
}

/**
 * The tus 1.0 server (@tus/server) under /api/files/tus, over the resumable store. The controller authenticates
 * and checks every request before it gets here; this wires tus to the file domain.
 */
@Injectable()
export class TusEndpoint implements OnApplicationShutdown {
  private readonly logger = new Logger('Tus');
  private readonly server: Server;
  private readonly locker?: RedisLocker;

  constructor(
    @Inject(RESUMABLE_STORE) store: ResumableStore,
    private readonly uploads: ResumableUploadsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    const publicUrl = config.http.publicUrl;
    // Requests of one upload may reach any replica: with Redis, the per-upload lock is shared by all of them.
    if (config.queue.redisUrl) this.locker = new RedisLocker(config.queue.redisUrl, config.queue.prefix);
    this.server = new JsonErrorServer({
      path: TUS_PATH,
      datastore: new FinishingStore(store, uploads),
      locker: this.locker ?? new MemoryLocker(),
      maxSize: config.uploads.maxBytes,
      // Like the rest of the API, no cross-origin access beyond the service's own origin (tus would allow any).
      allowedOrigins: [new URL(publicUrl).origin],
      exposedHeaders: [FILE_ID_HEADER],
      namingFunction: () => {
        const context = creation.getStore();
        if (!context) throw new Error('A tus upload was created outside TusController.create');
        return resumableStoreId(context.uploadId);
      },
      // Upload URLs carry the file id; the store id adds the `tus/` prefix.
      generateUrl: (_req, { id }) => uploadUrl(publicUrl, fileIdOfStoreId(id) ?? ''),
      getFileIdFromRequest: () => {
        const context = checked.getStore();
        return context ? resumableStoreId(context.uploadId) : undefined;
      },
      onUploadFinish: async (_req, upload) => {
        const fileId = mustFileId(upload.id);
        // An empty upload is complete at creation: tus writes nothing, so `write` never finished it.
        if (upload.size === 0 && !(await uploads.progress(fileId))?.finished) await finishFor(uploads, fileId);
        return { headers: { [FILE_ID_HEADER]: fileId } };
      },
      onResponseError: (_req, error) => this.errorResponse(error),
    }, publicUrl);
  }

  onApplicationShutdown(): void {
    this.locker?.close();
  }

  /** Hands a request that names no upload (discovery) to tus. */
  handle(req: Request, res: Response): Promise<void> {
    return this.server.handle(req, res);
  }

  /** Hands a request for upload `uploadId`, whose owner the controller has checked, to tus. */
  resume(req: Request, res: Response, uploadId: string): Promise<void> {
    return checked.run({ uploadId, res }, () => this.server.handle(req, res));
  }

  /**
   * Hands a checked creation to tus, which then names the upload `uploadId`. Resolves whether the upload is kept
   * although the answer is an error: it holds every byte (creation-with-upload) and only its commit met an outage.
   */
  async create(req: Request, res: Response, uploadId: string): Promise<{ kept: boolean }> {
    const request: TusRequest = { uploadId, res };
    await creation.run(request, () => this.server.handle(req, res));
    return { kept: request.pending === true };
  }

  /**
   * Requests for an upload that has already become a file (its tus data is gone): HEAD reports it complete so a
   * client that lost the final answer finishes; a repeated final PATCH is acknowledged; anything else conflicts.
   */
  answerFinished(req: Request, res: Response, file: FileRow): void {
    const size = String(file.size ?? 0);
    res.setHeader('Tus-Resumable', '1.0.0');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader(FILE_ID_HEADER, file.id);
    res.setHeader('Access-Control-Expose-Headers', `Upload-Offset, Upload-Length, Tus-Resumable, ${FILE_ID_HEADER}`);
    if (req.method === 'HEAD') {
      res.setHeader('Upload-Offset', size);
      res.setHeader('Upload-Length', size);
      res.status(200).end();
      return;
    }
    if (req.method === 'PATCH' && req.headers['upload-offset'] === size && Number(req.headers['content-length'] ?? 0) === 0) {
      res.setHeader('Upload-Offset', size);
      res.status(204).end();
      return;
    }
    throw new AppError('ILLEGAL_TRANSITION', `Upload ${file.id} is complete: it became file ${file.id} (GET /files/${file.id}; DELETE /files/${file.id} removes it)`);
  }

  private errorResponse(error: Error | { status_code: number; body: string }): { status_code: number; body: string } {
    if (error instanceof AppError) {
      return { status_code: error.status, body: JSON.stringify({ statusCode: error.status, error: STATUS_CODES[error.status], message: error.message, code: error.code }) };
    }
    // A database or storage outage: 503 with Retry-After (JsonErrorServer.write), as on every other route.
    const unavailable = unavailableBody(error);
    if (unavailable) {
      let message = unavailable.message;
      if (error instanceof ResumableCommitPending) {
        // The final PATCH: the bytes are safe, only making the file has to wait.
        message = `${error.message}: ${unavailable.message.charAt(0).toLowerCase()}${unavailable.message.slice(1)}. Its bytes are kept: send HEAD to the upload URL (or a PATCH without body at Upload-Offset ${error.size}) to finish it; the answer names the file in ${FILE_ID_HEADER}`;
      }
      this.logger.warn(`${message} (${causeMessage(error)})`);
      return { status_code: 503, body: JSON.stringify({ ...unavailable, message }) };
    }
    // tus' own protocol errors (offset conflicts, a gone upload) say what happened.
    if ('status_code' in error && typeof error.status_code === 'number' && error.status_code < 500) return { status_code: error.status_code, body: error.body };
    // Mostly a client that went away mid-PATCH: what arrived is kept and the client resumes from there.
    if (error === ERRORS.FILE_WRITE_ERROR) {
      this.logger.warn('Receiving the bytes of a PATCH failed (the client went away?); the upload resumes from what was stored');
      return { status_code: 500, body: error.body };
    }
    const requestId = logContext.getStore()?.reqId ?? '';
    this.logger.error(error instanceof Error ? error : new Error(`${error.status_code} ${error.body}`));
    return { status_code: 500, body: JSON.stringify({ statusCode: 500, error: 'Internal Server Error', message: `Unexpected error (request ${requestId})`, requestId }) };
  }
}
