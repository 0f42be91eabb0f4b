import { Readable } from 'node:stream';
import { Prisma } from '@app/database';
import { FileProcessJob } from '@app/files';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { PROFILE, startTestApp, type TestApp } from './support/test-app';

async function upload(app: TestApp, token: string, bytes: Buffer, name = 'doc.bin') {
  const fd = new FormData();
  fd.append('file', new Blob([bytes], { type: 'application/octet-stream' }), name);
  const res = await fetch(`${app.url}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: fd });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string };
}

describe('post-upload processing', () => {
  let app: TestApp;
  let token: string;

  beforeAll(async () => {
    app = await startTestApp();
    token = app.token({ sub: 'pat', org: 'proc' });
  });
  afterAll(() => app?.close());

  it('has every column of every model in the migrated database (schema.prisma and the SQL migrations agree)', async () => {
    for (const model of Object.values(Prisma.ModelName)) {
      const delegate = (app.db as unknown as Record<string, { findFirst(): Promise<unknown> }>)[model[0].toLowerCase() + model.slice(1)];
      // Prisma selects every scalar column; a column missing from the migrations makes this reject.
      await delegate.findFirst();
    }
  });

  it('is idempotent: running the job again on a READY file changes nothing', async () => {
    const { id } = await upload(app, token, Buffer.from('some bytes to verify'));
    await app.waitForStatus(id, token, ['READY']);
    const before = await app.db.file.findUniqueOrThrow({ where: { id } });
    const job = await appJob(app);
    const outcome = await job.handle({ fileId: id, tenantId: 'proc' }, { jobId: 'again', attempt: 1, signal: new AbortController().signal });
    expect(outcome.status).toBe('skipped');
    expect(await app.db.file.findUniqueOrThrow({ where: { id } })).toEqual(before);
  });

  it('ends FAILED with a readable reason when the stored bytes no longer match what was uploaded', async () => {
    const { id } = await upload(app, token, Buffer.from('original content'));
    await app.waitForStatus(id, token, ['READY']);
    const row = await app.db.file.findUniqueOrThrow({ where: { id } });
    // Corrupt the object behind the service's back, then ask for the work again.
    const storage = app.get<StorageDriver>(STORAGE_DRIVER);
    await storage.put(row.storageKey, Readable.from([Buffer.from('tampered content')]));
    await app.db.file.update({ where: { id }, data: { status: 'PROCESSING' } });
    const outcome = await (await appJob(app)).handle({ fileId: id, tenantId: 'proc' }, { jobId: 'x', attempt: 1, signal: new AbortController().signal });
    expect(outcome.status).toBe('failed');
    const failed = await app.waitForStatus(id, token, ['FAILED', 'READY']);
    expect(failed).toMatchObject({ status: 'FAILED', failureReason: 'Stored bytes do not match the SHA-256 computed at upload' });
  });

  it('skips a job for a file of another tenant', async () => {
    const { id } = await upload(app, token, Buffer.from('mine'));
    const outcome = await (await appJob(app)).handle({ fileId: id, tenantId: 'someone-else' }, { jobId: 'y', attempt: 1, signal: new AbortController().signal });
    expect(outcome).toEqual({ status: 'skipped', detail: 'file no longer exists' });
  });

  async function appJob(a: TestApp): Promise<FileProcessJob> {
    return a.get(FileProcessJob);
  }
});

// The outbox in the full stack: with Redis unreachable the upload still succeeds, the job waits in the
// outbox, and a process that can reach Redis later relays it and the worker finishes it.
(PROFILE === 'full' ? describe : describe.skip)('outbox when Redis is down', () => {
  it('keeps the job and runs it once a relay can reach Redis', async () => {
    const down = await startTestApp({ REDIS_URL: 'redis://127.0.0.1:1', OUTBOX_POLL_MS: '100000' }, { worker: false });
    try {
      const health = await fetch(`${down.url}/health`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as any).checks.queue.status).toBe('down');
      const token = down.token({ sub: 'pat', org: 'outbox' });
      const { id } = await upload(down, token, Buffer.from('queued while redis was down'));
      // The relay tries at once, fails to reach Redis and records why; wait for that record.
      const deadline = Date.now() + 15_000;
      let pending = await down.db.outboxJob.findMany({ where: { status: 'PENDING' } });
      while (!pending[0]?.lastError && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        pending = await down.db.outboxJob.findMany({ where: { status: 'PENDING' } });
      }
      expect(pending).toHaveLength(1);
      expect(pending[0].lastError).toMatch(/Redis did not accept the job/);
      expect((await fetch(`${down.url}/files/${id}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json()) as any).status).toBe('PROCESSING');
      // Redis is back for a second process on the same database: its relay and worker finish the job.
      await down.db.outboxJob.updateMany({ data: { availableAt: new Date() } });
      const up = await startTestApp({}, { databaseUrl: down.config.database.url!, storageFrom: down.config });
      try {
        const ready = await up.waitForStatus(id, token, ['READY', 'FAILED']);
        expect(ready.status).toBe('READY');
        expect((await up.db.outboxJob.findMany())[0]).toMatchObject({ status: 'SENT' });
      } finally {
        await up.close({ keepDatabase: true });
      }
    } finally {
      await down.close();
    }
  });
});
