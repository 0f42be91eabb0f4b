import 'reflect-metadata';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '@app/config';
import { createApiApp } from '../apps/api/src/api.factory';
import { buildOpenApiDocument } from '../apps/api/src/docs/openapi-document';

// npm run openapi:print — writes openapi.json from the controllers (embedded profile in a throwaway data dir).
// With --check it writes nothing and fails (exit 1, naming the paths that differ) when openapi.json is stale.
async function main(): Promise<void> {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dataDir = await mkdtemp(join(tmpdir(), 'filehub-openapi-'));
  const app = await createApiApp(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', AUTH_JWT_SECRET: 'openapi-print-secret-0123456789' }));
  try {
    const document = buildOpenApiDocument(app);
    const target = join(__dirname, '..', '..', 'openapi.json');
    const text = `${JSON.stringify(document, null, 2)}\n`;
    if (process.argv.includes('--check')) {
      const committed = await readFile(target, 'utf8').catch(() => '');
      if (committed === text) {
        process.stdout.write(`openapi.json matches the code (${Object.keys(document.paths).length} paths)\n`);
        return;
      }
      const old = (committed ? JSON.parse(committed) : { paths: {} }) as { paths: Record<string, unknown> };
      const fresh = document.paths as Record<string, unknown>;
      const changed = [...new Set([...Object.keys(old.paths), ...Object.keys(fresh)])].filter(
        (p) => JSON.stringify(old.paths[p]) !== JSON.stringify(fresh[p]),
      );
      process.stderr.write(`openapi.json is stale; run npm run openapi:print. Differing paths: ${changed.join(', ') || '(components only)'}\n`);
      process.exitCode = 1;
      return;
    }
    await writeFile(target, text);
    process.stdout.write(`wrote ${target} (${Object.keys(document.paths).length} paths)\n`);
  } finally {
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
