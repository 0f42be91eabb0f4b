import { randomBytes } from 'node:crypto';
import { startTestApp, type TestApp } from './support/test-app';

// A minimal valid PNG (1×1), so the recorded type comes from real bytes.
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000970485973000003e8000003e801b57b526b' +
    '0000000d49444154089963606060f80f00010401007db2c8df0000000049454e44ae426082',
  'hex',
);

const MAX_BYTES = 64 * 1024;
const TTL_SECONDS = 2;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
// Every field of the seed's record, and nothing more.
const RECORD_FIELDS = ['__v', '_id', 'bucket', 'createdAt', 'deletedAt', 'meta', 'name', 'size', 'status', 'type', 'updatedAt', 'uploaded_by', 'url'];

type Json = Record<string, any>;

describe('Chainsite /v1/upload (seed 002)', () => {
  let app: TestApp;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    app = await startTestApp({ MAX_UPLOAD_BYTES: String(MAX_BYTES), SIGNED_URL_TTL_SECONDS: String(TTL_SECONDS) });
    for (const sub of ['alice', 'bob', 'carol']) tokens[sub] = app.token({ sub, org: 'pakt' });
    tokens.mallory = app.token({ sub: 'mallory', org: 'elsewhere' });
  });
  afterAll(() => app?.close());

  async function call(method: string, path: string, token?: string, body?: RequestInit["body"]): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${app.url}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {}, body });
    return { status: res.status, body: (await res.json()) as Json };
  }

  function upload(token: string, bytes: Buffer, filename: string, type: string, path = '/v1/upload') {
    const form = new FormData();
    form.append('file', new Blob([bytes], { type }), filename);
    return call('POST', path, token, form);
  }

  function expectRecord(record: Json) {
    expect(Object.keys(record).sort()).toEqual(RECORD_FIELDS);
    expect(record._id).toMatch(UUID);
    expect(typeof record.name).toBe('string');
    expect(typeof record.uploaded_by).toBe('string');
    expect(typeof record.type).toBe('string');
    expect(record.size).toMatch(/^\d+$/);
    expect(typeof record.bucket).toBe('string');
    expect(record.url).toMatch(/^http/);
    expect(Object.keys(record.meta)).toEqual(['originalName']);
    expect(typeof record.status).toBe('boolean');
    expect(record.createdAt).toMatch(ISO);
    expect(record.updatedAt).toMatch(ISO);
    expect(record.__v).toBe(0);
  }

  it('POST /v1/upload answers the seed envelope and record for a public file whose url works without a token', async () => {
    const { status, body } = await upload(tokens.alice, PNG, '80:20 rule.png', 'image/png');
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(['data', 'message', 'status']);
    expect(body).toMatchObject({ status: 'success', message: 'file Uploaded Successfully' });
    const record = body.data;
    expectRecord(record);
    expect(record).toMatchObject({
      name: `public/alice/${record._id}.png`,
      uploaded_by: 'alice',
      type: 'image/png',
      size: String(PNG.length),
      bucket: app.config.storage.driver === 's3' ? app.config.storage.bucket : 'local',
      meta: { originalName: '80:20 rule.png' },
      status: true,
      deletedAt: null,
    });

    const content = await fetch(record.url);
    expect(content.status).toBe(200);
    expect(content.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await content.arrayBuffer()).equals(PNG)).toBe(true);
  });

  it('POST /v1/upload/private: the url refuses without a token; the pre-signed URL works until it expires', async () => {
    const bytes = randomBytes(2048);
    const { status, body } = await upload(tokens.alice, bytes, 'secret.bin', 'application/octet-stream', '/v1/upload/private');
    expect(status).toBe(200);
    expectRecord(body.data);
    const id = body.data._id as string;
    expect(body.data.name).toBe(`private/alice/${id}.bin`);
    expect(body.data.size).toBe('2048');

    const direct = await fetch(body.data.url);
    expect(direct.status).toBe(404);
    expect(Buffer.from(await direct.arrayBuffer()).includes(bytes.subarray(0, 64))).toBe(false);

    const signed = await call('GET', `/v1/upload/url/${id}`, tokens.alice);
    expect(signed.status).toBe(200);
    expect(signed.body).toEqual({ status: 'success', message: 'Success', data: expect.stringMatching(/^http/) });
    const url = signed.body.data as string;
    expect(url).not.toBe(body.data.url);
    const download = await fetch(url);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);

    // The behaviour under test is the expiry itself, so this waits out the URL's lifetime.
    await new Promise((r) => setTimeout(r, TTL_SECONDS * 1000 + 1500));
    expect((await fetch(url)).status).toBe(403);
  });

  it('GET /v1/upload/:id answers the seed details shape; another tenant and a deleted file get a 404 envelope', async () => {
    const { body: uploaded } = await upload(tokens.bob, PNG, 'logo.png', 'image/png');
    const id = uploaded.data._id as string;

    const details = await call('GET', `/v1/upload/${id}`, tokens.bob);
    expect(details.status).toBe(200);
    expect(details.body).toMatchObject({ status: 'success', message: 'Success' });
    expectRecord(details.body.data);
    expect(details.body.data).toEqual({ ...uploaded.data, updatedAt: details.body.data.updatedAt });

    // Same organization: readable (CONTRACT section 2).
    expect((await call('GET', `/v1/upload/${id}`, tokens.alice)).status).toBe(200);
    for (const [method, path] of [
      ['GET', `/v1/upload/${id}`],
      ['GET', `/v1/upload/url/${id}`],
      ['DELETE', `/v1/upload/${id}`],
    ]) {
      const other = await call(method, path, tokens.mallory);
      expect(other.status).toBe(404);
      expect(other.body).toEqual({ status: 'error', message: `File ${id} was not found` });
    }
  });

  it('GET /v1/upload lists the caller’s own files, newest first, with count and pages for 0, 1 and many files', async () => {
    const page = async (query: string) => {
      const res = await call('GET', `/v1/upload${query}`, tokens.carol);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'success', message: 'OK' });
      expect(Object.keys(res.body.data).sort()).toEqual(['count', 'data', 'pages']);
      return res.body.data as { count: number; pages: number; data: Json[] };
    };

    expect(await page('?page=1&limit=10')).toEqual({ count: 0, pages: 0, data: [] });

    const ids: string[] = [];
    ids.push((await upload(tokens.carol, PNG, 'one.png', 'image/png')).body.data._id);
    const one = await page('?page=1&limit=1');
    expect(one).toMatchObject({ count: 1, pages: 1 });
    expect(one.data.map((r) => r._id)).toEqual(ids);
    expectRecord(one.data[0]);

    for (const n of [2, 3, 4, 5]) ids.push((await upload(tokens.carol, PNG, `${n}.png`, 'image/png')).body.data._id);
    // Someone else's upload in the same organization is not "my files".
    await upload(tokens.alice, PNG, 'not-carols.png', 'image/png');
    const newestFirst = [...ids].reverse();

    const first = await page('?page=1&limit=2');
    expect(first).toMatchObject({ count: 5, pages: 3 });
    expect(first.data.map((r) => r._id)).toEqual(newestFirst.slice(0, 2));
    expect((await page('?page=2&limit=2')).data.map((r) => r._id)).toEqual(newestFirst.slice(2, 4));
    expect((await page('?page=3&limit=2')).data.map((r) => r._id)).toEqual(newestFirst.slice(4));
    expect(await page('?page=4&limit=2')).toEqual({ count: 5, pages: 3, data: [] });
    // Defaults: page 1, 10 per page.
    expect(await page('')).toMatchObject({ count: 5, pages: 1 });
    expect((await page('?limit=5')).pages).toBe(1);
    expect((await page('?limit=4')).pages).toBe(2);

    // Another tenant sees none of them.
    const theirs = await call('GET', '/v1/upload', tokens.mallory);
    expect(theirs.body.data).toEqual({ count: 0, pages: 0, data: [] });
  });

  it.each([
    ['page=0', /^page must be a whole number from 1 to 1000000, got 0$/],
    ['page=-1', /^page must be a whole number from 1 to 1000000, got "-1"$/],
    ['page=abc', /^page must be a whole number/],
    ['page=1.5', /^page must be a whole number/],
    ['page=99999999999999999999', /^page must be a whole number/],
    ['page=1000001', /^page must be a whole number from 1 to 1000000, got 1000001$/],
    ['page=1&page=2', /^page must be a whole number .*several values/],
    ['page=', /^page must be a whole number .*an empty value/],
    ['limit=0', /^limit must be a whole number from 1 to 100, got 0$/],
    ['limit=-5', /^limit must be a whole number/],
    ['limit=100000', /^limit must be a whole number from 1 to 100, got 100000$/],
    ['limit=ten', /^limit must be a whole number/],
  ])('GET /v1/upload?%s is a 400 envelope with a message', async (query, message) => {
    const { status, body } = await call('GET', `/v1/upload?${query}`, tokens.alice);
    expect(status).toBe(400);
    expect(body).toEqual({ status: 'error', message: expect.stringMatching(message) });
  });

  it('refuses a file over the maximum size with a 413 envelope and leaves no record and no object behind', async () => {
    const before = { records: await app.db.file.count(), objects: await app.countObjects() };
    const { status, body } = await upload(tokens.alice, randomBytes(MAX_BYTES + 1), 'big.bin', 'application/octet-stream');
    expect(status).toBe(413);
    expect(body).toEqual({
      status: 'error',
      message: `File is larger than the maximum of ${MAX_BYTES} bytes`,
      data: { maxBytes: MAX_BYTES },
    });
    expect(await app.db.file.count()).toBe(before.records);
    expect(await app.countObjects()).toBe(before.objects);

    // Exactly at the limit is accepted.
    expect((await upload(tokens.alice, randomBytes(MAX_BYTES), 'fits.bin', 'application/octet-stream')).status).toBe(200);
  });

  it('DELETE /v1/upload/:id soft-deletes: deletedAt set and status false, then gone from details, URLs and the list', async () => {
    const { body: uploaded } = await upload(tokens.bob, PNG, 'bye.png', 'image/png');
    const id = uploaded.data._id as string;
    const countBefore = (await call('GET', '/v1/upload', tokens.bob)).body.data.count as number;

    // Another member of the organization may read it but not delete it.
    const notTheirs = await call('DELETE', `/v1/upload/${id}`, tokens.alice);
    expect(notTheirs.status).toBe(403);
    expect(notTheirs.body).toEqual({ status: 'error', message: `You may not change file ${id}` });

    const deleted = await call('DELETE', `/v1/upload/${id}`, tokens.bob);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ status: 'success', message: 'file Deleted Successfully' });
    expectRecord(deleted.body.data);
    expect(deleted.body.data).toMatchObject({ _id: id, status: false, deletedAt: expect.stringMatching(ISO) });

    expect((await call('GET', `/v1/upload/${id}`, tokens.bob)).status).toBe(404);
    expect((await call('GET', `/v1/upload/url/${id}`, tokens.bob)).status).toBe(404);
    expect((await call('DELETE', `/v1/upload/${id}`, tokens.bob)).status).toBe(404);
    const list = (await call('GET', '/v1/upload?limit=100', tokens.bob)).body.data;
    expect(list.count).toBe(countBefore - 1);
    expect(list.data.map((r: Json) => r._id)).not.toContain(id);
    // The static url stops serving at once.
    expect((await fetch(uploaded.data.url)).status).toBe(404);
  });

  it('answers bad requests in the envelope: no token, not multipart, no file part, a malformed id', async () => {
    const anonymous = await call('GET', '/v1/upload');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toEqual({ status: 'error', message: expect.stringMatching(/bearer token/i) });

    const notMultipart = await fetch(`${app.url}/v1/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(notMultipart.status).toBe(400);
    expect(await notMultipart.json()).toEqual({ status: 'error', message: expect.stringMatching(/multipart\/form-data/) });

    const form = new FormData();
    form.append('other', 'x');
    const noFile = await call('POST', '/v1/upload/private', tokens.alice, form);
    expect(noFile.status).toBe(400);
    expect(noFile.body).toEqual({ status: 'error', message: "The multipart body has no 'file' part" });

    const badId = await call('GET', '/v1/upload/not-an-id', tokens.alice);
    expect(badId.status).toBe(400);
    expect(badId.body).toEqual({ status: 'error', message: expect.stringMatching(/uuid/i) });
  });
});
