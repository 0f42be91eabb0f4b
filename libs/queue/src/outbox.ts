import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { PRISMA, type Db, type Tx } from '@app/database';
import { retryDelayMs, type JobName, type JobPayloads, type QueuedJob } from './job-registry';
import { QUEUE_DRIVER, type QueueDriver } from './queue.driver';

/** Writes a job in the caller's transaction: the job exists exactly when the state change that needs it does. */
export async function addOutboxJob<N extends JobName>(tx: Tx, name: N, payload: JobPayloads[N]): Promise<string> {
  const id = randomUUID();
  await tx.outboxJob.create({ data: { id, name, payload: payload as object } });
  return id;
}

// A claimed row is leased for this long; a relay or process that dies mid-way lets it run again after that.
const LEASE_MS = 5 * 60_000;
const BATCH = 50;

interface ClaimedRow {
  id: string;
  name: string;
  payload: unknown;
  attempts: number;
}

/**
 * Hands outbox rows to the queue driver. Runs in every API and worker process; `FOR UPDATE SKIP LOCKED` keeps
 * replicas from taking the same row. Kicked after each commit, and polled for rows a kick missed (Redis down).
 */
@Injectable()
export class OutboxRelay {
  private readonly logger = new Logger('OutboxRelay');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(QUEUE_DRIVER) private readonly driver: QueueDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    driver.onSettled((jobId) => {
      void this.db.outboxJob
        .update({ where: { id: jobId }, data: { status: 'SENT', sentAt: new Date() } })
        .catch((e: unknown) => this.logger.error(`Could not settle outbox row ${jobId}: ${String(e)}`));
    });
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.config.queue.outboxPollMs);
    this.timer.unref();
    this.kick();
  }

  /** Relays now (coalesced with a relay already in progress). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((e: unknown) => this.logger.error(`Relay failed: ${String(e)}`))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private async drain(): Promise<void> {
    for (;;) {
      const rows = await this.claim();
      if (rows.length === 0) return;
      for (const row of rows) await this.send(row);
      if (rows.length < BATCH) return;
    }
  }

  private async claim(): Promise<ClaimedRow[]> {
    const leaseUntil = new Date(Date.now() + LEASE_MS);
    return this.db.$queryRaw<ClaimedRow[]>`
      UPDATE "OutboxJob" SET "availableAt" = ${leaseUntil}, "attempts" = "attempts" + 1
      WHERE "id" IN (
        SELECT "id" FROM "OutboxJob"
        WHERE "status" = 'PENDING' AND "availableAt" <= now()
        ORDER BY "createdAt" LIMIT ${BATCH}
        FOR UPDATE SKIP LOCKED
      )
      RETURNING "id", "name", "payload", "attempts"`;
  }

  private async send(row: ClaimedRow): Promise<void> {
    const job = { id: row.id, name: row.name as JobName, payload: row.payload } as QueuedJob;
    try {
      await this.driver.enqueue(job);
      if (this.driver.durable) {
        await this.db.outboxJob.update({ where: { id: row.id }, data: { status: 'SENT', sentAt: new Date(), lastError: null } });
      }
    } catch (error) {
      // The queue is unreachable: keep the row and try again later.
      const retryAt = new Date(Date.now() + retryDelayMs(Math.min(row.attempts, 8)));
      await this.db.outboxJob.update({
        where: { id: row.id },
        data: { availableAt: retryAt, lastError: String((error as Error).message ?? error).slice(0, 1000) },
      });
      this.logger.warn(`Could not enqueue ${row.name} ${row.id}, retrying at ${retryAt.toISOString()}: ${(error as Error).message}`);
    }
  }
}
