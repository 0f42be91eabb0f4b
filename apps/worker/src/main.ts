import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigError, loadConfig, type AppConfig } from '@app/config';
import { scheduleLifecycleJobs } from '@app/files';
import { createRootLogger, PinoNestLogger } from '@app/logging';
import { MetricsServerCloser, MetricsService, serveMetrics } from '@app/metrics';
import { JobRegistry, OutboxRelay, QUEUE_DRIVER, type QueueDriver } from '@app/queue';
import { WorkerModule } from './worker.module';

function configOrExit(): AppConfig {
  try {
    const config = loadConfig();
    if (!config.queue.redisUrl) throw new ConfigError('Invalid configuration: REDIS_URL is required to run separate workers');
    if (!config.database.url) throw new ConfigError('Invalid configuration: DATABASE_URL is required to run separate workers');
    return config;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
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
    process.once(signal, () => setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 5000).unref());
  }
  new Logger('Worker').log(`Worker running (concurrency ${config.queue.concurrency})`);
}

main().catch((error: unknown) => {
  process.stderr.write(`Worker start-up failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
