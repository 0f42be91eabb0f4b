import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { startTestApp, type TestApp } from './support/test-app';

// A minimal valid PNG (1×1), so sniffing has real bytes to recognise.
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000970485973000003e8000003e801b57b526b' +
    '0000000d49444154089963606060f80f00010401007db2c8df0000000049454e44ae426082',
  'hex',
);

function form(bytes: Buffer, filename: string, type: string, fields: Record<string, string> = {}): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  fd.append('file', new Blob([bytes], { type }), filename);
  return fd;
}

async function upload(app: TestApp, token: string, body: FormData) {
  const res = await fetch(`${app.url}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe('upload → READY → signed download', () => {
  let app: TestApp;
  let alice: string;

  beforeAll(async () => {
    app = await startTestApp({ MAX_UPLOAD_BYTES: String(1024 * 1024), SIGNED_URL_TTL_SECONDS: '3' });
    alice = app.token({ sub: 'alice', org: 'acme' });
  });
  afterAll(() => app?.close());

  it('answers /health with every dependency up', async () => {
    const res = await fetch(`${app.url}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.status).toBe('ok');
    expect(body.checks.database.status).toBe('up');
    expect(body.checks.storage.status).toBe('up');
    expect(body.checks.queue.status).toBe('up');
  });

  it('stores the bytes, hashes them while streaming, and moves the file to READY through the queue', async () => {
    const bytes = randomBytes(300 * 1024);
    const { status, body } = await upload(app, alice, form(bytes, 'data.bin', 'application/octet-stream'));
    expect(status).toBe(201);
    expect(body).toMatchObject({ name: 'data.bin', size: bytes.length, ownerId: 'alice', organizationId: 'acme' });
    expect(body.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(['PROCESSING', 'READY']).toContain(body.status);
    expect(body).not.toHaveProperty('storageKey');

    const ready = await app.waitForStatus(body.id, alice, ['READY', 'FAILED']);
    expect(ready.status).toBe('READY');

    const link = await fetch(`${app.url}/files/${body.id}/download-url`, { headers: { authorization: `Bearer ${alice}` } });
    expect(link.status).toBe(200);
    const { url, expiresAt } = (await link.json()) as { url: string; expiresAt: string };
    expect(new Date(expiresAt).getTime()).toBeGreaterThan(Date.now());

    const download = await fetch(url);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toContain('filename="data.bin"');
    expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);

    const ranged = await fetch(url, { headers: { range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true);

    const tampered = new URL(url);
    const sigParam = [...tampered.searchParams.keys()].find((k) => /signature/i.test(k))!;
    const sig = tampered.searchParams.get(sigParam)!;
    tampered.searchParams.set(sigParam, (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1));
    expect((await fetch(tampered)).status).toBe(403);

    // The behaviour under test is expiry itself, so this waits out the 3-second lifetime.
    await new Promise((r) => setTimeout(r, 3500));
    expect((await fetch(url)).status).toBe(403);
  });

  it('records the type sniffed from the bytes, not the declared one', async () => {
    const { status, body } = await upload(app, alice, form(PNG, 'not-really.txt', 'text/plain'));
    expect(status).toBe(201);
    const ready = await app.waitForStatus(body.id, alice, ['READY', 'FAILED']);
    expect(ready).toMatchObject({ status: 'READY', contentType: 'image/png', declaredContentType: 'text/plain' });
  });

  it('refuses a file over MAX_UPLOAD_BYTES with 413 and leaves no record and no object behind', async () => {
    const before = { records: await app.db.file.count(), objects: await app.countObjects() };
    const { status, body } = await upload(app, alice, form(randomBytes(1024 * 1024 + 10), 'big.bin', 'application/octet-stream'));
    expect(status).toBe(413);
    expect(body.message).toMatch(/larger than the maximum of 1048576 bytes/);
    expect(await app.db.file.count()).toBe(before.records);
    expect(await app.countObjects()).toBe(before.objects);
  });

  it('leaves nothing behind when the client disconnects mid-upload', async () => {
    const before = { records: await app.db.file.count(), objects: await app.countObjects() };
    const boundary = 'xxBOUNDARYxx';
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${app.url}/files`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${alice}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(900 * 1024),
        },
      });
      req.on('error', () => resolve());
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
      req.write(randomBytes(200 * 1024), () => setTimeout(() => {
        req.destroy();
        resolve();
      }, 200));
    });
    // Cleanup runs as the server notices the closed socket; wait for it rather than for a fixed time.
    const deadline = Date.now() + 10_000;
    while ((await app.countObjects()) !== before.objects && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await app.countObjects()).toBe(before.objects);
    expect(await app.db.file.count()).toBe(before.records);
  });

  it('answers 400 with a message for a body that is not multipart or has no file part', async () => {
    const notMultipart = await fetch(`${app.url}/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(notMultipart.status).toBe(400);
    expect(((await notMultipart.json()) as any).message).toMatch(/multipart\/form-data/);

    const fd = new FormData();
    fd.append('other', 'x');
    const noFile = await fetch(`${app.url}/files`, { method: 'POST', headers: { authorization: `Bearer ${alice}` }, body: fd });
    expect(noFile.status).toBe(400);
    expect(((await noFile.json()) as any).message).toMatch(/no 'file' part/);
  });

  it('refuses an unknown category and a type the category does not allow', async () => {
    const unknown = await upload(app, alice, form(PNG, 'a.png', 'image/png', { category: 'nope' }));
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/Unknown file category 'nope'/);
    const wrongType = await upload(app, alice, form(Buffer.from('hi'), 'a.txt', 'text/plain', { category: 'image' }));
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.message).toMatch(/does not accept text\/plain/);
  });
});

describe('authentication and tenancy', () => {
  let app: TestApp;
  let fileId: string;

  beforeAll(async () => {
    app = await startTestApp();
    const res = await upload(app, app.token({ sub: 'alice', org: 'acme' }), form(PNG, 'a.png', 'image/png'));
    fileId = res.body.id;
  });
  afterAll(() => app?.close());

  const get = (token?: string) =>
    fetch(`${app.url}/files/${fileId}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  function b64url(value: object): string {
    return Buffer.from(JSON.stringify(value)).toString('base64url');
  }

  it('answers 401 with a message for a missing, forged, alg:none or expired token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const none = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'alice', org: 'acme', exp: now + 600 })}.`;
    const good = app.token({ sub: 'alice', org: 'acme' });
    const forged = `${good.split('.').slice(0, 2).join('.')}.${Buffer.from('forged').toString('base64url')}`;
    const expired = app.token({ sub: 'alice', org: 'acme' }, -10);
    for (const [token, message] of [
      [undefined, /Missing bearer token/],
      ['not-a-jwt', /not a JWT/],
      [none, /not accepted/],
      [forged, /invalid/],
      [expired, /expired/],
    ] as const) {
      const res = await get(token);
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).message).toMatch(message);
    }
  });

  it('lets the owner and the owner’s organization read, and hides the file from other tenants with 404', async () => {
    expect((await get(app.token({ sub: 'alice', org: 'acme' }))).status).toBe(200);
    expect((await get(app.token({ sub: 'bob', org: 'acme' }))).status).toBe(200);
    const other = await get(app.token({ sub: 'mallory', org: 'evil' }));
    expect(other.status).toBe(404);
    expect(((await other.json()) as any).message).toMatch(/was not found/);
    expect((await get(app.token({ sub: 'alice' }))).status).toBe(404);
    expect((await get(app.token({ sub: 'mallory', org: 'evil', role: 'admin' }))).status).toBe(404);
  });

  it('answers 400 for an id that is not a UUID', async () => {
    const res = await fetch(`${app.url}/files/not-a-uuid`, { headers: { authorization: `Bearer ${app.token({ sub: 'alice' })}` } });
    expect(res.status).toBe(400);
  });

  it('applies the same guard to GraphQL', async () => {
    const query = { query: 'query($id: ID!) { file(fileId: $id) { id name isPublic contentType } }', variables: { id: fileId } };
    const anonymous = await fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(query) });
    const anonBody = (await anonymous.json()) as any;
    expect(anonBody.errors[0].extensions.code).toBe('UNAUTHENTICATED');

    const other = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${app.token({ sub: 'mallory', org: 'evil' })}` },
      body: JSON.stringify(query),
    });
    expect(((await other.json()) as any).errors[0].extensions.code).toBe('NOT_FOUND');

    const owner = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${app.token({ sub: 'alice', org: 'acme' })}` },
      body: JSON.stringify(query),
    });
    expect(((await owner.json()) as any).data.file).toEqual({ id: fileId, name: 'a.png', isPublic: false, contentType: 'image/png' });
  });
});
