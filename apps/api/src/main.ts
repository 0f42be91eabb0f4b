import 'reflect-metadata';
import { ConfigError, loadConfig, type AppConfig } from '@app/config';
import { startTracing } from '@app/tracing';

function configOrExit(): AppConfig {
  try {
    return loadConfig();
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
  // Tracing patches http, express, pg and ioredis as they load, so it starts before the application is imported.
  const tracing = startTracing(config, 'filehub-api');
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { Logger } = require('@nestjs/common') as typeof import('@nestjs/common');
  const { createApiApp } = require('./api.factory') as typeof import('./api.factory.js');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const app = await createApiApp(config);
  const logger = new Logger('Main');
  if (config.auth.usingDevelopmentSecret) {
    logger.warn('AUTH_JWT_SECRET is not set: using the fixed development secret. Never do this in production.');
  }
  // Nest closes on SIGTERM/SIGINT (stop accepting, finish requests, drain jobs); this is the backstop.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 5000).unref();
      // Flush the last spans once the application has closed.
      process.once('beforeExit', () => void tracing?.shutdown());
    });
  }
  await app.listen(config.http.port, config.http.host);
  logger.log(`API listening on ${config.http.host}:${config.http.port} (public URL ${config.http.publicUrl})${tracing ? `; tracing to ${config.tracing.otlpEndpoint}` : ''}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`Start-up failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
