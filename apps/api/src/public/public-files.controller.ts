import { Controller, Get, Param, ParseUUIDPipe, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Public } from '@app/auth';
import { FilesService } from '@app/files';
import { requestedRange, sendFileContent } from '../http/send-object';

/** The static URL of public files: no credentials; checks the file is still public on every request. */
@Public()
@Controller('public/files')
export class PublicFilesController {
  constructor(private readonly files: FilesService) {}

  @Get(':id')
  async content(@Param('id', ParseUUIDPipe) id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const { file, object } = await this.files.openPublic(id, (size) => requestedRange(req, size));
    // Revalidate every time, so making the file private again takes effect at once.
    await sendFileContent(res, file, object, 'no-cache');
  }
}
