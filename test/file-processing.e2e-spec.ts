import { Readable } from 'node:stream';
import sharp from 'sharp';
import { Prisma } from '@app/database';
import { FileProcessJob, LifecycleSweepJob } from '@app/files';
import { classicPdf, pngBomb } from '@app/media/testing/media-fixtures';
import { STORAGE_DRIVER, StorageLocator, type StorageDriver } from '@app/storage';
import { gql } from './support/graphql';
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

// Media work of the post-upload job, through the public API, in both profiles (in-process and the worker).
describe('post-upload media', () => {
  let app: TestApp;
  let token: string;

  beforeAll(async () => {
    app = await startTestApp({ THUMBNAIL_SIZES: '64,256,1024' });
    token = app.token({ sub: 'mia', org: 'media' });
  });
  afterAll(() => app?.close());

  async function fileWithThumbnails(id: string) {
    const result = await gql(app, token, 'query($id: ID!) { file(fileId: $id) { id thumbnails { variant width height contentType } } }', { id });
    expect(result.errors).toBeUndefined();
    return result.data.file as { thumbnails: { variant: string; width: number; height: number; contentType: string }[] };
  }

  it('gives an image its displayed size and WebP thumbnails that fit inside each box, auto-rotated', async () => {
    // 600x300 pixels stored sideways: EXIF orientation 6 means it is displayed 300 wide and 600 high.
    const jpeg = await sharp({ create: { width: 600, height: 300, channels: 3, background: '#3366cc' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const { id } = await upload(app, token, jpeg, 'photo.jpg');
    const ready = await app.waitForStatus(id, token, ['READY', 'FAILED']);
    expect(ready).toMatchObject({ status: 'READY', contentType: 'image/jpeg', width: 300, height: 600, pageCount: null });

    const { thumbnails } = await fileWithThumbnails(id);
    expect(thumbnails).toEqual([
      { variant: 'thumb-64', width: 32, height: 64, contentType: 'image/webp' },
      { variant: 'thumb-256', width: 128, height: 256, contentType: 'image/webp' },
      // Never enlarged: the 1024 box keeps the original size.
      { variant: 'thumb-1024', width: 300, height: 600, contentType: 'image/webp' },
    ]);
    const signed = await fetch(`${app.url}/api/files/${id}/thumbnail-url?width=100`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await signed.json()) as { url: string; isFallback: boolean };
    expect(body.isFallback).toBe(false);
    const bytes = Buffer.from(await (await fetch(body.url)).arrayBuffer());
    const meta = await sharp(bytes).metadata();
    expect([meta.format, meta.width, meta.height, meta.orientation, meta.exif]).toEqual(['webp', 128, 256, undefined, undefined]);
  });

  it('counts the pages of a PDF', async () => {
    const { id } = await upload(app, token, classicPdf(3), 'report.pdf');
    expect(await app.waitForStatus(id, token, ['READY', 'FAILED'])).toMatchObject({ status: 'READY', contentType: 'application/pdf', pageCount: 3 });
    expect((await fileWithThumbnails(id)).thumbnails).toEqual([]);
  });

  it('fails a decompression bomb and a corrupt PDF with a reason, and goes on serving other files', async () => {
    const bomb = await upload(app, token, pngBomb(50_000, 50_000), 'bomb.png');
    const corrupt = await upload(app, token, Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntruncated'), 'broken.pdf');
    const fine = await upload(app, token, Buffer.from('plain text after the bad ones'), 'fine.txt');
    expect(await app.waitForStatus(bomb.id, token, ['READY', 'FAILED'])).toMatchObject({
      status: 'FAILED',
      failureReason: 'The image is 50000x50000 (2,500,000,000 pixels), more than the 100,000,000 allowed',
    });
    expect(await app.waitForStatus(corrupt.id, token, ['READY', 'FAILED'])).toMatchObject({
      status: 'FAILED',
      failureReason: expect.stringMatching(/^No page tree found in the PDF/),
    });
    expect(await app.waitForStatus(fine.id, token, ['READY', 'FAILED'])).toMatchObject({ status: 'READY' });
  });

  it('leaves one set of thumbnails when the same job is delivered twice at once', async () => {
    const png = await sharp({ create: { width: 80, height: 40, channels: 3, background: '#aa0000' } }).png().toBuffer();
    const { id } = await upload(app, token, png, 'twice.png');
    await app.waitForStatus(id, token, ['READY']);
    const objectsBefore = await app.countObjects();
    await app.db.file.update({ where: { id }, data: { status: 'PROCESSING' } });
    const job = app.get<FileProcessJob>(FileProcessJob);
    const context = () => ({ jobId: 'dup', attempt: 1, signal: new AbortController().signal });
    const outcomes = await Promise.all([job.handle({ fileId: id, tenantId: 'media' }, context()), job.handle({ fileId: id, tenantId: 'media' }, context())]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['skipped', 'succeeded']);
    expect((await fileWithThumbnails(id)).thumbnails.map((t) => t.variant)).toEqual(['thumb-64', 'thumb-256', 'thumb-1024']);
    expect(await app.db.thumbnail.count({ where: { fileId: id } })).toBe(3);
    expect(await app.countObjects()).toBe(objectsBefore);
  });
});

// The scheduled housekeeping, run the way the schedule runs it: one task per job.
describe('lifecycle sweep', () => {
  let app: TestApp;
  let token: string;
  const run = (task: 'expire-temporary' | 'abandoned-uploads' | 'purge-deleted' | 'collect-orphans') =>
    app.get<LifecycleSweepJob>(LifecycleSweepJob).handle({ task });
  const daysAgo = (days: number) => new Date(Date.now() - days * 24 * 3600 * 1000);

  beforeAll(async () => {
    app = await startTestApp({ ABANDONED_UPLOAD_HOURS: '24', SOFT_DELETE_RETENTION_DAYS: '30', ORPHAN_MIN_AGE_SECONDS: '2' });
    token = app.token({ sub: 'lena', org: 'sweep' });
  });
  afterAll(() => app?.close());

  it('fails uploads abandoned longer than ABANDONED_UPLOAD_HOURS and leaves recent ones alone', async () => {
    const intent = async () => {
      const res = await fetch(`${app.url}/api/files`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ originalFilename: 'never-sent.pdf', fileTypeId: '00000000-0000-4000-8000-000000000003' }),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    const old = await intent();
    const recent = await intent();
    await app.db.file.update({ where: { id: old }, data: { createdAt: new Date(Date.now() - 25 * 3600 * 1000) } });

    expect(await run('abandoned-uploads')).toEqual({ status: 'succeeded', detail: '1 abandoned upload(s) failed' });
    expect(await app.waitForStatus(old, token, ['FAILED'])).toMatchObject({ failureReason: 'Upload abandoned: no bytes confirmed within 24 h' });
    expect((await app.waitForStatus(recent, token, ['UPLOADING', 'FAILED'])).status).toBe('UPLOADING');
    expect(await run('abandoned-uploads')).toEqual({ status: 'skipped', detail: '0 abandoned upload(s) failed' });
  });

  it('purges soft-deleted files past the retention with their bytes and thumbnails, and keeps younger ones', async () => {
    const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#00aa00' } }).png().toBuffer();
    const purged = await upload(app, token, png, 'old.png');
    const kept = await upload(app, token, Buffer.from('deleted yesterday'), 'young.txt');
    await app.waitForStatus(purged.id, token, ['READY']);
    await app.waitForStatus(kept.id, token, ['READY']);
    const storage = app.get<StorageDriver>(STORAGE_DRIVER);
    const keysOf = async (id: string) => {
      const row = await app.db.file.findUniqueOrThrow({ where: { id }, include: { thumbnails: true } });
      return [row.storageKey, ...row.thumbnails.map((t) => t.storageKey)];
    };
    const purgedKeys = await keysOf(purged.id);
    const keptKeys = await keysOf(kept.id);
    expect(purgedKeys).toHaveLength(4);
    await app.db.file.update({ where: { id: purged.id }, data: { deletedAt: daysAgo(31) } });
    await app.db.file.update({ where: { id: kept.id }, data: { deletedAt: daysAgo(1) } });

    expect(await run('purge-deleted')).toEqual({ status: 'succeeded', detail: '1 file(s) purged, 4 object(s) removed' });
    expect(await app.db.file.findUnique({ where: { id: purged.id } })).toBeNull();
    expect(await app.db.thumbnail.count({ where: { fileId: purged.id } })).toBe(0);
    // The original and its three thumbnails are gone from storage; the younger file keeps its bytes.
    for (const key of purgedKeys) expect(await storage.head(key)).toBeNull();
    for (const key of keptKeys) expect(await storage.head(key)).not.toBeNull();
    expect(await app.db.file.findUnique({ where: { id: kept.id } })).not.toBeNull();
  });

  it('collects objects no record references once they are older than ORPHAN_MIN_AGE_SECONDS, and nothing else', async () => {
    const storage = app.get<StorageDriver>(STORAGE_DRIVER);
    const live = await upload(app, token, Buffer.from('a file with a record'), 'live.txt');
    await app.waitForStatus(live.id, token, ['READY']);
    const { storageKey: liveKey } = await app.db.file.findUniqueOrThrow({ where: { id: live.id } });
    // Bytes left behind without a record (a crash between the write and the transaction), and one foreign object.
    const orphan = StorageLocator.originalKey('sweep', 'crashed-upload');
    const orphanThumb = StorageLocator.derivedKey(orphan, 'thumb-64');
    const foreign = 'backups/not-ours.bin';
    for (const key of [orphan, orphanThumb, foreign]) await storage.put(key, Buffer.from(`bytes of ${key}`));

    // Too young: an upload could still be committing them.
    expect(await run('collect-orphans')).toMatchObject({ status: 'skipped' });
    expect(await storage.head(orphan)).not.toBeNull();

    // Past the minimum age plus the second of slack storage timestamps get (S3's Last-Modified has whole seconds).
    await new Promise((r) => setTimeout(r, 3500));
    const outcome = await run('collect-orphans');
    expect(outcome).toMatchObject({ status: 'succeeded' });
    expect(outcome.detail).toMatch(/, 2 unreferenced object\(s\) removed$/);
    expect(await storage.head(orphan)).toBeNull();
    expect(await storage.head(orphanThumb)).toBeNull();
    expect(await storage.head(liveKey)).not.toBeNull();
    expect(await storage.head(foreign)).not.toBeNull();
    expect((await fetch(`${app.url}/files/${live.id}/download-url`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('expires temporary files past their time, which the next purge removes', async () => {
    const temp = await upload(app, token, Buffer.from('a temporary upload'), 'temp.txt');
    await app.waitForStatus(temp.id, token, ['READY']);
    const { storageKey } = await app.db.file.findUniqueOrThrow({ where: { id: temp.id } });
    await app.db.file.update({ where: { id: temp.id }, data: { temporaryUntil: daysAgo(1) } });

    expect(await run('expire-temporary')).toEqual({ status: 'succeeded', detail: '1 temporary file(s) expired' });
    expect((await fetch(`${app.url}/files/${temp.id}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    expect(await run('purge-deleted')).toMatchObject({ status: 'succeeded', detail: '1 file(s) purged, 1 object(s) removed' });
    expect(await app.db.file.findUnique({ where: { id: temp.id } })).toBeNull();
    expect(await app.get<StorageDriver>(STORAGE_DRIVER).head(storageKey)).toBeNull();
  });
});

describe('reprocessing (admin)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app?.close());

  it('retries a FAILED file through the API once its cause is fixed; only admins may', async () => {
    const owner = app.token({ sub: 'ron', org: 'retry' });
    const admin = app.token({ sub: 'root', org: 'retry', role: 'admin' });
    const service = app.token({ sub: 'backend', org: 'retry', role: 'service' });
    const stranger = app.token({ sub: 'root', org: 'elsewhere', role: 'admin' });
    const bytes = await sharp({ create: { width: 120, height: 90, channels: 3, background: '#0000ff' } }).png().toBuffer();
    const { id } = await upload(app, owner, bytes, 'retry.png');
    await app.waitForStatus(id, owner, ['READY']);
    // The stored object goes missing behind the service's back; a re-run of the work fails for good.
    const row = await app.db.file.findUniqueOrThrow({ where: { id } });
    const storage = app.get<StorageDriver>(STORAGE_DRIVER);
    await storage.delete(row.storageKey);
    const post = (token: string) => fetch(`${app.url}/files/${id}/reprocess`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });

    expect((await post(admin)).status).toBe(202);
    expect(await app.waitForStatus(id, owner, ['FAILED'])).toMatchObject({ failureReason: 'The uploaded object is missing from storage' });

    const refused = await post(service);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { message: string }).message).toBe('Reprocessing files needs an admin token');
    expect((await post(owner)).status).toBe(403);
    expect((await post(stranger)).status).toBe(404);

    // The bytes are back (restored from a backup, say): the retry succeeds.
    await storage.put(row.storageKey, Readable.from([bytes]));
    const retried = await post(admin);
    expect(retried.status).toBe(202);
    expect(((await retried.json()) as { status: string }).status).toBe('PROCESSING');
    expect(await app.waitForStatus(id, owner, ['READY', 'FAILED'])).toMatchObject({ status: 'READY', failureReason: null, width: 120, height: 90 });
  });
});

describe('on-demand previews', () => {
  let app: TestApp;
  let token: string;
  let imageId: string;

  beforeAll(async () => {
    app = await startTestApp();
    token = app.token({ sub: 'pia', org: 'previews' });
    const png = await sharp({ create: { width: 600, height: 400, channels: 3, background: '#3366cc' } }).png().toBuffer();
    imageId = (await upload(app, token, png, 'poster.png')).id;
    await app.waitForStatus(imageId, token, ['READY']);
  });
  afterAll(() => app?.close());

  const get = (id: string, query: string, headers: Record<string, string> = {}) =>
    fetch(`${app.url}/files/${id}/preview?${query}`, { headers: { authorization: `Bearer ${token}`, ...headers } });

  it('renders a preview once, keeps it as a derived object, and serves the stored bytes after', async () => {
    const objects = await app.countObjects();
    const first = await get(imageId, 'w=150');
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('image/webp');
    expect(first.headers.get('x-preview-cache')).toBe('miss');
    expect(first.headers.get('content-disposition')).toContain('poster-preview.webp');
    const bytes = Buffer.from(await first.arrayBuffer());
    expect(await sharp(bytes).metadata()).toMatchObject({ format: 'webp', width: 150, height: 100 });
    expect(await app.countObjects()).toBeGreaterThan(objects);

    const second = await get(imageId, 'w=150');
    expect(second.headers.get('x-preview-cache')).toBe('hit');
    expect(Buffer.from(await second.arrayBuffer()).equals(bytes)).toBe(true);
    const etag = second.headers.get('etag')!;
    expect((await get(imageId, 'w=150', { 'if-none-match': etag })).status).toBe(304);
    // Previews are not thumbnails: the file still lists its three.
    const file = (await (await fetch(`${app.url}/files/${imageId}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { thumbnails?: unknown[] };
    if (file.thumbnails) expect(file.thumbnails).toHaveLength(3);
    expect(await app.db.thumbnail.count({ where: { fileId: imageId, variant: { startsWith: 'thumb-' } } })).toBe(3);
  });

  it('crops with fit=cover and encodes JPEG or PNG', async () => {
    const jpeg = await get(imageId, 'w=64&h=64&fit=cover&format=jpeg');
    expect(jpeg.status).toBe(200);
    expect(await sharp(Buffer.from(await jpeg.arrayBuffer())).metadata()).toMatchObject({ format: 'jpeg', width: 64, height: 64 });
    const png = await get(imageId, 'h=40&format=png');
    expect(await sharp(Buffer.from(await png.arrayBuffer())).metadata()).toMatchObject({ format: 'png', width: 60, height: 40 });
  });

  it('refuses bad sizes, formats and files with a message', async () => {
    for (const [query, pattern] of [
      ['', /w \(width\) or h/],
      ['w=0', /from 1 to 4096/],
      ['w=5000', /from 1 to 4096/],
      ['w=abc', /whole number/],
      ['w=10&format=gif', /format must be/],
      ['w=10&fit=squash', /fit must be/],
    ] as const) {
      const res = await get(imageId, query);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(((await res.json()) as { message: string }).message).toMatch(pattern);
    }
    const pdf = await upload(app, token, classicPdf(2), 'two.pdf');
    await app.waitForStatus(pdf.id, token, ['READY']);
    expect((await get(pdf.id, 'w=100')).status).toBe(415);
    const stranger = app.token({ sub: 'sam', org: 'elsewhere' });
    const foreign = await fetch(`${app.url}/files/${imageId}/preview?w=100`, { headers: { authorization: `Bearer ${stranger}` } });
    expect(foreign.status).toBe(404);
  });
});
