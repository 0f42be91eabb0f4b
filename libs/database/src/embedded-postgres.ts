import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { readPgliteSeed } from './pglite-seed';

export interface EmbeddedPostgres {
  url: string;
  /** How the data directory came to be: opened as it was, unpacked from the build's seed, or made by initdb. */
  origin: 'existing' | 'seed' | 'initdb';
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

// PGlite is a single-connection Postgres compiled to WASM. We put it behind its socket server on loopback so
// the embedded profile uses the same `pg` driver adapter as the full stack (one Prisma setup, one migrator).
// One connection only: the pool in front of it must have max = 1 so transactions never interleave.
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const dir = join(dataDir, 'pgdata');
  await mkdir(dir, { recursive: true });
  // A new data directory is unpacked from the build's seed when there is one (pglite-seed.ts), else initdb'd.
  const existing = existsSync(join(dir, 'PG_VERSION'));
  const loadDataDir = existing ? undefined : await readPgliteSeed();
  const db = await PGlite.create(dir, loadDataDir ? { loadDataDir } : {});
  const origin = existing ? 'existing' : loadDataDir ? 'seed' : 'initdb';
  const port = await freePort();
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 1 });
  await server.start();
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    origin,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
