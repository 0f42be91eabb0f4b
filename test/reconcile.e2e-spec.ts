import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { LifecycleSweepJob, ReconcileKeySpaces, type ReconcileReport } from '@app/files';
import { S3StorageDriver, STORAGE_DRIVER, StorageLocator, type StorageDriver } from '@app/storage';
import { waitForStartupSweeps } from './support/startup-sweeps';
import { CLI, runCli } from './support/cli';
import { startTestApp, type TestApp } from './support/test-app';
import { uploadFile } from './support/upload';

// The reconciler: every kind of inconsistency made by hand behind the service's back, then the admin command's
// dry run, the CLI's repair, and a clean report. Both profiles (local disk and MinIO).

async function reconcile(app: TestApp, token: string, repair: boolean): Promise<{ status: number; body: ReconcileReport & { message?: string } }> {
  const res = await fetch(`${app.url}/admin/reconcile`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ repair }),
  });
  return { status: res.status, body: (await res.json()) as ReconcileReport & { message?: string } };
}

function counts(report: ReconcileReport): Record<string, number> {
  return Object.fromEntries(Object.entries(report.findings).map(([k, v]) => [k, v.count]));
}

describe('reconciler', () => {
  let app: TestApp;
  let storage: StorageDriver;
  let admin: string;
  let user: string;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`Build first (npm run build): ${CLI} is missing`);
    // One second (plus the reconciler's second of timestamp slack): the test makes its inconsistencies, sees them
    // deferred as too young, then waits.
    app = await startTestApp({ ORPHAN_MIN_AGE_SECONDS: '1', ABANDONED_UPLOAD_HOURS: '24', SOFT_DELETE_RETENTION_DAYS: '0' });
    storage = app.get<StorageDriver>(STORAGE_DRIVER);
    admin = app.token({ sub: 'root', org: 'ops', role: 'admin' });
    user = app.token({ sub: 'rita', org: 'recon' });
    await waitForStartupSweeps(app);
  });
  afterAll(() => app?.close());

  it('finds each kind of inconsistency, repairs them (records FAILED, never deleted), and reports clean after', async () => {
    const baseline = await reconcile(app, admin, false);
    expect(baseline.status).toBe(200);
    expect(baseline.body.total).toBe(0);

    // 1. A READY file whose object was deleted behind the API's back.
    const lost = await uploadFile(app, user, randomBytes(2048), 'lost.bin');
    await app.waitForStatus(lost, user, ['READY']);
    const lostRow = await app.db.file.findUniqueOrThrow({ where: { id: lost } });
    await storage.delete(lostRow.storageKey);

    // 2. A stray object no record points at, and a foreign one outside the service's key spaces.
    const stray = StorageLocator.originalKey('recon', 'crashed-before-commit');
    await storage.put(stray, Buffer.from('bytes with no record'));
    const foreign = 'backups/not-ours.bin';
    await storage.put(foreign, Buffer.from('somebody else'));

    // 3. A thumbnail of a purged file: the purge removed file and thumbnails, then a late job wrote one again.
    const image = await sharp({ create: { width: 320, height: 200, channels: 3, background: '#2040a0' } }).png().toBuffer();
    const purged = await uploadFile(app, user, image, 'purged.png');
    await app.waitForStatus(purged, user, ['READY']);
    const purgedRow = await app.db.file.findUniqueOrThrow({ where: { id: purged } });
    await app.db.file.update({ where: { id: purged }, data: { deletedAt: new Date(Date.now() - 1000) } });
    await app.get<LifecycleSweepJob>(LifecycleSweepJob).handle({ task: 'purge-deleted' });
    expect(await app.db.file.findUnique({ where: { id: purged } })).toBeNull();
    const lateThumb = StorageLocator.derivedKey(purgedRow.storageKey, 'thumb-64');
    await storage.put(lateThumb, Buffer.from('a thumbnail nobody will ever serve'));

    // 4. A live image whose thumbnail object vanished (its row stays).
    const thumbed = await uploadFile(app, user, await sharp({ create: { width: 300, height: 300, channels: 3, background: '#a02040' } }).png().toBuffer(), 'thumbed.png');
    await app.waitForStatus(thumbed, user, ['READY']);
    const [gone] = await app.db.thumbnail.findMany({ where: { fileId: thumbed }, orderBy: { variant: 'asc' } });
    await storage.delete(gone!.storageKey);

    // 5. Upload intents: one past ABANDONED_UPLOAD_HOURS, one still within it.
    const intent = async () => {
      const res = await fetch(`${app.url}/api/files`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user}`, 'content-type': 'application/json' },
        body: JSON.stringify({ originalFilename: 'never-sent.pdf', fileTypeId: '00000000-0000-4000-8000-000000000003' }),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    const stale = await intent();
    const fresh = await intent();
    await app.db.file.update({ where: { id: stale }, data: { createdAt: new Date(Date.now() - 25 * 3600_000) } });

    // 6. An incomplete upload: an S3 multipart upload with one part and no completion, or a partial temp file.
    let multipart: { key: string; uploadId: string } | undefined;
    if (storage instanceof S3StorageDriver) {
      const key = StorageLocator.originalKey('recon', 'multipart-left-behind');
      const bucket = app.config.storage.driver === 's3' ? app.config.storage.bucket : '';
      const created = await storage.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      await storage.client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId, PartNumber: 1, Body: randomBytes(1024) }));
      multipart = { key, uploadId: created.UploadId! };
    } else {
      const root = app.config.storage.driver === 'local' ? app.config.storage.root : '';
      await mkdir(join(root, '.tmp'), { recursive: true });
      await writeFile(join(root, '.tmp', '0b8ee7cf-5b55-4f4a-9e4e-0c1d4c7a2f11'), randomBytes(4096));
    }

    // Right away: the bytes with no record are too young to judge (an upload may be committing them).
    const young = await reconcile(app, admin, false);
    expect(young.body.findings.orphanObjects).toMatchObject({ count: 0, deferred: 1 });
    expect(young.body.findings.orphanDerived).toMatchObject({ count: 0, deferred: 1 });
    expect(young.body.findings.incompleteUploads).toMatchObject({ count: 0, deferred: 1 });
    await new Promise((r) => setTimeout(r, 2100));

    // Only admins may ask.
    const refused = await reconcile(app, user, false);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/admin/);
    const badBody = await fetch(`${app.url}/admin/reconcile`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ repair: 'yes' }),
    });
    expect(badBody.status).toBe(400);

    // The dry run finds each one and changes nothing.
    const dry = await reconcile(app, admin, false);
    expect(dry.status).toBe(200);
    expect(counts(dry.body)).toEqual({ orphanObjects: 1, orphanDerived: 1, missingObjects: 1, missingDerived: 1, staleUploads: 1, incompleteUploads: 1 });
    expect(dry.body.total).toBe(6);
    expect(dry.body.findings.orphanObjects.sample).toEqual([stray]);
    expect(dry.body.findings.orphanDerived.sample).toEqual([lateThumb]);
    expect(dry.body.findings.missingObjects.sample).toEqual([lost]);
    expect(dry.body.findings.missingDerived.sample).toEqual([gone!.storageKey]);
    expect(dry.body.findings.staleUploads).toMatchObject({ sample: [stale], deferred: 1 });
    if (multipart) expect(dry.body.findings.incompleteUploads.sample).toEqual([`${multipart.key} upload ${multipart.uploadId}`]);
    expect(Object.values(dry.body.findings).every((f) => f.repaired === 0)).toBe(true);
    expect(await storage.head(stray)).not.toBeNull();
    expect((await app.db.file.findUniqueOrThrow({ where: { id: lost } })).status).toBe('READY');

    // The CLI: a readable table; exit code 5 while inconsistencies remain.
    const env = { FILEHUB_URL: app.url, FILEHUB_TOKEN: admin };
    const table = await runCli(['reconcile'], env, { columns: 160 });
    expect(table.stderr).toBe('');
    expect(table.code).toBe(5);
    expect(table.stdout).toMatch(/records with no object\s+1\s+0\s+0\s+/);
    expect(table.stdout).toContain('6 inconsistencies found (dry run: run with --repair to fix)');
    expect((await runCli(['reconcile'], { ...env, FILEHUB_TOKEN: user }, { columns: 160 })).code).toBe(2);

    // Repair through the CLI.
    const repaired = await runCli(['--json', 'reconcile', '--repair'], env, { columns: 160 });
    expect(repaired.code).toBe(0);
    const report = JSON.parse(repaired.stdout) as ReconcileReport;
    expect(report.repair).toBe(true);
    expect(Object.fromEntries(Object.entries(report.findings).map(([k, v]) => [k, v.repaired]))).toEqual(counts(dry.body));

    // Bytes with no record are gone; the foreign object stays; records are kept, marked FAILED with the reason.
    expect(await storage.head(stray)).toBeNull();
    expect(await storage.head(lateThumb)).toBeNull();
    expect(await storage.head(foreign)).not.toBeNull();
    expect(await app.waitForStatus(lost, user, ['FAILED'])).toMatchObject({ failureReason: 'The stored bytes of this file are missing (found by the reconciler)' });
    expect(await app.waitForStatus(stale, user, ['FAILED'])).toMatchObject({ failureReason: 'Upload abandoned: no bytes confirmed within 24 h' });
    expect((await app.waitForStatus(fresh, user, ['UPLOADING', 'FAILED'])).status).toBe('UPLOADING');
    expect(await app.db.thumbnail.findUnique({ where: { id: gone!.id } })).toBeNull();
    expect(await app.db.thumbnail.count({ where: { fileId: thumbed } })).toBe(app.config.media.thumbnailSizes.length - 1);
    if (multipart && storage instanceof S3StorageDriver) {
      const bucket = app.config.storage.driver === 's3' ? app.config.storage.bucket : '';
      const left = await storage.client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      expect((left.Uploads ?? []).map((u) => u.UploadId)).not.toContain(multipart.uploadId);
    }
    for (const id of [thumbed]) expect((await app.db.file.findUniqueOrThrow({ where: { id } })).status).toBe('READY');

    // And then: consistent. The CLI says so and exits 0.
    const clean = await reconcile(app, admin, false);
    expect(clean.body.total).toBe(0);
    const after = await runCli(['reconcile'], env, { columns: 160 });
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('consistent: no object without a record, no record without an object');
    if (multipart) {
      // Idempotent: aborting an upload that is already gone succeeds.
      await storage.abortIncompleteUpload({ key: multipart.key, uploadId: multipart.uploadId, initiated: new Date() });
    }
  });

  it('expects no bytes of an epilot entity made of a custom_download_url alone', async () => {
    const res = await fetch(`${app.url}/v2/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user}`, 'content-type': 'application/json' },
      body: JSON.stringify({ custom_download_url: 'https://example.com/elsewhere.pdf', filename: 'elsewhere.pdf' }),
    });
    expect(res.status).toBe(200);
    const id = ((await res.json()) as { _id: string })._id;
    await new Promise((r) => setTimeout(r, 2100));
    const report = await reconcile(app, admin, true);
    expect(report.body.findings.missingObjects.count).toBe(0);
    expect(await app.db.file.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'READY', failureReason: null });
  });

  it('leaves keys of registered in-flight key spaces alone until their allowance has passed', async () => {
    const spaces = app.get<ReconcileKeySpaces>(ReconcileKeySpaces);
    expect(() => spaces.register({ prefix: 'objects/tus/', owner: 'test' })).toThrow(/overlaps/);
    expect(() => spaces.register({ prefix: 'Uploads', owner: 'test' })).toThrow(/prefix ending in/);
    spaces.register({ prefix: 'inflight/test/', owner: 'test', abandonAfterSeconds: 3600 });
    const key = 'inflight/test/part-1';
    await storage.put(key, Buffer.from('an upload in progress'));
    await new Promise((r) => setTimeout(r, 2100));
    const report = await reconcile(app, admin, true);
    // Older than ORPHAN_MIN_AGE_SECONDS but within its key space's hour: deferred, untouched.
    expect(report.body.findings.orphanObjects).toMatchObject({ count: 0, deferred: 1 });
    expect(await storage.head(key)).not.toBeNull();
    await storage.delete(key);
  });
});
