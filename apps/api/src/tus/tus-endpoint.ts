import { AsyncLocalStorage } from 'node:async_hooks';
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DataStore, ERRORS, MemoryLocker, Server, Upload } from '@tus/server';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { AppError } from '@app/errors';
import { fileIdOfStoreId, RESUMABLE_STORE, ResumableUploadsService, resumableStoreId, type FileRow, type ResumableStore } from '@app/files';
import { logContext } from '@app/logging';
import { RedisLocker } from './redis-locker';

export const TUS_PATH = '/api/files/tus';
/** Response header naming the file a finished upload became (final PATCH, and HEAD once finished). */
export const FILE_ID_HEADER = 'Filehub-File-Id';

// The id the controller gave a new upload (after its checks), for tus' naming hook.
const creation = new AsyncLocalStorage<{ uploadId: string }>();
// The id of the upload the controller checked the caller owns: the only one tus may touch for this request. tus
// itself would take the last `/` segment of the whole URL, query string included (`/tus/<mine>?x=/<theirs>`).
const checked = new AsyncLocalStorage<{ uploadId: string }>();

/**
 * The tus store as the tus server sees it: the resumable store, plus the step that turns a finished upload into a
 * file. That step runs inside `write`, while tus holds the upload's lock, so a repeated final PATCH or a HEAD waits
 * for it instead of racing it. Termination removes the upload's record with its data.
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
    await this.uploads.forget(mustFileId(storeId));
  }

  override async write(stream: Readable, storeId: string, offset: number): Promise<number> {
    const fileId = mustFileId(storeId);
    // A repeated final PATCH (its answer was lost): nothing more to take.
    if ((await this.uploads.progress(fileId))?.finished) {
      stream.resume();
      return offset;
    }
    const written = await this.inner.write(stream, storeId, offset);
    if (written === (await this.uploads.progress(fileId))?.size) await this.uploads.finish(fileId);
    return written;
  }

  // A request that waited for the lock while the upload was being finished finds its tus data gone: the upload is
  // complete, which is what it reports.
  override async getUpload(storeId: string): Promise<Upload> {
    try {
      return await this.inner.getUpload(storeId);
    } catch (error) {
      const progress = await this.uploads.progress(mustFileId(storeId));
      if (!progress?.finished) throw error;
      return new Upload({ id: storeId, size: progress.size, offset: progress.size });
    }
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

function mustFileId(storeId: string): string {
  const id = fileIdOfStoreId(storeId);
  if (!id) throw new AppError('NOT_FOUND', 'Upload was not found');
  return id;
}

/** tus' protocol errors are plain text; every error of this surface is our JSON `{statusCode, error, message}`. */
class JsonErrorServer extends Server {
  override async write(context: Parameters<Server['write']>[0], headers: Headers, status: number, body = ''): ReturnType<Server['write']> {
    if (status >= 400) {
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
      generateUrl: (_req, { id }) => `${publicUrl}${TUS_PATH}/${fileIdOfStoreId(id) ?? ''}`,
      getFileIdFromRequest: () => {
        const context = checked.getStore();
        return context ? resumableStoreId(context.uploadId) : undefined;
      },
      onUploadFinish: async (_req, upload) => {
        const fileId = mustFileId(upload.id);
        // An empty upload is complete at creation: tus writes nothing, so `write` never finished it.
        if (upload.size === 0 && !(await uploads.progress(fileId))?.finished) await uploads.finish(fileId);
        return { headers: { [FILE_ID_HEADER]: fileId } };
      },
      onResponseError: (_req, error) => this.errorResponse(error),
    });
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
    return checked.run({ uploadId }, () => this.server.handle(req, res));
  }

  /** Hands a checked creation to tus, which then names the upload `uploadId`. */
  create(req: Request, res: Response, uploadId: string): Promise<void> {
    return creation.run({ uploadId }, () => this.server.handle(req, res));
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
