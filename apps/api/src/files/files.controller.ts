import { Controller, Get, HttpCode, Inject, Param, ParseUUIDPipe, Post, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { CurrentPrincipal, type Principal } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { Errors } from '@app/errors';
import { FilesService, FileUploadService } from '@app/files';
import { readSingleFile } from '../http/multipart';
import { toFileView, type FileView } from './file.view';

// Room for multipart boundaries and the text fields around the file part.
const MULTIPART_OVERHEAD = 1024 * 1024;

/** Our own REST surface: multipart upload, metadata, signed download URLs. */
@Controller('files')
export class FilesController {
  constructor(
    private readonly files: FilesService,
    private readonly uploads: FileUploadService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post()
  @HttpCode(201)
  async upload(@CurrentPrincipal() principal: Principal, @Req() req: Request): Promise<FileView> {
    const declared = Number(req.headers['content-length']);
    if (declared > this.config.uploads.maxBytes + MULTIPART_OVERHEAD) throw Errors.tooLarge(this.config.uploads.maxBytes);
    return readSingleFile(req, 'file', async (file, signal) =>
      toFileView(
        await this.uploads.uploadStream(principal, {
          stream: file.stream,
          filename: file.filename,
          declaredMime: file.mimeType,
          encoding: file.encoding,
          categoryKey: file.fields.category,
          visibility: parseVisibility(file.fields.visibility),
          signal,
        }),
      ),
    );
  }

  @Get(':id')
  async get(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<FileView> {
    return toFileView(await this.files.get(principal, id));
  }

  /** Admin only: run the post-upload work again (retry a FAILED file). 202: the job is queued. */
  @Post(':id/reprocess')
  @HttpCode(202)
  async reprocess(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<FileView> {
    return toFileView(await this.uploads.reprocess(principal, id));
  }

  @Get(':id/download-url')
  async downloadUrl(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Query('disposition') disposition?: string,
  ): Promise<{ url: string; expiresAt: string }> {
    if (disposition !== undefined && disposition !== 'inline' && disposition !== 'attachment') {
      throw Errors.badRequest("disposition must be 'inline' or 'attachment'");
    }
    const signed = await this.files.downloadUrl(principal, id, disposition);
    return { url: signed.url, expiresAt: signed.expiresAt.toISOString() };
  }
}

function parseVisibility(value: string | undefined): 'PRIVATE' | 'PUBLIC' | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'private' || value === 'public') return value === 'public' ? 'PUBLIC' : 'PRIVATE';
  throw Errors.badRequest("visibility must be 'private' or 'public'");
}
