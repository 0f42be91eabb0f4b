import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { z } from 'zod';
import { CurrentPrincipal, isPrivileged, type Principal } from '@app/auth';
import { Errors } from '@app/errors';
import { WebhooksService, type DeliveryView, type WebhookView } from '@app/webhooks';
import { ZodBody } from '../http/openapi';
import { ZodValidationPipe } from '../http/zod-validation.pipe';

const createSchema = z
  .object({
    url: z.string().min(1, 'must not be empty').max(2000),
    events: z.array(z.string().min(1)).min(1, 'name at least one event (or *)').max(20),
    secret: z.string().min(16, 'must be at least 16 characters').max(200).optional(),
  })
  .strict();

function organizationOf(principal: Principal): string {
  if (!isPrivileged(principal) || !principal.orgId) throw Errors.forbidden("Webhooks are managed with a service or admin token of the organization");
  return principal.orgId;
}

/**
 * An organization's webhooks. Each delivery is a POST of `{id, event, occurredAt, data}` with the headers
 * `X-Filehub-Event`, `X-Filehub-Delivery` and `X-Filehub-Signature: t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>")>`
 * made with the webhook's secret (shown once, when the webhook is created).
 */
@Controller('webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @HttpCode(201)
  @ZodBody(createSchema)
  create(@CurrentPrincipal() principal: Principal, @Body(new ZodValidationPipe(createSchema)) body: z.output<typeof createSchema>): Promise<WebhookView & { secret: string }> {
    return this.webhooks.create(organizationOf(principal), principal.userId, body);
  }

  @Get()
  async list(@CurrentPrincipal() principal: Principal): Promise<{ data: WebhookView[] }> {
    return { data: await this.webhooks.list(organizationOf(principal)) };
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    await this.webhooks.remove(organizationOf(principal), id);
  }

  @Get(':id/deliveries')
  async deliveries(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<{ data: DeliveryView[] }> {
    return { data: await this.webhooks.deliveries(organizationOf(principal), id) };
  }

  @Post(':id/deliveries/:deliveryId/redeliver')
  @HttpCode(202)
  redeliver(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Param('deliveryId') deliveryId: string): Promise<{ id: string }> {
    return this.webhooks.redeliver(organizationOf(principal), id, deliveryId);
  }

  @Post(':id/ping')
  @HttpCode(202)
  ping(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<{ id: string }> {
    return this.webhooks.ping(organizationOf(principal), id);
  }
}
