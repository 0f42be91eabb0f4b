import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ConfigError, loadConfig, type AppConfig } from '@app/config';
import { createApiApp } from './api.factory';

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
  const app = await createApiApp(config);
  const logger = new Logger('Main');
  if (config.auth.usingDevelopmentSecret) {
    logger.warn('AUTH_JWT_SECRET is not set: using the fixed development secret. Never do this in production.');
  }
  // Nest closes on SIGTERM/SIGINT (stop accepting, finish requests, drain jobs); this is the backstop.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 5000).unref());
  }
  await app.listen(config.http.port, config.http.host);
  logger.log(`API listening on ${config.http.host}:${config.http.port} (public URL ${config.http.publicUrl})`);
}

main().catch((error: unknown) => {
  process.stderr.write(`Start-up failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
