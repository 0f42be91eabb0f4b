import { Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import type { Principal } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { Errors } from '@app/errors';
import { FilesService, FileUploadService, pageCount, parsePageRequest, type FileRow } from '@app/files';
import { readSingleFile } from '../http/multipart';
import { success, toChainsiteRecord, type ChainsiteFileRecord, type ChainsitePage, type ChainsiteSuccess } from './chainsite.dto';

// Room for multipart boundaries and the text fields around the file part.
const MULTIPART_OVERHEAD = 1024 * 1024;
const PAGING = { defaultLimit: 10, maxLimit: 100 };

/** The Chainsite surface (seed 002) over the file domain: translates its requests and builds its records. */
@Injectable()
export class ChainsiteService {
  constructor(
    private readonly files: FilesService,
    private readonly uploads: FileUploadService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Streams the multipart part `file` into storage; over MAX_UPLOAD_BYTES is a 413 that leaves nothing behind. */
  async upload(principal: Principal, req: Request, visibility: 'PUBLIC' | 'PRIVATE'): Promise<ChainsiteSuccess<ChainsiteFileRecord>> {
    const maxBytes = this.config.uploads.maxBytes;
    // A body announced far beyond the limit is refused before a byte is read.
    if (Number(req.headers['content-length']) > maxBytes + MULTIPART_OVERHEAD) throw Errors.tooLarge(maxBytes);
    const file = await readSingleFile(req, 'file', (part, signal) =>
      this.uploads.uploadStream(principal, {
        stream: part.stream,
        filename: part.filename,
        declaredMime: part.mimeType,
        encoding: part.encoding,
        visibility,
        signal,
      }),
    );
    return success('file Uploaded Successfully', this.record(file));
  }

  /** The caller's own uploads, newest first; deleted ones and records still waiting for bytes are left out. */
  async list(principal: Principal, query: { page?: unknown; limit?: unknown }): Promise<ChainsiteSuccess<ChainsitePage>> {
    const page = parsePageRequest(query, PAGING);
    const { rows, total } = await this.files.list(
      principal,
      { ownerId: principal.userId, status: ['PROCESSING', 'READY', 'FAILED', 'QUARANTINED'] },
      { limit: page.limit, offset: page.offset, orderBy: 'createdAt', direction: 'desc' },
    );
    return success('OK', { count: total, pages: pageCount(total, page.limit), data: rows.map((row) => this.record(row)) });
  }

  async details(principal: Principal, id: string): Promise<ChainsiteSuccess<ChainsiteFileRecord>> {
    return success('Success', this.record(await this.files.get(principal, id)));
  }

  /** A pre-signed GET of the bytes, living SIGNED_URL_TTL_SECONDS (300 by default, as the seed's). */
  async downloadUrl(principal: Principal, id: string): Promise<ChainsiteSuccess<string>> {
    return success('Success', (await this.files.downloadUrl(principal, id, 'inline')).url);
  }

  /** Soft delete: the answer shows the record as it now is (`deletedAt` set, `status: false`). */
  async remove(principal: Principal, id: string): Promise<ChainsiteSuccess<ChainsiteFileRecord>> {
    return success('file Deleted Successfully', this.record(await this.files.softDelete(principal, id)));
  }

  // `url` is the file's static address: it serves the bytes without credentials only while the file is public,
  // so a private file's url refuses and only the pre-signed one works.
  private record(file: FileRow): ChainsiteFileRecord {
    const bucket = this.config.storage.driver === 's3' ? this.config.storage.bucket : 'local';
    return toChainsiteRecord(file, { bucket, url: this.files.publicUrl(file) });
  }
}
