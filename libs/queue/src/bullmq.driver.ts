import { Logger } from '@nestjs/common';
import { Queue, Worker, type Job } from 'bullmq';
import Redis from 'ioredis';
import { RETRY_POLICY, type JobName, type JobPayloads, type JobRegistry, type QueuedJob } from './job-registry';
import type { QueueCounts, QueueDriver } from './queue.driver';

const QUEUE_NAME = 'jobs';
const ENQUEUE_TIMEOUT_MS = 3000;

// Redis-backed jobs for the full stack: API replicas enqueue, `apps/worker` processes consume. BullMQ brings
// retries with exponential backoff and the stalled-job check that re-queues work of a worker that died.
export class BullMqQueueDriver implements QueueDriver {
  readonly name = 'bullmq' as const;
  readonly durable = true;
  private readonly logger = new Logger('BullMQ');
  private readonly producerConnection: Redis;
  private readonly queue: Queue;
  private worker?: Worker;
  private workerConnection?: Redis;
  private readonly schedules = new Map<string, { name: JobName; payload: unknown; everyMs: number }>();

  constructor(
    private readonly redisUrl: string,
    private readonly prefix: string,
    private readonly concurrency: number,
    /** Lock of a running job; the stalled check runs as often, so a dead worker's jobs return after about this. */
    private readonly lockDurationMs = 30_000,
  ) {
    // The producer fails fast when Redis is down: the outbox keeps the job and the relay tries again.
    this.producerConnection = new Redis(redisUrl, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    this.producerConnection.on('error', () => undefined);
    // Job schedulers live in Redis: a Redis that restarted without persistence has forgotten them. Register them
    // again on every (re)connection; upserting an existing one changes nothing.
    this.producerConnection.on('ready', () => {
      for (const [id, s] of this.schedules) {
        this.queue
          .upsertJobScheduler(id, { every: s.everyMs }, { name: s.name, data: s.payload, opts: { attempts: 1 } })
          .catch((error: unknown) => this.logger.warn(`Could not register schedule ${id} again: ${String(error)}`));
      }
    });
    this.queue = new Queue(QUEUE_NAME, { connection: this.producerConnection, prefix });
    this.queue.on('error', () => undefined);
  }

  /** The BullMQ queue itself, for the admin dashboard. */
  get bullQueue(): Queue {
    return this.queue;
  }

  async enqueue(job: QueuedJob): Promise<void> {
    // BullMQ waits for a connection before adding; bound that wait so the relay can record the failure and retry.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not accept the job within ${ENQUEUE_TIMEOUT_MS} ms`)), ENQUEUE_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.add(job), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async add(job: QueuedJob): Promise<void> {
    await this.queue.add(job.name, job.payload, {
      jobId: job.id,
      attempts: RETRY_POLICY.attempts,
      backoff: { type: 'exponential', delay: RETRY_POLICY.baseDelayMs },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    });
  }

  async startWorkers(registry: JobRegistry): Promise<void> {
    this.workerConnection = new Redis(this.redisUrl, { maxRetriesPerRequest: null });
    this.worker = new Worker(
      QUEUE_NAME,
      async (job: Job, _token?: string, signal?: AbortSignal) => {
        const outcome = await registry.run(job.name as JobName, job.data as JobPayloads[JobName] as never, {
          jobId: job.id ?? '',
          attempt: job.attemptsMade + 1,
          signal: signal ?? new AbortController().signal,
        });
        this.logger.log(`${job.name} ${job.id} ${outcome.status}${outcome.detail ? `: ${outcome.detail}` : ''}`);
        return outcome;
      },
      {
        connection: this.workerConnection,
        prefix: this.prefix,
        concurrency: this.concurrency,
        lockDuration: this.lockDurationMs,
        stalledInterval: this.lockDurationMs,
      },
    );
    this.worker.on('failed', (job, error) => {
      if (!job) return;
      const attempts = job.opts.attempts ?? 1;
      if (job.attemptsMade < attempts) {
        this.logger.warn(`${job.name} ${job.id} attempt ${job.attemptsMade} failed, retrying: ${error.message}`);
        return;
      }
      this.logger.error(`${job.name} ${job.id} failed after ${job.attemptsMade} attempts: ${error.message}`);
      const handler = registry.get(job.name as JobName);
      void handler.onExhausted?.(job.data as never, error).catch((e: unknown) => {
        this.logger.error(`${job.name} ${job.id} onExhausted failed: ${String(e)}`);
      });
    });
    this.worker.on('error', (error) => this.logger.error(`Worker error: ${error.message}`));
    await this.worker.waitUntilReady();
  }

  async schedule<N extends JobName>(scheduleId: string, name: N, payload: JobPayloads[N], everyMs: number): Promise<void> {
    this.schedules.set(scheduleId, { name, payload, everyMs });
    await this.queue.upsertJobScheduler(scheduleId, { every: everyMs }, { name, data: payload, opts: { attempts: 1 } });
  }

  onSettled(): void {
    // Durable: the relay marks outbox rows sent as soon as BullMQ has them.
  }

  async counts(): Promise<QueueCounts> {
    const counts = await this.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed');
    return {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      failed: counts.failed ?? 0,
      completed: counts.completed ?? 0,
    };
  }

  async checkHealth(): Promise<void> {
    const pong = await this.producerConnection.ping();
    if (pong !== 'PONG') throw new Error(`Redis answered ${pong}`);
  }

  async close(timeoutMs: number): Promise<void> {
    if (this.worker) {
      // Let running jobs finish; past the deadline force-close so BullMQ's stalled check returns them to the queue.
      const graceful = this.worker.close();
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), timeoutMs).unref()),
      ]);
      if (timedOut) await this.worker.close(true);
      this.workerConnection?.disconnect();
    }
    await this.queue.close().catch(() => undefined);
    this.producerConnection.disconnect();
  }
}
