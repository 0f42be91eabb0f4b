import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { request } from 'node:http';
import Redis from 'ioredis';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import * as tus from 'tus-js-client';
import { LifecycleSweepJob } from '@app/files';
import { expectConsistent } from './support/consistency';
import { waitForStartupSweeps } from './support/startup-sweeps';
import { freePort, PROFILE, startTestApp, type TestApp } from './support/test-app';

const MiB = 1024 * 1024;
const TUS = '/api/files/tus';

/** tus metadata: comma-separated `key base64(value)` pairs. */
function metadata(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
    .join(',');
}

/**
 * What tus keeps for uploads in progress: files under DATA_DIR/tus (local driver), or objects under `tus/` and
 * multipart uploads in the bucket (S3). Empty once every upload is finished, terminated or expired.
 */
async function tusLeftovers(app: TestApp): Promise<string[]> {
  const storage = app.config.storage;
  if (storage.driver === 'local') {
    const dir = join(app.config.dataDir, 'tus');
    if (!existsSync(dir)) return [];
    return (await readdir(dir, { withFileTypes: true, recursive: true })).filter((e) => e.isFile()).map((e) => e.name);
  }
  const client = new S3Client({
    endpoint: storage.endpoint,
    region: storage.region,
    forcePathStyle: storage.forcePathStyle,
    credentials: { accessKeyId: storage.accessKeyId, secretAccessKey: storage.secretAccessKey },
  });
  const objects = await client.send(new ListObjectsV2Command({ Bucket: storage.bucket, Prefix: 'tus/' }));
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: storage.bucket }));
  return [...(objects.Contents ?? []).map((o) => o.Key!), ...(uploads.Uploads ?? []).map((u) => `multipart:${u.Key!}`)];
}

/**
 * A TCP proxy in front of the API that cuts the connection carrying the request bytes each time the bytes sent
 * through it pass one of `cutAt` (so an upload is interrupted there), and forwards everything else unchanged.
 */
async function startCuttingProxy(port: number, target: number, cutAt: number[]): Promise<{ server: Server; cuts: () => number; close(): Promise<void> }> {
  const pending = [...cutAt].sort((a, b) => a - b);
  let forwarded = 0;
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (chunk: Buffer) => {
      forwarded += chunk.length;
      if (pending.length && forwarded >= pending[0]!) {
        pending.shift();
        cuts++;
        drop();
        return;
      }
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    upstream.pipe(client);
    client.on('end', () => upstream.end());
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    cuts: () => cuts,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Random bytes streamed to a file (never all in memory), with their SHA-256. */
async function randomFile(dir: string, bytes: number): Promise<{ path: string; sha256: string }> {
  const path = join(dir, `random-${bytes}.bin`);
  const out = createWriteStream(path);
  const hash = createHash('sha256');
  for (let written = 0; written < bytes; ) {
    const chunk = randomBytes(Math.min(MiB, bytes - written));
    hash.update(chunk);
    written += chunk.length;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { path, sha256: hash.digest('hex') };
}

/** Polls `read` until `done` holds (jobs finishing in another process), at most 30 s; returns the last value. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Uploads a file from disk with tus-js-client; resolves with the file id the final response names. */
function tusUpload(endpoint: string, token: string, path: string, size: number, options: { onRetry?: () => void; filename?: string } = {}): Promise<{ fileId: string; url: string }> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(createReadStream(path), {
      endpoint,
      uploadSize: size,
      headers: { authorization: `Bearer ${token}` },
      metadata: { filename: options.filename ?? 'big.bin', filetype: 'application/octet-stream' },
      retryDelays: [0, 200, 500, 1000, 2000],
      onShouldRetry: () => {
        options.onRetry?.();
        return true;
      },
      onError: reject,
      onSuccess: ({ lastResponse }) => resolve({ fileId: lastResponse.getHeader('Filehub-File-Id') ?? '', url: upload.url ?? '' }),
    });
    upload.start();
  });
}

describe(`tus resumable uploads (${PROFILE})`, () => {
  let app: TestApp;
  let proxy: Awaited<ReturnType<typeof startCuttingProxy>> | undefined;
  let proxyPort: number;
  let scratch: string;
  let token: string;
  const auth = (t: string) => ({ authorization: `Bearer ${t}`, 'tus-resumable': '1.0.0' });

  beforeAll(async () => {
    proxyPort = await freePort();
    // Upload URLs are built on PUBLIC_URL: the proxy's address, so every request of the big upload goes through it.
    app = await startTestApp({ MAX_UPLOAD_BYTES: String(400 * MiB), PUBLIC_URL: `http://127.0.0.1:${proxyPort}` });
    scratch = await mkdtemp(join(tmpdir(), 'filehub-tus-'));
    token = app.token({ sub: 'tina', org: 'tus-org' });
  });
  afterAll(async () => {
    await proxy?.close();
    await app?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const create = (t: string | undefined, length: number, meta: Record<string, string> = { filename: 'a.txt' }) =>
    fetch(`${app.url}${TUS}`, {
      method: 'POST',
      headers: { ...(t ? { authorization: `Bearer ${t}` } : {}), 'tus-resumable': '1.0.0', 'upload-length': String(length), 'upload-metadata': metadata(meta) },
    });
  const idOf = (res: Response) => new URL(res.headers.get('location')!).pathname.split('/').pop()!;

  it('uploads 300 MB with tus-js-client through a connection cut twice midway; the stored SHA-256 matches', async () => {
    const size = 300 * 1000 * 1000;
    const source = await randomFile(scratch, size);
    // What one stored file adds to storage (the local driver keeps a metadata file beside each object).
    const reference = await app.countObjects();
    const form = new FormData();
    form.append('file', new Blob(['reference file']), 'reference.txt');
    const plain = await fetch(`${app.url}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
    expect(plain.status).toBe(201);
    const objectsBefore = await app.countObjects();
    const perFile = objectsBefore - reference;
    proxy = await startCuttingProxy(proxyPort, Number(new URL(app.url).port), [80 * MiB, 190 * MiB]);
    let retries = 0;
    const { fileId } = await tusUpload(`http://127.0.0.1:${proxyPort}${TUS}`, token, source.path, size, { onRetry: () => retries++ });
    expect(proxy.cuts()).toBe(2);
    expect(retries).toBeGreaterThanOrEqual(2);
    expect(fileId).toMatch(/^[0-9a-f-]{36}$/);

    const file = await app.waitForStatus(fileId, token, ['READY', 'FAILED'], 300_000);
    expect(file).toMatchObject({ status: 'READY', size, sha256: source.sha256, name: 'big.bin' });
    // One new object (the file's), and nothing of tus left.
    expect(await app.countObjects()).toBe(objectsBefore + perFile);
    expect(await tusLeftovers(app)).toEqual([]);

    // A HEAD after completion (a client that lost the final answer) reports it complete and names the file.
    const head = await fetch(`${app.url}${TUS}/${fileId}`, { method: 'HEAD', headers: auth(token) });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe(String(size));
    expect(head.headers.get('upload-length')).toBe(String(size));
    expect(head.headers.get('filehub-file-id')).toBe(fileId);
    await rm(source.path);
  }, 600_000);

  it('resumes from the offset HEAD reports, and identical bytes are stored once', async () => {
    const bytes = randomBytes(3 * MiB);
    const created = await create(token, bytes.length, { filename: 'twice.bin', filetype: 'application/octet-stream' });
    expect(created.status).toBe(201);
    const id = idOf(created);
    expect(created.headers.get('upload-expires')).toBeTruthy();
    const patch = (offset: number, body: Buffer) =>
      fetch(`${app.url}${TUS}/${id}`, { method: 'PATCH', headers: { ...auth(token), 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' }, body });
    const first = await patch(0, bytes.subarray(0, MiB));
    expect(first.status).toBe(204);
    expect(first.headers.get('upload-offset')).toBe(String(MiB));
    const head = await fetch(`${app.url}${TUS}/${id}`, { method: 'HEAD', headers: auth(token) });
    expect(head.headers.get('upload-offset')).toBe(String(MiB));
    // A wrong offset is a conflict, in our JSON.
    const wrong = await patch(0, bytes.subarray(0, 10));
    expect(wrong.status).toBe(409);
    expect(await wrong.json()).toMatchObject({ statusCode: 409, message: expect.stringContaining('Upload-Offset') });
    const last = await patch(MiB, bytes.subarray(MiB));
    expect(last.status).toBe(204);
    expect(last.headers.get('filehub-file-id')).toBe(id);
    const file = await app.waitForStatus(id, token, ['READY', 'FAILED']);
    expect(file).toMatchObject({ status: 'READY', sha256: createHash('sha256').update(bytes).digest('hex') });
    // The final PATCH repeated (its answer was lost) is acknowledged; terminating a finished upload is refused.
    const repeated = await patch(bytes.length, Buffer.alloc(0));
    expect(repeated.status).toBe(204);
    expect(repeated.headers.get('upload-offset')).toBe(String(bytes.length));
    expect(repeated.headers.get('filehub-file-id')).toBe(id);
    const terminate = await fetch(`${app.url}${TUS}/${id}`, { method: 'DELETE', headers: auth(token) });
    expect(terminate.status).toBe(409);
    expect(await terminate.json()).toMatchObject({ message: expect.stringContaining(`it became file ${id}`) });
    // Another organization cannot learn about it either.
    expect((await fetch(`${app.url}${TUS}/${id}`, { method: 'HEAD', headers: auth(app.token({ sub: 'tina', org: 'elsewhere' })) })).status).toBe(404);

    // The same bytes again: a second file, no second object.
    const objects = await app.countObjects();
    const again = await create(token, bytes.length, { filename: 'again.bin' });
    const againId = idOf(again);
    const done = await fetch(`${app.url}${TUS}/${againId}`, { method: 'PATCH', headers: { ...auth(token), 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, body: bytes });
    expect(done.status).toBe(204);
    expect(await app.waitForStatus(againId, token, ['READY', 'FAILED'])).toMatchObject({ status: 'READY', name: 'again.bin' });
    // The staged copy is removed by a job (the worker's, in the full profile): wait for it.
    expect(await until(() => app.countObjects(), (n) => n === objects)).toBe(objects);
    expect(await tusLeftovers(app)).toEqual([]);
  });

  it('makes an empty upload a file at creation (nothing to PATCH)', async () => {
    const created = await create(token, 0, { filename: 'empty.txt' });
    expect(created.status).toBe(201);
    const id = idOf(created);
    expect(created.headers.get('filehub-file-id')).toBe(id);
    expect(await app.waitForStatus(id, token, ['READY', 'FAILED'])).toMatchObject({ status: 'READY', size: 0, name: 'empty.txt' });
    const head = await fetch(`${app.url}${TUS}/${id}`, { method: 'HEAD', headers: auth(token) });
    expect([head.status, head.headers.get('upload-offset'), head.headers.get('upload-length')]).toEqual([200, '0', '0']);
    expect(await tusLeftovers(app)).toEqual([]);
  });

  it('refuses callers without credentials (401), and hides an upload from everyone but its owner (404)', async () => {
    expect((await create(undefined, 10)).status).toBe(401);
    const created = await create(token, 10);
    const url = `${app.url}${TUS}/${idOf(created)}`;
    expect((await fetch(url, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' } })).status).toBe(401);
    for (const other of [app.token({ sub: 'tina', org: 'another-org' }), app.token({ sub: 'tom', org: 'tus-org' }), app.token({ sub: 'tina' })]) {
      const head = await fetch(url, { method: 'HEAD', headers: auth(other) });
      expect(head.status).toBe(404);
      const patch = await fetch(url, { method: 'PATCH', headers: { ...auth(other), 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, body: 'x'.repeat(10) });
      expect(patch.status).toBe(404);
      expect(await patch.json()).toMatchObject({ statusCode: 404, message: expect.stringContaining('was not found') });
      expect((await fetch(url, { method: 'DELETE', headers: auth(other) })).status).toBe(404);
    }
    // Nor through an upload of their own with the victim's id smuggled into the URL: tus would read the id from the
    // last `/` of the whole URL, query string included.
    const mallory = app.token({ sub: 'mallory', org: 'another-org' });
    const own = `${app.url}${TUS}/${idOf(await create(mallory, 10))}`;
    const smuggled = `${own}?x=/${idOf(created)}`;
    const write = await fetch(smuggled, { method: 'PATCH', headers: { ...auth(mallory), 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, body: 'EVIL!EVIL!' });
    expect(write.headers.get('filehub-file-id')).not.toBe(idOf(created));
    expect((await fetch(smuggled, { method: 'DELETE', headers: auth(mallory) })).status).toBeLessThan(500);
    // The owner's upload is untouched.
    const head = await fetch(url, { method: 'HEAD', headers: auth(token) });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe('0');
    expect((await fetch(url, { method: 'DELETE', headers: auth(token) })).status).toBe(204);
    expect((await fetch(url, { method: 'HEAD', headers: auth(token) })).status).toBe(404);
    expect(await tusLeftovers(app)).toEqual([]);
  });

  it('refuses at creation what cannot be stored: too large or over quota (413), a bad name (400), deferred lengths (400)', async () => {
    const tooLarge = await create(token, 400 * MiB + 1);
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ statusCode: 413, message: `File is larger than the maximum of ${400 * MiB} bytes` });
    const image = await create(token, 10, { filename: 'x.png', filetype: 'text/plain', category: 'image' });
    expect(image.status).toBe(415);

    const admin = app.token({ sub: 'root', role: 'admin' });
    const quota = await fetch(`${app.url}/quotas/user/quinn`, { method: 'PUT', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ maxBytes: 1000 }) });
    expect(quota.status).toBe(200);
    const quinn = app.token({ sub: 'quinn', org: 'tus-org' });
    const over = await create(quinn, 1001);
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ code: 'QUOTA_EXCEEDED', message: 'Quota exceeded: user quinn uses 0 of 1000 bytes' });
    const fits = await create(quinn, 1000);
    expect(fits.status).toBe(201);
    expect((await fetch(`${app.url}${TUS}/${idOf(fits)}`, { method: 'DELETE', headers: auth(quinn) })).status).toBe(204);

    for (const filename of ['../etc/passwd', 'evil\u202Etxt.exe', '']) {
      const bad = await create(token, 10, filename ? { filename } : { filetype: 'text/plain' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { message: string }).message).toMatch(/filename|file name/);
    }
    const deferred = await fetch(`${app.url}${TUS}`, { method: 'POST', headers: { ...auth(token), 'upload-defer-length': '1', 'upload-metadata': metadata({ filename: 'a' }) } });
    expect(deferred.status).toBe(400);
    expect(await deferred.json()).toMatchObject({ message: expect.stringContaining('Upload-Length is required') });
    expect((await fetch(`${app.url}${TUS}`, { method: 'POST', headers: { ...auth(token), 'upload-length': '10', 'upload-metadata': 'filename !!!' } })).status).toBe(400);
  });

  it('removes unfinished uploads once they expire (lifecycle sweep)', async () => {
    const created = await create(token, 2 * MiB, { filename: 'abandoned.bin' });
    const id = idOf(created);
    const patch = await fetch(`${app.url}${TUS}/${id}`, { method: 'PATCH', headers: { ...auth(token), 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, body: randomBytes(MiB) });
    expect(patch.status).toBe(204);
    const fresh = idOf(await create(token, 5, { filename: 'fresh.txt' }));
    expect((await tusLeftovers(app)).length).toBeGreaterThan(0);

    await app.db.resumableUpload.update({ where: { id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await app.get<LifecycleSweepJob>(LifecycleSweepJob).handle({ task: 'expire-resumable' })).toEqual({ status: 'succeeded', detail: '1 expired resumable upload(s) removed' });
    expect((await fetch(`${app.url}${TUS}/${id}`, { method: 'HEAD', headers: auth(token) })).status).toBe(404);
    // The younger upload is left alone; terminating it leaves nothing.
    expect((await fetch(`${app.url}${TUS}/${fresh}`, { method: 'HEAD', headers: auth(token) })).status).toBe(200);
    expect((await fetch(`${app.url}${TUS}/${fresh}`, { method: 'DELETE', headers: auth(token) })).status).toBe(204);
    expect(await tusLeftovers(app)).toEqual([]);
  });

  it('answers tus discovery without credentials', async () => {
    const res = await fetch(`${app.url}${TUS}`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('tus-version')).toContain('1.0.0');
    expect(res.headers.get('tus-extension')).toContain('termination');
    expect(res.headers.get('tus-extension')).not.toContain('creation-defer-length');
    expect(res.headers.get('tus-max-size')).toBe(String(400 * MiB));
  });
});

/**
 * A database outage that hits the commit of the file named `filename` and nothing else: a trigger on the file table
 * makes PostgreSQL end the connection inserting it (`pg_terminate_backend` of its own backend, as an administrator or
 * a failover would). PGlite, one embedded backend that must stay up, answers with the same SQLSTATE 57P01 instead.
 * None of our code is replaced; `end()` is the database coming back.
 */
async function databaseOutageFor(app: TestApp, filename: string): Promise<{ end(): Promise<void> }> {
  const name = `tus_outage_${randomBytes(4).toString('hex')}`;
  const terminate = PROFILE === 'full' ? 'PERFORM pg_terminate_backend(pg_backend_pid());' : '';
  await app.db.$executeRawUnsafe(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW."originalFilename" = '${filename}' THEN
        ${terminate}
        RAISE EXCEPTION USING ERRCODE = '57P01', MESSAGE = 'terminating connection due to administrator command';
      END IF;
      RETURN NEW;
    END $$`);
  await app.db.$executeRawUnsafe(`CREATE TRIGGER ${name} BEFORE INSERT ON "File" FOR EACH ROW EXECUTE FUNCTION ${name}()`);
  return {
    async end() {
      await app.db.$executeRawUnsafe(`DROP TRIGGER IF EXISTS ${name} ON "File"`);
      await app.db.$executeRawUnsafe(`DROP FUNCTION IF EXISTS ${name}()`);
    },
  };
}

describe(`tus: an outage while the last byte becomes a file (${PROFILE})`, () => {
  let app: TestApp;
  let token: string;
  const headers = () => ({ authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' });
  const finalPatch = (id: string, offset: number, body: Buffer) =>
    fetch(`${app.url}${TUS}/${id}`, { method: 'PATCH', headers: { ...headers(), 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' }, body });
  const createUpload = async (filename: string, size: number) => {
    const res = await fetch(`${app.url}${TUS}`, { method: 'POST', headers: { ...headers(), 'upload-length': String(size), 'upload-metadata': metadata({ filename }) } });
    expect(res.status).toBe(201);
    return new URL(res.headers.get('location')!).pathname.split('/').pop()!;
  };
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

  beforeAll(async () => {
    app = await startTestApp();
    token = app.token({ sub: 'olga', org: 'outage-org' });
    await waitForStartupSweeps(app);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('answers the final PATCH 503 with Retry-After and keeps the bytes; tus-js-client\'s retry makes the one file', async () => {
    const filename = `outage-${randomBytes(4).toString('hex')}.bin`;
    const bytes = randomBytes(3 * MiB);
    const outage = await databaseOutageFor(app, filename);
    let refused: { status: number; retryAfter: string | undefined; body: string } | undefined;
    let duringOutage: Promise<Record<string, unknown>> | undefined;
    let uploadUrl = '';
    // tus-js-client as an application would use it: its automatic retry is the client coming back.
    const done = await new Promise<{ fileId: string | undefined; method: string }>((resolve, reject) => {
      const upload = new tus.Upload(bytes, {
        endpoint: `${app.url}${TUS}`,
        uploadSize: bytes.length,
        headers: { authorization: `Bearer ${token}` },
        metadata: { filename, filetype: 'application/octet-stream' },
        retryDelays: [200, 500, 1000, 2000, 4000, 8000],
        onShouldRetry: (error) => {
          if (!refused) {
            const response = (error as tus.DetailedError).originalResponse;
            refused = { status: response?.getStatus() ?? 0, retryAfter: response?.getHeader('Retry-After'), body: response?.getBody() ?? '' };
            uploadUrl = upload.url ?? '';
            const id = uploadUrl.split('/').pop()!;
            // While the database refuses the commit: what is (not) stored, and a HEAD, which tries again and fails.
            duringOutage = (async () => {
              const head = await fetch(uploadUrl, { method: 'HEAD', headers: headers() });
              const state = {
                files: await app.db.file.count({ where: { id } }),
                versions: await app.db.fileVersion.count({ where: { fileId: id } }),
                upload: await app.db.resumableUpload.findUnique({ where: { id }, select: { receivedAt: true, finishedAt: true } }),
                tusData: (await tusLeftovers(app)).length,
                head: [head.status, head.headers.get('retry-after')],
              };
              await outage.end();
              return state;
            })();
          }
          return true;
        },
        onError: reject,
        onSuccess: ({ lastResponse }) => resolve({ fileId: lastResponse.getHeader('Filehub-File-Id'), method: lastResponse.getUnderlyingObject()?.req?.method ?? '' }),
      });
      upload.start();
    });
    const id = uploadUrl.split('/').pop()!;

    expect(refused?.status).toBe(503);
    expect(refused?.retryAfter).toMatch(/^\d+$/);
    expect(JSON.parse(refused!.body)).toMatchObject({
      statusCode: 503,
      code: 'DATABASE_UNAVAILABLE',
      message: expect.stringMatching(new RegExp(`Upload ${id} holds all its ${bytes.length} bytes.*database is unavailable.*bytes are kept.*HEAD`)),
    });
    // Nothing half-written while it was down: no record, no version; the upload holds its bytes, received.
    expect(await duringOutage).toEqual({
      files: 0,
      versions: 0,
      upload: { receivedAt: expect.any(Date), finishedAt: null },
      tusData: expect.any(Number),
      head: [503, expect.stringMatching(/^\d+$/)],
    });
    expect(((await duringOutage) as { tusData: number }).tusData).toBeGreaterThan(0);
    // The retry (a HEAD finding every byte there) made the file and named it, as the final PATCH would have.
    expect(done).toEqual({ fileId: id, method: 'HEAD' });
    expect(await app.waitForStatus(id, token, ['READY', 'FAILED'])).toMatchObject({ status: 'READY', size: bytes.length, sha256: sha256(bytes), name: filename });
    expect(await app.db.file.count({ where: { originalFilename: filename } })).toBe(1);
    expect(await tusLeftovers(app)).toEqual([]);
    await expectConsistent(app);
  });

  it('keeps a creation-with-upload whose commit met the outage, and names it in Location to finish it there', async () => {
    const filename = `created-${randomBytes(4).toString('hex')}.bin`;
    const bytes = randomBytes(64 * 1024);
    const outage = await databaseOutageFor(app, filename);
    const created = await fetch(`${app.url}${TUS}`, {
      method: 'POST',
      headers: { ...headers(), 'upload-length': String(bytes.length), 'upload-metadata': metadata({ filename }), 'content-type': 'application/offset+octet-stream' },
      body: bytes,
    });
    expect([created.status, created.headers.get('retry-after'), created.headers.get('filehub-file-id')]).toEqual([503, expect.stringMatching(/^\d+$/), null]);
    const location = created.headers.get('location')!;
    const id = location.split('/').pop()!;
    expect(await app.db.file.count({ where: { id } })).toBe(0);
    await outage.end();
    const head = await fetch(location, { method: 'HEAD', headers: headers() });
    expect([head.status, head.headers.get('upload-offset'), head.headers.get('filehub-file-id')]).toEqual([200, String(bytes.length), id]);
    expect(await app.waitForStatus(id, token, ['READY', 'FAILED'])).toMatchObject({ status: 'READY', sha256: sha256(bytes), name: filename });
    expect(await tusLeftovers(app)).toEqual([]);
    await expectConsistent(app);
  });

  it('makes the file in the sweep when the client never comes back, and once however many finish it at the same time', async () => {
    const sweep = app.get<LifecycleSweepJob>(LifecycleSweepJob);
    const filenames = [`gone-${randomBytes(4).toString('hex')}.bin`, `raced-${randomBytes(4).toString('hex')}.bin`];
    const uploads: { id: string; bytes: Buffer }[] = [];
    for (const filename of filenames) {
      const bytes = randomBytes(256 * 1024);
      const id = await createUpload(filename, bytes.length);
      const outage = await databaseOutageFor(app, filename);
      const refused = await finalPatch(id, 0, bytes);
      expect([refused.status, refused.headers.get('retry-after')]).toEqual([503, expect.stringMatching(/^\d+$/)]);
      await outage.end();
      uploads.push({ id, bytes });
    }
    const [gone, raced] = uploads as [(typeof uploads)[number], (typeof uploads)[number]];

    // Right after the outage the sweep leaves them to their clients; received long enough ago, it finishes them.
    expect(await sweep.handle({ task: 'finish-resumable' })).toMatchObject({ status: 'skipped' });
    await app.db.resumableUpload.updateMany({ where: { id: { in: [gone.id, raced.id] } }, data: { receivedAt: new Date(Date.now() - 3600_000) } });
    expect(await app.db.file.count({ where: { id: { in: [gone.id, raced.id] } } })).toBe(0);

    // `raced`: its client's HEAD, its empty final PATCH and the sweep all at once.
    const [head, patch, swept] = await Promise.all([
      fetch(`${app.url}${TUS}/${raced.id}`, { method: 'HEAD', headers: headers() }),
      finalPatch(raced.id, raced.bytes.length, Buffer.alloc(0)),
      sweep.handle({ task: 'finish-resumable' }),
    ]);
    expect([head.status, head.headers.get('upload-offset'), head.headers.get('filehub-file-id')]).toEqual([200, String(raced.bytes.length), raced.id]);
    expect([patch.status, patch.headers.get('filehub-file-id')]).toEqual([204, raced.id]);
    expect(swept.status).toBe('succeeded');
    // `gone` is a file now too: its client, back after all, learns it from a HEAD.
    const late = await fetch(`${app.url}${TUS}/${gone.id}`, { method: 'HEAD', headers: headers() });
    expect([late.status, late.headers.get('filehub-file-id')]).toEqual([200, gone.id]);

    for (const [index, { id, bytes }] of uploads.entries()) {
      expect(await app.waitForStatus(id, token, ['READY', 'FAILED'])).toMatchObject({ status: 'READY', sha256: sha256(bytes), name: filenames[index] });
      expect(await app.db.file.count({ where: { originalFilename: filenames[index] } })).toBe(1);
      expect(await app.db.fileVersion.count({ where: { fileId: id } })).toBe(1);
    }
    expect(await sweep.handle({ task: 'finish-resumable' })).toMatchObject({ status: 'skipped' });
    expect(await tusLeftovers(app)).toEqual([]);
    await expectConsistent(app);
  });
});

// Requests of one upload may reach any replica behind a load balancer; its lock lives in Redis in the full profile.
(PROFILE === 'full' ? describe : describe.skip)('tus across two API replicas (full profile: the upload lock in Redis)', () => {
  let a: TestApp;
  let b: TestApp;
  let redis: Redis;

  beforeAll(async () => {
    a = await startTestApp();
    b = await startTestApp({ QUEUE_PREFIX: a.config.queue.prefix }, { databaseUrl: a.config.database.url, storageFrom: a.config, worker: false });
    redis = new Redis(a.config.queue.redisUrl!);
  });
  afterAll(async () => {
    redis?.disconnect();
    await b?.close({ keepDatabase: true });
    await a?.close();
  });

  it('a request on one replica makes the other let go of the upload, keeping what it received', async () => {
    const token = a.token({ sub: 'rita', org: 'replicas' });
    const headers = { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' };
    const created = await fetch(`${a.url}${TUS}`, { method: 'POST', headers: { ...headers, 'upload-length': String(3 * MiB), 'upload-metadata': metadata({ filename: 'shared.bin' }) } });
    expect(created.status).toBe(201);
    const id = new URL(created.headers.get('location')!).pathname.split('/').pop()!;
    const bytes = randomBytes(3 * MiB);

    // Replica A receives a PATCH that sends 1 MiB and then stalls (a client whose connection died half-open).
    const stalled = request(`${a.url}${TUS}/${id}`, {
      method: 'PATCH',
      headers: { ...headers, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': String(bytes.length) },
    });
    const ended = new Promise<string>((resolve) => {
      stalled.on('response', (res) => {
        res.resume();
        resolve(`answered ${res.statusCode}`);
      });
      stalled.on('error', () => resolve('connection closed'));
    });
    stalled.write(bytes.subarray(0, MiB));
    const lockKey = `${a.config.queue.prefix}:tus-lock:tus/${id}`;
    expect(await until(() => redis.exists(lockKey), (n) => n === 1)).toBe(1);

    // The client resumes through replica B: B waits for A to let go, then reports what A stored.
    const head = await fetch(`${b.url}${TUS}/${id}`, { method: 'HEAD', headers });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe(String(MiB));
    expect(await ended).toBeTruthy();
    stalled.destroy();

    const rest = await fetch(`${b.url}${TUS}/${id}`, {
      method: 'PATCH',
      headers: { ...headers, 'upload-offset': String(MiB), 'content-type': 'application/offset+octet-stream' },
      body: bytes.subarray(MiB),
    });
    expect(rest.status).toBe(204);
    expect(rest.headers.get('filehub-file-id')).toBe(id);
    const file = await a.waitForStatus(id, token, ['READY', 'FAILED']);
    expect(file).toMatchObject({ status: 'READY', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    expect(await tusLeftovers(a)).toEqual([]);
    expect(await redis.exists(lockKey)).toBe(0);
  });
});
