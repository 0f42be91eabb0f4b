import { Controller, Delete, Head, Options, Param, Patch, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { CurrentPrincipal, Public, type Principal } from '@app/auth';
import { ResumableUploadsService } from '@app/files';
import { parseCreation } from './tus-creation';
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
    const { id } = await this.uploads.create(principal, parseCreation(req.headers));
    let kept = false;
    try {
      ({ kept } = await this.tus.create(req, res, id));
    } finally {
      // tus refused it (a bad header) or failed: no upload exists, so its record goes. Unless it holds every byte
      // (creation-with-upload) and only becoming a file met an outage: then it is kept, like a final PATCH's.
      if (res.statusCode >= 300 && !kept) await this.uploads.forget(id).catch(() => undefined);
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
    await this.tus.resume(req, res, id);
  }
}
