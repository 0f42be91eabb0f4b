import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Put, Query } from '@nestjs/common';
import { CurrentPrincipal, type Principal } from '@app/auth';
import {
  createFileSchema,
  linkSchema,
  listFilesQuerySchema,
  thumbnailQuerySchema,
  type CreateFileBody,
  type LinkBody,
  type ListFilesQuery,
} from './facilioo.dto';
import { FaciliooFilesService } from './facilioo-files.service';
import type { FaciliooFilePage, FaciliooFileView, FileLinkView, ThumbnailUrlView, UploadUrlView, UrlView } from './facilioo.view';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { ZodBody } from '../http/openapi';

/** The facilioo file flow (seed 003): metadata record, pre-signed PUT, completion, time-limited URLs, links. */
@Controller('api/files')
export class FaciliooFilesController {
  constructor(private readonly facilioo: FaciliooFilesService) {}

  @Post()
  @ZodBody(createFileSchema)
  create(
    @CurrentPrincipal() principal: Principal,
    @Body(new ZodValidationPipe(createFileSchema)) body: CreateFileBody,
  ): Promise<FaciliooFileView> {
    return this.facilioo.create(principal, body);
  }

  /** Files the caller may read, e.g. those linked to one domain object (`?entityName=unit&entityReference=42`). */
  @Get()
  list(
    @CurrentPrincipal() principal: Principal,
    @Query(new ZodValidationPipe(listFilesQuerySchema, 'query')) query: ListFilesQuery,
  ): Promise<FaciliooFilePage> {
    return this.facilioo.list(principal, query);
  }

  @Put(':id/upload')
  uploadUrl(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<UploadUrlView> {
    return this.facilioo.uploadUrl(principal, id);
  }

  @Post(':id/complete')
  @HttpCode(200)
  complete(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<FaciliooFileView> {
    return this.facilioo.complete(principal, id);
  }

  @Get(':id/meta')
  meta(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<FaciliooFileView> {
    return this.facilioo.meta(principal, id);
  }

  @Get(':id/download-url')
  downloadUrl(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<UrlView> {
    return this.facilioo.downloadUrl(principal, id);
  }

  @Get(':id/thumbnail-url')
  thumbnailUrl(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Query(new ZodValidationPipe(thumbnailQuerySchema, 'query')) query: { width?: number },
  ): Promise<ThumbnailUrlView> {
    return this.facilioo.thumbnailUrl(principal, id, query.width);
  }

  @Post(':id/links')
  @ZodBody(linkSchema)
  link(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Body(new ZodValidationPipe(linkSchema)) body: LinkBody,
  ): Promise<FileLinkView> {
    return this.facilioo.link(principal, id, body);
  }
}
