import { startTestApp, type TestApp } from './support/test-app';
import { waitFor } from './support/wait';

// Quotas per organization and per user, refused with 413 QUOTA_EXCEEDED on every upload path, and reported.

const CLIENT_SECRET = 'quota-client-secret-0123456789';

describe('quotas', () => {
  let app: TestApp;
  let admin: string;

  beforeAll(async () => {
    app = await startTestApp({ FILE_CLIENTS: JSON.stringify({ 'quota-app': CLIENT_SECRET }), QUOTA_USER_FILES: '1000' });
    admin = app.token({ sub: 'root', org: 'ops', role: 'admin' });
  });
  afterAll(() => app?.close());

  const json = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${app.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
  };
  const multipart = async (path: string, token: string, bytes: Buffer, fields: Record<string, string> = {}) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('file', new Blob([bytes], { type: 'text/plain' }), 'q.txt');
    const res = await fetch(`${app.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('lets only admins set limits, and reports usage against them', async () => {
    const user = app.token({ sub: 'qa', org: 'q1' });
    expect((await json('PUT', '/quotas/org/q1', user, { maxFiles: 3 })).status).toBe(403);
    expect((await json('PUT', '/quotas/org/q1', admin, {})).status).toBe(400);
    expect((await json('PUT', '/quotas/team/q1', admin, { maxFiles: 3 })).status).toBe(400);
    const set = await json('PUT', '/quotas/org/q1', admin, { maxFiles: 3 });
    expect(set).toMatchObject({ status: 200, body: { scope: 'org', id: 'q1', usedFiles: 0, maxFiles: 3, maxBytes: null } });
    const mine = await json('GET', '/quota', user);
    expect(mine.body.data).toEqual([
      expect.objectContaining({ scope: 'org', id: 'q1', maxFiles: 3 }),
      expect.objectContaining({ scope: 'user', id: 'qa', maxFiles: 1000 }),
    ]);
  });

  it('refuses one file too many on every upload path with 413 and a message, storing nothing', async () => {
    const user = app.token({ sub: 'qa', org: 'q1' });
    const service = app.token({ sub: 'svc', org: 'q1', role: 'service' });
    for (let i = 0; i < 3; i++) expect((await multipart('/files', user, Buffer.from(`file ${i}`))).status).toBe(201);
    const objects = await app.countObjects();
    const rows = await app.db.file.count();

    const ours = await multipart('/files', user, Buffer.from('one too many'));
    expect(ours).toMatchObject({ status: 413, body: { code: 'QUOTA_EXCEEDED', message: 'Quota exceeded: organization q1 has 3 of 3 files' } });
    const chainsite = await multipart('/v1/upload', user, Buffer.from('one too many'));
    expect(chainsite).toMatchObject({ status: 413, body: { status: 'error', message: expect.stringMatching(/Quota exceeded/) } });
    const meta = { dv: 1, sender: { dv: 1, fingerprint: 'quota-test' }, user: { id: 'qa' }, fileClientId: 'quota-app', modelNames: ['Doc'], organization: { id: 'q1' } };
    const signed = await multipart('/api/files/upload', user, Buffer.from('one too many'), { meta: JSON.stringify(meta) });
    expect(signed).toMatchObject({ status: 413, body: { message: expect.stringMatching(/Quota exceeded/), errors: [expect.objectContaining({ extensions: expect.objectContaining({ type: 'PAYLOAD_TOO_LARGE' }) })] } });
    const types = await json('GET', '/api/file-types', user);
    const facilioo = await json('POST', '/api/files', user, { originalFilename: 'q.txt', fileTypeId: types.body.find((t: { name: string }) => /default/i.test(t.name))?.id ?? types.body[0].id });
    expect(facilioo).toMatchObject({ status: 413, body: { message: expect.stringMatching(/Quota exceeded/) } });
    const epilot = await json('POST', '/v2/files/upload', user, { filename: 'q.txt' });
    expect(epilot).toMatchObject({ status: 413, body: { status: 413, error: expect.stringMatching(/Quota exceeded/) } });
    const graphql = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${service}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { createFileUpload(file: {name: "q.txt", contentType: "text/plain", fileCategory: "default"}) { id } }' }),
    });
    const gql = (await graphql.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(gql.errors[0]).toMatchObject({ message: expect.stringMatching(/Quota exceeded/), extensions: { code: 'QUOTA_EXCEEDED' } });

    expect(await app.db.file.count()).toBe(rows);
    expect(await app.countObjects()).toBe(objects);
  });

  it('cuts an upload at the bytes left, and refuses bytes that arrive straight in storage when the upload completes', async () => {
    const user = app.token({ sub: 'qb', org: 'q2' });
    await json('PUT', '/quotas/org/q2', admin, { maxBytes: 1000 });
    expect((await multipart('/files', user, Buffer.alloc(600, 1))).status).toBe(201);
    const objects = await app.countObjects();
    const over = await multipart('/files', user, Buffer.alloc(600, 2));
    expect(over).toMatchObject({ status: 413, body: { code: 'QUOTA_EXCEEDED', message: 'Quota exceeded: organization q2 uses 600 of 1000 bytes' } });
    expect(await app.countObjects()).toBe(objects);

    // facilioo: the record is admitted (bytes unknown), the PUT goes straight to storage, completion refuses.
    const types = await json('GET', '/api/file-types', user);
    const created = await json('POST', '/api/files', user, { originalFilename: 'big.txt', fileTypeId: types.body[0].id, contentType: 'text/plain' });
    expect(created.status).toBe(201);
    const { body: target } = await json('PUT', `/api/files/${created.body.id}/upload`, user);
    expect((await fetch(target.uploadUrl, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: Buffer.alloc(600, 3) })).status).toBeLessThan(300);
    const completed = await json('POST', `/api/files/${created.body.id}/complete`, user);
    expect(completed).toMatchObject({ status: 413, body: { message: expect.stringMatching(/Quota exceeded: organization q2 uses 600 of 1000 bytes/) } });
    const row = await app.db.file.findUniqueOrThrow({ where: { id: created.body.id } });
    expect(row.status).toBe('FAILED');
    // The refused bytes are removed by the delete job the refusal queued (after the answer).
    await waitFor(async () => (await app.countObjects()) === objects, 15_000, 'the refused object to be removed', { intervalMs: 100 });

    // Back to the default (none): the same upload passes.
    await json('PUT', '/quotas/org/q2', admin, { maxBytes: null });
    expect((await multipart('/files', user, Buffer.alloc(600, 4))).status).toBe(201);
  });
});
