import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res, UseFilters } from '@nestjs/common';
import type { Request, Response } from 'express';
import { CurrentPrincipal, type Principal } from '@app/auth';
import { Errors } from '@app/errors';
import { parseOrThrow } from '../http/zod-validation.pipe';
import { EpilotErrorFilter } from './epilot-error.filter';
import {
  downloadFilesSchema,
  s3refSchema,
  flag,
  intParam,
  saveFileV2Schema,
  uploadFileSchema,
  verifyUrlSchema,
  type BatchVersionBody,
  type SaveFileBody,
} from './epilot.dto';
import { EpilotService, type PreviewQuery } from './epilot.service';
import type { FileEntityView, S3Ref } from './epilot.view';
import { sendPreview } from '../http/send-preview';
import { SESSION_COOKIE, sessionCookie } from './session-cookie';
import { ZodBody } from '../http/openapi';

function ints(query: Record<string, unknown>): PreviewQuery {
  try {
    return { version: intParam(query.version, 'version'), w: intParam(query.w, 'w'), h: intParam(query.h, 'h') };
  } catch (error) {
    throw Errors.badRequest((error as Error).message);
  }
}

function s3refOf(value: unknown): S3Ref {
  const ref = value as Partial<S3Ref> | undefined;
  if (!ref || typeof ref.bucket !== 'string' || typeof ref.key !== 'string' || !ref.bucket || !ref.key) {
    throw Errors.badRequest('Expected an s3ref {bucket, key}', { field: 's3ref' });
  }
  return { bucket: ref.bucket, key: ref.key };
}

/**
 * The epilot File API (seed 004) with the paths and shapes of the published @epilot/file-client. Routes with a
 * literal colon (`/v1/files:downloadS3`) escape it, since a colon starts a parameter in Express paths.
 * `activity_id`, `fill_activity`, `async` and `strict` are accepted and change nothing here: there is no activity
 * feed or search index to update, and answers never carry fields outside the schema except under `__additional`.
 */
@Controller()
@UseFilters(EpilotErrorFilter)
export class EpilotFilesController {
  constructor(private readonly epilot: EpilotService) {}

  @Post('v2/files/upload')
  @HttpCode(201)
  @ZodBody(uploadFileSchema)
  uploadFileV2(@CurrentPrincipal() principal: Principal, @Body() body: unknown, @Query('file_entity_id') fileEntityId?: string) {
    return this.epilot.uploadTemporary(principal, parseOrThrow(uploadFileSchema, body ?? {}, 'body'), { fileEntityId: fileEntityId || undefined });
  }

  @Post('v1/files/upload')
  @HttpCode(201)
  @ZodBody(uploadFileSchema)
  uploadFile(@CurrentPrincipal() principal: Principal, @Body() body: unknown, @Query('file_entity_id') fileEntityId?: string) {
    return this.epilot.uploadTemporary(principal, parseOrThrow(uploadFileSchema, body ?? {}, 'body'), { fileEntityId: fileEntityId || undefined });
  }

  @Post('v2/files')
  @HttpCode(200)
  @ZodBody(saveFileV2Schema)
  saveFileV2(@CurrentPrincipal() principal: Principal, @Body() body: unknown, @Query() query: Record<string, unknown>): Promise<FileEntityView> {
    const payload = parseOrThrow(saveFileV2Schema, body, 'body') as SaveFileBody | BatchVersionBody[];
    return this.epilot.save(principal, payload, { versionOnly: flag(query.version_only, false), deleteTempFile: flag(query.delete_temp_file, true) });
  }

  @Post('v1/files')
  @HttpCode(201)
  @ZodBody(saveFileV2Schema)
  saveFile(@CurrentPrincipal() principal: Principal, @Body() body: unknown, @Query() query: Record<string, unknown>): Promise<FileEntityView> {
    const payload = parseOrThrow(saveFileV2Schema, body, 'body') as SaveFileBody | BatchVersionBody[];
    return this.epilot.save(principal, payload, { versionOnly: flag(query.version_only, false), deleteTempFile: true });
  }

  @Get('v1/files/session')
  getSession(@Req() req: Request, @Res({ passthrough: true }) res: Response): { message: string } {
    const header = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!header) throw Errors.unauthenticated('Start a session with Authorization: Bearer <token>');
    res.setHeader('Set-Cookie', sessionCookie(header, req.secure));
    return { message: 'Session started: later requests from this browser are authenticated by the token cookie' };
  }

  @Delete('v1/files/session')
  @HttpCode(200)
  deleteSession(@Req() req: Request, @Res({ passthrough: true }) res: Response): { message: string } {
    res.setHeader('Set-Cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${req.secure ? '; Secure' : ''}`);
    return { message: 'Session ended' };
  }

  @Get('v2/files/:id')
  getFile(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Query('source_url') sourceUrl?: string): Promise<FileEntityView> {
    return this.epilot.get(principal, id, flag(sourceUrl, false));
  }

  @Delete('v2/files/:id')
  @HttpCode(200)
  deleteFile(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Query('purge') purge?: string): Promise<FileEntityView> {
    return this.epilot.delete(principal, id, flag(purge, false));
  }

  @Get('v1/files/:id/download')
  downloadFile(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Query() query: Record<string, unknown>) {
    return this.epilot.downloadUrl(principal, id, ints(query).version, flag(query.attachment, true));
  }

  @Post('v1/files\\:downloadS3')
  @HttpCode(200)
  downloadS3File(@CurrentPrincipal() principal: Principal, @Query() query: Record<string, unknown>) {
    if (typeof query.s3_key !== 'string' || typeof query.s3_bucket !== 'string') {
      throw Errors.badRequest('s3_key and s3_bucket are required query parameters', { field: 's3_key' });
    }
    return this.epilot.downloadByKey(principal, query.s3_key, query.s3_bucket, flag(query.attachment, true));
  }

  @Post('v1/files\\:downloadFiles')
  @HttpCode(200)
  @ZodBody(downloadFilesSchema)
  downloadFiles(@CurrentPrincipal() principal: Principal, @Body() body: unknown) {
    return this.epilot.downloadMany(principal, parseOrThrow(downloadFilesSchema, body, 'body'));
  }

  @Get('v1/files/:id/preview')
  async previewFile(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response) {
    await sendPreview(req, res, await this.epilot.preview(principal, id, ints(query)));
  }

  @Post('v1/files\\:previewS3')
  @ZodBody(s3refSchema)
  async previewS3File(@CurrentPrincipal() principal: Principal, @Body() body: unknown, @Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response) {
    await sendPreview(req, res, await this.epilot.previewByKey(principal, s3refOf(body), ints(query)));
  }

  @Get('v1/files\\:previewS3')
  async previewS3FileGet(@CurrentPrincipal() principal: Principal, @Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response) {
    await sendPreview(req, res, await this.epilot.previewByKey(principal, s3refOf({ bucket: query.bucket, key: query.key }), ints(query)));
  }

  @Post('v1/files/:id/public/links')
  @HttpCode(201)
  async generatePublicLink(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Res() res: Response): Promise<void> {
    // The answer is a bare JSON string (the link).
    res.status(201).json(await this.epilot.generateLink(principal, id));
  }

  @Get('v1/files/:id/public/links')
  listPublicLinksForFile(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return this.epilot.listLinks(principal, id);
  }

  @Delete('v1/files/public/links/:id')
  @HttpCode(204)
  async revokePublicLink(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    await this.epilot.revokeLink(principal, id);
  }

  @Post('v1/files/download\\:verify')
  @HttpCode(200)
  @ZodBody(verifyUrlSchema)
  verifyCustomDownloadUrl(@Body() body: unknown): { valid: boolean } {
    return this.epilot.verifyCustomUrl(parseOrThrow(verifyUrlSchema, body, 'body').custom_download_url);
  }
}
