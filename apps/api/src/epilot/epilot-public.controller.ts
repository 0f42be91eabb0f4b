import { Body, Controller, Get, HttpCode, Param, Post, Put, Query, Req, Res, UseFilters } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Public } from '@app/auth';
import { Errors } from '@app/errors';
import { parseOrThrow } from '../http/zod-validation.pipe';
import { EpilotErrorFilter } from './epilot-error.filter';
import { intParam, uploadFileSchema } from './epilot.dto';
import { EpilotService } from './epilot.service';
import { IMMUTABLE_CACHE, sendPreview } from '../http/send-preview';
import { TransformQuery, ZodBody } from '../http/openapi';
import { parseTransformQuery, wantsTransform } from '../http/transform-query';

/** epilot routes that take no bearer token: their credential is a link, a signature, or nothing (public upload). */
@Public()
@Controller()
@UseFilters(EpilotErrorFilter)
export class EpilotPublicController {
  constructor(private readonly epilot: EpilotService) {}

  @Get('v1/files/public/:id/preview')
  async previewPublicFile(@Param('id') id: string, @Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    let parsed;
    try {
      parsed = { version: intParam(query.version, 'version'), w: intParam(query.w, 'w'), h: intParam(query.h, 'h') };
    } catch (error) {
      throw Errors.badRequest((error as Error).message);
    }
    const orgId = typeof query.org_id === 'string' && query.org_id ? query.org_id : undefined;
    // Public content may be cached by anyone, briefly: making the file private again takes effect within a minute.
    await sendPreview(req, res, await this.epilot.previewPublic(id, { ...parsed, orgId }), 'public, max-age=60');
  }

  /**
   * Redirects (302) to a short-lived URL of the file; a revoked or unknown link is a 404. With transform parameters
   * (`w`, `h`, `fit`, `format`, `q`) the link answers the transformed image itself; with `hash` too, that URL names
   * its content and may be cached for good.
   */
  @Get('v1/files/public/links/:id/:filename')
  @TransformQuery({ hash: 'a prefix (8+ hex digits) of the file\'s SHA-256' })
  async accessPublicLink(@Param('id') id: string, @Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    const hash = typeof query.hash === 'string' && query.hash ? query.hash : undefined;
    if (wantsTransform(query)) {
      const preview = await this.epilot.transformLink(id, hash, parseTransformQuery(query), req.headers.accept);
      await sendPreview(req, res, preview, hash ? IMMUTABLE_CACHE : 'public, no-cache');
      return;
    }
    const target = await this.epilot.accessLink(id, hash);
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, target);
  }

  /** Uploads without credentials for the organization named by `org_id`, quarantined until a member saves them. */
  @Post('v1/files/public/upload')
  @HttpCode(201)
  @ZodBody(uploadFileSchema)
  uploadFilePublic(@Body() body: unknown, @Query('org_id') orgId: string | undefined, @Req() req: Request) {
    return this.epilot.uploadPublic(typeof orgId === 'string' ? orgId : undefined, req.ip, parseOrThrow(uploadFileSchema, body ?? {}, 'body'));
  }

  /** The `upload_url` of uploadFileV2 / uploadFilePublic: PUT the bytes. Any Authorization header is ignored. */
  @Put('v1/files/upload-target/:id')
  @HttpCode(200)
  async uploadTarget(@Param('id') id: string, @Query('expires') expires: string | undefined, @Query('signature') signature: string | undefined, @Req() req: Request): Promise<void> {
    await this.epilot.receiveUpload(id, expires, signature, req, req.headers['content-type']);
  }
}
