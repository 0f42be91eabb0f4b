import { Body, Controller, Delete, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import type { z } from 'zod';
import { CurrentPrincipal, type Principal } from '@app/auth';
import { MultipartUploadsService } from '@app/files';
import { toFileView, type FileView } from '../files/file.view';
import { ZodBody } from '../http/openapi';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { completeMultipartSchema, createMultipartSchema, signPartsSchema, type MultipartStartedView, type SignedPartsView } from './multipart.dto';

/**
 * Multipart uploads straight to S3 with pre-signed part URLs: create (size checked against limits and quotas),
 * sign parts, PUT them to storage, complete with their ETags (the file goes to PROCESSING and the usual jobs), or
 * abort. Owner only; with the local storage driver every route answers 400 saying that S3 storage is needed.
 */
@Controller('files/multipart')
export class MultipartController {
  constructor(private readonly multipart: MultipartUploadsService) {}

  @Post()
  @HttpCode(201)
  @ZodBody(createMultipartSchema)
  async create(
    @CurrentPrincipal() principal: Principal,
    @Body(new ZodValidationPipe(createMultipartSchema)) body: z.output<typeof createMultipartSchema>,
  ): Promise<MultipartStartedView> {
    const started = await this.multipart.create(principal, {
      filename: body.filename,
      contentType: body.contentType,
      categoryKey: body.category,
      visibility: body.visibility === undefined ? undefined : body.visibility === 'public' ? 'PUBLIC' : 'PRIVATE',
      size: body.size,
      partSize: body.partSize,
    });
    return { fileId: started.file.id, uploadId: started.uploadId, partSize: started.partSize, partCount: started.partCount, expiresAt: started.expiresAt.toISOString() };
  }

  /** Pre-signed PUT URLs for the named parts; each answers an ETag header to send back at completion. */
  @Post(':fileId/parts')
  @HttpCode(200)
  @ZodBody(signPartsSchema)
  async signParts(
    @CurrentPrincipal() principal: Principal,
    @Param('fileId', ParseUUIDPipe) fileId: string,
    @Body(new ZodValidationPipe(signPartsSchema)) body: z.output<typeof signPartsSchema>,
  ): Promise<SignedPartsView> {
    const signed = await this.multipart.signParts(principal, fileId, body.partNumbers);
    return { parts: signed.parts, expiresAt: signed.expiresAt.toISOString() };
  }

  @Post(':fileId/complete')
  @HttpCode(200)
  @ZodBody(completeMultipartSchema)
  async complete(
    @CurrentPrincipal() principal: Principal,
    @Param('fileId', ParseUUIDPipe) fileId: string,
    @Body(new ZodValidationPipe(completeMultipartSchema)) body: z.output<typeof completeMultipartSchema>,
  ): Promise<FileView> {
    return toFileView(await this.multipart.complete(principal, fileId, body.parts));
  }

  /** Gives the upload up: its parts and its file record are removed. */
  @Delete(':fileId')
  @HttpCode(204)
  async abort(@CurrentPrincipal() principal: Principal, @Param('fileId', ParseUUIDPipe) fileId: string): Promise<void> {
    await this.multipart.abort(principal, fileId);
  }
}
