import { randomUUID } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';
import type { FileCategory } from '@app/database';
import { AppError, Errors, unavailableDependency } from '@app/errors';
import { addOutboxJob, OutboxRelay } from '@app/queue';
import { STORAGE_DRIVER, StorageLocator, StorageNotFoundError, type ObjectHead, type PresignedPost, type StorageDriver } from '@app/storage';
import { checkFilename, mimeAllowed, sniffMime } from './content-type';
import { eventForRequestedStatus, nextStatus, type FileStatusName } from './file-lifecycle';
import { FilesRepository, tenantIdOf, tenantIdOfPrincipal, type FileRow } from './files.repository';
import { UploadMeter } from './upload-meter';
import { emitFileEvent } from './file-events';
import { QuotasService } from './quotas.service';

export interface StreamUploadInput {
  /** The new file's id when the caller handed it out already (a resumable upload's id); fresh otherwise. */
  id?: string;
  stream: Readable;
  filename: string;
  declaredMime?: string;
  encoding?: string;
  categoryKey?: string;
  visibility?: 'PRIVATE' | 'PUBLIC';
  /** The signed REST flow's client the file was uploaded for. */
  fileClientId?: string;
  /** Free metadata kept with the record (e.g. the signed flow's `meta`). */
  metadata?: Record<string, unknown>;
  signal?: AbortSignal;
}

/** Bytes written and measured, not yet recorded (FileUploadService.stage). */
export interface StagedUpload {
  id: string;
  key: string;
  size: number;
  sha256: string;
  sniffedMime: string | null;
  filename: string;
  declaredMime?: string;
  encoding?: string;
  category: FileCategory;
  visibility: 'PRIVATE' | 'PUBLIC';
}

export interface CommitOptions {
  /** The signed REST flow's client the files were uploaded for. */
  fileClientId?: string;
  /** Free metadata kept with each record (e.g. the signed flow's `meta`). */
  metadata?: Record<string, unknown>;
  /** A service token uploading on behalf of a user of its organization (signed flow): that user owns the files. */
  ownerId?: string;
}

export interface UploadIntentInput {
  filename: string;
  contentType?: string;
  categoryKey?: string;
  visibility?: 'PRIVATE' | 'PUBLIC';
  externalId?: string;
  /** Removed by the lifecycle sweep after this unless made permanent. */
  temporaryUntil?: Date;
  /** Invisible to every read until a member of the organization saves it (uploads without credentials). */
  quarantined?: boolean;
  metadata?: Record<string, unknown>;
}

/**
 * Every way bytes arrive ends here, in the same lifecycle: intent (UPLOADING) → uploaded (PROCESSING, with the
 * `file.process` job written in the same transaction) → the job decides READY or FAILED.
 */
@Injectable()
export class FileUploadService {
  private readonly logger = new Logger('FileUploadService');

  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly relay: OutboxRelay,
    private readonly quotas: QuotasService,
  ) {}

  async category(key = 'default'): Promise<FileCategory> {
    const category = await this.files.findCategoryByKey(key);
    if (!category) throw Errors.badRequest(`Unknown file category '${key}'`);
    return category;
  }

  maxBytesFor(category: FileCategory): number {
    const own = category.maxBytes === null ? Infinity : Number(category.maxBytes);
    return Math.min(own, this.config.uploads.maxBytes);
  }

  private checkDeclaredType(category: FileCategory, mime: string | undefined): void {
    if (mime && !mimeAllowed(mime, category.mimeTypes)) {
      throw new AppError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Category '${category.key}' does not accept ${mime}; allowed: ${category.mimeTypes.join(', ')}`,
      );
    }
  }

  /**
   * Uploads that say their size before the bytes come (resumable and multipart uploads): the name, the category's
   * type and size rules and the quotas are checked against the declared size, so a refusal costs no bytes.
   */
  async admitDeclared(principal: Principal, input: { filename: string; categoryKey?: string; contentType?: string; size: number }): Promise<FileCategory> {
    checkFilename(input.filename);
    const category = await this.category(input.categoryKey);
    this.checkDeclaredType(category, input.contentType);
    const max = this.maxBytesFor(category);
    if (input.size > max) throw Errors.tooLarge(max);
    await this.quotas.admit({ userId: principal.userId, orgId: principal.orgId }, input.size);
    return category;
  }

  /**
   * The API's own upload path: streams the bytes to a fresh key while hashing them, then makes the record real
   * in one transaction with its post-upload job. On any failure the object is removed; nothing half-written stays.
   */
  async uploadStream(principal: Principal, input: StreamUploadInput): Promise<FileRow> {
    const staged = await this.stage(principal, input);
    const [file] = await this.commit(principal, [staged], { fileClientId: input.fileClientId, metadata: input.metadata });
    return file!;
  }

  /**
   * Step one of a streamed upload: the bytes go to a fresh key while they are measured and hashed. Nothing is
   * recorded yet, so several files of one request can be committed (or discarded) together.
   */
  async stage(principal: Principal, input: StreamUploadInput): Promise<StagedUpload> {
    checkFilename(input.filename);
    const category = await this.category(input.categoryKey);
    this.checkDeclaredType(category, input.declaredMime);
    // Quotas first: one more file must fit, and the stream is cut where the bytes left run out.
    const admission = await this.quotas.admit({ userId: principal.userId, orgId: principal.orgId });
    const id = input.id ?? randomUUID();
    const key = StorageLocator.originalKey(tenantIdOfPrincipal(principal), id);
    const categoryMax = this.maxBytesFor(category);
    const meter =
      admission.remainingBytes < categoryMax ? new UploadMeter(admission.remainingBytes, admission.quotaError) : new UploadMeter(categoryMax);
    const body = new PassThrough();
    let stored = false;
    try {
      await settleBoth(
        pipeline(input.stream, meter, body, { signal: input.signal }),
        this.storage.put(key, body, { contentType: input.declaredMime, signal: input.signal }).then(() => {
          stored = true;
        }),
      );
      const { size, sha256, head } = meter.digest();
      return {
        id,
        key,
        size,
        sha256,
        sniffedMime: await sniffMime(head),
        filename: input.filename,
        declaredMime: input.declaredMime,
        encoding: input.encoding,
        category,
        visibility: input.visibility ?? category.defaultVisibility,
      };
    } catch (error) {
      await this.discard(key, stored);
      throw error;
    }
  }

  /**
   * Step two: the records of staged uploads, their versions and their post-upload jobs, all in one transaction.
   * Identical bytes are stored once per tenant: when the tenant already holds a live file with the same SHA-256
   * (or an earlier file of this batch has it), the new record points at that object and the staged copy is
   * removed by a job written in the same transaction. On failure every staged object is removed.
   */
  async commit(principal: Principal, staged: StagedUpload[], options: CommitOptions = {}): Promise<FileRow[]> {
    const tenantId = tenantIdOfPrincipal(principal);
    const ownerId = options.ownerId ?? principal.userId;
    try {
      await this.files.transaction(async (tx) => {
        const keyBySha = new Map<string, string>();
        for (const upload of staged) {
          let key = keyBySha.get(upload.sha256);
          if (!key) {
            // Two uploads of the same bytes at once: the second waits for the first to commit, then reuses it.
            await this.files.lockContent(tx, tenantId, upload.sha256);
            key = (await this.files.findStoredContent(tx, tenantId, upload.sha256)) ?? upload.key;
            keyBySha.set(upload.sha256, key);
          }
          if (key !== upload.key) await addOutboxJob(tx, 'storage.delete-object', { key: upload.key, reason: 'duplicate content' });
          const mime = upload.sniffedMime ?? upload.declaredMime;
          const created = await this.files.create(tx, {
            id: upload.id,
            ownerId,
            organizationId: principal.orgId,
            originalFilename: upload.filename,
            encoding: upload.encoding,
            storageKey: key,
            declaredMime: upload.declaredMime,
            sniffedMime: upload.sniffedMime,
            size: upload.size,
            sha256: upload.sha256,
            status: nextStatus('UPLOADING', 'uploaded'),
            visibility: upload.visibility,
            categoryId: upload.category.id,
            fileClientId: options.fileClientId,
            metadata: (options.metadata ?? {}) as object,
            uploadedAt: new Date(),
          });
          await this.files.addVersion(tx, {
            fileId: upload.id,
            version: 1,
            storageKey: key,
            originalFilename: upload.filename,
            mime,
            size: upload.size,
            sha256: upload.sha256,
            createdBy: principal.userId,
          });
          await addOutboxJob(tx, 'file.process', { fileId: upload.id, tenantId });
          await emitFileEvent(tx, 'file.uploaded', created);
        }
      });
    } catch (error) {
      if (unavailableDependency(error) === 'database') {
        // The connection broke around COMMIT: the records may exist (committed, the answer lost) or not. Deleting
        // the bytes now could leave a committed record without its object; the delete job checks first.
        this.cleanupAfterUncertainCommit(staged.map((u) => u.key));
      } else {
        await this.discardStaged(staged);
      }
      throw error;
    }
    this.relay.kick();
    return Promise.all(staged.map((upload) => this.files.findForTenant(tenantId, upload.id).then((row) => row!)));
  }

  /**
   * Writes a `storage.delete-object` job for each key once the database answers again (tried for about two minutes;
   * the job deletes only a key no record points at). If this process dies first, the reconciler collects the
   * objects after ORPHAN_MIN_AGE_SECONDS.
   */
  private cleanupAfterUncertainCommit(keys: string[], attempt = 1): void {
    const timer = setTimeout(() => {
      this.files
        .transaction(async (tx) => {
          for (const key of keys) await addOutboxJob(tx, 'storage.delete-object', { key, reason: 'upload whose commit failed' });
        })
        .then(() => this.relay.kick())
        .catch((error: unknown) => {
          if (attempt < 24) this.cleanupAfterUncertainCommit(keys, attempt + 1);
          else this.logger.warn(`Could not schedule the cleanup of ${keys.join(', ')}; the reconciler will collect them: ${String(error)}`);
        });
    }, Math.min(attempt * 1000, 5000));
    timer.unref();
  }

  /** Removes the bytes of staged uploads that will not be committed (a later part of the request failed). */
  async discardStaged(staged: StagedUpload[]): Promise<void> {
    await Promise.all(staged.map((upload) => this.discard(upload.key, true)));
  }

  /**
   * Direct-to-storage uploads, step 1: the record in UPLOADING and where its bytes must go: a staging key (also kept
   * as `uploadKey`), never served. Completion copies the bytes to a fresh key only this service writes.
   */
  async createIntent(principal: Principal, input: UploadIntentInput): Promise<{ file: FileRow; category: FileCategory }> {
    checkFilename(input.filename);
    const category = await this.category(input.categoryKey);
    this.checkDeclaredType(category, input.contentType);
    // Bytes are not known yet: one more file must fit and some bytes must be left; completion checks the size.
    await this.quotas.admit({ userId: principal.userId, orgId: principal.orgId });
    const id = randomUUID();
    const key = StorageLocator.stagingKey(tenantIdOfPrincipal(principal), id);
    await this.files.transaction(async (tx) => {
      await this.files.create(tx, {
        id,
        ownerId: principal.userId,
        organizationId: principal.orgId,
        originalFilename: input.filename,
        storageKey: key,
        uploadKey: key,
        declaredMime: input.contentType,
        status: 'UPLOADING',
        visibility: input.visibility ?? category.defaultVisibility,
        categoryId: category.id,
        externalId: input.externalId,
        temporaryUntil: input.temporaryUntil,
        quarantined: input.quarantined ?? false,
        metadata: (input.metadata ?? {}) as object,
      });
    });
    // A quarantined record is invisible to reads by design; the caller gets it from the tenant-scoped lookup.
    const file = input.quarantined ? await this.files.findForTenant(tenantIdOfPrincipal(principal), id) : await this.mustRead(principal, id);
    return { file: file!, category };
  }

  /**
   * Bytes for a record still UPLOADING, streamed through the API (the epilot upload target, imports from a
   * source_url): measured, hashed and sniffed on the way to a fresh key of this delivery, then the record points
   * there and moves on with its job in one transaction. Of two deliveries at once only one is recorded and the other
   * removes its own bytes: neither can overwrite what the other's record serves. On failure the object is removed.
   */
  async receive(file: FileRow, stream: Readable, options: { maxBytes?: number; contentType?: string; signal?: AbortSignal } = {}): Promise<FileRow> {
    if (file.status !== 'UPLOADING') {
      stream.resume();
      throw new AppError('ILLEGAL_TRANSITION', `File ${file.id} is ${file.status}; it takes no more bytes`);
    }
    const limit = Math.min(options.maxBytes ?? Infinity, file.category ? this.maxBytesFor(file.category) : this.config.uploads.maxBytes);
    const tenantId = tenantIdOf(file);
    const key = StorageLocator.originalKey(tenantId, file.id);
    const meter = new UploadMeter(limit);
    const body = new PassThrough();
    let stored = false;
    try {
      await settleBoth(
        pipeline(stream, meter, body, ...(options.signal ? [{ signal: options.signal }] : [])),
        this.storage.put(key, body, { contentType: options.contentType ?? file.declaredMime ?? undefined, signal: options.signal }).then(() => {
          stored = true;
        }),
      );
    } catch (error) {
      await this.discard(key, stored);
      throw error;
    }
    const { size, sha256, head } = meter.digest();
    let moved: boolean;
    try {
      const overQuota = await this.quotas.checkCompleted({ userId: file.ownerId, orgId: file.organizationId }, file.id, size);
      if (overQuota) throw new AppError('QUOTA_EXCEEDED', overQuota);
      moved = await this.recordReceived(file, key, { size, sha256, sniffedMime: await sniffMime(head) });
    } catch (error) {
      await this.dropCopy(key, error);
      throw error;
    }
    if (!moved) {
      await this.discard(key, true);
      throw new AppError('CONFLICT', `File ${file.id} received its bytes twice at once; the first delivery was kept`);
    }
    this.relay.kick();
    return (await this.files.findForTenant(tenantId, file.id))!;
  }

  /**
   * The record of a delivery: it now serves `key`, in PROCESSING with its job. The key it was created with (staging,
   * normally empty in this flow) is removed by a job in the same transaction. False when another delivery won.
   */
  private async recordReceived(file: FileRow, key: string, measured: { size: number; sha256: string; sniffedMime: string | null }): Promise<boolean> {
    const { size, sha256, sniffedMime } = measured;
    const tenantId = tenantIdOf(file);
    return this.files.transaction(async (tx) => {
      const ok = await this.files.updateIfStatus(tx, tenantId, file.id, 'UPLOADING', {
        status: nextStatus('UPLOADING', 'uploaded'),
        storageKey: key,
        size,
        sha256,
        sniffedMime,
        uploadedAt: new Date(),
      });
      if (!ok) return false;
      if (file.storageKey !== key) await addOutboxJob(tx, 'storage.delete-object', { key: file.storageKey, reason: 'staging object of a completed upload' });
      await this.files.addVersion(tx, {
        fileId: file.id,
        version: 1,
        storageKey: key,
        originalFilename: file.originalFilename,
        mime: sniffedMime ?? file.declaredMime,
        size,
        sha256,
        createdBy: file.ownerId,
      });
      await addOutboxJob(tx, 'file.process', { fileId: file.id, tenantId });
      await emitFileEvent(tx, 'file.uploaded', { ...file, status: 'PROCESSING', size: BigInt(size), sha256, sniffedMime });
      return true;
    });
  }

  /**
   * Removes this service's own copy of an upload that was not recorded. When the database broke around COMMIT the
   * record may point at it after all: then a job removes it later, only if no record does.
   */
  private async dropCopy(key: string, error: unknown): Promise<void> {
    if (unavailableDependency(error) === 'database') this.cleanupAfterUncertainCommit([key]);
    else await this.discard(key, true);
  }

  /** A browser-style POST whose policy pins the key, the content type and the category's size range. */
  async presignPost(file: FileRow, category: FileCategory): Promise<PresignedPost & { expiresAt: Date }> {
    const expiresInSeconds = this.config.uploads.signedUrlTtlSeconds;
    const post = await this.storage.presignPost(file.storageKey, {
      expiresInSeconds,
      contentType: file.declaredMime ?? undefined,
      minBytes: 0,
      maxBytes: this.maxBytesFor(category),
    });
    return { ...post, expiresAt: new Date(Date.now() + expiresInSeconds * 1000) };
  }

  /** A client asks for a status (ROQ's updateFileStatus): READY means "my bytes are there, take them". */
  async requestStatus(principal: Principal, id: string, status: FileStatusName): Promise<FileRow> {
    const event = eventForRequestedStatus(status);
    if (event === 'uploaded') return this.completeUpload(principal, id);
    const file = await this.mustWrite(principal, id);
    nextStatus(file.status, event);
    await this.files.updateIfStatus(this.files.client, tenantIdOf(file), id, file.status, {
      status: nextStatus(file.status, event),
      failureReason: 'Marked as failed by the client',
    });
    await this.discard(file.storageKey, true);
    return this.mustRead(principal, id);
  }

  /** A pre-signed PUT URL for the intent's key. */
  async presignPut(principal: Principal, id: string): Promise<{ url: string; expiresAt: Date }> {
    const file = await this.mustWrite(principal, id);
    if (file.status !== 'UPLOADING') {
      throw new AppError('ILLEGAL_TRANSITION', `File ${id} is ${file.status}; it takes no more bytes`);
    }
    const expiresInSeconds = this.config.uploads.signedUrlTtlSeconds;
    const url = await this.storage.presignPut(file.storageKey, { expiresInSeconds, contentType: file.declaredMime ?? undefined });
    return { url, expiresAt: new Date(Date.now() + expiresInSeconds * 1000) };
  }

  /**
   * Direct-to-storage uploads, step 2: the caller (or a storage notification) says the bytes are there. We check
   * that they really are and within the rules before the file moves on. Idempotent once accepted.
   */
  async completeUpload(principal: Principal, id: string): Promise<FileRow> {
    const file = await this.mustWrite(principal, id);
    return this.complete(file);
  }

  /** Completion from a trusted source (a bucket notification) that names only the key. */
  async completeByKey(key: string): Promise<FileRow | null> {
    const file = await this.files.findByStorageKey(key);
    return file ? this.complete(file) : null;
  }

  /**
   * The client's URL stays valid for SIGNED_URL_TTL_SECONDS after completion, and it writes the staging key. So the
   * bytes the record serves, hashes and scans are a server-side copy under a fresh key only this service writes; the
   * record (and its version) points there from the transaction that moves it to PROCESSING, which also schedules the
   * staging object's removal. Whatever is written to the old URL afterwards lands on a key no record serves.
   */
  private async complete(file: FileRow): Promise<FileRow> {
    if (file.status === 'PROCESSING' || file.status === 'READY') return file;
    // Throws ILLEGAL_TRANSITION for FAILED.
    nextStatus(file.status, 'uploaded');
    const staged = file.storageKey;
    // Refuses early what the rules refuse, before any copying.
    const head = await this.storage.head(staged);
    if (!head) throw new AppError('UPLOAD_INCOMPLETE', `File ${file.id} has not been uploaded yet`);
    await this.checkUploaded(file, head);
    const tenantId = tenantIdOf(file);
    const key = StorageLocator.originalKey(tenantId, file.id);
    let moved: boolean;
    try {
      await this.storage.copy(staged, key);
      // The copy is what will be served: its own size and type decide (the staging object may have changed since).
      const copied = await this.storage.head(key);
      if (!copied) throw new StorageNotFoundError(key);
      await this.checkUploaded(file, copied);
      moved = await this.recordCompleted(file, key, copied);
    } catch (error) {
      await this.dropCopy(key, error);
      if (!(error instanceof StorageNotFoundError)) throw error;
      // A completion running at the same time won and its job removed the staging object: answer as it did.
      const current = await this.files.findForTenant(tenantId, file.id);
      if (current && (current.status === 'PROCESSING' || current.status === 'READY')) return current;
      throw new AppError('UPLOAD_INCOMPLETE', `File ${file.id} has not been uploaded yet`);
    }
    // Someone else completed it between our read and the update: their copy is the one served, their job queued.
    if (!moved) await this.discard(key, true);
    else this.relay.kick();
    return (await this.files.findForTenant(tenantId, file.id))!;
  }

  /** Size, quota and declared type of uploaded bytes; a refusal fails the record for good and removes the bytes. */
  private async checkUploaded(file: FileRow, head: ObjectHead): Promise<void> {
    const tenantId = tenantIdOf(file);
    const overQuota = await this.quotas.checkCompleted({ userId: file.ownerId, orgId: file.organizationId }, file.id, head.size);
    const problem = overQuota ?? this.policyProblem(file, head);
    if (!problem) return;
    await this.files.updateIfStatus(this.files.client, tenantId, file.id, 'UPLOADING', { status: nextStatus('UPLOADING', 'failed'), failureReason: problem, size: head.size });
    await this.discard(file.storageKey, true);
    throw overQuota ? new AppError('QUOTA_EXCEEDED', overQuota) : Errors.badRequest(problem);
  }

  /** The record now serves `key`, in PROCESSING with its job, and its staging object goes. False when another completion won. */
  private async recordCompleted(file: FileRow, key: string, head: ObjectHead): Promise<boolean> {
    const tenantId = tenantIdOf(file);
    return this.files.transaction(async (tx) => {
      const moved = await this.files.updateIfStatus(tx, tenantId, file.id, 'UPLOADING', {
        status: nextStatus('UPLOADING', 'uploaded'),
        storageKey: key,
        size: head.size,
        uploadedAt: new Date(),
      });
      if (!moved) return false;
      await addOutboxJob(tx, 'storage.delete-object', { key: file.storageKey, reason: 'staging object of a completed upload' });
      await this.files.addVersion(tx, {
        fileId: file.id,
        version: 1,
        storageKey: key,
        originalFilename: file.originalFilename,
        mime: file.declaredMime,
        size: head.size,
        createdBy: file.ownerId,
      });
      await addOutboxJob(tx, 'file.process', { fileId: file.id, tenantId });
      await emitFileEvent(tx, 'file.uploaded', { ...file, status: 'PROCESSING', size: BigInt(head.size) });
      return true;
    });
  }

  /**
   * Runs the post-upload work again (an admin retrying a FAILED file, or refreshing a READY one after the media
   * rules changed). The status change and its job are written in one transaction, like every other step.
   */
  async reprocess(principal: Principal, id: string): Promise<FileRow> {
    if (principal.role !== 'admin') throw Errors.forbidden('Reprocessing files needs an admin token');
    const file = await this.mustWrite(principal, id);
    const status = nextStatus(file.status, 'reprocess');
    const tenantId = tenantIdOf(file);
    await this.files.transaction(async (tx) => {
      const moved = await this.files.updateIfStatus(tx, tenantId, id, file.status, { status, failureReason: null });
      if (!moved) throw new AppError('CONFLICT', `File ${id} changed while it was being reprocessed; try again`);
      await addOutboxJob(tx, 'file.process', { fileId: id, tenantId });
    });
    this.relay.kick();
    return this.mustRead(principal, id);
  }

  private policyProblem(file: FileRow, head: { size: number; contentType?: string }): string | null {
    const max = file.category ? this.maxBytesFor(file.category) : this.config.uploads.maxBytes;
    if (head.size > max) return `The uploaded object is ${head.size} bytes; the limit is ${max}`;
    if (file.declaredMime && head.contentType && head.contentType.toLowerCase() !== file.declaredMime.toLowerCase()) {
      return `The uploaded object is ${head.contentType}, not the declared ${file.declaredMime}`;
    }
    return null;
  }

  private async mustRead(principal: Principal, id: string): Promise<FileRow> {
    const row = await this.files.findReadable(principal, id);
    if (!row) throw Errors.notFound('File', id);
    return row;
  }

  private async mustWrite(principal: Principal, id: string): Promise<FileRow> {
    const row = await this.files.findWritable(principal, id);
    if (!row) {
      // Readable but not writable is a 403; not even readable stays a 404 so nothing leaks.
      if (await this.files.findReadable(principal, id)) throw Errors.forbidden(`You may not change file ${id}`);
      throw Errors.notFound('File', id);
    }
    return row;
  }

  // The object may be partly written or not at all; deleting a missing key succeeds. If storage itself is down,
  // a job removes it later.
  private async discard(key: string, stored: boolean): Promise<void> {
    try {
      await this.storage.delete(key);
    } catch (error) {
      // Even when the write seemed to fail, storage may have kept it (the connection dropped after the object was
      // complete, before the answer): whenever the delete cannot be done now, a job does it later.
      this.logger.warn(`Could not delete ${key} after a failed upload${stored ? '' : ' (its write may have landed)'}, scheduling cleanup: ${String(error)}`);
      await this.files
        .transaction((tx) => addOutboxJob(tx, 'storage.delete-object', { key, reason: 'failed upload' }))
        .catch(() => undefined);
    }
  }
}

/**
 * Waits for the reading side and the storage write to finish, whatever happens to either, then fails with the
 * first error (the reading side's: the size limit, a quota, a client that went away). Failing as soon as one side
 * fails would answer while the driver is still removing its partial write.
 */
async function settleBoth(reading: Promise<unknown>, writing: Promise<unknown>): Promise<void> {
  const [read, written] = await Promise.allSettled([reading, writing]);
  if (read.status === 'rejected') throw read.reason;
  if (written.status === 'rejected') throw written.reason;
}
