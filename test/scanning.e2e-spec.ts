import { createHash, randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { buildMeta, upload as signedUpload } from '@app/files-client';
import { LifecycleSweepJob, Reconciler } from '@app/files';
import { RETRY_POLICY } from '@app/queue';
import { STORAGE_DRIVER, StorageLocator, type StorageDriver } from '@app/storage';
import { EICAR, EICAR_SIGNATURE, startClamd, stopClamd, versionedClamd, type Clamd, type VersionedClamd } from './support/clamd';
import { gql } from './support/graphql';
import { startTestApp, type TestApp } from './support/test-app';
import { waitFor } from './support/wait';
import { uploadFile } from './support/upload';

// Virus scanning against a real clamd (Debian's clamav-daemon) started by the suite with an EICAR signature of
// its own: every upload is streamed to clamd before it may become READY; infected files end QUARANTINED and no
// download path serves them.

const APP_SECRET = 'scanning-app-secret-0123456789';
const QUARANTINED_MESSAGE = `quarantined: infected with ${EICAR_SIGNATURE}`;

async function call(app: TestApp, method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${app.url}${path}`, {
    method,
    redirect: 'manual',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (bytes)
  }
  return { status: res.status, body: json, text };
}

/** How many runs of file.process threw (and were retried) in the process that runs jobs. */
async function processErrors(app: TestApp): Promise<number> {
  // The worker process (full profile) serves its metrics once it has started.
  let text = '';
  for (let i = 0; ; i++) {
    try {
      text = await (await fetch(app.jobMetricsUrl)).text();
      break;
    } catch (error) {
      if (i > 200) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const line = text.split('\n').find((l) => l.startsWith('filehub_jobs_total{') && l.includes('job="file.process"') && l.includes('outcome="error"'));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** A local webhook endpoint that keeps every delivery (event and body) in `deliveries`. */
async function webhookReceiver(deliveries: { event: string; body: any }[]): Promise<Server> {
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      deliveries.push({ event: String(req.headers['x-filehub-event']), body: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  return receiver;
}

describe('virus scanning with clamd', () => {
  let clamd: Clamd;
  let app: TestApp;
  let owner: string;
  let colleague: string;
  let admin: string;
  // Webhook deliveries of the organization (events and bodies).
  let receiver: Server;
  const deliveries: { event: string; body: any }[] = [];

  beforeAll(async () => {
    receiver = await webhookReceiver(deliveries);
    clamd = await startClamd({ streamMaxBytes: 1024 * 1024 });
    app = await startTestApp({
      CLAMAV_ADDRESS: clamd.address,
      CLAMAV_TIMEOUT_MS: '5000',
      // The stalled-processing sweep (files left PROCESSING while the scanner was away) within the test's time.
      LIFECYCLE_SWEEP_INTERVAL_SECONDS: '2',
      STALLED_PROCESSING_SECONDS: '3',
      FILE_CLIENTS: JSON.stringify({ 'scan-app': APP_SECRET }),
      WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
    });
    owner = app.token({ sub: 'olga', org: 'scan-org' });
    colleague = app.token({ sub: 'carl', org: 'scan-org' });
    admin = app.token({ sub: 'root', org: 'scan-org', role: 'admin' });
    const hook = await call(app, 'POST', '/webhooks', app.token({ sub: 'ops', org: 'scan-org', role: 'service' }), {
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`,
      events: ['file.quarantined', 'file.failed'],
    });
    expect(hook.status).toBe(201);
  });
  afterAll(async () => {
    await app?.close();
    await stopClamd(clamd);
    await new Promise((r) => receiver?.close(r));
  });

  it('scans a clean upload before it becomes READY, then serves it', async () => {
    const bytes = Buffer.from('just some clean words\n'.repeat(1000));
    const id = await uploadFile(app, owner, bytes, 'clean.txt');
    const file = await app.waitForStatus(id, owner, ['READY', 'FAILED', 'QUARANTINED']);
    expect(file).toMatchObject({ status: 'READY', failureReason: null });
    const row = await app.db.file.findUniqueOrThrow({ where: { id } });
    expect(row.scannedWith).toMatch(/^ClamAV \d+\.\d+/);
    expect(row.scannedAt).toBeInstanceOf(Date);
    expect(row.virusSignature).toBeNull();

    const signed = await call(app, 'GET', `/files/${id}/download-url`, colleague);
    expect(signed.status).toBe(200);
    const downloaded = Buffer.from(await (await fetch(signed.body.url)).arrayBuffer());
    expect(createHash('sha256').update(downloaded).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
    const viaGraphql = await gql(app, owner, 'query($id: ID!) { file(fileId: $id) { url status } }', { id });
    expect(viaGraphql.data.file).toMatchObject({ status: 'READY', url: expect.stringMatching(/^http/) });
  });

  it('reports the scanner on /health: reachable, with what VERSION says', async () => {
    const health = await call(app, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    // Only local signature files (.ndb): VERSION names the engine and no database version.
    expect(health.body.checks.scanner).toEqual({
      status: 'up',
      address: clamd.address,
      version: expect.stringMatching(/^ClamAV \d+\.\d+/),
      engine: expect.stringMatching(/^\d+\.\d+/),
      database: null,
      databaseDate: null,
    });
  });

  it('quarantines an EICAR upload with the signature, and no download path serves it', async () => {
    // The test string inside other bytes: the signature matches anywhere in the stream.
    const id = await uploadFile(app, owner, Buffer.concat([Buffer.from('report header\n'), Buffer.from(EICAR), Buffer.from('\ntrailer\n')]), 'invoice.txt');
    const file = await app.waitForStatus(id, owner, ['READY', 'FAILED', 'QUARANTINED']);
    expect(file).toMatchObject({ status: 'QUARANTINED', failureReason: `Quarantined: infected with ${EICAR_SIGNATURE}` });
    const row = await app.db.file.findUniqueOrThrow({ where: { id } });
    expect(row.virusSignature).toBe(EICAR_SIGNATURE);
    // Subscribers hear of it, with the signature.
    for (let i = 0; !deliveries.some((d) => d.body.data.file.id === id); i++) {
      if (i > 200) throw new Error('no file.quarantined delivery');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(deliveries.filter((d) => d.body.data.file.id === id)).toEqual([
      { event: 'file.quarantined', body: expect.objectContaining({ event: 'file.quarantined', data: expect.objectContaining({ signature: EICAR_SIGNATURE, file: expect.objectContaining({ id, status: 'QUARANTINED' }) }) }) },
    ]);
    // Kept for an admin (the object is still in storage), never handed out.
    expect(await app.countObjects()).toBeGreaterThanOrEqual(1);

    const refusals: [string, string, string | undefined][] = [
      ['GET', `/files/${id}/download-url`, colleague],
      ['GET', `/files/${id}/download-url?disposition=inline`, owner],
      ['GET', `/files/${id}/preview?w=64`, owner],
      ['GET', `/api/files/${id}/download-url`, owner], // facilioo
      ['GET', `/api/files/${id}/thumbnail-url`, owner], // facilioo
      ['GET', `/v1/upload/url/${id}`, owner], // chainsite
      ['GET', `/v1/files/${id}/download`, owner], // epilot
      ['GET', `/v1/files/${id}/preview?w=64`, owner], // epilot
    ];
    for (const [method, path, token] of refusals) {
      const res = await call(app, method, path, token);
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
      expect(res.text).toContain(QUARANTINED_MESSAGE);
    }
    // epilot's batch download answers per item.
    const batch = await call(app, 'POST', '/v1/files:downloadFiles', owner, [{ id }]);
    expect(batch.status).toBe(200);
    expect(batch.body).toEqual([expect.objectContaining({ file_entity_id: id, status: 403, error: expect.stringContaining(QUARANTINED_MESSAGE) })]);

    // GraphQL shows the status and leaves the URL out.
    const viaGraphql = await gql(app, colleague, 'query($id: ID!) { file(fileId: $id) { url status failureReason } }', { id });
    expect(viaGraphql.errors).toBeUndefined();
    expect(viaGraphql.data.file).toEqual({ url: null, status: 'QUARANTINED', failureReason: `Quarantined: infected with ${EICAR_SIGNATURE}` });

    // Made public: the static address, epilot's public preview and a public link refuse too, without credentials.
    expect((await call(app, 'PATCH', `/files/${id}`, owner, { visibility: 'public' })).status).toBe(200);
    const publicContent = await call(app, 'GET', `/public/files/${id}`);
    expect(publicContent.status).toBe(403);
    expect(publicContent.text).toContain(QUARANTINED_MESSAGE);
    expect((await call(app, 'GET', `/v1/files/public/${id}/preview?w=64`)).status).toBe(403);
    const epilotEntity = await call(app, 'GET', `/v2/files/${id}?source_url=true`, owner);
    expect(epilotEntity.status).toBe(200);
    expect(epilotEntity.body.public_url).toBeUndefined();
    expect(epilotEntity.body.source_url).toBeUndefined();
    const link = await call(app, 'POST', `/v1/files/${id}/public/links`, owner);
    expect(link.status).toBe(201);
    const followed = await fetch(String(link.body), { redirect: 'manual' });
    expect(followed.status).toBe(403);
    expect(await followed.text()).toContain(QUARANTINED_MESSAGE);

    // Listed with its status, filterable.
    const listed = await call(app, 'GET', '/files?status=QUARANTINED', owner);
    expect(listed.body.data.map((f: { id: string }) => f.id)).toEqual([id]);
    // Only an admin's rescan leaves quarantine; with the same signatures it comes back QUARANTINED.
    expect((await call(app, 'POST', `/files/${id}/reprocess`, owner)).status).toBe(403);
    expect((await call(app, 'POST', `/files/${id}/reprocess`, admin)).status).toBe(202);
    expect(await app.waitForStatus(id, owner, ['READY', 'FAILED', 'QUARANTINED'])).toMatchObject({ status: 'QUARANTINED' });
  });

  it("refuses the signed flow's content route for an infected upload", async () => {
    const meta = buildMeta({ userId: 'olga', fileClientId: 'scan-app', modelNames: ['Document'], fingerprint: 'scan-e2e', organizationId: 'scan-org' });
    const [uploaded] = (await signedUpload({ serverUrl: app.url, token: owner, files: [{ buffer: Buffer.from(EICAR), filename: 'eicar.com' }], meta })).files;
    expect(await app.waitForStatus(uploaded!.id, owner, ['READY', 'FAILED', 'QUARANTINED'])).toMatchObject({ status: 'QUARANTINED' });
    const content = await call(app, 'GET', `/api/files/${uploaded!.id}?sign=${encodeURIComponent(uploaded!.signature)}`);
    expect(content.status).toBe(403);
    expect(content.text).toContain(QUARANTINED_MESSAGE);
  });

  it(`fails a file larger than clamd's StreamMaxLength (the default policy), never READY unscanned`, async () => {
    const bytes = randomBytes(clamd.streamMaxBytes + 512 * 1024);
    const id = await uploadFile(app, owner, bytes, 'big.bin');
    const file = await app.waitForStatus(id, owner, ['READY', 'FAILED', 'QUARANTINED']);
    expect(file.status).toBe('FAILED');
    expect(file.failureReason).toMatch(/^Not scanned for viruses: clamd refused to scan the whole file \(INSTREAM size limit exceeded.*StreamMaxLength\)$/);
    expect((await call(app, 'GET', `/files/${id}/download-url`, owner)).status).toBe(409);
  });

  // Last: it stops clamd.
  it('keeps a file PROCESSING (unserved) while clamd is down, through every retry, and scans it once clamd is back', async () => {
    await clamd.stop();
    // Uploads are still taken (they wait in PROCESSING): /health says degraded, still 200, naming what is down.
    const health = await call(app, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'degraded',
      checks: { database: { status: 'up' }, storage: { status: 'up' }, queue: { status: 'up' }, scanner: { status: 'down', address: clamd.address, error: expect.stringContaining('ECONNREFUSED') } },
    });
    const errorsBefore = await processErrors(app);
    const id = await uploadFile(app, owner, Buffer.from('uploaded while the scanner is down'), 'waiting.txt');
    // The first attempt has failed and is waiting for its retry.
    for (let i = 0; (await processErrors(app)) <= errorsBefore; i++) {
      if (i > 300) throw new Error('file.process never ran');
      await new Promise((r) => setTimeout(r, 100));
    }
    const waiting = await call(app, 'GET', `/files/${id}`, owner);
    expect(waiting.body.status).toBe('PROCESSING');
    const early = await call(app, 'GET', `/files/${id}/download-url`, owner);
    expect(early.status).toBe(409);
    expect(early.body.message).toBe(`File ${id} is being scanned for viruses; its content is served once it is READY`);
    const viaGraphql = await gql(app, owner, 'query($id: ID!) { file(fileId: $id) { url status } }', { id });
    expect(viaGraphql.data.file).toEqual({ url: null, status: 'PROCESSING' });

    // Every attempt fails while clamd is away; an unreachable scanner says nothing about the file, so it is not
    // FAILED when the retries run out: it stays PROCESSING, unserved.
    for (let i = 0; (await processErrors(app)) < errorsBefore + RETRY_POLICY.attempts; i++) {
      if (i > 600) throw new Error('the retries never ran out');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await call(app, 'GET', `/files/${id}`, owner)).body.status).toBe('PROCESSING');
    expect((await call(app, 'GET', `/files/${id}/download-url`, owner)).status).toBe(409);

    // Once clamd is back, the stalled-processing sweep queues the job again and the scan lets the file through.
    await clamd.start();
    expect((await call(app, 'GET', '/health')).body).toMatchObject({ status: 'ok', checks: { scanner: { status: 'up' } } });
    expect(await app.waitForStatus(id, owner, ['READY', 'FAILED', 'QUARANTINED'], 60_000)).toMatchObject({ status: 'READY' });
  });
});

describe('virus scanning: files over CLAMAV_MAX_STREAM_BYTES with CLAMAV_OVERSIZE_POLICY=allow', () => {
  let clamd: Clamd;
  let app: TestApp;

  beforeAll(async () => {
    clamd = await startClamd();
    app = await startTestApp({ CLAMAV_ADDRESS: clamd.address, CLAMAV_MAX_STREAM_BYTES: '4096', CLAMAV_OVERSIZE_POLICY: 'allow' });
  });
  afterAll(async () => {
    await app?.close();
    await stopClamd(clamd);
  });

  it('lets an oversized file become READY unscanned, while smaller ones are still scanned', async () => {
    const token = app.token({ sub: 'ursula', org: 'allow-org' });
    const big = await uploadFile(app, token, Buffer.concat([Buffer.alloc(8192, 'a'), Buffer.from(EICAR)]), 'big-unscanned.txt');
    expect(await app.waitForStatus(big, token, ['READY', 'FAILED', 'QUARANTINED'])).toMatchObject({ status: 'READY' });
    const bigRow = await app.db.file.findUniqueOrThrow({ where: { id: big } });
    expect(bigRow.scannedAt).toBeNull();
    expect(bigRow.scannedWith).toBeNull();

    const small = await uploadFile(app, token, Buffer.from(EICAR), 'small.txt');
    expect(await app.waitForStatus(small, token, ['READY', 'FAILED', 'QUARANTINED'])).toMatchObject({ status: 'QUARANTINED' });
  });
});

describe('virus scanning: verdicts reused for identical bytes scanned by the same clamd database', () => {
  let clamd: Clamd;
  let proxy: VersionedClamd;
  let app: TestApp;

  beforeAll(async () => {
    clamd = await startClamd();
    proxy = await versionedClamd(clamd, 'ClamAV 1.4.6/27999/Thu Nov 26 07:00:00 2026');
    app = await startTestApp({ CLAMAV_ADDRESS: proxy.address });
  });
  afterAll(async () => {
    await app?.close();
    await proxy?.close();
    await stopClamd(clamd);
  });

  it('scans each content once per database version, across organizations, clean and infected alike', async () => {
    const alice = app.token({ sub: 'alice', org: 'org-a' });
    const bob = app.token({ sub: 'bob', org: 'org-b' });
    const clean = randomBytes(64 * 1024);
    const infected = Buffer.concat([randomBytes(1024), Buffer.from(EICAR)]);
    const settle = (id: string, token: string) => app.waitForStatus(id, token, ['READY', 'FAILED', 'QUARANTINED']);

    expect(await settle(await uploadFile(app, alice, clean, 'a.bin'), alice)).toMatchObject({ status: 'READY' });
    expect(await settle(await uploadFile(app, alice, infected, 'b.bin'), alice)).toMatchObject({ status: 'QUARANTINED' });
    expect(proxy.scans).toBe(2);
    // The same bytes again, in another organization: the verdicts are reused, nothing is streamed.
    expect(await settle(await uploadFile(app, bob, clean, 'a-again.bin'), bob)).toMatchObject({ status: 'READY' });
    const again = await uploadFile(app, bob, infected, 'b-again.bin');
    expect(await settle(again, bob)).toMatchObject({ status: 'QUARANTINED', failureReason: `Quarantined: infected with ${EICAR_SIGNATURE}` });
    expect((await call(app, 'GET', `/files/${again}/download-url`, bob)).status).toBe(403);
    expect(proxy.scans).toBe(2);
    // New signatures (freshclam): the database version changes and the bytes are scanned again.
    proxy.version = 'ClamAV 1.4.6/28000/Fri Nov 27 07:00:00 2026';
    const rescanned = await uploadFile(app, alice, clean, 'a-new-db.bin');
    expect(await settle(rescanned, alice)).toMatchObject({ status: 'READY' });
    expect(proxy.scans).toBe(3);
    expect((await app.db.file.findUniqueOrThrow({ where: { id: rescanned } })).scannedWith).toBe('ClamAV 1.4.6/28000/Fri Nov 27 07:00:00 2026');
  });
});

describe('virus scanning: rescans after a signature update', () => {
  let clamd: Clamd;
  let proxy: VersionedClamd;
  let app: TestApp;
  let receiver: Server;
  const deliveries: { event: string; body: any }[] = [];
  const rescan = () => app.get<LifecycleSweepJob>(LifecycleSweepJob).handle({ task: 'rescan-outdated' });
  const row = (id: string) => app.db.file.findUniqueOrThrow({ where: { id } });

  beforeAll(async () => {
    receiver = await webhookReceiver(deliveries);
    // Yesterday's database: no EICAR signature yet.
    clamd = await startClamd({ eicar: false });
    proxy = await versionedClamd(clamd, 'ClamAV 1.4.6/27999/Thu Nov 26 07:00:00 2026');
    app = await startTestApp({ CLAMAV_ADDRESS: proxy.address, CLAMAV_TIMEOUT_MS: '5000', WEBHOOK_ALLOW_HOSTS: '127.0.0.1' });
    const hook = await call(app, 'POST', '/webhooks', app.token({ sub: 'ops', org: 'rescan-org', role: 'service' }), {
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`,
      events: ['file.quarantined'],
    });
    expect(hook.status).toBe(201);
  });
  afterAll(async () => {
    await app?.close();
    await proxy?.close();
    await stopClamd(clamd);
    await new Promise((r) => receiver?.close(r));
  });

  it('quarantines READY files the new signatures detect, cuts the URLs already issued, and leaves files alone while clamd is down', async () => {
    const olga = app.token({ sub: 'olga', org: 'rescan-org' });
    const carl = app.token({ sub: 'carl', org: 'rescan-org' });
    const settle = (id: string, token: string) => app.waitForStatus(id, token, ['READY', 'FAILED', 'QUARANTINED']);
    // A picture with the test virus after its end: it decodes (and gets thumbnails) like any PNG.
    const picture = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#336699' } }).png().toBuffer();
    const infected = Buffer.concat([picture, Buffer.from(EICAR)]);
    expect((await call(app, 'GET', '/health')).body.checks.scanner).toMatchObject({ status: 'up', database: 27999, databaseDate: 'Thu Nov 26 07:00:00 2026' });

    // Scanned clean by a database that does not know the signature yet; the same bytes twice share one object.
    const first = await uploadFile(app, olga, infected, 'figures.txt');
    expect(await settle(first, olga)).toMatchObject({ status: 'READY' });
    const twin = await uploadFile(app, carl, infected, 'figures-copy.txt');
    expect(await settle(twin, carl)).toMatchObject({ status: 'READY' });
    const clean = await uploadFile(app, olga, Buffer.from('nothing to see here\n'), 'clean.txt');
    expect(await settle(clean, olga)).toMatchObject({ status: 'READY' });
    const oldKey = (await row(first)).storageKey;
    expect((await row(twin)).storageKey).toBe(oldKey);
    for (const id of [first, twin, clean]) expect((await row(id)).scanDatabaseVersion).toBe(27999);
    // Handed out while the file was READY: a download URL and a thumbnail URL.
    const issued = (await call(app, 'GET', `/files/${first}/download-url`, olga)).body.url as string;
    expect((await fetch(issued)).status).toBe(200);
    const thumbnails = await app.db.thumbnail.findMany({ where: { fileId: { in: [first, twin] } } });
    expect(thumbnails.length).toBeGreaterThan(0);
    const thumbnail = await call(app, 'GET', `/api/files/${first}/thumbnail-url`, olga);
    expect(thumbnail.body).toMatchObject({ isFallback: false });
    const issuedThumbnail = thumbnail.body.url as string;
    expect((await fetch(issuedThumbnail)).status).toBe(200);
    // Nothing is outdated yet.
    expect(await rescan()).toMatchObject({ status: 'skipped' });

    // freshclam brings a newer database, with the signature.
    await clamd.setEicarSignature(true);
    proxy.version = 'ClamAV 1.4.6/28000/Fri Nov 27 07:00:00 2026';

    // clamd goes away mid-run (VERSION still answers, every scan fails): nothing changes.
    await clamd.stop();
    const during = await rescan();
    expect(during.detail).toContain('stopped:');
    for (const id of [first, twin, clean]) expect(await row(id)).toMatchObject({ status: 'READY', scanDatabaseVersion: 27999, storageKey: expect.stringMatching(/^objects\//) });
    expect((await fetch(issued)).status).toBe(200);
    expect((await call(app, 'GET', `/files/${first}/download-url`, olga)).status).toBe(200);

    await clamd.start();
    const after = await rescan();
    expect(after).toMatchObject({ status: 'succeeded', detail: '3 file(s) rescanned with database 28000, 2 quarantined' });
    for (const [id, token] of [[first, olga], [twin, carl]] as const) {
      expect(await row(id)).toMatchObject({ status: 'QUARANTINED', virusSignature: EICAR_SIGNATURE, scanDatabaseVersion: 28000, failureReason: `Quarantined: infected with ${EICAR_SIGNATURE}` });
      const refused = await call(app, 'GET', `/files/${id}/download-url`, token);
      expect(refused.status).toBe(403);
      expect(refused.text).toContain(QUARANTINED_MESSAGE);
    }
    expect(await row(clean)).toMatchObject({ status: 'READY', scanDatabaseVersion: 28000 });
    expect((await call(app, 'GET', `/files/${clean}/download-url`, olga)).status).toBe(200);

    // The URL issued before no longer serves the bytes: they moved to the quarantine key space, kept for an admin.
    const stale = await fetch(issued);
    expect(stale.status).toBeGreaterThanOrEqual(400);
    expect(await stale.text()).not.toContain(EICAR);
    const newKey = (await row(first)).storageKey;
    expect(newKey).toMatch(/^quarantine\//);
    expect((await row(twin)).storageKey).toBe(newKey);
    const storage = app.get<StorageDriver>(STORAGE_DRIVER);
    expect(await storage.head(newKey)).not.toBeNull();
    expect(await storage.head(oldKey)).toBeNull();
    // Thumbnails are pictures of the infected content: gone with it, and their issued URL with them.
    expect(await app.db.thumbnail.count({ where: { fileId: { in: [first, twin] } } })).toBe(0);
    await waitFor(async () => (await Promise.all(thumbnails.map((t) => storage.head(t.storageKey)))).every((h) => h === null), 30_000, 'thumbnail objects removed');
    expect((await fetch(issuedThumbnail)).status).toBeGreaterThanOrEqual(400);

    // Subscribers hear of both, as of a first-scan hit.
    for (let i = 0; deliveries.length < 2; i++) {
      if (i > 200) throw new Error(`${deliveries.length} file.quarantined deliveries`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(deliveries.map((d) => [d.event, d.body.data.file.id, d.body.data.signature]).sort()).toEqual(
      [
        ['file.quarantined', first, EICAR_SIGNATURE],
        ['file.quarantined', twin, EICAR_SIGNATURE],
      ].sort(),
    );

    // Done: nothing left to rescan with this database; the reconciler sees the quarantined object as referenced.
    expect(await rescan()).toMatchObject({ status: 'skipped', detail: '0 file(s) rescanned with database 28000, 0 quarantined' });
    // It walks quarantine/ too: a stray copy there (a quarantine whose transaction failed) is an orphan, deferred while young.
    const stray = `quarantine/00/00/${'0'.repeat(64)}`;
    await storage.put(stray, Buffer.from('a copy no record points at'));
    const report = await app.get<Reconciler>(Reconciler).run({ repair: false });
    expect(report.findings.orphanObjects).toMatchObject({ count: 0, deferred: 1, deferredSample: [stray] });
    expect(report.findings.missingObjects.count).toBe(0);

    // A false positive, withdrawn by the next database: an admin's reprocess finds `first` clean and gives it a key
    // of its own outside quarantine/, served again; `twin`, not reprocessed, stays quarantined on the old bytes.
    await clamd.setEicarSignature(false);
    proxy.version = 'ClamAV 1.4.6/28001/Sat Nov 28 07:00:00 2026';
    const admin = app.token({ sub: 'root', org: 'rescan-org', role: 'admin' });
    expect((await call(app, 'POST', `/files/${first}/reprocess`, admin)).status).toBe(202);
    expect(await settle(first, olga)).toMatchObject({ status: 'READY' });
    const released = (await row(first)).storageKey;
    expect(released).toMatch(/^objects\//);
    expect(await app.db.thumbnail.count({ where: { fileId: first } })).toBeGreaterThan(0);
    const url = (await call(app, 'GET', `/files/${first}/download-url`, olga)).body.url as string;
    expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(infected)).toBe(true);
    expect(await row(twin)).toMatchObject({ status: 'QUARANTINED', storageKey: newKey });
    expect((await call(app, 'GET', `/files/${twin}/download-url`, carl)).status).toBe(403);
    expect(await storage.head(newKey)).not.toBeNull();
  });
});

describe('without CLAMAV_ADDRESS', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app?.close());

  it('does not scan: the EICAR string is just bytes and becomes READY', async () => {
    const token = app.token({ sub: 'nina', org: 'no-scan' });
    const id = await uploadFile(app, token, Buffer.from(EICAR), 'eicar.txt');
    expect(await app.waitForStatus(id, token, ['READY', 'FAILED', 'QUARANTINED'])).toMatchObject({ status: 'READY' });
    expect((await app.db.file.findUniqueOrThrow({ where: { id } })).scannedAt).toBeNull();
  });

  it('keeps a quarantined file quarantined on reprocess: only a clean scan releases it, and none runs here', async () => {
    // Quarantined while scanning was on (its bytes moved to quarantine/); scanning has since been turned off.
    const token = app.token({ sub: 'nina', org: 'no-scan' });
    const id = await uploadFile(app, token, Buffer.from(EICAR), 'was-infected.txt');
    expect(await app.waitForStatus(id, token, ['READY', 'FAILED', 'QUARANTINED'])).toMatchObject({ status: 'READY' });
    const storage = app.get<StorageDriver>(STORAGE_DRIVER);
    const { storageKey } = await app.db.file.findUniqueOrThrow({ where: { id } });
    const quarantineKey = StorageLocator.quarantineKey(storageKey);
    await storage.copy(storageKey, quarantineKey);
    await app.db.file.update({ where: { id }, data: { status: 'QUARANTINED', storageKey: quarantineKey, virusSignature: EICAR_SIGNATURE } });
    await app.db.fileVersion.updateMany({ where: { fileId: id }, data: { storageKey: quarantineKey } });

    const admin = app.token({ sub: 'root', org: 'no-scan', role: 'admin' });
    expect((await call(app, 'POST', `/files/${id}/reprocess`, admin)).status).toBe(202);
    await waitFor(async () => (await app.db.file.findUniqueOrThrow({ where: { id } })).status !== 'PROCESSING', 30_000, 'the reprocess job');
    expect(await app.db.file.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'QUARANTINED', storageKey: quarantineKey });
    expect((await call(app, 'GET', `/files/${id}/download-url`, token)).status).toBe(403);
  });
});

describe('virus scanning: a clamd that takes the connection and never answers', () => {
  let silent: NetServer;
  const sockets = new Set<Socket>();
  let app: TestApp;
  beforeAll(async () => {
    silent = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined).on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    app = await startTestApp({ CLAMAV_ADDRESS: `tcp://127.0.0.1:${(silent.address() as AddressInfo).port}`, CLAMAV_TIMEOUT_MS: '200' });
  });
  afterAll(async () => {
    await app?.close();
    // close() waits for open connections: a client that is still waiting holds one.
    for (const socket of sockets) socket.destroy();
    await new Promise((r) => silent.close(r));
  });

  it('keeps the file PROCESSING (unserved) when every attempt times out: an outage, not a verdict', async () => {
    const token = app.token({ sub: 'sid', org: 'silent-org' });
    const errorsBefore = await processErrors(app);
    const id = await uploadFile(app, token, Buffer.from('nobody is listening'), 'silent.txt');
    for (let i = 0; (await processErrors(app)) < errorsBefore + RETRY_POLICY.attempts; i++) {
      if (i > 600) throw new Error('the retries never ran out');
      await new Promise((r) => setTimeout(r, 100));
    }
    const row = await app.db.file.findUniqueOrThrow({ where: { id } });
    expect({ status: row.status, failureReason: row.failureReason }).toEqual({ status: 'PROCESSING', failureReason: null });
    expect((await call(app, 'GET', `/files/${id}/download-url`, token)).status).toBe(409);
  });
});
