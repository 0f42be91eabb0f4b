import type { JobName, JobPayloads, JobRegistry, QueuedJob } from './job-registry';

/**
 * The one port between the outbox relay and whatever runs jobs. Two drivers: BullMQ (Redis, separate worker
 * processes) and in-process (embedded profile). The same handlers run in both.
 */
export interface QueueDriver {
  readonly name: 'bullmq' | 'in-process';
  /**
   * True when an enqueued job survives this process dying (Redis). When false, the relay keeps the outbox row
   * leased until `onSettled` fires, so a crash before the job ran means it runs again after restart.
   */
  readonly durable: boolean;
  /** Hands a job over; the job id deduplicates. */
  enqueue(job: QueuedJob): Promise<void>;
  /** Starts consuming (only in processes that run workers). */
  startWorkers(registry: JobRegistry): Promise<void>;
  /**
   * Runs `job` every `everyMs`, starting one period from now. Idempotent per `scheduleId`: BullMQ keeps one
   * schedule across all replicas; the in-process driver keeps a timer in this process.
   */
  schedule<N extends JobName>(scheduleId: string, name: N, payload: JobPayloads[N], everyMs: number): Promise<void>;
  /** Called by a non-durable driver once a job has finished for good (succeeded or exhausted). */
  onSettled(listener: (jobId: string) => void): void;
  checkHealth(): Promise<void>;
  /** Jobs by state, for metrics (BullMQ: the whole queue, across workers; in-process: this process). */
  counts(): Promise<QueueCounts>;
  /** Stops taking jobs; lets running jobs finish (or returns them to the queue) within the timeout. */
  close(timeoutMs: number): Promise<void>;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  /** Waiting for a retry's backoff (or a schedule). */
  delayed: number;
  /** BullMQ only: kept failed and completed jobs. */
  failed?: number;
  completed?: number;
}

export const QUEUE_DRIVER = Symbol('QUEUE_DRIVER');
