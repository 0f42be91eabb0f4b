import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { createClient, type Client } from '@epilot/file-client';
import { FileUploadService, type ReconcileReport } from '@app/files';
import { gql } from './support/graphql';
import { expectConsistent } from './support/consistency';
import { startTestApp, type TestApp } from './support/test-app';

// A direct upload's URL stays valid for SIGNED_URL_TTL_SECONDS after completion. Whatever is written to it then must
// not reach what the record serves: the bytes hashed, sniffed and scanned are the bytes downloaded, and a stray write
// is an orphan the reconciler collects, not a file.

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PDF_TYPE_ID = '00000000-0000-4000-8000-000000000003';
const EVENTS_TOKEN = 'direct-upload-events-token';
const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n' +
    '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
);
const EVIL = Buffer.from('EVIL replaced');

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function bytesAt(url: string): Promise<Buffer> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe('direct uploads: writing to the upload URL after completion', () => {
  let app: TestApp;
  let user: string;
  let service: string;
  let admin: string;
  let epilot: Client;
  /** Staging keys written again after their upload completed: stray objects the reconciler must call orphans. */
  const strays: string[] = [];

  beforeAll(async () => {
    // The URLs stay valid throughout (the default TTL); strays are old enough to be orphans after a second.
    app = await startTestApp({ ORPHAN_MIN_AGE_SECONDS: '1', STORAGE_EVENTS_TOKEN: EVENTS_TOKEN });
    user = app.token({ sub: 'frieda', org: 'hausverwaltung' });
    service = app.token({ sub: 'backend', org: 'hausverwaltung', role: 'service' });
    admin = app.token({ sub: 'root', org: 'hausverwaltung', role: 'admin' });
    epilot = createClient();
    epilot.defaults.baseURL = app.url;
    epilot.defaults.headers.common.Authorization = `Bearer ${user}`;
    epilot.defaults.validateStatus = () => true;
  });
  afterAll(() => app?.close());

  async function api(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: Json }> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${app.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
  }

  async function record(id: string) {
    return app.db.file.findUniqueOrThrow({ where: { id }, include: { versions: true } });
  }

  /** The record serves a key of its own (not the one the client wrote to), with the original bytes' digest. */
  async function expectServesOriginal(id: string, original: Buffer): Promise<void> {
    const row = await record(id);
    expect(row.status).toBe('READY');
    expect(row.sha256).toBe(sha256(original));
    expect(row.size).toBe(BigInt(original.length));
    expect(row.uploadKey).toMatch(/^staging\//);
    expect(row.storageKey).toMatch(/^objects\//);
    expect(row.versions.map((v) => v.storageKey)).toEqual([row.storageKey]);
  }

  async function reconcile(repair: boolean): Promise<ReconcileReport> {
    const res = await fetch(`${app.url}/admin/reconcile`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ repair }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as ReconcileReport;
  }

  it('facilioo: a PUT to the pre-signed URL after completion changes nothing served', async () => {
    const created = await api('POST', '/api/files', user, { originalFilename: 'lease.pdf', fileTypeId: PDF_TYPE_ID });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const upload = await api('PUT', `/api/files/${id}/upload`, user);
    expect(upload.status).toBe(200);
    const url = upload.body.uploadUrl as string;
    const first = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/pdf' }, body: PDF });
    expect(first.status).toBeLessThan(300);
    expect((await api('POST', `/api/files/${id}/complete`, user)).status).toBe(200);
    expect((await app.waitForStatus(id, user, ['READY', 'FAILED'])).status).toBe('READY');

    // The URL is still valid: storage takes the bytes (to the staging key, which nothing serves).
    const again = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/pdf' }, body: EVIL });
    expect(again.status).toBeLessThan(300);
    const download = await api('GET', `/api/files/${id}/download-url`, user);
    expect(download.status).toBe(200);
    expect((await bytesAt(download.body.url)).equals(PDF)).toBe(true);
    await expectServesOriginal(id, PDF);

    // The bucket notification of that write finds the completed record and changes nothing.
    const { uploadKey } = await record(id);
    const bucket = app.config.storage.driver === 's3' ? app.config.storage.bucket : 'filehub';
    const event = {
      EventName: 's3:ObjectCreated:Put',
      Key: `${bucket}/${uploadKey}`,
      Records: [{ eventName: 's3:ObjectCreated:Put', s3: { bucket: { name: bucket }, object: { key: encodeURIComponent(uploadKey!), size: EVIL.length } } }],
    };
    const notified = await fetch(`${app.url}/api/storage-events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${EVENTS_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    expect(notified.status).toBe(200);
    expect(((await notified.json()) as Json).records[0]).toMatchObject({ key: uploadKey, outcome: 'completed', status: 'READY' });
    expect((await bytesAt((await api('GET', `/api/files/${id}/download-url`, user)).body.url)).equals(PDF)).toBe(true);
    await expectServesOriginal(id, PDF);
    strays.push(uploadKey!);
  });

  it('GraphQL: a POST with the pre-signed form after completion changes nothing served', async () => {
    const created = await gql(app, service, `mutation($file: CreateFileUploadInput!) { createFileUpload(file: $file) { id uploadUrl formFields } }`, {
      file: { name: 'notes.txt', contentType: 'text/plain', fileCategory: 'default' },
    });
    expect(created.errors).toBeUndefined();
    const { id, uploadUrl, formFields } = created.data.createFileUpload as { id: string; uploadUrl: string; formFields: Record<string, string> };
    const original = Buffer.from('clean bytes\n');
    const post = (bytes: Buffer) => {
      const form = new FormData();
      for (const [k, v] of Object.entries(formFields)) form.append(k, v);
      form.append('file', new Blob([bytes], { type: 'text/plain' }), 'upload');
      return fetch(uploadUrl, { method: 'POST', body: form });
    };
    expect((await post(original)).status).toBeLessThan(300);
    const done = await gql(app, service, `mutation($id: ID!) { updateFileStatus(fileId: $id, status: READY) { id status } }`, { id });
    expect(done.errors).toBeUndefined();
    expect((await app.waitForStatus(id, user, ['READY', 'FAILED'])).status).toBe('READY');

    expect((await post(EVIL)).status).toBeLessThan(300);
    const file = await gql(app, service, `query($id: ID!) { file(fileId: $id) { url sha256 size } }`, { id });
    expect(file.data.file).toMatchObject({ sha256: sha256(original), size: original.length });
    expect((await bytesAt(file.data.file.url)).equals(original)).toBe(true);
    await expectServesOriginal(id, original);
    strays.push((await record(id)).uploadKey!);
  });

  it('epilot: the upload target refuses bytes once they arrived; the s3ref still names the file', async () => {
    const original = Buffer.from('epilot clean bytes\n');
    const target = await epilot.uploadFileV2(null, { filename: 'memo.txt', mime_type: 'text/plain' });
    expect(target.status).toBe(201);
    const s3ref = target.data.s3ref!;
    expect((await epilot.put(target.data.upload_url!, original, { headers: { 'content-type': 'text/plain' } })).status).toBe(200);
    const saved = await epilot.saveFileV2(null, { s3ref, filename: 'memo.txt' } as never);
    expect(saved.status).toBe(200);
    const id = saved.data._id as string;
    await app.waitForStatus(id, user, ['READY']);

    const again = await epilot.put(target.data.upload_url!, EVIL, { headers: { 'content-type': 'text/plain' } });
    expect(again.status).toBe(409);
    expect(JSON.stringify(again.data)).toMatch(/takes no more bytes/);
    const latest = await epilot.downloadFile({ id });
    expect(latest.status).toBe(200);
    expect((await bytesAt(latest.data.download_url!)).equals(original)).toBe(true);
    // The s3ref handed out with the upload target still downloads the file's bytes.
    const byRef = await epilot.downloadS3File({ s3_key: s3ref.key!, s3_bucket: s3ref.bucket! });
    expect(byRef.status).toBe(200);
    expect((await bytesAt(byRef.data.download_url!)).equals(original)).toBe(true);
    await expectServesOriginal(id, original);
    expect((await record(id)).uploadKey).toBe(s3ref.key);
  });

  it('epilot: of two deliveries at once only one is recorded, and the other cannot overwrite it', async () => {
    const target = await epilot.uploadFileV2(null, { filename: 'race.txt', mime_type: 'text/plain' });
    expect(target.status).toBe(201);
    const intent = await app.db.file.findFirstOrThrow({ where: { uploadKey: target.data.s3ref!.key }, include: { category: true } });
    // A slow delivery is admitted (the record is UPLOADING) and keeps streaming while a fast one completes.
    const slow = new PassThrough();
    slow.write(Buffer.from('slow '));
    const slowDelivery = app.get<FileUploadService>(FileUploadService).receive(intent, slow, { contentType: 'text/plain' });
    const fast = Buffer.from('fast delivery\n');
    expect((await epilot.put(target.data.upload_url!, fast, { headers: { 'content-type': 'text/plain' } })).status).toBe(200);
    slow.end(Buffer.from('delivery that lost'));
    await expect(slowDelivery).rejects.toMatchObject({ code: 'CONFLICT' });

    const saved = await epilot.saveFileV2(null, { s3ref: target.data.s3ref, filename: 'race.txt' } as never);
    expect(saved.status).toBe(200);
    const id = saved.data._id as string;
    await app.waitForStatus(id, user, ['READY']);
    expect((await bytesAt((await epilot.downloadFile({ id })).data.download_url!)).equals(fast)).toBe(true);
    await expectServesOriginal(id, fast);
  });

  it('the reconciler reports the strays as orphan objects, not files, and repair leaves storage consistent', async () => {
    expect(strays).toHaveLength(2);
    let report: ReconcileReport;
    // Each stray is deferred until it is ORPHAN_MIN_AGE_SECONDS old, then an orphan.
    for (;;) {
      report = await reconcile(false);
      if (report.findings.orphanObjects.deferred === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(report.findings.orphanObjects.sample.sort()).toEqual([...strays].sort());
    expect(report.findings.missingObjects.count).toBe(0);
    expect(report.findings.staleUploads.count).toBe(0);
    const repaired = await reconcile(true);
    expect(repaired.findings.orphanObjects).toMatchObject({ count: 2, repaired: 2 });
    await expectConsistent(app);
  });
});
