import { Logger } from '@nestjs/common';
import { RETRY_POLICY, retryDelayMs, type JobName, type JobPayloads, type JobRegistry, type QueuedJob } from './job-registry';
import type { QueueCounts, QueueDriver } from './queue.driver';

interface Pending {
  job: QueuedJob;
  attempt: number;
}

// Runs jobs inside the API process for the embedded profile and fast tests, with the same retry policy as the
// BullMQ driver. Durability comes from the outbox: the row stays leased until the job settles.
export class InProcessQueueDriver implements QueueDriver {
  readonly name = 'in-process' as const;
  readonly durable = false;
  private readonly logger = new Logger('InProcessQueue');
  private readonly waiting: Pending[] = [];
  private readonly known = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly schedules: NodeJS.Timeout[] = [];
  private readonly settledListeners: ((jobId: string) => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private readonly abort = new AbortController();
  private registry?: JobRegistry;
  private running = 0;
  private closed = false;

  constructor(private readonly concurrency: number) {}

  async enqueue(job: QueuedJob): Promise<void> {
    if (this.closed) throw new Error('Queue is closed');
    if (this.known.has(job.id)) return;
    this.known.add(job.id);
    this.waiting.push({ job, attempt: 1 });
    this.pump();
  }

  async schedule<N extends JobName>(scheduleId: string, name: N, payload: JobPayloads[N], everyMs: number): Promise<void> {
    const timer = setInterval(() => {
      if (!this.closed) void this.enqueue({ id: `${scheduleId}:${Date.now()}`, name, payload } as QueuedJob);
    }, everyMs);
    timer.unref();
    this.schedules.push(timer);
  }

  async startWorkers(registry: JobRegistry): Promise<void> {
    this.registry = registry;
    this.pump();
  }

  onSettled(listener: (jobId: string) => void): void {
    this.settledListeners.push(listener);
  }

  async checkHealth(): Promise<void> {
    if (this.closed) throw new Error('Queue is closed');
  }

  async counts(): Promise<QueueCounts> {
    return { waiting: this.waiting.length, active: this.running, delayed: this.timers.size };
  }

  /** Resolves when nothing is waiting, scheduled for retry or running. */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    for (const s of this.schedules) clearInterval(s);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.waiting.length = 0;
    if (this.running === 0) return;
    const drained = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    await Promise.race([drained, timeout]);
    // Jobs still running past the deadline are told to stop; their outbox rows stay leased and run again.
    this.abort.abort();
  }

  private isIdle(): boolean {
    return this.running === 0 && this.waiting.length === 0 && this.timers.size === 0;
  }

  private pump(): void {
    if (!this.registry || this.closed) return this.notifyIdle();
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const next = this.waiting.shift()!;
      this.running++;
      void this.run(next).finally(() => {
        this.running--;
        this.pump();
      });
    }
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (!this.isIdle()) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async run({ job, attempt }: Pending): Promise<void> {
    const handler = this.registry!.get(job.name);
    try {
      const outcome = await this.registry!.run(job.name, job.payload as never, { jobId: job.id, attempt, signal: this.abort.signal });
      this.logger.log(`${job.name} ${job.id} ${outcome.status}${outcome.detail ? `: ${outcome.detail}` : ''}`);
      this.settle(job.id);
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      if (this.closed) return;
      if (attempt >= RETRY_POLICY.attempts) {
        this.logger.error(`${job.name} ${job.id} failed after ${attempt} attempts: ${err.message}`);
        await handler.onExhausted?.(job.payload as never, err).catch((e: unknown) => {
          this.logger.error(`${job.name} ${job.id} onExhausted failed: ${String(e)}`);
        });
        this.settle(job.id);
        return;
      }
      this.logger.warn(`${job.name} ${job.id} attempt ${attempt} failed, retrying: ${err.message}`);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.waiting.push({ job, attempt: attempt + 1 });
        this.pump();
      }, retryDelayMs(attempt));
      this.timers.add(timer);
    }
  }

  private settle(jobId: string): void {
    this.known.delete(jobId);
    for (const listener of this.settledListeners) listener(jobId);
  }
}
