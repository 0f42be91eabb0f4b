import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres } from './embedded-postgres';
import { buildPgliteSeed } from './pglite-seed';

// A new DATA_DIR starts from the build's seed instead of running initdb, and is an ordinary cluster from then on:
// what is written survives a restart, which opens the directory as it is.
describe('embedded PostgreSQL data directory', () => {
  let dataDir: string;

  beforeAll(async () => {
    await buildPgliteSeed();
    dataDir = await mkdtemp(join(tmpdir(), 'filehub-seed-'));
  }, 120_000);
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  async function query<T>(url: string, sql: string): Promise<T[]> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  it('unpacks a new directory from the seed, and reopens it with its data after a restart', async () => {
    const first = await startEmbeddedPostgres(dataDir);
    try {
      expect(first.origin).toBe('seed');
      await query(first.url, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('written before the restart')");
    } finally {
      await first.stop();
    }
    const second = await startEmbeddedPostgres(dataDir);
    try {
      expect(second.origin).toBe('existing');
      expect(await query<{ note: string }>(second.url, 'SELECT note FROM kept')).toEqual([{ note: 'written before the restart' }]);
    } finally {
      await second.stop();
    }
  }, 120_000);
});
