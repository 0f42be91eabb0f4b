import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res, UseFilters } from '@nestjs/common';
import type { Request, Response } from 'express';
import { CurrentPrincipal, Public, type Principal } from '@app/auth';
import { FilesService } from '@app/files';
import { requestedRange, sendFileContent } from '../http/send-object';
import { SignedFlowErrorFilter } from './signed-flow-error.filter';
import { SignedFlowService, type UploadedFileResult } from './signed-flow.service';
import { attachPayloadSchema, sharePayloadSchema, unwrapPayload } from './signed-flow.dto';
import { MultipartBody, ZodBody } from '../http/openapi';

/**
 * The signed REST flow (seed 000, Condo) under /api/files. Answers use Condo's envelope `{data: …}`; errors carry
 * both our `{statusCode, message, field}` and Condo's `errors` array. (The facilioo routes share the prefix:
 * `POST /api/files`, `/api/files/{id}/…`; none of their paths overlap these.)
 */
@Controller('api/files')
@UseFilters(SignedFlowErrorFilter)
export class SignedFilesController {
  constructor(
    private readonly flow: SignedFlowService,
    private readonly files: FilesService,
  ) {}

  /** Multipart: one or more file parts, the `meta` JSON field, optionally the `attach` JSON field. */
  @Post('upload')
  @HttpCode(200)
  @MultipartBody({ meta: { type: 'string', description: 'JSON: {dv: 1, sender: {dv, fingerprint}, user: {id}, fileClientId, modelNames, organization?: {id}}' }, attach: { type: 'string', description: 'JSON, optional: {dv: 1, sender, modelName, itemId}' }, file: { type: 'string', format: 'binary', description: 'one or more file parts' } }, ['meta', 'file'])
  async upload(@CurrentPrincipal() principal: Principal, @Req() req: Request): Promise<{ data: { files: UploadedFileResult[] } }> {
    return { data: { files: await this.flow.upload(principal, req) } };
  }

  @Post('share')
  @HttpCode(200)
  @ZodBody(sharePayloadSchema)
  async share(@CurrentPrincipal() principal: Principal, @Body() body: unknown, @Req() req: Request): Promise<{ data: { file: { id: string; signature: string } } }> {
    return { data: { file: await this.flow.share(principal, unwrapPayload(body), req.ip) } };
  }

  @Post('attach')
  @HttpCode(200)
  @ZodBody(attachPayloadSchema)
  async attach(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() req: Request,
  ): Promise<{ data: { file: { id: string; signature: string; publicSignature: string; attached: true } } }> {
    return { data: { file: await this.flow.attach(principal, unwrapPayload(body), req.ip) } };
  }

  /** The signature is the credential (an <img src> sends no bearer token); it must be for this very file. */
  @Public()
  @Get(':id')
  async download(@Param('id') id: string, @Query('sign') sign: string | undefined, @Req() req: Request, @Res() res: Response): Promise<void> {
    const file = await this.flow.fileForDownload(id, typeof sign === 'string' ? sign : undefined, req.ip);
    const object = await this.files.openContent(file, (size) => requestedRange(req, size));
    // The URL carries a credential: keep it out of shared caches.
    await sendFileContent(res, file, object, 'private, no-store');
  }
}
