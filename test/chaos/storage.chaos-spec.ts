import { randomBytes, createHash } from 'node:crypto';
import { request } from 'node:http';
import { expectConsistent } from '../support/consistency';
import { waitFor } from '../support/wait';
import { waitForStartupSweeps } from '../support/startup-sweeps';
import { startTestApp, type TestApp } from '../support/test-app';
import { ChaosMinio, ChaosPostgres, ChaosRedis, chaosEnv, useChaosEnv } from './support/services';
import { TcpProxy } from './support/tcp-proxy';
import { HUNG_MS, startTraffic, waitForAnswers } from './support/traffic';

// Object storage misbehaving: MinIO stopped and started, slowed, cut and stalled by a TCP proxy between the service
// (API and worker) and MinIO; clients that go away mid-upload and mid-download, or read slowly. Uploads get clear
// 503s, retries succeed, nothing is half-written, and the reconciler finds storage and records in agreement after
// each scenario.

const MB = 1024 * 1024;
// Low, so a stalled store costs seconds here (the default is 30 s); every scenario runs with it. Not lower: the
// stall guard cannot see bytes sitting in socket buffers, and the slowed scenario takes about a second to drain them.
const STALL_TIMEOUT_MS = 3000;

async function upload(app: TestApp, token: string, bytes: Buffer, name: string): Promise<{ status: number; id?: string; message?: string; retryAfter: string | null }> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), name);
  const res = await fetch(`${app.url}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form, signal: AbortSignal.timeout(60_000) });
  const body = (await res.json()) as { id?: string; message?: string };
  return { status: res.status, id: body.id, message: body.message, retryAfter: res.headers.get('retry-after') };
}

/** Sends `sendBytes` of a multipart upload announced as `totalBytes`, then drops the connection. */
/** Once storage is back: the same upload again is accepted and becomes READY, and the store is consistent. */
async function expectRetryReady(app: TestApp, token: string, bytes: Buffer, name: string): Promise<void> {
  const retry = await upload(app, token, bytes, name);
  expect(retry.status).toBe(201);
  expect(await app.waitForStatus(retry.id!, token, ['READY', 'FAILED'], 90_000)).toMatchObject({ status: 'READY' });
  await expectConsistent(app);
}

function abandonUpload(app: TestApp, token: string, totalBytes: number, sendBytes: number): Promise<void> {
  const boundary = `chaos${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="gone.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const url = new URL(`${app.url}/files`);
  return new Promise((resolve) => {
    const req = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + totalBytes + tail.length },
    });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.write(head);
    let sent = 0;
    const pump = () => {
      while (sent < sendBytes) {
        const chunk = randomBytes(Math.min(256 * 1024, sendBytes - sent));
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      // Gone mid-body: the socket closes without the rest.
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    };
    pump();
  });
}

/** Downloads `url` reading like a slow client: the first bytes, then nothing for `pauseMs`, then the rest. */
function slowDownload(url: string, pauseMs: number): Promise<{ status: number; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let paused = false;
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (!paused && received >= 64 * 1024) {
          // Not reading: the socket's buffers fill and the server has to wait (backpressure).
          paused = true;
          res.pause();
          setTimeout(() => res.resume(), pauseMs);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function makePublic(app: TestApp, token: string, id: string): Promise<void> {
  const res = await fetch(`${app.url}/files/${id}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ visibility: 'public' }),
  });
  expect(res.status).toBe(200);
}

/** Reads the first bytes of a download, then drops the connection. */
function abandonDownload(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (error) => (req.destroyed ? resolve() : reject(error)));
    req.end();
  });
}

describe('chaos: object storage', () => {
  let pg: ChaosPostgres;
  let redis: ChaosRedis;
  let minio: ChaosMinio;
  let proxy: TcpProxy;
  let app: TestApp;
  let token: string;

  beforeAll(async () => {
    [pg, redis, minio] = await Promise.all([ChaosPostgres.start(), ChaosRedis.start(), ChaosMinio.start()]);
    proxy = await TcpProxy.start(minio.port);
    // API and worker reach MinIO only through the proxy.
    useChaosEnv(chaosEnv({ pg, redis, s3Endpoint: `http://127.0.0.1:${proxy.port}` }));
    app = await startTestApp({ MAX_UPLOAD_BYTES: String(64 * MB), S3_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS) }, { databaseUrl: pg.url });
    token = app.token({ sub: 'sam', org: 'storage-chaos' });
    await waitForStartupSweeps(app);
  }, 180_000);
  afterAll(async () => {
    await app?.close({ keepDatabase: true });
    await proxy?.close();
    await Promise.all([pg?.close(), redis?.close(), minio?.close()]);
  }, 60_000);

  it('MinIO stopped during traffic: uploads answer 503 with Retry-After, succeed again once it is back, nothing half-written', async () => {
    const traffic = startTraffic(app, token, 3);
    await waitForAnswers(traffic.outcomes, 201, 6, 30_000, 'uploads before the stop');
    await minio.stopServer();
    const downFrom = traffic.outcomes.length;
    await waitForAnswers(traffic.outcomes, 503, 4, 30_000, '503 answers while MinIO is down');
    expect((await fetch(`${app.url}/health`)).status).toBe(503);
    await minio.startServer();
    await waitForAnswers(traffic.outcomes, 201, 6, 60_000, 'uploads after MinIO is back');
    const outcomes = await traffic.stop();

    expect(outcomes.filter((o) => ![200, 201, 503].includes(o.status))).toEqual([]);
    const refused = outcomes.slice(downFrom).filter((o) => o.kind === 'upload' && o.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    for (const o of refused) expect({ retryAfter: o.retryAfter, message: o.message }).toEqual({ retryAfter: expect.stringMatching(/^\d+$/), message: expect.stringMatching(/storage/i) });
    for (const id of outcomes.filter((o) => o.kind === 'upload' && o.status === 201).map((o) => o.id!)) {
      const file = await app.waitForStatus(id, token, ['READY', 'FAILED'], 90_000);
      expect({ id, status: file.status, reason: file.failureReason }).toEqual({ id, status: 'READY', reason: null });
    }
    await expectConsistent(app);
  }, 240_000);

  it('storage slowed by the proxy: uploads still complete with the right bytes', async () => {
    proxy.delayMs = 20;
    try {
      const bytes = randomBytes(3 * MB);
      const result = await upload(app, token, bytes, 'slow.bin');
      expect(result.status).toBe(201);
      const file = await app.waitForStatus(result.id!, token, ['READY', 'FAILED'], 90_000);
      expect(file).toMatchObject({ status: 'READY', sha256: createHash('sha256').update(bytes).digest('hex') });
    } finally {
      proxy.delayMs = 0;
    }
    await expectConsistent(app);
  }, 180_000);

  it('connections to storage cut mid-upload: a clear 503, no object and no record left, and the retry succeeds', async () => {
    const bytes = randomBytes(24 * MB);
    proxy.delayMs = 5;
    const before = await app.db.file.count();
    const attempt = upload(app, token, bytes, 'cut.bin');
    // Cut once bytes flow to MinIO (the proxy saw the upload's connection), a few times over.
    const cuts = (async () => {
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 300));
        proxy.cut();
      }
    })();
    const result = await attempt;
    await cuts;
    proxy.delayMs = 0;
    expect({ status: result.status, retryAfter: result.retryAfter, message: result.message }).toEqual({
      status: 503,
      retryAfter: expect.stringMatching(/^\d+$/),
      message: expect.stringMatching(/storage/i),
    });
    expect(await app.db.file.count()).toBe(before);
    await expectConsistent(app);

    await expectRetryReady(app, token, bytes, 'cut.bin');
  }, 180_000);

  it('clients that disconnect mid-upload and mid-download leave nothing behind, and the server stays healthy', async () => {
    const before = await app.db.file.count();
    await Promise.all(Array.from({ length: 8 }, () => abandonUpload(app, token, 16 * MB, 4 * MB)));
    expect(await app.db.file.count()).toBe(before);

    // A public file streamed through the API (from MinIO), dropped after the first chunk, many times over: more
    // times than the S3 client has sockets, so a stream not released on disconnect would starve the next download.
    const bytes = randomBytes(8 * MB);
    const stored = await upload(app, token, bytes, 'download.bin');
    expect(stored.status).toBe(201);
    await app.waitForStatus(stored.id!, token, ['READY'], 60_000);
    await makePublic(app, token, stored.id!);
    const publicUrl = `${app.url}/public/files/${stored.id}`;
    for (let round = 0; round < 6; round++) await Promise.all(Array.from({ length: 12 }, () => abandonDownload(publicUrl)));

    const whole = await fetch(publicUrl, { signal: AbortSignal.timeout(30_000) });
    expect(whole.status).toBe(200);
    expect(createHash('sha256').update(Buffer.from(await whole.arrayBuffer())).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect((await fetch(`${app.url}/health`)).status).toBe(200);
    await expectConsistent(app);
  }, 180_000);

  it('storage stalled (connections open, nothing answers): upload, download, multipart start and /health answer 503 instead of hanging; afterwards all works, nothing half-written', async () => {
    const bytes = randomBytes(2 * MB);
    const stored = await upload(app, token, bytes, 'before-stall.bin');
    expect(stored.status).toBe(201);
    await app.waitForStatus(stored.id!, token, ['READY'], 60_000);
    await makePublic(app, token, stored.id!);
    const publicUrl = `${app.url}/public/files/${stored.id}`;
    const before = await app.db.file.count();
    const unavailable = { status: 503, retryAfter: expect.stringMatching(/^\d+$/), code: 'STORAGE_UNAVAILABLE', message: expect.stringMatching(/storage/i) };
    const answer = async (res: Response) => {
      const body = (await res.json()) as { code?: string; message?: string };
      return { status: res.status, retryAfter: res.headers.get('retry-after'), code: body.code, message: body.message };
    };

    proxy.stall(true);
    try {
      // Each would wait for MinIO forever (the proxy never closes): HUNG_MS is only the test's ceiling.
      const [uploaded, downloaded, started, health] = await Promise.all([
        upload(app, token, randomBytes(256 * 1024), 'stalled.bin'),
        fetch(publicUrl, { signal: AbortSignal.timeout(HUNG_MS) }).then(answer),
        fetch(`${app.url}/files/multipart`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ filename: 'stalled-multipart.bin', size: 6 * MB }),
          signal: AbortSignal.timeout(HUNG_MS),
        }).then(answer),
        fetch(`${app.url}/health`, { signal: AbortSignal.timeout(HUNG_MS) }).then(async (res) => ({ status: res.status, body: (await res.json()) as unknown })),
      ]);
      expect({ status: uploaded.status, retryAfter: uploaded.retryAfter, message: uploaded.message }).toEqual({
        status: 503,
        retryAfter: expect.stringMatching(/^\d+$/),
        message: expect.stringMatching(/storage/i),
      });
      expect(downloaded).toEqual(unavailable);
      expect(started).toEqual(unavailable);
      expect(health).toEqual({
        status: 503,
        body: expect.objectContaining({ status: 'unavailable', checks: expect.objectContaining({ storage: expect.objectContaining({ status: 'down' }) }) }),
      });
      // Neither the upload nor the multipart start left a record.
      expect(await app.db.file.count()).toBe(before);
    } finally {
      proxy.stall(false);
    }

    const whole = await fetch(publicUrl, { signal: AbortSignal.timeout(HUNG_MS) });
    expect(whole.status).toBe(200);
    expect(createHash('sha256').update(Buffer.from(await whole.arrayBuffer())).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect((await fetch(`${app.url}/health`)).status).toBe(200);
    await expectRetryReady(app, token, randomBytes(256 * 1024), 'stalled.bin');
  }, 180_000);

  it('storage stalled mid-upload (MinIO stops reading): a clear 503, no record and no object left, and the retry succeeds', async () => {
    const bytes = randomBytes(24 * MB);
    const before = await app.db.file.count();
    proxy.delayMs = 5;
    const sent = proxy.bytesToTarget;
    const attempt = upload(app, token, bytes, 'stalled-mid-upload.bin');
    try {
      // Once a part is on its way to MinIO.
      await waitFor(async () => proxy.bytesToTarget - sent > 2 * MB, 30_000, 'the upload reaching MinIO', { intervalMs: 10 });
      proxy.stall(true);
      const result = await attempt;
      expect({ status: result.status, retryAfter: result.retryAfter, message: result.message }).toEqual({
        status: 503,
        retryAfter: expect.stringMatching(/^\d+$/),
        message: expect.stringMatching(/storage/i),
      });
      expect(await app.db.file.count()).toBe(before);
    } finally {
      proxy.stall(false);
      proxy.delayMs = 0;
    }
    await expectConsistent(app);

    await expectRetryReady(app, token, bytes, 'stalled-mid-upload.bin');
  }, 180_000);

  it('a download read slowly (the client pausing longer than the stall time-out) is not cut: every byte arrives', async () => {
    // Larger than every buffer between MinIO and the client, so the pause holds the service's read from MinIO.
    const bytes = randomBytes(24 * MB);
    const stored = await upload(app, token, bytes, 'slow-reader.bin');
    expect(stored.status).toBe(201);
    await app.waitForStatus(stored.id!, token, ['READY'], 60_000);
    await makePublic(app, token, stored.id!);

    const slow = await slowDownload(`${app.url}/public/files/${stored.id}`, STALL_TIMEOUT_MS + 2000);
    expect(slow.status).toBe(200);
    expect(slow.bytes.length).toBe(bytes.length);
    expect(createHash('sha256').update(slow.bytes).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
    await expectConsistent(app);
  }, 120_000);
});
