import { Module } from '@nestjs/common';
import { WebhookDeliverJob, WebhookDispatchJob, WebhooksService } from './webhooks.service';

export const WEBHOOK_JOB_HANDLERS = [WebhookDispatchJob, WebhookDeliverJob];

@Module({
  providers: [WebhooksService, ...WEBHOOK_JOB_HANDLERS],
  exports: [WebhooksService, ...WEBHOOK_JOB_HANDLERS],
})
export class WebhooksModule {}
