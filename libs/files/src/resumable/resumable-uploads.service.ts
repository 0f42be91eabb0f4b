import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';
import type { ResumableUpload } from '@app/database';
import { AppError, Errors, unavailableDependency } from '@app/errors';
import { FileUploadService } from '../file-upload.service';
import { FilesRepository, tenantIdOfPrincipal, type FileRow } from '../files.repository';
import { ResumableUploadsRepository } from './resumable-uploads.repository';
import { ReconcileKeySpaces } from '../reconcile-key-spaces';
import { isUploadId, RESUMABLE_PREFIX, RESUMABLE_STORE, resumableStoreId, type ResumableStore } from './resumable-store';

/** How long a finisher holds an upload without renewing (it renews every third of it while committing). */
const FINISH_LEASE_MS = 30_000;
/** How long a second finisher waits for the first one's file before answering 503 (BUSY, Retry-After). */
const FINISH_WAIT_MS = 10_000;
/** The end of a lease taken or renewed now. */
const leaseUntil = () => new Date(Date.now() + FINISH_LEASE_MS);

export interface ResumableCreation {
  filename: string;
  contentType?: string;
  categoryKey?: string;
  visibility?: 'PRIVATE' | 'PUBLIC';
  /** Upload-Length: the whole file's size, known at creation. */
  size: number;
}

export type ResumableState = { state: 'uploading'; upload: ResumableUpload } | { state: 'finished'; file: FileRow };

/**
 * Resumable (tus) uploads in the file domain. Creation checks the name, the category and the quotas against the
 * declared length and records who started the upload; only that owner (same user, same organization) sees it
 * afterwards. When the last byte arrives the bytes go through the ordinary upload path (FileUploadService.stage
 * and commit: hashed, sniffed, deduplicated, the post-upload job queued) under the upload's id, and the tus data is
 * removed; an outage on the way keeps the upload, received, until a retry or the sweep makes it a file.
 */
@Injectable()
export class ResumableUploadsService {
  private readonly logger = new Logger('ResumableUploads');

  constructor(
    private readonly uploads: ResumableUploadsRepository,
    private readonly fileUploads: FileUploadService,
    private readonly files: FilesRepository,
    @Inject(RESUMABLE_STORE) private readonly store: ResumableStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    keySpaces: ReconcileKeySpaces,
  ) {
    // tus data (S3: `tus/<id>`, its `.info` and its multipart upload) has no file record until it is finished; the
    // reconciler leaves it alone until the upload has expired.
    keySpaces.register({ prefix: RESUMABLE_PREFIX, owner: 'tus', abandonAfterSeconds: config.resumable.ttlSeconds });
  }

  async create(principal: Principal, input: ResumableCreation): Promise<{ id: string; expiresAt: Date }> {
    const category = await this.fileUploads.admitDeclared(principal, input);
    const id = randomUUID();
    const expiresAt = new Date(Date.now() + this.config.resumable.ttlSeconds * 1000);
    await this.uploads.create({
      id,
      ownerId: principal.userId,
      organizationId: principal.orgId,
      filename: input.filename,
      contentType: input.contentType,
      categoryKey: category.key,
      visibility: input.visibility ?? category.defaultVisibility,
      size: BigInt(input.size),
      expiresAt,
    });
    return { id, expiresAt };
  }

  /** The caller's upload: still in progress, or finished as the file of the same id. Anyone else's is not found. */
  async find(principal: Principal, id: string): Promise<ResumableState> {
    if (!isUploadId(id)) throw Errors.notFound('Upload', id);
    const upload = await this.uploads.findOwned(principal, id);
    if (!upload) throw Errors.notFound('Upload', id);
    if (!upload.finishedAt) return { state: 'uploading', upload };
    const file = await this.files.findForTenant(tenantIdOfPrincipal(principal), id);
    if (!file || file.deletedAt) throw Errors.notFound('Upload', id);
    return { state: 'finished', file };
  }

  /** The size the upload was created with, and whether it has become a file, for the store (which knows only ids). */
  async progress(id: string): Promise<{ size: number; finished: boolean } | undefined> {
    const upload = await this.uploads.findById(id);
    return upload ? { size: Number(upload.size), finished: upload.finishedAt !== null } : undefined;
  }

  /**
   * The last byte is in: the upload becomes a file through the same stage and commit as every streamed upload
   * (quotas are checked again on the real bytes), under the upload's id. Safe to call again and at once from
   * several places (the final PATCH, a HEAD after a lost answer, another replica, the `finish-resumable` sweep):
   * the file id is the upload's and a primary key, so exactly one record is made and every caller gets it.
   * An outage (database, storage) keeps the tus data and the record, marked received, and throws
   * ResumableCommitPending; any other failure (quota exceeded meanwhile, the stored size not the declared one)
   * removes the upload. Once the file exists the tus data goes; the record stays, finished, until it expires.
   */
  async finish(id: string): Promise<FileRow> {
    const upload = await this.uploads.findById(id);
    if (!upload) throw Errors.notFound('Upload', id);
    const owner: Principal = { userId: upload.ownerId, orgId: upload.organizationId, role: 'user' };
    const tenantId = tenantIdOfPrincipal(owner);
    let file: FileRow;
    // One finisher at a time (tus' lock covers the API's requests, not the worker's sweep): a second one waits its
    // turn instead of reading, or removing, what the first is still turning into the file. The lease is renewed
    // while the commit runs, and runs out soon after a finisher that died.
    const token = randomUUID();
    try {
      await this.uploads.markReceived(id);
      const other = await this.awaitTurn(id, tenantId, token);
      if (other) return other;
    } catch (error) {
      if (unavailableDependency(error)) throw new ResumableCommitPending(id, Number(upload.size), error);
      throw error;
    }
    const renewal = setInterval(() => {
      this.uploads.renewFinish(id, token, leaseUntil()).catch(() => undefined);
    }, FINISH_LEASE_MS / 3).unref();
    try {
      // Already a file: an earlier commit whose answer was lost.
      file = (await this.files.findForTenant(tenantId, id)) ?? (await this.commit(upload, owner));
    } catch (error) {
      // A commit that raced ours anyway (a lease that ran out) and won: its record stands, ours failed on the key.
      const won = await this.files.findForTenant(tenantId, id).catch(() => null);
      if (!won) {
        if (unavailableDependency(error)) {
          // Free at once for the client's retry (if the database is down too, the lease runs out by itself).
          await this.uploads.releaseFinish(id, token).catch(() => undefined);
          throw new ResumableCommitPending(id, Number(upload.size), error);
        }
        // Refused for good (quota, size): removed while still ours, so no waiter reads what is being discarded.
        await this.forget(id);
        throw error;
      }
      file = won;
    } finally {
      clearInterval(renewal);
    }
    await this.uploads.markFinished(id);
    await this.store.discard(resumableStoreId(id)).catch((error: unknown) => {
      // The file is made; what is left under `tus/` the reconciler removes once RESUMABLE_UPLOAD_TTL_SECONDS passed.
      this.logger.warn(`Upload ${id} is file ${id}, but its tus data could not be removed: ${String(error)}`);
    });
    return file;
  }

  /**
   * Takes the finish lease for `token`; while another finisher holds it, waits (bounded, as a request waiting for
   * tus' lock would) for the file it makes. Returns that file, or undefined once the lease is ours (the other one
   * gave up: an outage, a refusal). BUSY when the wait runs out, not found when the upload was removed meanwhile.
   */
  private async awaitTurn(id: string, tenantId: string, token: string): Promise<FileRow | undefined> {
    const deadline = Date.now() + FINISH_WAIT_MS;
    while (!(await this.uploads.claimFinish(id, token, new Date(), leaseUntil()))) {
      const done = await this.files.findForTenant(tenantId, id);
      if (done) return done;
      if (!(await this.uploads.findById(id))) throw Errors.notFound('Upload', id);
      if (Date.now() >= deadline) {
        throw new AppError('BUSY', `Upload ${id} is being made a file by another request; ask again in a moment`, { retryAfterSeconds: 2 });
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return undefined;
  }

  private async commit(upload: ResumableUpload, owner: Principal): Promise<FileRow> {
    const id = upload.id;
    // An empty upload has no tus data to read (the S3 store writes no object for it).
    const stream = Number(upload.size) === 0 ? Readable.from([]) : await this.store.readFinished(resumableStoreId(id));
    const staged = await this.fileUploads.stage(owner, {
      id,
      stream,
      filename: upload.filename,
      declaredMime: upload.contentType ?? undefined,
      categoryKey: upload.categoryKey,
      visibility: upload.visibility,
    });
    if (staged.size !== Number(upload.size)) {
      await this.fileUploads.discardStaged([staged]);
      throw Errors.badRequest(`Upload ${id} holds ${staged.size} bytes, not the ${upload.size} it was created with`);
    }
    const [file] = (await this.fileUploads.commit(owner, [staged])) as [FileRow];
    return file;
  }

  /**
   * Lifecycle sweep: uploads that received every byte more than `graceMs` ago but are not files yet (the final
   * request met an outage and the client did not come back) become files now.
   */
  async finishReceived(now: Date, graceMs: number, limit: number): Promise<{ finished: number; pending: number }> {
    let finished = 0;
    let pending = 0;
    for (const upload of await this.uploads.received(new Date(now.getTime() - graceMs), limit)) {
      try {
        await this.finish(upload.id);
        finished++;
      } catch (error) {
        if (error instanceof ResumableCommitPending) pending++;
        this.logger.warn(`Could not make received upload ${upload.id} a file: ${String(error)}`);
      }
    }
    return { finished, pending };
  }

  /** Termination (tus DELETE): refused while another request is making the upload a file. */
  async terminate(id: string): Promise<void> {
    if (await this.uploads.finishing(id, new Date())) {
      throw new AppError('CONFLICT', `Upload ${id} is being made a file; it cannot be terminated now (ask HEAD for the file)`);
    }
    await this.forget(id);
  }

  /** Removes an upload's tus data and its record (termination, completion, expiry). */
  async forget(id: string): Promise<void> {
    await this.store.discard(resumableStoreId(id));
    await this.uploads.delete(id);
  }

  /**
   * Lifecycle sweep: uploads past their expiry lose their data and record (finished ones only their record). One
   * that holds all its bytes but is not a file (its receipt could not even be recorded, the database was down) is
   * made a file instead: the last chance before tus data is collected.
   */
  async expire(now: Date, limit: number): Promise<{ removed: number; finished: number }> {
    let removed = 0;
    let finished = 0;
    for (const upload of await this.uploads.expired(now, limit)) {
      try {
        // Being made a file right now (a client's late retry, the finish sweep): not this task's to remove.
        if (await this.uploads.finishing(upload.id, now)) continue;
        if (!upload.finishedAt && (await this.holdsEveryByte(upload))) {
          await this.finish(upload.id);
          finished++;
          continue;
        }
        await this.forget(upload.id);
        removed++;
      } catch (error) {
        this.logger.warn(`Could not remove expired upload ${upload.id}: ${String(error)}`);
      }
    }
    return { removed, finished };
  }

  private async holdsEveryByte(upload: ResumableUpload): Promise<boolean> {
    if (Number(upload.size) === 0) return true;
    const stored = await this.store.getUpload(resumableStoreId(upload.id)).catch(() => undefined);
    return stored !== undefined && stored.offset === Number(upload.size);
  }
}

/**
 * Every byte of upload `uploadId` is stored, but making it a file failed for an outage (the cause). The upload is
 * kept: a HEAD or an empty PATCH at its end finishes it, and so does the `finish-resumable` sweep.
 */
export class ResumableCommitPending extends Error {
  constructor(
    readonly uploadId: string,
    readonly size: number,
    cause: unknown,
  ) {
    super(`Upload ${uploadId} holds all its ${size} bytes but could not become a file yet`, { cause });
    this.name = 'ResumableCommitPending';
  }
}
