import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import type { Principal } from '@app/auth';
import type { FileCategory } from '@app/database';
import { AppError, Errors } from '@app/errors';
import { addOutboxJob, OutboxRelay } from '@app/queue';
import { STORAGE_DRIVER, StorageLocator, type StorageDriver } from '@app/storage';
import { contentDisposition, isActiveContent, mimeAllowed, sniffMime } from './content-type';
import { nextStatus } from './file-lifecycle';
import { FilesRepository, tenantIdOfPrincipal, type FileRow } from './files.repository';
import { UploadMeter } from './upload-meter';

export interface StreamUploadInput {
  stream: Readable;
  filename: string;
  declaredMime?: string;
  encoding?: string;
  categoryKey?: string;
  visibility?: 'PRIVATE' | 'PUBLIC';
  signal?: AbortSignal;
}

export interface SignedUrl {
  url: string;
  expiresAt: Date;
}

@Injectable()
export class FilesService {
  private readonly logger = new Logger('FilesService');

  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly relay: OutboxRelay,
  ) {}

  async getCategory(key = 'default'): Promise<FileCategory> {
    const category = await this.files.findCategoryByKey(key);
    if (!category) throw Errors.badRequest(`Unknown file category '${key}'`);
    return category;
  }

  maxBytesFor(category: FileCategory): number {
    const own = category.maxBytes === null ? Infinity : Number(category.maxBytes);
    return Math.min(own, this.config.uploads.maxBytes);
  }

  checkDeclaredType(category: FileCategory, mime: string | undefined): void {
    if (mime && !mimeAllowed(mime, category.mimeTypes)) {
      throw new AppError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Category '${category.key}' does not accept ${mime}; allowed: ${category.mimeTypes.join(', ')}`,
      );
    }
  }

  /**
   * The API's own upload path: streams the bytes to a fresh key while hashing them, then makes the record real
   * in one transaction with its post-upload job. On any failure the object is removed; nothing half-written stays.
   */
  async uploadStream(principal: Principal, input: StreamUploadInput): Promise<FileRow> {
    const category = await this.getCategory(input.categoryKey);
    this.checkDeclaredType(category, input.declaredMime);
    const id = randomUUID();
    const tenantId = tenantIdOfPrincipal(principal);
    const key = StorageLocator.originalKey(tenantId, id);
    const meter = new UploadMeter(this.maxBytesFor(category));
    const body = new PassThrough();
    let stored = false;
    try {
      await Promise.all([
        pipeline(input.stream, meter, body, { signal: input.signal }),
        this.storage.put(key, body, { contentType: input.declaredMime, signal: input.signal }).then(() => {
          stored = true;
        }),
      ]);
      const { size, sha256, head } = meter.digest();
      const sniffedMime = await sniffMime(head);
      const now = new Date();
      const status = nextStatus('UPLOADING', 'uploaded');
      await this.files.transaction(async (tx) => {
        await this.files.create(tx, {
          id,
          ownerId: principal.userId,
          organizationId: principal.orgId,
          originalFilename: input.filename,
          encoding: input.encoding,
          storageKey: key,
          declaredMime: input.declaredMime,
          sniffedMime,
          size,
          sha256,
          status,
          visibility: input.visibility ?? category.defaultVisibility,
          categoryId: category.id,
          uploadedAt: now,
        });
        await this.files.addVersion(tx, {
          fileId: id,
          version: 1,
          storageKey: key,
          originalFilename: input.filename,
          mime: sniffedMime ?? input.declaredMime,
          size,
          sha256,
          createdBy: principal.userId,
        });
        await addOutboxJob(tx, 'file.process', { fileId: id, tenantId });
      });
      this.relay.kick();
    } catch (error) {
      await this.discard(key, stored);
      throw error;
    }
    const row = await this.files.findReadable(principal, id);
    if (!row) throw Errors.notFound('File', id);
    return row;
  }

  async get(principal: Principal, id: string): Promise<FileRow> {
    const row = await this.files.findReadable(principal, id);
    if (!row) throw Errors.notFound('File', id);
    return row;
  }

  /** A time-limited URL for the bytes; active content is always a download. */
  async downloadUrl(principal: Principal, id: string, disposition: 'inline' | 'attachment' = 'attachment'): Promise<SignedUrl> {
    const file = await this.get(principal, id);
    if (file.status !== 'READY' && file.status !== 'PROCESSING') {
      throw new AppError('CONFLICT', `File ${id} has no content to download (status ${file.status})`);
    }
    const type = servedContentType(file);
    const expiresInSeconds = this.config.uploads.signedUrlTtlSeconds;
    const url = await this.storage.presignGet(file.storageKey, {
      expiresInSeconds,
      contentType: type,
      contentDisposition: contentDisposition(file.originalFilename, isActiveContent(type) ? 'attachment' : disposition),
    });
    return { url, expiresAt: new Date(Date.now() + expiresInSeconds * 1000) };
  }

  // The object may be partly written or not at all; deleting a missing key succeeds. If storage itself is down,
  // a job removes it later.
  private async discard(key: string, stored: boolean): Promise<void> {
    try {
      await this.storage.delete(key);
    } catch (error) {
      if (!stored) return;
      this.logger.warn(`Could not delete ${key} after a failed upload, scheduling cleanup: ${String(error)}`);
      await this.files
        .transaction((tx) => addOutboxJob(tx, 'storage.delete-object', { key, reason: 'failed upload' }))
        .catch(() => undefined);
    }
  }
}

/** What we send as Content-Type: the sniffed type; the declared one only when the bytes gave no answer. */
export function servedContentType(file: Pick<FileRow, 'sniffedMime' | 'declaredMime'>): string {
  if (file.sniffedMime) return file.sniffedMime;
  // A declared type is not trusted for serving when it would make the browser run it.
  if (file.declaredMime && !isActiveContent(file.declaredMime) && /^(text\/plain|text\/csv|application\/json)/.test(file.declaredMime)) {
    return file.declaredMime;
  }
  return 'application/octet-stream';
}
