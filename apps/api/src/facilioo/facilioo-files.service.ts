import { Injectable } from '@nestjs/common';
import type { Principal } from '@app/auth';
import type { FileCategory } from '@app/database';
import { Errors } from '@app/errors';
import { FileCategoriesService, FilesService, FileUploadService, parsePageRequest } from '@app/files';
import type { CreateFileBody, LinkBody, ListFilesQuery } from './facilioo.dto';
import {
  toFaciliooFileView,
  toLinkView,
  toUrlView,
  type FaciliooFilePage,
  type FaciliooFileView,
  type FileLinkView,
  type ThumbnailUrlView,
  type UploadUrlView,
  type UrlView,
} from './facilioo.view';

const PAGING = { defaultLimit: 20, maxLimit: 100 };

/**
 * The facilioo flow (seed 003) over the file domain: record first, then a pre-signed PUT straight to storage,
 * then completion (explicit, or by a bucket notification), then metadata and time-limited URLs.
 */
@Injectable()
export class FaciliooFilesService {
  constructor(
    private readonly files: FilesService,
    private readonly uploads: FileUploadService,
    private readonly fileTypes: FileCategoriesService,
  ) {}

  async create(principal: Principal, body: CreateFileBody): Promise<FaciliooFileView> {
    const fileType = await this.fileTypes.find(body.fileTypeId);
    if (!fileType) throw Errors.badRequest(`Unknown fileTypeId '${body.fileTypeId}'; GET /api/file-types lists them`);
    const { file } = await this.uploads.createIntent(principal, {
      filename: body.originalFilename,
      contentType: body.contentType ?? soleMimeType(fileType),
      categoryKey: fileType.key,
      externalId: body.externalId,
    });
    for (const link of body.links ?? []) await this.files.associate(principal, file.id, link.entityName, link.entityReference);
    return this.meta(principal, file.id);
  }

  async list(principal: Principal, query: ListFilesQuery): Promise<FaciliooFilePage> {
    const page = parsePageRequest(query, PAGING);
    const { rows, total } = await this.files.list(
      principal,
      { entityName: query.entityName, entityReferences: query.entityReference ? [query.entityReference] : undefined },
      { limit: page.limit, offset: page.offset, orderBy: 'createdAt', direction: 'desc' },
    );
    return { data: rows.map(toFaciliooFileView), totalCount: total };
  }

  async meta(principal: Principal, id: string): Promise<FaciliooFileView> {
    return toFaciliooFileView(await this.files.getWithRelations(principal, id));
  }

  async uploadUrl(principal: Principal, id: string): Promise<UploadUrlView> {
    const signed = await this.uploads.presignPut(principal, id);
    return { uploadUrl: signed.url, expiresAt: signed.expiresAt.toISOString() };
  }

  /** Idempotent: a second call (or one after the bucket notification) answers the same record. */
  async complete(principal: Principal, id: string): Promise<FaciliooFileView> {
    await this.uploads.completeUpload(principal, id);
    return this.meta(principal, id);
  }

  async downloadUrl(principal: Principal, id: string): Promise<UrlView> {
    return toUrlView(await this.files.downloadUrl(principal, id, 'attachment'));
  }

  async thumbnailUrl(principal: Principal, id: string, width?: number): Promise<ThumbnailUrlView> {
    const signed = await this.files.thumbnailUrl(principal, id, width);
    return { ...toUrlView(signed), isFallback: signed.isFallback };
  }

  async link(principal: Principal, id: string, body: LinkBody): Promise<FileLinkView> {
    return toLinkView(await this.files.associate(principal, id, body.entityName, body.entityReference));
  }
}

// A file type with exactly one concrete MIME type (PDF → application/pdf) fixes the upload's Content-Type.
function soleMimeType(fileType: FileCategory): string | undefined {
  const [only, ...more] = fileType.mimeTypes;
  return only && more.length === 0 && !only.endsWith('/*') ? only : undefined;
}
