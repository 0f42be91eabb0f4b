import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, Res, UseFilters } from '@nestjs/common';
import type { Request, Response } from 'express';
import { CurrentPrincipal, Public, type Principal } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { FilePreviewsService, FilesService } from '@app/files';
import { requestedRange, sendFileContent } from '../http/send-object';
import { sendPreview } from '../http/send-preview';
import { parseTransformQuery, wantsTransform } from '../http/transform-query';
import { SignedFlowErrorFilter } from './signed-flow-error.filter';
import { SignedFlowService, type UploadedFileResult } from './signed-flow.service';
import { attachPayloadSchema, sharePayloadSchema, unwrapPayload } from './signed-flow.dto';
import { MultipartBody, TransformQuery, ZodBody } from '../http/openapi';

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
    private readonly previews: FilePreviewsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
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

  /**
   * The signature is the credential (an <img src> sends no bearer token); it must be for this very file. With
   * transform parameters (`w`, `h`, `fit`, `format`, `q`), the image transformed, under the same signature check.
   */
  @Public()
  @Get(':id')
  @TransformQuery({ sign: 'the signature or publicSignature of this file' })
  async download(@Param('id') id: string, @Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    const sign = query.sign;
    const file = await this.flow.fileForDownload(id, typeof sign === 'string' ? sign : undefined, req.ip);
    if (wantsTransform(query)) {
      const preview = await this.previews.render(file, file.storageKey, parseTransformQuery(query), file.sniffedMime, req.headers.accept);
      await sendPreview(req, res, preview, `private, max-age=${this.config.transforms.cacheMaxAgeSeconds}`);
      return;
    }
    const object = await this.files.openContent(file, (size) => requestedRange(req, size));
    // The URL carries a credential: keep it out of shared caches.
    await sendFileContent(res, file, object, 'private, no-store');
  }
}
