import { createHmac, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { PRISMA, type Db, type Webhook, type WebhookDelivery } from '@app/database';
import { AppError, Errors } from '@app/errors';
import { checkSourceUrl, pinnedLookup, SourceUrlError } from '@app/files';
import { addOutboxJob, FILE_EVENTS, OutboxRelay, type JobContext, type JobHandler, type JobOutcome, type JobPayloads } from '@app/queue';
import { SecretBox } from '@app/signatures';

const DELIVERY_TIMEOUT_MS = 10_000;
const MAX_WEBHOOKS_PER_ORG = 50;

export interface WebhookView {
  id: string;
  url: string;
  events: string[];
  active: boolean;
  createdAt: string;
}

export interface DeliveryView {
  id: string;
  event: string;
  status: WebhookDelivery['status'];
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the receiver recomputes it and rejects old timestamps. */
export function signDelivery(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Webhooks: an organization subscribes URLs to file events; each event becomes one delivery per subscription,
 * POSTed as JSON and signed with the subscription's secret, retried with backoff through the job queue, with every
 * outcome kept and any delivery re-deliverable. Target URLs pass the same SSRF guard as source_url imports
 * (WEBHOOK_ALLOW_HOSTS opens exceptions), checked again on every delivery.
 */
@Injectable()
export class WebhooksService {
  private readonly box: SecretBox;
  private readonly logger = new Logger('Webhooks');

  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly relay: OutboxRelay,
  ) {
    this.box = new SecretBox(config.fileClients.secretsKey);
  }

  private view(w: Webhook): WebhookView {
    return { id: w.id, url: w.url, events: w.events, active: w.active, createdAt: w.createdAt.toISOString() };
  }

  async create(organizationId: string, createdBy: string, input: { url: string; events: string[]; secret?: string }): Promise<WebhookView & { secret: string }> {
    try {
      checkSourceUrl(input.url, this.config.webhooks.allowList);
    } catch (error) {
      if (error instanceof SourceUrlError) throw Errors.badRequest(`url: ${error.message.replace(/source_url/g, 'the webhook URL')}`, { field: 'url' });
      throw error;
    }
    const unknown = input.events.filter((e) => e !== '*' && !(FILE_EVENTS as readonly string[]).includes(e));
    if (unknown.length) throw Errors.badRequest(`events: unknown ${unknown.join(', ')}; known: ${FILE_EVENTS.join(', ')} (or * for all)`, { field: 'events' });
    if ((await this.db.webhook.count({ where: { organizationId } })) >= MAX_WEBHOOKS_PER_ORG) {
      throw new AppError('CONFLICT', `An organization has at most ${MAX_WEBHOOKS_PER_ORG} webhooks`);
    }
    const secret = input.secret ?? `whsec_${randomBytes(24).toString('base64url')}`;
    const row = await this.db.webhook.create({
      data: { organizationId, url: input.url, events: [...new Set(input.events)], secretEncrypted: this.box.seal(secret), createdBy },
    });
    return { ...this.view(row), secret };
  }

  async list(organizationId: string): Promise<WebhookView[]> {
    return (await this.db.webhook.findMany({ where: { organizationId }, orderBy: { createdAt: 'asc' } })).map((w) => this.view(w));
  }

  private async own(organizationId: string, id: string): Promise<Webhook> {
    const row = await this.db.webhook.findFirst({ where: { id, organizationId } });
    if (!row) throw Errors.notFound('Webhook', id);
    return row;
  }

  async remove(organizationId: string, id: string): Promise<void> {
    await this.db.webhook.delete({ where: { id: (await this.own(organizationId, id)).id } });
  }

  async deliveries(organizationId: string, id: string): Promise<DeliveryView[]> {
    const hook = await this.own(organizationId, id);
    const rows = await this.db.webhookDelivery.findMany({ where: { webhookId: hook.id }, orderBy: { createdAt: 'desc' }, take: 100 });
    return rows.map((d) => ({
      id: d.id,
      event: d.event,
      status: d.status,
      attempts: d.attempts,
      lastStatusCode: d.lastStatusCode,
      lastError: d.lastError,
      createdAt: d.createdAt.toISOString(),
      deliveredAt: d.deliveredAt?.toISOString() ?? null,
    }));
  }

  /** Delivers a past delivery's payload again, as a new delivery (the old one keeps its record). */
  async redeliver(organizationId: string, id: string, deliveryId: string): Promise<{ id: string }> {
    const hook = await this.own(organizationId, id);
    const old = await this.db.webhookDelivery.findFirst({ where: { id: deliveryId, webhookId: hook.id } });
    if (!old) throw Errors.notFound('Delivery', deliveryId);
    return { id: await this.enqueue(hook.id, old.event, old.payload as Record<string, unknown>) };
  }

  /** A `ping` event to check the endpoint and its signature verification. */
  async ping(organizationId: string, id: string): Promise<{ id: string }> {
    const hook = await this.own(organizationId, id);
    return { id: await this.enqueue(hook.id, 'ping', { event: 'ping', occurredAt: new Date().toISOString(), data: { webhookId: hook.id } }) };
  }

  private async enqueue(webhookId: string, event: string, payload: Record<string, unknown>): Promise<string> {
    const id = await this.db.$transaction(async (tx) => {
      const delivery = await tx.webhookDelivery.create({ data: { webhookId, event, payload: payload as object } });
      await addOutboxJob(tx, 'webhook.deliver', { deliveryId: delivery.id });
      return delivery.id;
    });
    this.relay.kick();
    return id;
  }

  /** An event → one delivery per active subscription of the organization, each with its own job. */
  async dispatch(payload: JobPayloads['webhook.dispatch']): Promise<number> {
    const hooks = await this.db.webhook.findMany({
      where: { organizationId: payload.organizationId, active: true, OR: [{ events: { has: payload.event } }, { events: { has: '*' } }] },
    });
    if (hooks.length === 0) return 0;
    await this.db.$transaction(async (tx) => {
      for (const hook of hooks) {
        const delivery = await tx.webhookDelivery.create({ data: { webhookId: hook.id, event: payload.event, payload: payload as object } });
        await addOutboxJob(tx, 'webhook.deliver', { deliveryId: delivery.id });
      }
    });
    this.relay.kick();
    return hooks.length;
  }

  /** One attempt: 2xx records success; anything else records the failure and throws, so the queue retries. */
  async deliver(deliveryId: string, signal: AbortSignal): Promise<JobOutcome> {
    const delivery = await this.db.webhookDelivery.findUnique({ where: { id: deliveryId }, include: { webhook: true } });
    if (!delivery) return { status: 'skipped', detail: 'delivery no longer exists (webhook deleted)' };
    if (delivery.status === 'SUCCEEDED') return { status: 'skipped', detail: 'already delivered' };
    if (!delivery.webhook.active) return { status: 'skipped', detail: 'webhook is inactive' };
    const body = JSON.stringify({ id: delivery.id, ...(delivery.payload as object) });
    const secret = this.box.open(delivery.webhook.secretEncrypted);
    let status: number | undefined;
    let error: string | undefined;
    try {
      status = await this.post(delivery.webhook.url, body, {
        'content-type': 'application/json',
        'user-agent': 'filehub-webhooks/1',
        'x-filehub-event': delivery.event,
        'x-filehub-delivery': delivery.id,
        'x-filehub-signature': signDelivery(secret, body),
      }, signal);
      if (status < 200 || status >= 300) error = `The endpoint answered ${status}`;
    } catch (e) {
      error = (e as Error).message;
    }
    await this.db.webhookDelivery.update({
      where: { id: delivery.id },
      data: {
        attempts: { increment: 1 },
        lastStatusCode: status ?? null,
        lastError: error ?? null,
        ...(error ? {} : { status: 'SUCCEEDED', deliveredAt: new Date() }),
      },
    });
    if (error) throw new Error(error);
    return { status: 'succeeded', detail: `${delivery.event} → ${status}` };
  }

  async giveUp(deliveryId: string, error: Error): Promise<void> {
    this.logger.warn(`Delivery ${deliveryId} failed for good: ${error.message}`);
    await this.db.webhookDelivery.updateMany({ where: { id: deliveryId, status: 'PENDING' }, data: { status: 'FAILED', lastError: error.message } });
  }

  private post(url: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<number> {
    const target = checkSourceUrl(url, this.config.webhooks.allowList);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<number>((resolve, reject) => {
      const req = send(
        target,
        {
          method: 'POST',
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          // The address is checked after resolution and used as checked: no rebinding to an internal address.
          lookup: pinnedLookup(this.config.webhooks.allowList, 'the webhook URL'),
          agent: false,
          signal,
          timeout: DELIVERY_TIMEOUT_MS,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`The endpoint did not answer within ${DELIVERY_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

@Injectable()
export class WebhookDispatchJob implements JobHandler<'webhook.dispatch'> {
  readonly jobName = 'webhook.dispatch' as const;
  constructor(private readonly webhooks: WebhooksService) {}

  async handle(payload: JobPayloads['webhook.dispatch']): Promise<JobOutcome> {
    const count = await this.webhooks.dispatch(payload);
    return count ? { status: 'succeeded', detail: `${payload.event}: ${count} delivery(ies)` } : { status: 'skipped', detail: 'no subscription' };
  }
}

@Injectable()
export class WebhookDeliverJob implements JobHandler<'webhook.deliver'> {
  readonly jobName = 'webhook.deliver' as const;
  constructor(private readonly webhooks: WebhooksService) {}

  handle({ deliveryId }: JobPayloads['webhook.deliver'], { signal }: JobContext): Promise<JobOutcome> {
    return this.webhooks.deliver(deliveryId, signal);
  }

  async onExhausted({ deliveryId }: JobPayloads['webhook.deliver'], error: Error): Promise<void> {
    await this.webhooks.giveUp(deliveryId, error);
  }
}
