import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';
import type { ResumableUpload } from '@app/database';
import { Errors } from '@app/errors';
import { FileUploadService } from '../file-upload.service';
import { FilesRepository, tenantIdOfPrincipal, type FileRow } from '../files.repository';
import { ResumableUploadsRepository } from './resumable-uploads.repository';
import { ReconcileKeySpaces } from '../reconcile-key-spaces';
import { isUploadId, RESUMABLE_PREFIX, RESUMABLE_STORE, resumableStoreId, type ResumableStore } from './resumable-store';

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
 * removed, whether that succeeded or not.
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
   * (quotas are checked again on the real bytes). The tus data goes in every case; the record stays, marked
   * finished, until it expires (a HEAD then still reports the upload complete), or goes at once on failure.
   */
  async finish(id: string): Promise<FileRow> {
    const upload = await this.uploads.findById(id);
    if (!upload) throw Errors.notFound('Upload', id);
    const owner: Principal = { userId: upload.ownerId, orgId: upload.organizationId, role: 'user' };
    let file: FileRow;
    try {
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
      [file] = (await this.fileUploads.commit(owner, [staged])) as [FileRow];
    } catch (error) {
      await this.forget(id);
      throw error;
    }
    await this.uploads.markFinished(id);
    await this.store.discard(resumableStoreId(id));
    return file;
  }

  /** Removes an upload's tus data and its record (termination, completion, expiry). */
  async forget(id: string): Promise<void> {
    await this.store.discard(resumableStoreId(id));
    await this.uploads.delete(id);
  }

  /** Lifecycle sweep: uploads past their expiry lose their data and record (finished ones only their record). */
  async expire(now: Date, limit: number): Promise<number> {
    let count = 0;
    for (const upload of await this.uploads.expired(now, limit)) {
      try {
        await this.forget(upload.id);
        count++;
      } catch (error) {
        this.logger.warn(`Could not remove expired upload ${upload.id}: ${String(error)}`);
      }
    }
    return count;
  }
}
