import { Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Req, UseFilters } from '@nestjs/common';
import type { Request } from 'express';
import { CurrentPrincipal, type Principal } from '@app/auth';
import { ChainsiteErrorFilter } from './chainsite-error.filter';
import type { ChainsiteFileRecord, ChainsitePage, ChainsiteSuccess } from './chainsite.dto';
import { ChainsiteService } from './chainsite.service';

/** Pakt Chainsite's file upload API (seed 002), every answer and error in its envelope. */
@Controller('v1/upload')
@UseFilters(ChainsiteErrorFilter)
export class ChainsiteController {
  constructor(private readonly chainsite: ChainsiteService) {}

  @Post()
  @HttpCode(200)
  uploadPublic(@CurrentPrincipal() principal: Principal, @Req() req: Request): Promise<ChainsiteSuccess<ChainsiteFileRecord>> {
    return this.chainsite.upload(principal, req, 'PUBLIC');
  }

  @Post('private')
  @HttpCode(200)
  uploadPrivate(@CurrentPrincipal() principal: Principal, @Req() req: Request): Promise<ChainsiteSuccess<ChainsiteFileRecord>> {
    return this.chainsite.upload(principal, req, 'PRIVATE');
  }

  @Get()
  list(
    @CurrentPrincipal() principal: Principal,
    @Query('page') page?: unknown,
    @Query('limit') limit?: unknown,
  ): Promise<ChainsiteSuccess<ChainsitePage>> {
    return this.chainsite.list(principal, { page, limit });
  }

  @Get('url/:id')
  downloadUrl(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<ChainsiteSuccess<string>> {
    return this.chainsite.downloadUrl(principal, id);
  }

  @Get(':id')
  details(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<ChainsiteSuccess<ChainsiteFileRecord>> {
    return this.chainsite.details(principal, id);
  }

  @Delete(':id')
  remove(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<ChainsiteSuccess<ChainsiteFileRecord>> {
    return this.chainsite.remove(principal, id);
  }
}
