import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { z } from 'zod';
import { CurrentPrincipal, type Principal } from '@app/auth';
import { Errors } from '@app/errors';
import { Reconciler, type ReconcileReport } from '@app/files';
import { ZodBody } from '../http/openapi';
import { ZodValidationPipe } from '../http/zod-validation.pipe';

const reconcileSchema = z.object({ repair: z.boolean().default(false) }).strict();

/** Operations on the whole store (every tenant): admin tokens only. */
@Controller('admin')
export class ReconcileController {
  constructor(private readonly reconciler: Reconciler) {}

  /**
   * Compares storage with the records: objects with no record, records with no object, stale upload intents,
   * incomplete uploads, derived objects without their file. `repair: true` fixes what it finds; otherwise a dry run.
   */
  @Post('reconcile')
  @HttpCode(200)
  @ZodBody(reconcileSchema)
  async reconcile(
    @CurrentPrincipal() principal: Principal,
    @Body(new ZodValidationPipe(reconcileSchema)) body: z.output<typeof reconcileSchema>,
  ): Promise<ReconcileReport> {
    if (principal.role !== 'admin') throw Errors.forbidden('Reconciling storage needs an admin token');
    return this.reconciler.run({ repair: body.repair });
  }
}
