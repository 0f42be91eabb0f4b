// Every job the system runs, with its payload. Payloads carry ids and the tenant, never file data:
// handlers re-read state, so a job that runs twice (or late) does the right thing.
export interface JobPayloads {
  /** Post-upload work: verify size, hash and sniff the bytes, then READY | FAILED. */
  'file.process': { fileId: string; tenantId: string };
  /** Removes an object that no committed record points at (a failed or abandoned write). */
  'storage.delete-object': { key: string; reason: string };
  /** Fetches a file's bytes from a user-supplied URL (SSRF-guarded); see ImportUrlJob. */
  'file.import-url': { fileId: string; tenantId: string; url: string };
  /** A file event of an organization: becomes one delivery per subscribed webhook (see WebhookDispatchJob). */
  'webhook.dispatch': { event: FileEventName; organizationId: string; occurredAt: string; data: Record<string, unknown> };
  /** One delivery to one webhook, retried with backoff (see WebhookDeliverJob). */
  'webhook.deliver': { deliveryId: string };
  /** Scheduled housekeeping; see LifecycleSweepJob. */
  'lifecycle.sweep': { task: LifecycleTask };
}

export const FILE_EVENTS = ['file.uploaded', 'file.ready', 'file.failed', 'file.quarantined', 'file.deleted', 'file.shared', 'file.attached'] as const;
export type FileEventName = (typeof FILE_EVENTS)[number] | 'ping';

export const LIFECYCLE_TASKS = ['expire-temporary', 'abandoned-uploads', 'purge-deleted', 'collect-orphans', 'requeue-stalled', 'expire-resumable', 'finish-resumable', 'abort-stale-multipart', 'rescan-outdated'] as const;
export type LifecycleTask = (typeof LIFECYCLE_TASKS)[number];

export type JobName = keyof JobPayloads;

export const JOB_NAMES = ['file.process', 'file.import-url', 'storage.delete-object', 'lifecycle.sweep', 'webhook.dispatch', 'webhook.deliver'] as const satisfies readonly JobName[];

export interface JobContext {
  jobId: string;
  /** 1 on the first run. */
  attempt: number;
  signal: AbortSignal;
}

export type JobOutcome = { status: 'succeeded' | 'skipped' | 'failed'; detail?: string };

export interface JobHandler<N extends JobName = JobName> {
  readonly jobName: N;
  /** Throwing means "try again later"; a permanent failure is recorded by the handler and returned as `failed`. */
  handle(payload: JobPayloads[N], context: JobContext): Promise<JobOutcome>;
  /** Called once when the last retry has failed. */
  onExhausted?(payload: JobPayloads[N], error: Error): Promise<void>;
}

export interface QueuedJob<N extends JobName = JobName> {
  id: string;
  name: N;
  payload: JobPayloads[N];
}

export const JOB_HANDLERS = Symbol('JOB_HANDLERS');

/** What a run of a job came to: the handler's outcome, or `error` when it threw (retried, or exhausted). */
export type JobRunResult = JobOutcome['status'] | 'error';

/** Told about every job run, wherever jobs run (metrics). */
export type JobObserver = (run: { name: JobName; result: JobRunResult; seconds: number }) => void;

export class JobRegistry {
  private readonly handlers = new Map<JobName, JobHandler>();
  private readonly observers: JobObserver[] = [];

  /** Start-up fails when a job has no handler or two. */
  constructor(handlers: JobHandler[]) {
    for (const handler of handlers) {
      if (this.handlers.has(handler.jobName)) throw new Error(`Job ${handler.jobName} has two handlers`);
      this.handlers.set(handler.jobName, handler);
    }
    const missing = JOB_NAMES.filter((name) => !this.handlers.has(name));
    if (missing.length) throw new Error(`Jobs without a handler: ${missing.join(', ')}`);
  }

  observe(observer: JobObserver): void {
    this.observers.push(observer);
  }

  /** Runs a job's handler, timing it for the observers. Both queue drivers run jobs through here. */
  async run<N extends JobName>(name: N, payload: JobPayloads[N], context: JobContext): Promise<JobOutcome> {
    const started = process.hrtime.bigint();
    const report = (result: JobRunResult) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      for (const observer of this.observers) observer({ name, result, seconds });
    };
    try {
      const outcome = await this.get(name).handle(payload, context);
      report(outcome.status);
      return outcome;
    } catch (error) {
      report('error');
      throw error;
    }
  }

  get<N extends JobName>(name: N): JobHandler<N> {
    const handler = this.handlers.get(name);
    if (!handler) throw new Error(`Unknown job ${name}`);
    return handler as unknown as JobHandler<N>;
  }
}

export const RETRY_POLICY = { attempts: 5, baseDelayMs: 500, maxDelayMs: 60_000 } as const;

export function retryDelayMs(attempt: number): number {
  return Math.min(RETRY_POLICY.baseDelayMs * 2 ** (attempt - 1), RETRY_POLICY.maxDelayMs);
}
