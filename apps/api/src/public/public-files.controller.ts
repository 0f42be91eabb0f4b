import { Controller, Get, Param, ParseUUIDPipe, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Public } from '@app/auth';
import { contentDisposition, FilesService, isActiveContent, servedContentType } from '@app/files';
import { requestedRange, sendObject } from '../http/send-object';

/** The static URL of public files: no credentials; checks the file is still public on every request. */
@Public()
@Controller('public/files')
export class PublicFilesController {
  constructor(private readonly files: FilesService) {}

  @Get(':id')
  async content(@Param('id', ParseUUIDPipe) id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const { file, object } = await this.files.openPublic(id, (size) => requestedRange(req, size));
    const type = servedContentType(file);
    await sendObject(res, {
      ...object,
      contentType: type,
      contentDisposition: contentDisposition(file.originalFilename, isActiveContent(type) ? 'attachment' : 'inline'),
      // Revalidate every time, so making the file private again takes effect at once.
      cacheControl: 'no-cache',
    });
  }
}
