import { Body, Controller, Delete, Get, HttpCode, Inject, Param, ParseUUIDPipe, Patch, Post, Query, Req, Res } from '@nestjs/common';
import type { z } from 'zod';
import type { Request, Response } from 'express';
import { AcceptsSignedUrl, CurrentPrincipal, OptionalPrincipal, type Principal } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { Errors } from '@app/errors';
import { FilePreviewsService, FilesService, FileUploadService, parsePageRequest } from '@app/files';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { listFilesQuerySchema, updateFileSchema } from './file-query';
import { readSingleFile } from '../http/multipart';
import { sendPreview } from '../http/send-preview';
import { parseTransformQuery, wantsTransform } from '../http/transform-query';
import { toFileDetailView, toFileView, type FileDetailView, type FileView } from './file.view';
import { MultipartBody, TransformQuery, ZodBody } from '../http/openapi';

// Room for multipart boundaries and the text fields around the file part.
const MULTIPART_OVERHEAD = 1024 * 1024;

/** Our own REST surface: multipart upload, metadata, signed download URLs. */
@Controller('files')
export class FilesController {
  constructor(
    private readonly files: FilesService,
    private readonly uploads: FileUploadService,
    private readonly previews: FilePreviewsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post()
  @HttpCode(201)
  @MultipartBody({ file: { type: 'string', format: 'binary' }, category: { type: 'string', description: 'file category key (default: default)' }, visibility: { type: 'string', description: 'private or public' } }, ['file'])
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

  /** Files the caller may read, newest first, filtered by status, type, tag, linked record or name. */
  @Get()
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query(new ZodValidationPipe(listFilesQuerySchema, 'query')) query: z.output<typeof listFilesQuerySchema>,
  ): Promise<{ data: FileDetailView[]; total: number; page: number; limit: number }> {
    const page = parsePageRequest(query, { defaultLimit: 50, maxLimit: 200 });
    const { rows, total } = await this.files.list(
      principal,
      {
        status: query.status ? [query.status] : undefined,
        mimePrefix: query.type,
        tag: query.tag,
        entityName: query.entityName,
        entityReferences: query.entityReference ? [query.entityReference] : undefined,
        nameContains: query.q,
      },
      { limit: page.limit, offset: page.offset, orderBy: query.sort ?? 'createdAt', direction: query.order ?? (query.sort === 'name' ? 'asc' : 'desc') },
    );
    return { data: rows.map((row) => toFileDetailView(row, [])), total, page: page.page, limit: page.limit };
  }

  @Get(':id')
  async get(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<FileDetailView> {
    const file = await this.files.getWithRelations(principal, id);
    return toFileDetailView(file, await this.files.versions(principal, id));
  }

  /** Rename, retag, or make public/private (owner, or a service/admin token of the organization). */
  @Patch(':id')
  @ZodBody(updateFileSchema)
  async update(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Body(new ZodValidationPipe(updateFileSchema)) body: z.output<typeof updateFileSchema>,
  ): Promise<FileView> {
    const visibility = body.visibility === undefined ? undefined : body.visibility === 'public' ? 'PUBLIC' : 'PRIVATE';
    return toFileView(await this.files.updateAttributes(principal, id, { name: body.name, visibility, tags: body.tags }));
  }

  /** Soft delete: gone from every read at once; the bytes go after SOFT_DELETE_RETENTION_DAYS. */
  @Delete(':id')
  @HttpCode(204)
  async remove(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.files.softDelete(principal, id);
  }

  /** Admin only: run the post-upload work again (retry a FAILED file). 202: the job is queued. */
  @Post(':id/reprocess')
  @HttpCode(202)
  async reprocess(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<FileView> {
    return toFileView(await this.uploads.reprocess(principal, id));
  }

  /**
   * The image transformed: `w`, `h` (either may be left out), `fit` (inside, cover, contain, outside, fill),
   * `format` (webp, avif, jpeg, png, original, auto), `q` (1–100). Rendered on first request and kept as a derived
   * object; later requests stream the stored bytes. The credential is a bearer token, or the `expires` and
   * `signature` of a URL from `GET /files/:id/download-url?w=…` (then no token is needed).
   */
  @Get(':id/preview')
  @AcceptsSignedUrl()
  @TransformQuery({ expires: 'signed URL: expiry (unix seconds)', signature: 'signed URL: its signature (instead of a bearer token)' })
  async preview(
    @OptionalPrincipal() principal: Principal | undefined,
    @Param('id', ParseUUIDPipe) id: string,
    @Query() query: Record<string, unknown>,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const { expires, signature, ...params } = query;
    const request = parseTransformQuery(params);
    const accept = req.headers.accept;
    const preview = principal
      ? await this.previews.preview(principal, id, request, accept)
      : await this.previews.previewSigned(id, asString(expires), asString(signature), request, accept);
    await sendPreview(req, res, preview, `private, max-age=${this.config.transforms.cacheMaxAgeSeconds}`);
  }

  /**
   * A time-limited URL of the bytes; with transform parameters (`w`, `h`, `fit`, `format`, `q`), a signed URL of
   * `/files/:id/preview` that renders them (the holder may change the parameters, not the file).
   */
  @Get(':id/download-url')
  @TransformQuery({ disposition: 'inline or attachment (default attachment; without transform parameters)' })
  async downloadUrl(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Query() query: Record<string, unknown>,
  ): Promise<{ url: string; expiresAt: string }> {
    const disposition = query.disposition;
    if (disposition !== undefined && disposition !== 'inline' && disposition !== 'attachment') {
      throw Errors.badRequest("disposition must be 'inline' or 'attachment'", { field: 'disposition' });
    }
    const signed = wantsTransform(query)
      ? await this.previews.signedUrl(principal, id, parseTransformQuery(query))
      : await this.files.downloadUrl(principal, id, disposition);
    return { url: signed.url, expiresAt: signed.expiresAt.toISOString() };
  }
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function parseVisibility(value: string | undefined): 'PRIVATE' | 'PUBLIC' | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'private' || value === 'public') return value === 'public' ? 'PUBLIC' : 'PRIVATE';
  throw Errors.badRequest("visibility must be 'private' or 'public'");
}
