import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { PRISMA, type Db } from '@app/database';
import { JobRegistry, QUEUE_DRIVER, type QueueDriver } from '@app/queue';

const JOB_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Prometheus metrics of one process (prom-client, one registry per application so several can share a process):
 * jobs run here (count by outcome, duration), the queue's depth by state and the outbox backlog (read at scrape
 * time), HTTP requests (API only), and Node's own process metrics. The API serves them on GET /metrics; the worker
 * on its own port (WORKER_METRICS_PORT). prom-client is the standard client; its text format is what Prometheus
 * and every compatible scraper read.
 */
@Injectable()
export class MetricsService implements OnModuleInit {
  readonly registry = new Registry();
  private readonly jobs: Counter<'job' | 'outcome'>;
  private readonly jobSeconds: Histogram<'job'>;
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpSeconds: Histogram<'method' | 'route'>;
  private readonly httpBytes: Counter<'direction' | 'method' | 'route'>;

  constructor(
    private readonly jobRegistry: JobRegistry,
    @Inject(QUEUE_DRIVER) private readonly queue: QueueDriver,
    @Inject(PRISMA) private readonly db: Db,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'filehub_' });
    this.jobs = new Counter({
      name: 'filehub_jobs_total',
      help: 'Job runs in this process by job and outcome (succeeded, skipped, failed: for good; error: threw, retried or exhausted)',
      labelNames: ['job', 'outcome'],
      registers,
    });
    this.jobSeconds = new Histogram({ name: 'filehub_job_duration_seconds', help: 'Duration of job runs in this process', labelNames: ['job'], buckets: JOB_BUCKETS, registers });
    this.httpRequests = new Counter({ name: 'filehub_http_requests_total', help: 'HTTP requests by route pattern and status', labelNames: ['method', 'route', 'status'], registers });
    this.httpSeconds = new Histogram({ name: 'filehub_http_request_duration_seconds', help: 'HTTP request durations by route pattern', labelNames: ['method', 'route'], buckets: HTTP_BUCKETS, registers });
    this.httpBytes = new Counter({
      name: 'filehub_http_bytes_total',
      help: 'Bytes received (in: request bodies, i.e. uploads) and sent (out: responses, i.e. downloads) through the API, by route pattern',
      labelNames: ['direction', 'method', 'route'],
      registers,
    });
    const queueDriver = this.queue;
    new Gauge({
      name: 'filehub_queue_jobs',
      help: `Jobs in the queue by state (${queueDriver.name === 'bullmq' ? 'the whole BullMQ queue' : 'this process'})`,
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await queueDriver.counts().catch(() => null);
        if (!counts) return;
        for (const [state, value] of Object.entries(counts)) if (value !== undefined) this.set({ state }, value);
      },
    });
    const database = this.db;
    new Gauge({
      name: 'filehub_outbox_pending_jobs',
      help: 'Jobs written to the outbox and not yet handed to the queue (grows while Redis is down)',
      registers,
      async collect() {
        const pending = await database.outboxJob.count({ where: { status: 'PENDING' } }).catch(() => null);
        if (pending !== null) this.set(pending);
      },
    });
  }

  onModuleInit(): void {
    this.jobRegistry.observe(({ name, result, seconds }) => {
      this.jobs.inc({ job: name, outcome: result });
      this.jobSeconds.observe({ job: name }, seconds);
    });
  }

  recordHttp(method: string, route: string, status: number, seconds: number, bytes: { in: number; out: number } = { in: 0, out: 0 }): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpSeconds.observe({ method, route }, seconds);
    if (bytes.in > 0) this.httpBytes.inc({ direction: 'in', method, route }, bytes.in);
    if (bytes.out > 0) this.httpBytes.inc({ direction: 'out', method, route }, bytes.out);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
