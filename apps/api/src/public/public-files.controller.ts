import { Controller, Get, Param, ParseUUIDPipe, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Public } from '@app/auth';
import { FilePreviewsService, FilesService } from '@app/files';
import { requestedRange, sendFileContent } from '../http/send-object';
import { IMMUTABLE_CACHE, sendPreview } from '../http/send-preview';
import { TransformQuery } from '../http/openapi';
import { contentHashParam, parseTransformQuery, wantsTransform } from '../http/transform-query';

/** The static URL of public files: no credentials; checks the file is still public on every request. */
@Public()
@Controller('public/files')
export class PublicFilesController {
  constructor(
    private readonly files: FilesService,
    private readonly previews: FilePreviewsService,
  ) {}

  /**
   * The bytes, or with transform parameters (`w`, `h`, `fit`, `format`, `q`) the image transformed. With `hash` (a
   * prefix of the file's SHA-256) the URL names its content: a different hash is a 404, a matching one is cached
   * for good (`immutable`); without it every use revalidates, so making the file private takes effect at once.
   */
  @Get(':id')
  @TransformQuery({ hash: "a prefix (8+ hex digits) of the file's SHA-256" })
  async content(@Param('id', ParseUUIDPipe) id: string, @Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    const hash = contentHashParam(query);
    const cacheControl = hash ? IMMUTABLE_CACHE : 'public, no-cache';
    if (wantsTransform(query)) {
      const preview = await this.previews.previewPublic(id, parseTransformQuery(query), req.headers.accept, hash);
      await sendPreview(req, res, preview, cacheControl);
      return;
    }
    const { file, object } = await this.files.openPublic(id, (size) => requestedRange(req, size), hash);
    await sendFileContent(res, file, object, hash ? IMMUTABLE_CACHE : 'no-cache');
  }
}
