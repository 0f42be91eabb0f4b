import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { z } from 'zod';
import { CurrentPrincipal, type Principal } from '@app/auth';
import { Errors } from '@app/errors';
import { QuotasService, type QuotaReport, type QuotaScope } from '@app/files';
import { ZodBody } from '../http/openapi';
import { ZodValidationPipe } from '../http/zod-validation.pipe';

const limitsSchema = z
  .object({
    maxBytes: z.number().int('must be a whole number of bytes').min(0).nullable().optional(),
    maxFiles: z.number().int('must be a whole number').min(0).nullable().optional(),
  })
  .strict()
  .refine((b) => b.maxBytes !== undefined || b.maxFiles !== undefined, 'maxBytes or maxFiles: give at least one (null: back to the default)');

function scopeOf(value: string): QuotaScope {
  if (value !== 'org' && value !== 'user') throw Errors.badRequest("scope must be 'org' or 'user'", { field: 'scope' });
  return value;
}

/** Quotas: everyone sees their own usage and limits; admins see and set anyone's. */
@Controller()
export class QuotasController {
  constructor(private readonly quotas: QuotasService) {}

  /** The caller's usage against their limits: their organization's (if any) and their own. */
  @Get('quota')
  async mine(@CurrentPrincipal() principal: Principal): Promise<{ data: QuotaReport[] }> {
    const reports = [...(principal.orgId ? [await this.quotas.report('org', principal.orgId)] : []), await this.quotas.report('user', principal.userId)];
    return { data: reports };
  }

  @Get('quotas/:scope/:id')
  async get(@CurrentPrincipal() principal: Principal, @Param('scope') scope: string, @Param('id') id: string): Promise<QuotaReport> {
    if (principal.role !== 'admin') throw Errors.forbidden('Reading quotas of others needs an admin token');
    return this.quotas.report(scopeOf(scope), id);
  }

  /** Sets an organization's or user's limits; null returns a limit to its QUOTA_* default. */
  @Put('quotas/:scope/:id')
  @ZodBody(limitsSchema)
  async set(
    @CurrentPrincipal() principal: Principal,
    @Param('scope') scope: string,
    @Param('id') id: string,
    @Body(new ZodValidationPipe(limitsSchema)) body: z.output<typeof limitsSchema>,
  ): Promise<QuotaReport> {
    if (principal.role !== 'admin') throw Errors.forbidden('Setting quotas needs an admin token');
    return this.quotas.setLimits(scopeOf(scope), id, body);
  }
}
