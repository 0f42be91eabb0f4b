import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { z } from 'zod';
import { CurrentPrincipal, type Principal } from '@app/auth';
import { Errors } from '@app/errors';
import { FileClientsService, type FileClientView } from '@app/signatures';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { ZodBody } from '../http/openapi';

const registerSchema = z
  .object({
    id: z.string().min(1, 'must not be empty'),
    name: z.string().min(1).max(200).optional(),
    organizationId: z.string().min(1).max(200).optional(),
    secret: z.string().optional(),
  })
  .strict();

const rotateSchema = z
  .object({ secret: z.string().optional(), graceSeconds: z.number().int('must be a whole number').optional() })
  .strict();

function requireAdmin(principal: Principal): void {
  if (principal.role !== 'admin') throw Errors.forbidden('Managing file clients needs an admin token');
}

/**
 * Admin API of the signed flow's file clients. Clients from FILE_CLIENTS are listed but read-only. A secret is
 * shown in the answer that creates or rotates it, and never again.
 */
@Controller('api/file-clients')
export class FileClientsController {
  constructor(private readonly clients: FileClientsService) {}

  @Get()
  async list(@CurrentPrincipal() principal: Principal): Promise<{ data: FileClientView[] }> {
    requireAdmin(principal);
    return { data: await this.clients.list() };
  }

  @Get(':id')
  async get(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<FileClientView> {
    requireAdmin(principal);
    return this.clients.get(id);
  }

  @Post()
  @HttpCode(201)
  @ZodBody(registerSchema)
  async register(
    @CurrentPrincipal() principal: Principal,
    @Body(new ZodValidationPipe(registerSchema)) body: z.output<typeof registerSchema>,
  ): Promise<FileClientView & { secret: string }> {
    requireAdmin(principal);
    return this.clients.register(body);
  }

  /** A new secret; the previous one keeps verifying for `graceSeconds` (FILE_CLIENT_ROTATION_GRACE_SECONDS). */
  @Post(':id/rotate')
  @HttpCode(200)
  @ZodBody(rotateSchema)
  async rotate(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body(new ZodValidationPipe(rotateSchema)) body: z.output<typeof rotateSchema>,
  ): Promise<FileClientView & { secret: string }> {
    requireAdmin(principal);
    return this.clients.rotate(id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    requireAdmin(principal);
    await this.clients.remove(id);
  }
}
