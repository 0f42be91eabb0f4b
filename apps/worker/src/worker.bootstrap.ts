import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AppConfig } from '@app/config';
import { scheduleLifecycleJobs } from '@app/files';
import { createRootLogger, PinoNestLogger } from '@app/logging';
import { MetricsServerCloser, MetricsService, serveMetrics } from '@app/metrics';
import { JobRegistry, OutboxRelay, QUEUE_DRIVER, type QueueDriver } from '@app/queue';
import type { Tracing } from '@app/tracing';
import { WorkerModule } from './worker.module';

/** The worker process once its configuration is read and tracing (if any) has started: see main.ts. */
export async function runWorker(config: AppConfig, tracing?: Tracing): Promise<void> {
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), {
    logger: new PinoNestLogger(createRootLogger(config.logLevel, 'worker')),
  });
  app.enableShutdownHooks();
  const driver = app.get<QueueDriver>(QUEUE_DRIVER);
  await driver.startWorkers(app.get(JobRegistry));
  await scheduleLifecycleJobs(driver, config);
  app.get(OutboxRelay).start();
  if (config.metrics.workerPort > 0) {
    // Metrics are worth having, not worth failing over: a taken port is logged and the worker carries on.
    await serveMetrics(app.get(MetricsService), config.metrics.workerPort, config.http.host).then(
      (server) => {
        app.get(MetricsServerCloser).server = server;
        new Logger('Worker').log(`Metrics on http://${config.http.host}:${config.metrics.workerPort}/metrics`);
      },
      (error: unknown) => new Logger('Worker').warn(`Metrics server not started on port ${config.metrics.workerPort}: ${String(error)}`),
    );
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 5000).unref();
      // Flush the last spans once the application has closed.
      process.once('beforeExit', () => void tracing?.shutdown());
    });
  }
  new Logger('Worker').log(`Worker running (concurrency ${config.queue.concurrency})`);
}
