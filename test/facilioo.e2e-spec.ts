import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ListObjectsV2Command, PutBucketNotificationConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { PROFILE, startTestApp, type TestApp } from './support/test-app';

// A valid three-page PDF: the page count has something to count.
function threePagePdf(): Buffer {
  const page = (n: number) => `${n} 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\n`;
  return Buffer.from(
    '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R 4 0 R 5 0 R]/Count 3>>endobj\n' +
      page(3) + page(4) + page(5) + 'trailer<</Root 1 0 R>>\n%%EOF\n',
  );
}

const PDF = threePagePdf();
const PDF_TYPE_ID = '00000000-0000-4000-8000-000000000003';
const EVENTS_TOKEN = 'minio-webhook-shared-token-0123456789';
const TTL_SECONDS = 120;
const FILE_FIELDS = [
  'contentType', 'createdAt', 'externalId', 'failureReason', 'fileSize', 'fileTypeId', 'id', 'links', 'originalFilename',
  'pageCount', 'status', 'updatedAt',
];
const FILE_TYPE_FIELDS = ['defaultVisibility', 'extensions', 'id', 'key', 'maxBytes', 'mimeTypes', 'name'];

type Json = Record<string, any>;

describe('facilioo files (seed 003)', () => {
  let app: TestApp;
  let user: string;
  let colleague: string;
  let admin: string;
  let service: string;
  let mallory: string;

  beforeAll(async () => {
    app = await startTestApp({ SIGNED_URL_TTL_SECONDS: String(TTL_SECONDS), STORAGE_EVENTS_TOKEN: EVENTS_TOKEN });
    user = app.token({ sub: 'frieda', org: 'hausverwaltung' });
    colleague = app.token({ sub: 'gustav', org: 'hausverwaltung' });
    admin = app.token({ sub: 'root', org: 'hausverwaltung', role: 'admin' });
    service = app.token({ sub: 'backend', org: 'hausverwaltung', role: 'service' });
    mallory = app.token({ sub: 'mallory', org: 'elsewhere' });
  });
  afterAll(() => app?.close());

  async function api(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: Json }> {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${app.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
  }

  async function createFile(body: Json, token = user): Promise<Json> {
    const res = await api('POST', '/api/files', token, body);
    expect(res.status).toBe(201);
    return res.body;
  }

  async function putBytes(id: string, bytes: Buffer, contentType: string, token = user): Promise<string> {
    const upload = await api('PUT', `/api/files/${id}/upload`, token);
    expect(upload.status).toBe(200);
    const put = await fetch(upload.body.uploadUrl, { method: 'PUT', headers: { 'content-type': contentType }, body: bytes });
    expect(put.status).toBeLessThan(300);
    return upload.body.uploadUrl as string;
  }

  async function storageKeys(): Promise<string[]> {
    const storage = app.config.storage;
    if (storage.driver === 'local') {
      const entries = await readdir(storage.root, { withFileTypes: true, recursive: true });
      return entries
        .filter((e) => e.isFile())
        .map((e) => relative(storage.root, join(e.parentPath, e.name)))
        .filter((key) => !key.startsWith('.'));
    }
    const client = new S3Client({
      endpoint: storage.endpoint,
      region: storage.region,
      forcePathStyle: storage.forcePathStyle,
      credentials: { accessKeyId: storage.accessKeyId, secretAccessKey: storage.secretAccessKey },
    });
    const page = await client.send(new ListObjectsV2Command({ Bucket: storage.bucket }));
    return (page.Contents ?? []).map((o) => o.Key!);
  }

  function minioEvent(key: string, eventName = 's3:ObjectCreated:Put', bucket = bucketName()): Json {
    // What MinIO's webhook target POSTs: the key URL-encoded in the record, decoded in `Key`.
    return {
      EventName: eventName,
      Key: `${bucket}/${key}`,
      Records: [
        {
          eventVersion: '2.0',
          eventSource: 'minio:s3',
          awsRegion: '',
          eventTime: new Date().toISOString(),
          eventName,
          userIdentity: { principalId: 'minioadmin' },
          requestParameters: { principalId: 'minioadmin', region: '', sourceIPAddress: '127.0.0.1' },
          responseElements: { 'x-amz-id-2': 'dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8' },
          s3: {
            s3SchemaVersion: '1.0',
            configurationId: 'Config',
            bucket: { name: bucket, ownerIdentity: { principalId: 'minioadmin' }, arn: `arn:aws:s3:::${bucket}` },
            object: { key: encodeURIComponent(key), size: PDF.length, eTag: 'd41d8cd98f00b204e9800998ecf8427e', contentType: 'application/pdf', sequencer: '17F0A3C5D9B7A1E2' },
          },
          source: { host: '127.0.0.1', port: '', userAgent: 'MinIO (linux; amd64) minio-go/v7' },
        },
      ],
    };
  }

  function bucketName(): string {
    return app.config.storage.driver === 's3' ? app.config.storage.bucket : 'filehub';
  }

  function postEvent(event: unknown, authorization: string | null = `Bearer ${EVENTS_TOKEN}`) {
    return fetch(`${app.url}/api/storage-events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: typeof event === 'string' ? event : JSON.stringify(event),
    });
  }

  async function storageKeyOf(id: string): Promise<string> {
    return (await app.db.file.findUniqueOrThrow({ where: { id } })).storageKey;
  }

  async function processJobsOf(id: string): Promise<number> {
    return app.db.outboxJob.count({ where: { name: 'file.process', payload: { path: ['fileId'], equals: id } } });
  }

  describe('file types', () => {
    it('GET /api/file-types lists the registry with id, name, mimeTypes and extensions', async () => {
      const { status, body } = await api('GET', '/api/file-types', user);
      expect(status).toBe(200);
      expect(Array.isArray(body)).toBe(true);
      for (const type of body as unknown as Json[]) {
        expect(Object.keys(type).sort()).toEqual(FILE_TYPE_FIELDS);
        expect(typeof type.id).toBe('string');
        expect(typeof type.name).toBe('string');
        expect(Array.isArray(type.mimeTypes)).toBe(true);
        expect(Array.isArray(type.extensions)).toBe(true);
      }
      const byKey = Object.fromEntries((body as unknown as Json[]).map((t) => [t.key, t]));
      expect(Object.keys(byKey)).toEqual(expect.arrayContaining(['default', 'image', 'pdf', 'document']));
      expect(byKey.pdf).toEqual({
        id: PDF_TYPE_ID,
        key: 'pdf',
        name: 'PDF document',
        mimeTypes: ['application/pdf'],
        extensions: ['pdf'],
        maxBytes: null,
        defaultVisibility: 'private',
      });
      expect(byKey.image.mimeTypes).toEqual(['image/*']);
      expect((await api('GET', `/api/file-types/${PDF_TYPE_ID}`, user)).body).toEqual(byKey.pdf);
      expect((await api('GET', '/api/file-types')).status).toBe(401);
    });

    it('admins create, edit and delete file types; user and service tokens are refused', async () => {
      const floorPlan = { key: 'floor-plan', name: 'Floor plan', mimeTypes: ['application/pdf', 'IMAGE/*'], extensions: ['.PDF', 'png'], maxBytes: 5000 };
      for (const token of [user, service]) {
        const refused = await api('POST', '/api/file-types', token, floorPlan);
        expect(refused.status).toBe(403);
        expect(refused.body.message).toBe('Managing file types needs an admin token');
      }

      const created = await api('POST', '/api/file-types', admin, floorPlan);
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.any(String),
        key: 'floor-plan',
        name: 'Floor plan',
        mimeTypes: ['application/pdf', 'image/*'],
        extensions: ['pdf', 'png'],
        maxBytes: 5000,
        defaultVisibility: 'private',
      });
      const id = created.body.id as string;
      expect((await api('GET', '/api/file-types', user)).body).toContainEqual(created.body);

      const duplicate = await api('POST', '/api/file-types', admin, floorPlan);
      expect(duplicate.status).toBe(409);
      expect(duplicate.body.message).toBe("A file type with key 'floor-plan' already exists");

      const patched = await api('PATCH', `/api/file-types/${id}`, admin, { name: 'Grundriss', maxBytes: null, defaultVisibility: 'public' });
      expect(patched.status).toBe(200);
      expect(patched.body).toEqual({ ...created.body, name: 'Grundriss', maxBytes: null, defaultVisibility: 'public' });
      expect((await api('PATCH', `/api/file-types/${id}`, user, { name: 'x' })).status).toBe(403);

      // In use by a file: it stays.
      await createFile({ originalFilename: 'plan.pdf', fileTypeId: id });
      const inUse = await api('DELETE', `/api/file-types/${id}`, admin);
      expect(inUse.status).toBe(409);
      expect(inUse.body.message).toBe("File type 'floor-plan' is still used by files and cannot be deleted");

      const spare = await api('POST', '/api/file-types', admin, { key: 'spare', name: 'Spare' });
      expect(spare.status).toBe(201);
      expect(spare.body).toMatchObject({ mimeTypes: [], extensions: [], maxBytes: null });
      expect((await api('DELETE', `/api/file-types/${spare.body.id}`, user)).status).toBe(403);
      expect((await api('DELETE', `/api/file-types/${spare.body.id}`, admin)).status).toBe(204);
      expect((await api('GET', `/api/file-types/${spare.body.id}`, user)).status).toBe(404);
      expect((await api('DELETE', `/api/file-types/${spare.body.id}`, admin)).status).toBe(404);

      const defaultType = (await api('GET', '/api/file-types', user)).body as unknown as Json[];
      const undeletable = await api('DELETE', `/api/file-types/${defaultType.find((t) => t.key === 'default')!.id}`, admin);
      expect(undeletable.status).toBe(409);
      expect(undeletable.body.message).toBe("The 'default' file type cannot be deleted");
    });

    it.each([
      [{ name: 'No key' }, /^key: /],
      [{ key: 'no-name' }, /^name: /],
      [{ key: 'Bad Key!', name: 'x' }, /^key must be 1 to 63 characters/],
      [{ key: 'x', name: '   ' }, /^name must be 1 to 200 characters$/],
      [{ key: 'x', name: 'x', mimeTypes: ['pdf'] }, /^mimeTypes: "pdf" is not a MIME type/],
      [{ key: 'x', name: 'x', mimeTypes: 'application/pdf' }, /^mimeTypes: /],
      [{ key: 'x', name: 'x', extensions: ['p d f'] }, /^extensions: "p d f" is not a file extension/],
      [{ key: 'x', name: 'x', maxBytes: 0 }, /^maxBytes: /],
      [{ key: 'x', name: 'x', maxBytes: 1.5 }, /^maxBytes: /],
      [{ key: 'x', name: 'x', maxBytes: '100' }, /^maxBytes: /],
      [{ key: 'x', name: 'x', defaultVisibility: 'secret' }, /^defaultVisibility: /],
      [{ key: 'x', name: 'x', colour: 'red' }, /Unrecognized key: "colour"/],
    ])('POST /api/file-types %j is a 400 with a message', async (body, message) => {
      const res = await api('POST', '/api/file-types', admin, body);
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(message);
    });

    it('refuses to change a key and answers 404 for an unknown type and 400 for a malformed id', async () => {
      const keyChange = await api('PATCH', `/api/file-types/${PDF_TYPE_ID}`, admin, { key: 'renamed' });
      expect(keyChange.status).toBe(400);
      expect(keyChange.body.message).toMatch(/Unrecognized key: "key"/);
      const missing = await api('PATCH', '/api/file-types/9b2f6a1e-0000-4000-8000-000000000000', admin, { name: 'x' });
      expect(missing.status).toBe(404);
      expect(missing.body.message).toBe('File type 9b2f6a1e-0000-4000-8000-000000000000 was not found');
      expect((await api('GET', '/api/file-types/nope', user)).status).toBe(400);
    });
  });

  describe('upload flow', () => {
    it('create → PUT URL → PUT bytes → complete (twice) → meta with fileSize and pageCount → download and thumbnail URLs', async () => {
      const created = await createFile({
        originalFilename: 'Mietvertrag Wohnung 7.pdf',
        fileTypeId: PDF_TYPE_ID,
        externalId: 'ext-4711',
        links: [
          { entityName: 'unit', entityReference: '42' },
          { entityName: 'contract', entityReference: 'C-7' },
        ],
      });
      expect(Object.keys(created).sort()).toEqual(FILE_FIELDS);
      expect(created).toMatchObject({
        originalFilename: 'Mietvertrag Wohnung 7.pdf',
        fileTypeId: PDF_TYPE_ID,
        externalId: 'ext-4711',
        contentType: 'application/pdf',
        status: 'UPLOADING',
        failureReason: null,
        fileSize: null,
        pageCount: null,
      });
      expect(created.links.map((l: Json) => [l.entityName, l.entityReference])).toEqual([
        ['unit', '42'],
        ['contract', 'C-7'],
      ]);
      const id = created.id as string;

      const early = await api('POST', `/api/files/${id}/complete`, user);
      expect(early.status).toBe(409);
      expect(early.body.message).toBe(`File ${id} has not been uploaded yet`);
      expect((await api('GET', `/api/files/${id}/meta`, user)).body.status).toBe('UPLOADING');
      const noBytes = await api('GET', `/api/files/${id}/download-url`, user);
      expect(noBytes.status).toBe(409);
      expect(noBytes.body.message).toMatch(/has no content to download/);

      const upload = await api('PUT', `/api/files/${id}/upload`, user);
      expect(upload.status).toBe(200);
      expect(Object.keys(upload.body).sort()).toEqual(['expiresAt', 'uploadUrl']);
      const expiresIn = new Date(upload.body.expiresAt).getTime() - Date.now();
      expect(expiresIn).toBeGreaterThan(0);
      expect(expiresIn).toBeLessThanOrEqual(TTL_SECONDS * 1000);
      const put = await fetch(upload.body.uploadUrl, { method: 'PUT', headers: { 'content-type': 'application/pdf' }, body: PDF });
      expect(put.status).toBeLessThan(300);

      const first = await api('POST', `/api/files/${id}/complete`, user);
      expect(first.status).toBe(200);
      expect(Object.keys(first.body).sort()).toEqual(FILE_FIELDS);
      expect(first.body).toMatchObject({ id, fileSize: PDF.length });
      expect(['PROCESSING', 'READY']).toContain(first.body.status);
      const second = await api('POST', `/api/files/${id}/complete`, user);
      expect(second.status).toBe(200);
      expect(second.body).toMatchObject({ id, fileSize: PDF.length });
      expect(['PROCESSING', 'READY']).toContain(second.body.status);
      // Idempotent: one version, one processing job.
      expect(await app.db.fileVersion.count({ where: { fileId: id } })).toBe(1);
      expect(await processJobsOf(id)).toBe(1);

      // No more bytes once accepted.
      const again = await api('PUT', `/api/files/${id}/upload`, user);
      expect(again.status).toBe(409);
      expect(again.body.message).toMatch(/takes no more bytes/);

      await app.waitForStatus(id, user, ['READY', 'FAILED']);
      const meta = await api('GET', `/api/files/${id}/meta`, colleague);
      expect(meta.status).toBe(200);
      expect(Object.keys(meta.body).sort()).toEqual(FILE_FIELDS);
      // pageCount is computed by the post-upload job from the bytes.
      expect(meta.body).toMatchObject({ id, status: 'READY', fileSize: PDF.length, pageCount: 3, failureReason: null });

      const download = await api('GET', `/api/files/${id}/download-url`, colleague);
      expect(download.status).toBe(200);
      expect(Object.keys(download.body).sort()).toEqual(['expiresAt', 'url']);
      expect(new Date(download.body.expiresAt).getTime()).toBeGreaterThan(Date.now());
      const bytes = await fetch(download.body.url);
      expect(bytes.status).toBe(200);
      expect(bytes.headers.get('content-type')).toBe('application/pdf');
      expect(bytes.headers.get('content-disposition')).toContain('attachment; filename="Mietvertrag Wohnung 7.pdf"');
      expect(Buffer.from(await bytes.arrayBuffer()).equals(PDF)).toBe(true);

      const thumbnail = await api('GET', `/api/files/${id}/thumbnail-url`, colleague);
      expect(thumbnail.status).toBe(200);
      expect(Object.keys(thumbnail.body).sort()).toEqual(['expiresAt', 'isFallback', 'url']);
      expect(thumbnail.body.isFallback).toBe(true);
      const fallback = await fetch(thumbnail.body.url);
      expect(fallback.status).toBe(200);
      expect(Buffer.from(await fallback.arrayBuffer()).equals(PDF)).toBe(true);
      expect((await api('GET', `/api/files/${id}/thumbnail-url?width=64`, colleague)).body.isFallback).toBe(true);
    });

    it('stores the bytes under hashed names: the filename appears in no storage key and no upload URL', async () => {
      const name = 'Geheimer-Name-Zimmer-9.pdf';
      const created = await createFile({ originalFilename: name, fileTypeId: PDF_TYPE_ID });
      const uploadUrl = await putBytes(created.id, PDF, 'application/pdf');
      expect((await api('POST', `/api/files/${created.id}/complete`, user)).status).toBe(200);

      const key = await storageKeyOf(created.id);
      expect(key).toMatch(/^objects\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}$/);
      expect(await storageKeys()).toContain(key);
      for (const stored of await storageKeys()) {
        // staging/: where direct uploads land before completion copies them (removed by a job right after).
        expect(stored).toMatch(/^(objects|derived|staging)\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}$/);
        expect(stored.toLowerCase()).not.toContain('geheim');
      }
      expect(decodeURIComponent(uploadUrl).toLowerCase()).not.toContain('geheim');
      expect(uploadUrl).not.toContain(created.id);
    });

    it('links files to domain objects, queryable from the file and from the object', async () => {
      const a = await createFile({ originalFilename: 'a.pdf', fileTypeId: PDF_TYPE_ID, links: [{ entityName: 'unit', entityReference: 'U-100' }] });
      const b = await createFile({ originalFilename: 'b.pdf', fileTypeId: PDF_TYPE_ID, links: [{ entityName: 'unit', entityReference: 'U-200' }] });

      const byUnit = await api('GET', '/api/files?entityName=unit&entityReference=U-100', colleague);
      expect(byUnit.status).toBe(200);
      expect(Object.keys(byUnit.body).sort()).toEqual(['data', 'totalCount']);
      expect(byUnit.body.totalCount).toBe(1);
      expect(byUnit.body.data.map((f: Json) => f.id)).toEqual([a.id]);
      expect(Object.keys(byUnit.body.data[0]).sort()).toEqual(FILE_FIELDS);

      const linked = await api('POST', `/api/files/${b.id}/links`, user, { entityName: 'party', entityReference: 'P-1' });
      expect(linked.status).toBe(201);
      expect(linked.body).toEqual({ id: expect.any(String), entityName: 'party', entityReference: 'P-1' });
      // The same link twice is the same link.
      expect((await api('POST', `/api/files/${b.id}/links`, user, { entityName: 'party', entityReference: 'P-1' })).body.id).toBe(linked.body.id);
      expect((await api('GET', `/api/files/${b.id}/meta`, user)).body.links).toHaveLength(2);
      expect((await api('GET', '/api/files?entityName=party&entityReference=P-1', user)).body.data.map((f: Json) => f.id)).toEqual([b.id]);
      expect((await api('GET', '/api/files?entityName=unit', user)).body.totalCount).toBeGreaterThanOrEqual(2);
      expect((await api('GET', '/api/files?entityName=unit&entityReference=U-100', mallory)).body).toEqual({ data: [], totalCount: 0 });
      // Reading is not writing: a colleague without a service token may not link someone else's file.
      expect((await api('POST', `/api/files/${b.id}/links`, colleague, { entityName: 'party', entityReference: 'P-2' })).status).toBe(403);
    });

    it('answers 404 to another tenant on every route, and 401 without a token', async () => {
      const created = await createFile({ originalFilename: 'private.pdf', fileTypeId: PDF_TYPE_ID });
      const id = created.id as string;
      for (const [method, path, body] of [
        ['GET', `/api/files/${id}/meta`],
        ['PUT', `/api/files/${id}/upload`],
        ['POST', `/api/files/${id}/complete`],
        ['GET', `/api/files/${id}/download-url`],
        ['GET', `/api/files/${id}/thumbnail-url`],
        ['POST', `/api/files/${id}/links`, { entityName: 'unit', entityReference: '1' }],
      ] as const) {
        const res = await api(method, path, mallory, body);
        expect(res.status).toBe(404);
        expect(res.body.message).toBe(`File ${id} was not found`);
        expect((await api(method, path, undefined, body)).status).toBe(401);
      }
      expect((await api('GET', `/api/files/${id}/meta`, user)).body.status).toBe('UPLOADING');
    });

    it.each([
      [{}, /^originalFilename: /],
      [{ originalFilename: 'a.pdf' }, /^fileTypeId: /],
      [{ originalFilename: '', fileTypeId: PDF_TYPE_ID }, /^originalFilename: must not be empty$/],
      [{ originalFilename: 'a\nb.pdf', fileTypeId: PDF_TYPE_ID }, /^originalFilename: must not contain control characters$/],
      [{ originalFilename: 'x'.repeat(256), fileTypeId: PDF_TYPE_ID }, /^originalFilename: must be at most 255 characters$/],
      [{ originalFilename: 'a.pdf', fileTypeId: 42 }, /^fileTypeId: /],
      [{ originalFilename: 'a.pdf', fileTypeId: 'no-such-type' }, /^Unknown fileTypeId 'no-such-type'/],
      [{ originalFilename: 'a.pdf', fileTypeId: PDF_TYPE_ID, links: 'unit' }, /^links: /],
      [{ originalFilename: 'a.pdf', fileTypeId: PDF_TYPE_ID, links: [{ entityName: 'unit' }] }, /^links\.0\.entityReference: /],
      [{ originalFilename: 'a.pdf', fileTypeId: PDF_TYPE_ID, externalId: '' }, /^externalId: must not be empty$/],
    ])('POST /api/files %j is a 400 with a message', async (body, message) => {
      const res = await api('POST', '/api/files', user, body);
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(message);
    });

    it('refuses other bad input with a 4xx and a message', async () => {
      const wrongType = await api('POST', '/api/files', user, { originalFilename: 'a.txt', fileTypeId: PDF_TYPE_ID, contentType: 'text/plain' });
      expect(wrongType.status).toBe(415);
      expect(wrongType.body.message).toMatch(/does not accept text\/plain/);

      const noBody = await api('POST', '/api/files', user);
      expect(noBody.status).toBe(400);
      expect(noBody.body.message).toMatch(/Expected a JSON body/);

      const broken = await fetch(`${app.url}/api/files`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user}`, 'content-type': 'application/json' },
        body: '{"originalFilename": ',
      });
      expect(broken.status).toBe(400);
      expect(((await broken.json()) as Json).message).toBeTruthy();

      expect((await api('GET', '/api/files/not-a-uuid/meta', user)).status).toBe(400);
      const created = await createFile({ originalFilename: 'w.pdf', fileTypeId: PDF_TYPE_ID });
      for (const width of ['0', '5000', 'big', '-1']) {
        const res = await api('GET', `/api/files/${created.id}/thumbnail-url?width=${width}`, user);
        expect(res.status).toBe(400);
        expect(res.body.message).toMatch(/^width: must be a whole number of pixels/);
      }
      for (const query of ['page=0', 'limit=1000', 'page=x']) {
        const res = await api('GET', `/api/files?${query}`, user);
        expect(res.status).toBe(400);
        expect(res.body.message).toMatch(/must be a whole number/);
      }
      const badLink = await api('POST', `/api/files/${created.id}/links`, user, { entityName: 'unit', entityReference: 'r'.repeat(501) });
      expect(badLink.status).toBe(400);
      expect(badLink.body.message).toBe('entityReference: must be at most 500 characters');
    });
  });

  describe('bucket notifications (POST /api/storage-events)', () => {
    it('completes an upload from a MinIO event alone, idempotently with the explicit call', async () => {
      const created = await createFile({ originalFilename: 'notified.pdf', fileTypeId: PDF_TYPE_ID });
      const id = created.id as string;
      await putBytes(id, PDF, 'application/pdf');
      const key = await storageKeyOf(id);

      const res = await postEvent(minioEvent(key));
      expect(res.status).toBe(200);
      const answer = (await res.json()) as Json;
      expect(answer.records).toHaveLength(1);
      expect(answer.records[0]).toMatchObject({ key, outcome: 'completed' });
      expect(['PROCESSING', 'READY']).toContain(answer.records[0].status);

      const meta = await api('GET', `/api/files/${id}/meta`, user);
      expect(meta.body.fileSize).toBe(PDF.length);
      expect(meta.body.status).not.toBe('UPLOADING');

      // Whichever comes second changes nothing.
      const explicit = await api('POST', `/api/files/${id}/complete`, user);
      expect(explicit.status).toBe(200);
      expect(explicit.body.fileSize).toBe(PDF.length);
      const repeated = (await (await postEvent(minioEvent(key))).json()) as Json;
      expect(repeated.records[0].outcome).toBe('completed');
      expect(await processJobsOf(id)).toBe(1);
      expect((await app.waitForStatus(id, user, ['READY', 'FAILED'])).status).toBe('READY');
    });

    it('ignores events that are not uploads of ours and refuses one whose bytes are missing', async () => {
      const waiting = await createFile({ originalFilename: 'waiting.pdf', fileTypeId: PDF_TYPE_ID });
      const key = await storageKeyOf(waiting.id);

      const outcome = async (event: Json) => {
        const res = await postEvent(event);
        expect(res.status).toBe(200);
        return ((await res.json()) as Json).records[0] as Json;
      };
      expect(await outcome(minioEvent('objects/00/00/unknown'))).toMatchObject({ outcome: 'ignored', reason: 'no file has this key' });
      expect(await outcome(minioEvent(key, 's3:ObjectRemoved:Delete'))).toMatchObject({ outcome: 'ignored' });
      expect(await outcome(minioEvent(key))).toMatchObject({ key, outcome: 'refused', reason: `File ${waiting.id} has not been uploaded yet` });
      if (app.config.storage.driver === 's3') {
        expect(await outcome(minioEvent(key, 's3:ObjectCreated:Put', 'some-other-bucket'))).toMatchObject({ outcome: 'ignored' });
      }
      expect((await api('GET', `/api/files/${waiting.id}/meta`, user)).body.status).toBe('UPLOADING');
    });

    it('needs the shared token and a MinIO-shaped event', async () => {
      const event = minioEvent('objects/00/00/whatever');
      const missing = await postEvent(event, null);
      expect(missing.status).toBe(401);
      expect(((await missing.json()) as Json).message).toMatch(/Missing storage event token/);
      const wrong = await postEvent(event, 'Bearer not-the-token');
      expect(wrong.status).toBe(403);
      expect(((await wrong.json()) as Json).message).toBe('The storage event token is not valid');
      // A user's JWT is not the webhook's token.
      expect((await postEvent(event, `Bearer ${admin}`)).status).toBe(403);

      for (const [body, message] of [
        [{}, /^Records: /],
        [{ Records: [] }, /^Records: must hold at least one record$/],
        [{ Records: [{ eventName: 's3:ObjectCreated:Put' }] }, /^Records\.0\.s3: /],
        [{ Records: [{ eventName: 's3:ObjectCreated:Put', s3: { bucket: { name: 'b' }, object: { key: 7 } } }] }, /^Records\.0\.s3\.object\.key: /],
        ['[1, 2', /./],
      ] as const) {
        const res = await postEvent(body);
        expect(res.status).toBe(400);
        expect(((await res.json()) as Json).message).toMatch(message);
      }
    });
  });
});

// The real thing: MinIO's own webhook target (configured by scripts/services.sh) tells the API that the bytes
// arrived. No explicit completion call is made.
(PROFILE === 'full' ? describe : describe.skip)('facilioo completion by MinIO bucket notification alone', () => {
  let app: TestApp;

  beforeAll(async () => {
    const port = Number(requiredEnv('FILEHUB_EVENTS_PORT'));
    app = await startTestApp({ STORAGE_EVENTS_TOKEN: requiredEnv('FILEHUB_EVENTS_TOKEN') }, { port });
  });
  afterAll(() => app?.close());

  it('create → PUT URL → PUT bytes → READY with fileSize and pageCount 3, completed by the notification', async () => {
    if (app.config.storage.driver !== 's3') throw new Error('the full profile runs on S3');
    const { endpoint, region, bucket, accessKeyId, secretAccessKey, forcePathStyle } = app.config.storage;
    const s3 = new S3Client({ endpoint, region, forcePathStyle, credentials: { accessKeyId, secretAccessKey } });
    try {
      await s3.send(
        new PutBucketNotificationConfigurationCommand({
          Bucket: bucket,
          NotificationConfiguration: {
            QueueConfigurations: [{ QueueArn: requiredEnv('FILEHUB_EVENTS_ARN'), Events: ['s3:ObjectCreated:*'] }],
          },
        }),
      );
    } catch (error) {
      throw new Error(`MinIO has no webhook target for this test; restart it with scripts/services.sh down && up (${String(error)})`);
    }
    const token = app.token({ sub: 'frieda', org: 'hausverwaltung' });
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${app.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: (await res.json()) as Json };
    };
    const created = await call('POST', '/api/files', { originalFilename: 'Hausordnung.pdf', fileTypeId: PDF_TYPE_ID });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const upload = await call('PUT', `/api/files/${id}/upload`);
    const put = await fetch(upload.body.uploadUrl, { method: 'PUT', headers: { 'content-type': 'application/pdf' }, body: PDF });
    expect(put.status).toBe(200);

    const ready = await app.waitForStatus(id, token, ['READY', 'FAILED']);
    expect(ready.status).toBe('READY');
    const meta = await call('GET', `/api/files/${id}/meta`);
    expect(meta.body).toMatchObject({ id, status: 'READY', fileSize: PDF.length, pageCount: 3 });
    // Nobody called /complete: the one processing job came from the notification.
    expect(await app.db.outboxJob.count({ where: { name: 'file.process', payload: { path: ['fileId'], equals: id } } })).toBe(1);
  });
});

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`test:full needs ${name}; see scripts/services.sh env`);
  return value;
}
