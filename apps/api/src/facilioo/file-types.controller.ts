import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post } from '@nestjs/common';
import { CurrentPrincipal, type Principal } from '@app/auth';
import { FileCategoriesService } from '@app/files';
import { createFileTypeSchema, updateFileTypeSchema, type CreateFileTypeBody, type UpdateFileTypeBody } from './facilioo.dto';
import { toFileTypeView, type FileTypeView } from './facilioo.view';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { ZodBody } from '../http/openapi';

/** facilioo's file types: the category registry (CONTRACT section 4). Anyone lists them; admins edit them. */
@Controller('api/file-types')
export class FileTypesController {
  constructor(private readonly fileTypes: FileCategoriesService) {}

  @Get()
  async list(): Promise<FileTypeView[]> {
    return (await this.fileTypes.list()).map(toFileTypeView);
  }

  @Get(':id')
  async get(@Param('id', ParseUUIDPipe) id: string): Promise<FileTypeView> {
    return toFileTypeView(await this.fileTypes.get(id));
  }

  @Post()
  @ZodBody(createFileTypeSchema)
  async create(
    @CurrentPrincipal() principal: Principal,
    @Body(new ZodValidationPipe(createFileTypeSchema)) body: CreateFileTypeBody,
  ): Promise<FileTypeView> {
    return toFileTypeView(await this.fileTypes.create(principal, body));
  }

  @Patch(':id')
  @ZodBody(updateFileTypeSchema)
  async update(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Body(new ZodValidationPipe(updateFileTypeSchema)) body: UpdateFileTypeBody,
  ): Promise<FileTypeView> {
    return toFileTypeView(await this.fileTypes.update(principal, id, body));
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.fileTypes.delete(principal, id);
  }
}
