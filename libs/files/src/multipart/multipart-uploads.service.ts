import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { AppError, Errors, unavailableDependency } from '@app/errors';
import { STORAGE_DRIVER, type MultipartStorage, type StorageDriver } from '@app/storage';
import { FileUploadService } from '../file-upload.service';
import type { FileRow } from '../files.repository';
import { MultipartUploadsRepository, type MultipartUploadRow } from './multipart-uploads.repository';

const MIN_PART_BYTES = 5 * 1024 * 1024;
const MAX_PART_BYTES = 5 * 1024 * 1024 * 1024;
const MAX_PARTS = 10_000;
/** Part URLs handed out per request. */
const MAX_SIGNED_PER_REQUEST = 1000;

export interface MultipartCreation {
  filename: string;
  contentType?: string;
  categoryKey?: string;
  visibility?: 'PRIVATE' | 'PUBLIC';
  size: number;
  partSize?: number;
}

export interface MultipartStarted {
  file: FileRow;
  uploadId: string;
  partSize: number;
  partCount: number;
  expiresAt: Date;
}

/** Strong entity tags compare without their quotes (clients send them either way). */
function bareEtag(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

/**
 * Multipart uploads straight to S3: the client names the size up front (quotas and size limits are checked then),
 * PUTs each part to a pre-signed URL, and completes with the parts' entity tags; the file then goes the way of every
 * direct upload (FileUploadService.completeUpload: checked, PROCESSING, the post-upload job). Only the owner sees the
 * upload. Aborted and stale uploads lose their parts and their record.
 */
@Injectable()
export class MultipartUploadsService {
  private readonly logger = new Logger('MultipartUploads');

  constructor(
    private readonly uploads: MultipartUploadsRepository,
    private readonly fileUploads: FileUploadService,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private multipart(): MultipartStorage {
    if (!this.storage.multipart) {
      throw Errors.badRequest(
        'Multipart direct uploads need S3 storage (STORAGE_DRIVER=s3); this server stores files on local disk. Upload through the API instead: tus at /api/files/tus (resumable) or POST /files',
      );
    }
    return this.storage.multipart;
  }

  async create(principal: Principal, input: MultipartCreation): Promise<MultipartStarted> {
    const multipart = this.multipart();
    const partSize = input.partSize ?? this.config.resumable.multipartPartSize;
    if (partSize < MIN_PART_BYTES || partSize > MAX_PART_BYTES) {
      throw Errors.badRequest(`partSize must be from ${MIN_PART_BYTES} (5 MiB) to ${MAX_PART_BYTES} (5 GiB) bytes`, { field: 'partSize' });
    }
    const partCount = Math.max(1, Math.ceil(input.size / partSize));
    if (partCount > MAX_PARTS) {
      throw Errors.badRequest(`${input.size} bytes in parts of ${partSize} make ${partCount} parts; at most ${MAX_PARTS}: choose a larger partSize`, { field: 'partSize' });
    }
    await this.fileUploads.admitDeclared(principal, input);
    const { file } = await this.fileUploads.createIntent(principal, {
      filename: input.filename,
      contentType: input.contentType,
      categoryKey: input.categoryKey,
      visibility: input.visibility,
    });
    let uploadId: string;
    try {
      uploadId = await multipart.create(file.storageKey, { contentType: input.contentType });
    } catch (error) {
      await this.uploads.deleteWithFile(file.id);
      throw error;
    }
    try {
      await this.uploads.create({ fileId: file.id, uploadId, size: BigInt(input.size), partSize, partCount });
    } catch (error) {
      await multipart.abort(file.storageKey, uploadId).catch(() => undefined);
      await this.uploads.deleteWithFile(file.id);
      throw error;
    }
    return { file, uploadId, partSize, partCount, expiresAt: new Date(Date.now() + this.config.resumable.ttlSeconds * 1000) };
  }

  async signParts(principal: Principal, fileId: string, partNumbers: number[]): Promise<{ parts: { partNumber: number; url: string }[]; expiresAt: Date }> {
    const upload = await this.mustOwn(principal, fileId);
    const multipart = this.multipart();
    if (partNumbers.length === 0 || partNumbers.length > MAX_SIGNED_PER_REQUEST) {
      throw Errors.badRequest(`partNumbers must name 1 to ${MAX_SIGNED_PER_REQUEST} parts`, { field: 'partNumbers' });
    }
    for (const n of partNumbers) {
      if (!Number.isInteger(n) || n < 1 || n > upload.partCount) {
        throw Errors.badRequest(`Part ${n} does not exist: this upload has parts 1 to ${upload.partCount}`, { field: 'partNumbers' });
      }
    }
    const expiresInSeconds = this.config.uploads.signedUrlTtlSeconds;
    const unique = [...new Set(partNumbers)].sort((a, b) => a - b);
    const parts = await Promise.all(
      unique.map(async (partNumber) => ({ partNumber, url: await multipart.presignPart(upload.file.storageKey, upload.uploadId, partNumber, { expiresInSeconds }) })),
    );
    return { parts, expiresAt: new Date(Date.now() + expiresInSeconds * 1000) };
  }

  /**
   * Every part must be there with the size agreed at creation (all `partSize` but the last) and the entity tag the
   * client got for it; then storage assembles the object and the file moves on like any direct upload.
   */
  async complete(principal: Principal, fileId: string, parts: { partNumber: number; etag: string }[]): Promise<FileRow> {
    const upload = await this.mustOwn(principal, fileId);
    const multipart = this.multipart();
    const key = upload.file.storageKey;
    // Assembled by an earlier completion whose answer was an outage: only the acceptance is left to do.
    if (await this.storage.head(key)) return this.accept(principal, fileId);
    const stored = new Map((await multipart.listParts(key, upload.uploadId)).map((p) => [p.partNumber, p]));
    const named = new Map<number, string>();
    for (const part of parts) {
      if (named.has(part.partNumber)) throw Errors.badRequest(`Part ${part.partNumber} is named twice`, { field: 'parts' });
      named.set(part.partNumber, part.etag);
    }
    const size = Number(upload.size);
    for (let n = 1; n <= upload.partCount; n++) {
      const expected = n < upload.partCount ? upload.partSize : size - upload.partSize * (upload.partCount - 1);
      const etag = named.get(n);
      const part = stored.get(n);
      if (etag === undefined) throw Errors.badRequest(`Part ${n} of ${upload.partCount} is missing from parts`, { field: 'parts' });
      if (!part) throw Errors.badRequest(`Part ${n} has not been uploaded yet`, { field: 'parts' });
      if (bareEtag(part.etag) !== bareEtag(etag)) throw Errors.badRequest(`Part ${n}: the etag ${etag} is not the uploaded part's; upload it again or send its etag`, { field: 'parts' });
      if (part.size !== expected) throw Errors.badRequest(`Part ${n} holds ${part.size} bytes; it must hold ${expected}. Upload it again`, { field: 'parts' });
    }
    if (named.size !== upload.partCount) throw Errors.badRequest(`parts names parts this upload does not have (it has 1 to ${upload.partCount})`, { field: 'parts' });
    await multipart.complete(
      key,
      upload.uploadId,
      [...stored.values()].map((p) => ({ partNumber: p.partNumber, etag: p.etag })),
    );
    return this.accept(principal, fileId);
  }

  /**
   * The object is assembled: the file moves on like any direct upload. A refusal (size, quota) fails the file and
   * removes its bytes, and the upload is over; an outage keeps the upload, so the client can complete it again.
   */
  private async accept(principal: Principal, fileId: string): Promise<FileRow> {
    let file: FileRow;
    try {
      file = await this.fileUploads.completeUpload(principal, fileId);
    } catch (error) {
      if (!unavailableDependency(error)) await this.uploads.delete(fileId);
      throw error;
    }
    await this.uploads.delete(fileId);
    return file;
  }

  /** The client gives up: the parts, any object and the record go. */
  async abort(principal: Principal, fileId: string): Promise<void> {
    const upload = await this.mustOwn(principal, fileId, { uploading: false });
    await this.discard(upload);
  }

  /** Lifecycle sweep: uploads started before `before` and never completed are aborted and their records removed. */
  async abortStale(before: Date, limit: number): Promise<number> {
    if (!this.storage.multipart) return 0;
    let count = 0;
    for (const upload of await this.uploads.stale(before, limit)) {
      try {
        await this.discard(upload);
        count++;
      } catch (error) {
        this.logger.warn(`Could not abort stale multipart upload of file ${upload.fileId}: ${String(error)}`);
      }
    }
    return count;
  }

  private async discard(upload: MultipartUploadRow): Promise<void> {
    await this.multipart().abort(upload.file.storageKey, upload.uploadId);
    // The object goes only with its record: a file that moved on (completed, then its row left behind by an outage)
    // keeps its bytes.
    if (await this.uploads.deleteWithFile(upload.fileId)) await this.storage.delete(upload.file.storageKey);
  }

  private async mustOwn(principal: Principal, fileId: string, options = { uploading: true }): Promise<MultipartUploadRow> {
    const upload = await this.uploads.findOwned(principal, fileId);
    if (!upload) throw Errors.notFound('Multipart upload', fileId);
    if (options.uploading && upload.file.status !== 'UPLOADING') {
      throw new AppError('ILLEGAL_TRANSITION', `File ${fileId} is ${upload.file.status}; its multipart upload is over`);
    }
    return upload;
  }
}
