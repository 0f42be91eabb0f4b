import { createHash, randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { LifecycleSweepJob } from '@app/files';
import { PROFILE, startTestApp, type TestApp } from './support/test-app';

const MiB = 1024 * 1024;

async function json(res: Response): Promise<{ status: number; body: Record<string, unknown> }> {
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function api(app: TestApp, token: string) {
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${app.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(json);
  return {
    create: (body: Record<string, unknown>) => call('POST', '/files/multipart', body),
    sign: (fileId: string, partNumbers: number[]) => call('POST', `/files/multipart/${fileId}/parts`, { partNumbers }),
    complete: (fileId: string, parts: { partNumber: number; etag: string }[]) => call('POST', `/files/multipart/${fileId}/complete`, { parts }),
    abort: (fileId: string) => call('DELETE', `/files/multipart/${fileId}`),
  };
}

// Without S3 there is nothing to upload straight to: every route says so.
(PROFILE === 'embedded' ? describe : describe.skip)('S3 multipart uploads on the local driver (embedded)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app?.close());

  it('answers 400 explaining that multipart direct uploads need S3 storage, and stores nothing', async () => {
    const client = api(app, app.token({ sub: 'max', org: 'mp' }));
    const created = await client.create({ filename: 'a.bin', size: 10 * MiB });
    expect(created).toMatchObject({ status: 400, body: { message: expect.stringContaining('Multipart direct uploads need S3 storage (STORAGE_DRIVER=s3)') } });
    expect(await app.db.file.count()).toBe(0);
    expect(await app.countObjects()).toBe(0);
  });
});

// Pre-signed part URLs are S3's: these run against MinIO in the full profile only (the embedded profile stores on
// local disk, which has no multipart API; the suite above checks its refusal).
(PROFILE === 'full' ? describe : describe.skip)('S3 multipart uploads with pre-signed part URLs (full profile, MinIO)', () => {
  let app: TestApp;
  let token: string;
  let s3: S3Client;
  const pendingUploads = async () => {
    if (app.config.storage.driver !== 's3') throw new Error('full profile only');
    const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket: app.config.storage.bucket }));
    return (listed.Uploads ?? []).length;
  };
  const putPart = async (url: string, bytes: Buffer) => {
    const res = await fetch(url, { method: 'PUT', body: bytes });
    expect(res.status).toBe(200);
    return res.headers.get('etag')!;
  };

  beforeAll(async () => {
    app = await startTestApp();
    token = app.token({ sub: 'max', org: 'mp' });
    if (app.config.storage.driver !== 's3') throw new Error('full profile only');
    const storage = app.config.storage;
    s3 = new S3Client({ endpoint: storage.endpoint, region: storage.region, forcePathStyle: storage.forcePathStyle, credentials: { accessKeyId: storage.accessKeyId, secretAccessKey: storage.secretAccessKey } });
  });
  afterAll(() => app?.close());

  it('uploads 3 parts through pre-signed URLs; the file becomes READY with the right SHA-256', async () => {
    const client = api(app, token);
    const bytes = randomBytes(2 * 5 * MiB + 123_457);
    const created = await client.create({ filename: 'three-parts.bin', contentType: 'application/octet-stream', size: bytes.length, partSize: 5 * MiB });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ partSize: 5 * MiB, partCount: 3, uploadId: expect.any(String), fileId: expect.any(String) });
    const fileId = created.body.fileId as string;
    // The file exists from the start, UPLOADING.
    expect(await app.waitForStatus(fileId, token, ['UPLOADING'])).toMatchObject({ name: 'three-parts.bin' });

    const signed = await client.sign(fileId, [1, 2, 3]);
    expect(signed.status).toBe(200);
    const urls = signed.body.parts as { partNumber: number; url: string }[];
    expect(urls.map((p) => p.partNumber)).toEqual([1, 2, 3]);
    const etags = await Promise.all(urls.map((p) => putPart(p.url, bytes.subarray((p.partNumber - 1) * 5 * MiB, p.partNumber * 5 * MiB))));

    // A missing part, a wrong etag: 400 with a message, nothing completed.
    expect(await client.complete(fileId, [{ partNumber: 1, etag: etags[0]! }, { partNumber: 2, etag: etags[1]! }])).toMatchObject({
      status: 400,
      body: { message: 'Part 3 of 3 is missing from parts' },
    });
    expect(await client.complete(fileId, [1, 2, 3].map((n) => ({ partNumber: n, etag: n === 2 ? '"0000"' : etags[n - 1]! })))).toMatchObject({
      status: 400,
      body: { message: expect.stringContaining('Part 2: the etag') },
    });

    const completed = await client.complete(fileId, [1, 2, 3].map((n) => ({ partNumber: n, etag: etags[n - 1]! })));
    expect(completed.status).toBe(200);
    expect(completed.body).toMatchObject({ id: fileId, status: expect.stringMatching(/PROCESSING|READY/) });
    const file = await app.waitForStatus(fileId, token, ['READY', 'FAILED']);
    expect(file).toMatchObject({ status: 'READY', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    expect(await app.countObjects()).toBe(1);
    expect(await pendingUploads()).toBe(0);
    // Over: the upload is gone, the file stays.
    expect(await client.sign(fileId, [1])).toMatchObject({ status: 404, body: { message: `Multipart upload ${fileId} was not found` } });

    // An upload row left behind by an outage after completion: aborting it, or the stale sweep, never takes the
    // bytes of the file it became.
    const row = { fileId, uploadId: created.body.uploadId as string, partSize: 5 * MiB, partCount: 3, size: BigInt(bytes.length) };
    await app.db.multipartUpload.create({ data: row });
    expect((await client.abort(fileId)).status).toBe(204);
    expect(await app.waitForStatus(fileId, token, ['READY'])).toMatchObject({ sha256: createHash('sha256').update(bytes).digest('hex') });
    expect(await app.countObjects()).toBe(1);
  });

  it('checks size limits and quotas at creation (413), names and part layouts (400); only the owner sees an upload (404)', async () => {
    const client = api(app, token);
    const tooLarge = await client.create({ filename: 'huge.bin', size: app.config.uploads.maxBytes + 1 });
    expect(tooLarge).toMatchObject({ status: 413, body: { message: `File is larger than the maximum of ${app.config.uploads.maxBytes} bytes` } });
    const admin = app.token({ sub: 'root', role: 'admin' });
    await fetch(`${app.url}/quotas/user/mona`, { method: 'PUT', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ maxBytes: 6 * MiB }) });
    const mona = api(app, app.token({ sub: 'mona', org: 'mp' }));
    expect(await mona.create({ filename: 'big.bin', size: 7 * MiB })).toMatchObject({ status: 413, body: { code: 'QUOTA_EXCEEDED', message: expect.stringContaining('Quota exceeded: user mona') } });
    expect(await client.create({ filename: '../x', size: 10 })).toMatchObject({ status: 400, body: { message: 'filename must be a name, not a path (no / or \\)' } });
    expect(await client.create({ filename: 'x', size: 10, partSize: MiB })).toMatchObject({ status: 400, body: { field: 'partSize' } });

    const created = await client.create({ filename: 'private.bin', size: 6 * MiB });
    const fileId = created.body.fileId as string;
    expect(created.body).toMatchObject({ partCount: 1 });
    for (const other of [app.token({ sub: 'max', org: 'other-org' }), app.token({ sub: 'mia', org: 'mp' })]) {
      const stranger = api(app, other);
      expect((await stranger.sign(fileId, [1])).status).toBe(404);
      expect((await stranger.complete(fileId, [{ partNumber: 1, etag: '"x"' }])).status).toBe(404);
      expect((await stranger.abort(fileId)).status).toBe(404);
    }
    expect(await client.sign(fileId, [2])).toMatchObject({ status: 400, body: { message: 'Part 2 does not exist: this upload has parts 1 to 1' } });
    expect((await client.abort(fileId)).status).toBe(204);
  });

  it('abort removes the parts, the upload and the record', async () => {
    const client = api(app, token);
    const objects = await app.countObjects();
    const created = await client.create({ filename: 'given-up.bin', size: 6 * MiB, partSize: 5 * MiB });
    const fileId = created.body.fileId as string;
    const [part] = (await client.sign(fileId, [1])).body.parts as { url: string }[];
    await putPart(part!.url, randomBytes(5 * MiB));
    expect(await pendingUploads()).toBe(1);

    expect((await client.abort(fileId)).status).toBe(204);
    expect(await pendingUploads()).toBe(0);
    expect(await app.db.file.findUnique({ where: { id: fileId } })).toBeNull();
    expect((await fetch(`${app.url}/files/${fileId}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    expect((await client.abort(fileId)).status).toBe(404);
    expect(await app.countObjects()).toBe(objects);
  });

  it('the lifecycle sweep aborts incomplete uploads older than RESUMABLE_UPLOAD_TTL_SECONDS and removes their records', async () => {
    const client = api(app, token);
    const objects = await app.countObjects();
    const stale = (await client.create({ filename: 'stale.bin', size: 6 * MiB, partSize: 5 * MiB })).body.fileId as string;
    const [part] = (await client.sign(stale, [1])).body.parts as { url: string }[];
    await putPart(part!.url, randomBytes(5 * MiB));
    const recent = (await client.create({ filename: 'recent.bin', size: 6 * MiB })).body.fileId as string;
    expect(await pendingUploads()).toBe(2);
    const longAgo = new Date(Date.now() - (app.config.resumable.ttlSeconds + 60) * 1000);
    await app.db.multipartUpload.update({ where: { fileId: stale }, data: { createdAt: longAgo } });
    await app.db.file.update({ where: { id: stale }, data: { createdAt: longAgo } });

    const sweep = app.get<LifecycleSweepJob>(LifecycleSweepJob);
    // The sweep of abandoned direct uploads leaves multipart uploads to their own expiry.
    expect(await sweep.handle({ task: 'abandoned-uploads' })).toMatchObject({ status: 'skipped' });
    expect(await sweep.handle({ task: 'abort-stale-multipart' })).toEqual({ status: 'succeeded', detail: '1 stale multipart upload(s) aborted' });
    expect(await app.db.file.findUnique({ where: { id: stale } })).toBeNull();
    expect(await pendingUploads()).toBe(1);
    expect(await app.db.multipartUpload.findUnique({ where: { fileId: recent } })).not.toBeNull();
    expect(await sweep.handle({ task: 'abort-stale-multipart' })).toEqual({ status: 'skipped', detail: '0 stale multipart upload(s) aborted' });

    expect((await client.abort(recent)).status).toBe(204);
    expect(await pendingUploads()).toBe(0);
    expect(await app.countObjects()).toBe(objects);
  });
});
