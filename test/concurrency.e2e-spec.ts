import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { LifecycleSweepJob } from '@app/files';
import { expectConsistent } from './support/consistency';
import { PROFILE, startTestApp, type TestApp } from './support/test-app';

// Many at once: identical bytes uploaded concurrently are stored once with every record pointing at them, and in
// the full stack two API replicas with two workers on one database process every file exactly once.

async function upload(app: TestApp, token: string, bytes: Buffer, name: string): Promise<{ status: number; id?: string }> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), name);
  const res = await fetch(`${app.url}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  const body = (await res.json()) as { id?: string };
  return { status: res.status, id: body.id };
}

describe('concurrent identical uploads', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ SOFT_DELETE_RETENTION_DAYS: '0' });
  });
  afterAll(() => app?.close());

  it('stores 200 concurrent uploads of the same bytes once, and removes the object only with its last record', async () => {
    const token = app.token({ sub: 'crowd', org: 'same-bytes' });
    const bytes = randomBytes(64 * 1024);
    const before = await app.countObjects();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => upload(app, token, bytes, `copy-${i}.bin`)));
    expect(results.filter((r) => r.status !== 201)).toEqual([]);
    const ids = results.map((r) => r.id!);
    expect(new Set(ids).size).toBe(200);
    const rows = await app.db.file.findMany({ where: { id: { in: ids } }, select: { storageKey: true, sha256: true } });
    expect(rows).toHaveLength(200);
    expect(new Set(rows.map((r) => r.storageKey)).size).toBe(1);
    for (const id of ids.slice(0, 5)) await app.waitForStatus(id, token, ['READY'], 60_000);
    // The staged copies are removed by their jobs: one object (and, on the local driver, its metadata file) is left.
    const deadline = Date.now() + 60_000;
    let objects = await app.countObjects();
    while (objects - before > 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      objects = await app.countObjects();
    }
    const perObject = objects - before;
    expect(perObject).toBeGreaterThanOrEqual(1);
    expect(perObject).toBeLessThanOrEqual(2);
    await expectConsistent(app);

    // Deleting all but one and purging keeps the object for the last record; purging that one removes it.
    const sweep = app.get<LifecycleSweepJob>(LifecycleSweepJob);
    await app.db.file.updateMany({ where: { id: { in: ids.slice(1) } }, data: { deletedAt: new Date(Date.now() - 1000) } });
    while ((await sweep.handle({ task: 'purge-deleted' })).status === 'succeeded');
    expect(await app.db.file.count({ where: { id: { in: ids } } })).toBe(1);
    expect(await app.countObjects()).toBe(objects);
    const last = await fetch(`${app.url}/files/${ids[0]}/download-url`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json() as Promise<{ url: string }>);
    expect(Buffer.from(await (await fetch(last.url)).arrayBuffer()).equals(bytes)).toBe(true);
    await app.db.file.update({ where: { id: ids[0] }, data: { deletedAt: new Date(Date.now() - 1000) } });
    await sweep.handle({ task: 'purge-deleted' });
    expect(await app.countObjects()).toBe(before);
  }, 180_000);
});

(PROFILE === 'full' ? describe : describe.skip)('two API replicas and two workers on one database', () => {
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    first = await startTestApp();
    second = await startTestApp({ QUEUE_PREFIX: first.config.queue.prefix }, { databaseUrl: first.config.database.url, storageFrom: first.config });
  });
  afterAll(async () => {
    await second?.close({ keepDatabase: true });
    await first?.close();
  });

  it('processes every file exactly once, whichever replica took it', async () => {
    const token = first.token({ sub: 'pair', org: 'replicas' });
    const image = await sharp({ create: { width: 800, height: 600, channels: 3, background: '#aa5500' } }).jpeg().toBuffer();
    const uploads = await Promise.all(
      Array.from({ length: 30 }, (_, i) => upload(i % 2 ? second : first, token, Buffer.concat([image, Buffer.from(`#${i}`)]), `photo-${i}.jpg`)),
    );
    expect(uploads.filter((u) => u.status !== 201)).toEqual([]);
    const ids = uploads.map((u) => u.id!);
    for (const id of ids) expect((await first.waitForStatus(id, token, ['READY', 'FAILED'], 60_000)).status).toBe('READY');
    // One set of thumbnails per file, and each file's job result recorded once.
    const thumbnails = await first.db.thumbnail.groupBy({ by: ['fileId'], where: { fileId: { in: ids } }, _count: { _all: true } });
    expect(thumbnails).toHaveLength(30);
    expect(thumbnails.every((t) => t._count._all === first.config.media.thumbnailSizes.length)).toBe(true);
    const rows = await first.db.file.findMany({ where: { id: { in: ids } }, select: { width: true, height: true, processedAt: true, status: true } });
    expect(rows.every((r) => r.width === 800 && r.height === 600 && r.processedAt && r.status === 'READY')).toBe(true);
    // Both replicas can read every file (one database, one bucket).
    for (const id of ids.slice(0, 4)) expect((await fetch(`${second.url}/files/${id}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    await expectConsistent(first);
  }, 120_000);
});
