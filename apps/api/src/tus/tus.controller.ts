import { Controller, Delete, Head, Options, Param, Patch, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Metadata } from '@tus/server';
import { CurrentPrincipal, Public, type Principal } from '@app/auth';
import { Errors } from '@app/errors';
import { ResumableUploadsService, type ResumableCreation } from '@app/files';
import { TusEndpoint } from './tus-endpoint';

/**
 * Resumable uploads, tus 1.0 (creation, creation-with-upload, termination, expiration) under /api/files/tus, for
 * the same callers as every other route (bearer token or session cookie). Creation is checked here against the
 * declared length (name, category, size limit, quotas); every later request must come from the upload's owner
 * (another user or organization gets 404). The wire protocol is tus', documented in docs/uploads-resumable.md
 * rather than in the OpenAPI document.
 */
@ApiExcludeController()
@Controller('api/files/tus')
export class TusController {
  constructor(
    private readonly tus: TusEndpoint,
    private readonly uploads: ResumableUploadsService,
  ) {}

  /** tus discovery (version, extensions, maximum size); browsers send it before credentials. */
  @Public()
  @Options()
  async discover(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.tus.handle(req, res);
  }

  @Post()
  async create(@CurrentPrincipal() principal: Principal, @Req() req: Request, @Res() res: Response): Promise<void> {
    const { id } = await this.uploads.create(principal, parseCreation(req));
    try {
      await this.tus.create(req, res, id);
    } finally {
      // tus refused it (a bad header) or failed: no upload exists, so its record goes.
      if (res.statusCode >= 300) await this.uploads.forget(id).catch(() => undefined);
    }
  }

  @Head(':id')
  async offset(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.resume(principal, id, req, res);
  }

  @Patch(':id')
  async append(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.resume(principal, id, req, res);
  }

  @Delete(':id')
  async terminate(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.resume(principal, id, req, res);
  }

  private async resume(principal: Principal, id: string, req: Request, res: Response): Promise<void> {
    const found = await this.uploads.find(principal, id);
    if (found.state === 'finished') return this.tus.answerFinished(req, res, found.file);
    await this.tus.handle(req, res);
  }
}

/** What a tus creation request declares, checked before any upload exists. */
function parseCreation(req: Request): ResumableCreation {
  const header = (name: string): string | undefined => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(',') : value;
  };
  if (header('upload-defer-length') !== undefined) {
    throw Errors.badRequest('Upload-Length is required: deferred lengths are not accepted, since size limits and quotas are checked at creation', { field: 'Upload-Length' });
  }
  if (header('upload-concat') !== undefined) throw Errors.badRequest('Upload-Concat (parallel uploads) is not supported', { field: 'Upload-Concat' });
  const length = header('upload-length');
  if (length === undefined || !/^\d{1,16}$/.test(length)) throw Errors.badRequest('Upload-Length must be the file size in bytes', { field: 'Upload-Length' });
  let metadata: Record<string, string | null>;
  try {
    metadata = header('upload-metadata') ? Metadata.parse(header('upload-metadata')) : {};
  } catch {
    throw Errors.badRequest('Upload-Metadata is invalid: comma-separated "key base64value" pairs, keys unique', { field: 'Upload-Metadata' });
  }
  const pick = (...keys: string[]): string | undefined => keys.map((k) => metadata[k]).find((v): v is string => typeof v === 'string' && v !== '');
  const filename = pick('filename', 'name');
  if (filename === undefined) throw Errors.badRequest('Upload-Metadata must carry the file name (key filename)', { field: 'Upload-Metadata' });
  const visibility = pick('visibility');
  if (visibility !== undefined && visibility !== 'private' && visibility !== 'public') {
    throw Errors.badRequest("visibility must be 'private' or 'public'", { field: 'Upload-Metadata' });
  }
  return {
    filename,
    contentType: pick('filetype', 'contentType', 'type'),
    categoryKey: pick('category'),
    visibility: visibility === undefined ? undefined : visibility === 'public' ? 'PUBLIC' : 'PRIVATE',
    size: Number(length),
  };
}
