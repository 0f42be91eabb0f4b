import 'reflect-metadata';
import { ConfigError, loadConfig, type AppConfig } from '@app/config';
import { startTracing } from '@app/tracing';

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
  // Tracing patches pg, ioredis and http as they load, so it starts before the worker's modules are imported.
  const tracing = startTracing(config, 'filehub-worker');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runWorker } = require('./worker.bootstrap') as typeof import('./worker.bootstrap.js');
  await runWorker(config, tracing);
}

main().catch((error: unknown) => {
  process.stderr.write(`Worker start-up failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
