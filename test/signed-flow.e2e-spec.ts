import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt, jwtVerify, SignJWT } from 'jose';
import { LifecycleSweepJob } from '@app/files';
import { attach, buildMeta, configure, FilesApiError, share, upload, verifySignature, type UploadProgress } from '@app/files-client';
import { PROFILE, startTestApp, type TestApp } from './support/test-app';

// The signed REST flow (seed 000, Condo), driven through our SDK as an app would.

const APP_SECRET = 'app-frontend-secret-0123456789';
const OTHER_SECRET = 'other-app-secret-0123456789abc';
const FINGERPRINT = 'e2e-browser-1';
// A minimal valid PNG (1×1), so sniffing has real bytes to recognise.
const PNG_1X1 = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000970485973000003e8000003e801b57b526b' +
    '0000000d49444154089963606060f80f00010401007db2c8df0000000049454e44ae426082',
  'hex',
);
const key = (secret: string) => new TextEncoder().encode(secret);

describe('signed REST flow (/api/files)', () => {
  let app: TestApp;
  let alice: string;
  let bob: string;
  let mallory: string;
  let serverUrl: string;

  beforeAll(async () => {
    app = await startTestApp({ FILE_CLIENTS: JSON.stringify({ 'app-frontend': APP_SECRET, 'other-app': OTHER_SECRET }) });
    serverUrl = app.url;
    alice = app.token({ sub: 'alice', org: 'acme' });
    bob = app.token({ sub: 'bob', org: 'acme' });
    mallory = app.token({ sub: 'mallory', org: 'evil' });
  });
  afterAll(() => app?.close());

  const meta = (overrides: Partial<Parameters<typeof buildMeta>[0]> = {}) =>
    buildMeta({ userId: 'alice', fileClientId: 'app-frontend', modelNames: ['Document'], fingerprint: FINGERPRINT, organizationId: 'acme', ...overrides });

  it('uploads three files in one request: three signatures that verify with the client secret, 300 s each', async () => {
    const contents = [randomBytes(200 * 1024), Buffer.from('%PDF-1.4 not really\n'), PNG_1X1];
    const progress: UploadProgress[] = [];
    const result = await upload({
      serverUrl,
      token: alice,
      files: [
        { buffer: contents[0]!, filename: 'report.bin' },
        new File([contents[1]!], 'notes ü.txt', { type: 'text/plain' }),
        new Blob([PNG_1X1], { type: 'image/png' }),
      ],
      meta: meta(),
      onProgress: (p) => progress.push(p),
    });
    expect(result.files).toHaveLength(3);
    expect(result.files.map((f) => f.originalFilename).slice(0, 2)).toEqual(['report.bin', 'notes ü.txt']);
    expect(new Set(result.files.map((f) => f.id)).size).toBe(3);
    for (const file of result.files) {
      // Independently of our SDK: jose with the secret, algorithm pinned.
      const { payload, protectedHeader } = await jwtVerify(file.signature, key(APP_SECRET), { algorithms: ['HS256'] });
      expect(protectedHeader.alg).toBe('HS256');
      expect(payload.exp! - payload.iat!).toBe(300);
      expect(payload).toMatchObject({
        id: file.id,
        recordId: file.id,
        originalFilename: file.originalFilename,
        meta: {
          dv: 1,
          sender: { dv: 1, fingerprint: FINGERPRINT },
          user: { id: 'alice' },
          fileClientId: 'app-frontend',
          modelNames: ['Document'],
          sourceFileClientId: null,
        },
      });
      for (const field of ['filename', 'mimetype', 'encoding']) expect(typeof payload[field]).toBe('string');
      // The SDK's helper for app backends agrees, and a wrong secret is refused.
      expect((await verifySignature(file.signature, APP_SECRET)).id).toBe(file.id);
      await expect(verifySignature(file.signature, OTHER_SECRET)).rejects.toThrow();
    }
    expect(decodeJwt(result.files[2]!.signature).mimetype).toBe('image/png');
    // Progress went up to the whole body.
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toMatchObject({ percent: 100 });
    expect(progress.at(-1)!.loaded).toBe(progress.at(-1)!.total);
    expect(progress.at(-1)!.total).toBeGreaterThan(200 * 1024);

    // The bytes are there, and the file goes through the same processing as any other.
    const ready = await app.waitForStatus(result.files[0]!.id, alice, ['READY', 'FAILED']);
    expect(ready).toMatchObject({ status: 'READY', size: contents[0]!.length, sha256: createHash('sha256').update(contents[0]!).digest('hex') });
  });

  it("runs the seed's TypeScript example as written", async () => {
    // Stand-ins for the two helpers the example imports from Next.js and Condo's mini-app utils.
    const getConfig = () => ({ publicRuntimeConfig: { fileClientId: 'app-frontend' } });
    const getClientSideSenderInfo = () => ({ fingerprint: 'next-browser-fp' });
    configure({ serverUrl, token: () => alice });
    try {
      // ——— from the seed (and libs/files-client/README.md), unchanged ———
      const { publicRuntimeConfig: { fileClientId } } = getConfig()
      async function uploadFile(file: File, userId: string, organizationId?: string) {
        const senderInfo = getClientSideSenderInfo()
        const uploadResult = await upload({
          files: [file],
          meta: buildMeta({
            userId, // User who will link the file to a model
            fileClientId, // client_id that will own this file
            modelNames: ['Document'], // Models allowed to reference this file
            fingerprint: senderInfo.fingerprint,
            organizationId, // Organization that will own the uploaded file
          }),
        })
        // uploadResult.files[0].signature contains the JWT signature
        // Use this signature in your GraphQL mutation
        return uploadResult.files[0].signature
      }
      // ——— end of the seed's example ———
      const signature = await uploadFile(new File(['hello from the seed'], 'seed.txt', { type: 'text/plain' }), 'alice', 'acme');
      const claims = await verifySignature(signature, APP_SECRET);
      expect(claims).toMatchObject({ originalFilename: 'seed.txt', meta: { user: { id: 'alice' }, fileClientId: 'app-frontend', sender: { fingerprint: 'next-browser-fp' } } });
    } finally {
      configure({ serverUrl: undefined, token: undefined });
    }
  });

  it('attaches inline: each file also carries a publicSignature, and the record is linked', async () => {
    const itemId = `doc-${randomBytes(4).toString('hex')}`;
    const result = await upload({
      serverUrl,
      token: alice,
      files: [{ buffer: Buffer.from('inline one'), filename: 'a.txt' }, { buffer: Buffer.from('inline two'), filename: 'b.txt' }],
      meta: meta(),
      attach: { dv: 1, sender: { dv: 1, fingerprint: FINGERPRINT }, modelName: 'Document', itemId },
    });
    expect(result.files).toHaveLength(2);
    for (const file of result.files) {
      expect(file.attached).toBe(true);
      const pub = await verifySignature(file.publicSignature!, APP_SECRET);
      expect(pub).toMatchObject({ id: file.id, recordId: file.id, originalFilename: file.originalFilename, meta: { fileClientId: 'app-frontend' } });
      expect(pub.exp - pub.iat).toBe(300);
    }
    const linked = await fetch(`${serverUrl}/api/files?entityName=Document&entityReference=${itemId}`, { headers: { authorization: `Bearer ${alice}` } });
    expect(linked.status).toBe(200);
    const body = (await linked.json()) as { data?: { id: string }[] } | { id: string }[];
    const ids = (Array.isArray(body) ? body : (body.data ?? [])).map((f) => f.id).sort();
    expect(ids).toEqual(result.files.map((f) => f.id).sort());
  });

  it('shares a file with another user and app; that user attaches it with the new signature, idempotently', async () => {
    const [original] = (await upload({ serverUrl, token: alice, files: [{ buffer: Buffer.from('shared bytes'), filename: 'share.txt' }], meta: meta() })).files;
    const before = await app.countObjects();
    const shared = await share({
      serverUrl,
      token: alice,
      payload: { dv: 1, sender: { dv: 1, fingerprint: FINGERPRINT }, id: original!.id, user: { id: 'bob' }, fileClientId: 'other-app', modelNames: ['Ticket'] },
    });
    expect(shared.file.id).not.toBe(original!.id);
    // Signed for the target app, with the source remembered; no bytes copied.
    const claims = await verifySignature(shared.file.signature, OTHER_SECRET);
    expect(claims).toMatchObject({ id: shared.file.id, meta: { user: { id: 'bob' }, fileClientId: 'other-app', modelNames: ['Ticket'], sourceFileClientId: 'app-frontend' } });
    await expect(verifySignature(shared.file.signature, APP_SECRET)).rejects.toThrow();
    expect(await app.countObjects()).toBe(before);

    const payload = { dv: 1 as const, sender: { dv: 1 as const, fingerprint: FINGERPRINT }, modelName: 'Ticket', itemId: 'ticket-1', fileClientId: 'other-app', signature: shared.file.signature };
    // Alice may not attach what was issued to Bob.
    await expect(attach({ serverUrl, token: alice, payload })).rejects.toMatchObject({ status: 403 });
    const first = await attach({ serverUrl, token: bob, payload });
    const second = await attach({ serverUrl, token: bob, payload });
    expect(first.file.publicSignature).toBe(first.file.signature);
    expect((await verifySignature(first.file.publicSignature, OTHER_SECRET)).id).toBe(shared.file.id);
    expect(second.file.id).toBe(first.file.id);
    const associations = await app.db.fileAssociation.findMany({ where: { fileId: shared.file.id } });
    expect(associations).toHaveLength(1);
    expect(associations[0]).toMatchObject({ entityName: 'Ticket', entityReference: 'ticket-1' });

    // A model outside the signed modelNames, and the signature presented as another client's, are refused.
    await expect(attach({ serverUrl, token: bob, payload: { ...payload, modelName: 'Invoice' } })).rejects.toMatchObject({ status: 400, field: 'modelName' });
    await expect(attach({ serverUrl, token: bob, payload: { ...payload, fileClientId: 'app-frontend' } })).rejects.toMatchObject({ status: 403 });
    // Someone of another organization cannot share Alice's file: it does not exist for them.
    await expect(
      share({ serverUrl, token: mallory, payload: { dv: 1, sender: { dv: 1, fingerprint: FINGERPRINT }, id: original!.id, user: { id: 'mallory' }, fileClientId: 'other-app' } }),
    ).rejects.toMatchObject({ status: 404 });
  });

  describe('GET /api/files/<id>?sign=', () => {
    let file: { id: string; signature: string };
    let other: { id: string; signature: string };
    const bytes = randomBytes(64 * 1024);

    beforeAll(async () => {
      const result = await upload({
        serverUrl,
        token: alice,
        files: [{ buffer: bytes, filename: 'Résumé "final".bin' }, { buffer: Buffer.from('another file'), filename: 'other.txt' }],
        meta: meta(),
      });
      [file, other] = result.files as unknown as [typeof file, typeof other];
    });

    const get = (id: string, sign: string, headers: Record<string, string> = {}) => fetch(`${serverUrl}/api/files/${id}?sign=${encodeURIComponent(sign)}`, { headers });

    it('streams the file for a signature of that very file, with ranges and a safe disposition', async () => {
      const res = await get(file.id, file.signature);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-disposition')).toContain(`filename*=UTF-8''R%C3%A9sum%C3%A9`);
      const part = await get(file.id, file.signature, { range: 'bytes=10-19' });
      expect(part.status).toBe(206);
      expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(10, 20))).toBe(true);
    });

    it('refuses tampered, expired, other-file, other-client and missing signatures with 403 and a message', async () => {
      const [h, p, s] = file.signature.split('.');
      const claims = decodeJwt(file.signature);
      const tamperedPayload = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp! + 3600 })).toString('base64url');
      const flipped = s!.slice(0, -2) + (s!.at(-2) === 'A' ? 'B' : 'A') + s!.at(-1);
      const now = Math.floor(Date.now() / 1000);
      const expired = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now - 600).setExpirationTime(now - 300).sign(key(APP_SECRET));
      const otherClient = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now).setExpirationTime(now + 300).sign(key(OTHER_SECRET));
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
      const cases: [string, string, string, RegExp][] = [
        ['tampered payload', file.id, `${h}.${tamperedPayload}.${s}`, /not valid|does not verify/],
        ['tampered signature', file.id, `${h}.${p}.${flipped}`, /does not verify/],
        ['expired', file.id, expired, /expired/],
        ['other file', other.id, file.signature, /another file/],
        ['other client', file.id, otherClient, /does not verify/],
        ['alg none', file.id, none, /HS256/],
        ['garbage', file.id, 'not-a-token', /well-formed/],
        ['unknown file', '00000000-0000-4000-8000-000000000000', file.signature, /not valid/],
      ];
      for (const [name, id, sign, message] of cases) {
        const res = await get(id, sign);
        const body = (await res.json()) as { message: string; errors: { extensions: { code: string } }[] };
        expect({ name, status: res.status }).toEqual({ name, status: 403 });
        expect(body.message).toMatch(message);
        expect(body.errors[0]!.extensions.code).toBe('FORBIDDEN');
      }
      const missing = await fetch(`${serverUrl}/api/files/${file.id}`);
      expect(missing.status).toBe(403);
    });
  });

  it('refuses bad meta with a 400 that names the field, and stores nothing', async () => {
    const before = await app.countObjects();
    const rows = await app.db.file.count();
    const files = [{ buffer: randomBytes(1024), filename: 'x.bin' }];
    const cases: [string, Record<string, unknown> | string, string][] = [
      ['unknown fileClientId', meta({ fileClientId: 'nobody' }), 'meta.fileClientId'],
      ['another user', meta({ userId: 'bob' }), 'meta.user.id'],
      ['another organization', meta({ organizationId: 'evil' }), 'meta.organization.id'],
      ['dv 2', { ...meta(), dv: 2 }, 'meta.dv'],
      ['no modelNames', meta({ modelNames: [] }), 'meta.modelNames'],
      ['an unknown key', { ...meta(), extra: true }, 'meta.extra'],
      ['malformed JSON', '{"dv": 1,', 'meta'],
      ['not an object', '[1,2]', 'meta'],
    ];
    for (const [name, value, field] of cases) {
      const form = new FormData();
      // Half the cases send meta after the file (as Condo's client does), so the bytes are stored first and must go.
      if (name.length % 2) form.append('meta', typeof value === 'string' ? value : JSON.stringify(value));
      form.append('file', new Blob([files[0]!.buffer]), 'x.bin');
      if (!(name.length % 2)) form.append('meta', typeof value === 'string' ? value : JSON.stringify(value));
      const res = await fetch(`${serverUrl}/api/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${alice}` }, body: form });
      const body = (await res.json()) as { message: string; field: string; errors: { extensions: { code: string } }[] };
      expect({ name, status: res.status, field: body.field }).toEqual({ name, status: 400, field });
      expect(body.message).toContain(field);
      expect(body.errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
    }
    // The SDK surfaces the same answer as an error with the field.
    await expect(upload({ serverUrl, token: alice, files, meta: meta({ userId: 'bob' }) })).rejects.toMatchObject({ status: 400, field: 'meta.user.id' });
    // Missing meta, and no file at all.
    const noMeta = new FormData();
    noMeta.append('file', new Blob(['x']), 'x.bin');
    const r1 = await fetch(`${serverUrl}/api/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${alice}` }, body: noMeta });
    expect(r1.status).toBe(400);
    expect(((await r1.json()) as { message: string }).message).toMatch(/meta/);
    const noFile = new FormData();
    noFile.append('meta', JSON.stringify(meta()));
    const r2 = await fetch(`${serverUrl}/api/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${alice}` }, body: noFile });
    expect(r2.status).toBe(400);
    expect(((await r2.json()) as { field: string }).field).toBe('file');
    // Without a token: 401.
    await expect(upload({ serverUrl, files, meta: meta() })).rejects.toMatchObject({ status: 401 });
    expect(await app.db.file.count()).toBe(rows);
    await expectEventually(async () => expect(await app.countObjects()).toBe(before));
  });

  it('lets a service token upload for another user of its organization, who then owns the file', async () => {
    const service = app.token({ sub: 'acme-backend', org: 'acme', role: 'service' });
    const result = await upload({ serverUrl, token: service, files: [{ buffer: Buffer.from('for carol'), filename: 'c.txt' }], meta: meta({ userId: 'carol' }) });
    const claims = await verifySignature(result.files[0]!.signature, APP_SECRET);
    expect(claims.meta.user.id).toBe('carol');
    const row = await app.db.file.findUnique({ where: { id: result.files[0]!.id } });
    expect(row).toMatchObject({ ownerId: 'carol', organizationId: 'acme', fileClientId: 'app-frontend' });
  });

  it('stores identical bytes once per organization, and keeps them until the last record is gone', async () => {
    const bytes = randomBytes(128 * 1024);
    const before = await app.countObjects();
    const first = await upload({ serverUrl, token: alice, files: [{ buffer: bytes, filename: 'one.bin' }], meta: meta() });
    await app.waitForStatus(first.files[0]!.id, alice, ['READY']);
    const afterFirst = await app.countObjects();
    // One object (the local driver keeps a small sidecar file beside it, so count what one object costs).
    const perObject = afterFirst - before;
    expect(perObject).toBeGreaterThanOrEqual(1);
    expect(perObject).toBeLessThanOrEqual(2);
    // Again, by another user of the same organization, twice in one request.
    const second = await upload({
      serverUrl,
      token: bob,
      files: [{ buffer: bytes, filename: 'two.bin' }, { buffer: bytes, filename: 'three.bin' }],
      meta: meta({ userId: 'bob' }),
    });
    const ids = [first.files[0]!.id, ...second.files.map((f) => f.id)];
    const rows = await app.db.file.findMany({ where: { id: { in: ids } } });
    expect(new Set(rows.map((r) => r.storageKey)).size).toBe(1);
    for (const f of second.files) await app.waitForStatus(f.id, bob, ['READY']);
    // The staged copies are removed by a job; then storage holds the bytes once.
    await expectEventually(async () => expect(await app.countObjects()).toBe(afterFirst));
    // Each record still serves its own name from the shared object.
    const res = await fetch(`${serverUrl}/api/files/${second.files[1]!.id}?sign=${second.files[1]!.signature}`);
    expect(res.headers.get('content-disposition')).toContain('three.bin');
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    // Another organization's identical bytes are its own object.
    const evilClient = app.token({ sub: 'mallory', org: 'evil' });
    await upload({ serverUrl, token: evilClient, files: [{ buffer: bytes, filename: 'evil.bin' }], meta: meta({ userId: 'mallory', organizationId: 'evil' }) });
    await expectEventually(async () => expect(await app.countObjects()).toBe(afterFirst + perObject));

    // Deleted and past retention: purging the first record leaves the object to the two others…
    const purge = () => app.get<LifecycleSweepJob>(LifecycleSweepJob).handle({ task: 'purge-deleted' });
    const retire = (fileIds: string[]) => app.db.file.updateMany({ where: { id: { in: fileIds } }, data: { deletedAt: new Date(0) } });
    await retire([ids[0]!]);
    expect(await purge()).toMatchObject({ detail: '1 file(s) purged, 0 object(s) removed' });
    const still = await fetch(`${serverUrl}/api/files/${second.files[0]!.id}?sign=${second.files[0]!.signature}`);
    expect(Buffer.from(await still.arrayBuffer()).equals(bytes)).toBe(true);
    // …and the last one takes it along.
    await retire(ids.slice(1));
    expect(await purge()).toMatchObject({ detail: '2 file(s) purged, 1 object(s) removed' });
    expect(await app.countObjects()).toBe(afterFirst);
  });
});

describe('file clients: admin API and secret rotation', () => {
  let app: TestApp;
  let admin: string;
  let alice: string;

  beforeAll(async () => {
    app = await startTestApp({ FILE_CLIENTS: JSON.stringify({ 'env-client': 'env-client-secret-0123456789' }), FILE_CLIENT_ROTATION_GRACE_SECONDS: '600' });
    admin = app.token({ sub: 'root', org: 'acme', role: 'admin' });
    alice = app.token({ sub: 'alice', org: 'acme' });
  });
  afterAll(() => app?.close());

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${app.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: res.status === 204 ? undefined : ((await res.json()) as any) };
  };

  it('registers a client, signs with its secret, and honours the previous secret during the grace after a rotation', async () => {
    expect((await call('POST', '/api/file-clients', alice, { id: 'mobile' })).status).toBe(403);
    const created = await call('POST', '/api/file-clients', admin, { id: 'mobile', name: 'Mobile app' });
    expect(created.status).toBe(201);
    const secret1 = created.body.secret as string;
    expect(secret1.length).toBeGreaterThanOrEqual(32);
    expect((await call('POST', '/api/file-clients', admin, { id: 'mobile' })).status).toBe(409);
    expect((await call('POST', '/api/file-clients', admin, { id: 'env-client' })).status).toBe(409);
    // The secret is stored encrypted, never in clear.
    const row = await app.db.fileClient.findUnique({ where: { id: 'mobile' } });
    expect(row!.secretEncrypted).not.toContain(secret1);
    const listed = await call('GET', '/api/file-clients', admin);
    expect(listed.body.data.map((c: { id: string; source: string }) => `${c.id}:${c.source}`)).toEqual(['env-client:environment', 'mobile:api']);
    expect(JSON.stringify(listed.body)).not.toContain(secret1);

    const meta = buildMeta({ userId: 'alice', fileClientId: 'mobile', modelNames: ['Photo'], fingerprint: FINGERPRINT });
    const uploaded = await upload({ serverUrl: app.url, token: alice, files: [{ buffer: Buffer.from('photo'), filename: 'p.jpg' }], meta });
    const oldSignature = uploaded.files[0]!.signature;
    await verifySignature(oldSignature, secret1);

    const rotated = await call('POST', '/api/file-clients/mobile/rotate', admin, {});
    expect(rotated.status).toBe(200);
    const secret2 = rotated.body.secret as string;
    expect(secret2).not.toBe(secret1);
    expect(new Date(rotated.body.previousSecretValidUntil).getTime()).toBeGreaterThan(Date.now() + 500_000);
    // Old signatures still attach during the grace; new ones are signed with the new secret.
    const attached = await attach({
      serverUrl: app.url,
      token: alice,
      payload: { dv: 1, sender: { dv: 1, fingerprint: FINGERPRINT }, modelName: 'Photo', itemId: 'p1', fileClientId: 'mobile', signature: oldSignature },
    });
    await verifySignature(attached.file.publicSignature, secret2);
    await expect(verifySignature(attached.file.publicSignature, secret1)).rejects.toThrow();

    // A rotation without grace retires the old secret at once.
    await call('POST', '/api/file-clients/mobile/rotate', admin, { graceSeconds: 0 });
    await expect(
      attach({
        serverUrl: app.url,
        token: alice,
        payload: { dv: 1, sender: { dv: 1, fingerprint: FINGERPRINT }, modelName: 'Photo', itemId: 'p2', fileClientId: 'mobile', signature: attached.file.publicSignature },
      }),
    ).rejects.toMatchObject({ status: 403 });
    expect((await call('POST', '/api/file-clients/mobile/rotate', admin, { graceSeconds: -1 })).status).toBe(400);

    expect((await call('DELETE', '/api/file-clients/mobile', admin)).status).toBe(204);
    await expect(upload({ serverUrl: app.url, token: alice, files: [{ buffer: Buffer.from('x'), filename: 'x' }], meta })).rejects.toMatchObject({
      status: 400,
      field: 'meta.fileClientId',
    });
  });
});

describe('signed REST flow rate limits', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({
      FILE_CLIENTS: JSON.stringify({ 'app-frontend': APP_SECRET }),
      RATE_LIMIT_PER_USER: '3',
      RATE_LIMIT_PER_IP: '100',
      RATE_LIMIT_WINDOW_SECONDS: '60',
    });
  });
  afterAll(() => app?.close());

  it('answers 429 with Retry-After past the per-user limit, and other users still pass', async () => {
    const dave = app.token({ sub: 'dave', org: 'acme' });
    const meta = buildMeta({ userId: 'dave', fileClientId: 'app-frontend', modelNames: ['Document'], fingerprint: FINGERPRINT });
    const files = [{ buffer: Buffer.from('limited'), filename: 'l.txt' }];
    for (let i = 0; i < 3; i++) await upload({ serverUrl: app.url, token: dave, files, meta });
    const form = new FormData();
    form.append('meta', JSON.stringify(meta));
    form.append('file', new Blob(['limited']), 'l.txt');
    const res = await fetch(`${app.url}/api/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${dave}` }, body: form });
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = (await res.json()) as { message: string; errors: { extensions: { code: string; type: string } }[] };
    expect(body.message).toMatch(/Too many requests/);
    expect(body.errors[0]!.extensions).toMatchObject({ code: 'TOO_MANY_REQUESTS', type: 'RATE_LIMIT_EXCEEDED' });
    const erin = app.token({ sub: 'erin', org: 'acme' });
    await expect(
      upload({ serverUrl: app.url, token: erin, files, meta: { ...meta, user: { id: 'erin' } } }),
    ).resolves.toMatchObject({ files: [expect.objectContaining({ originalFilename: 'l.txt' })] });
    await expect(upload({ serverUrl: app.url, token: dave, files, meta })).rejects.toBeInstanceOf(FilesApiError);
  });

  // Full stack: the counters live in Redis, so a second API replica sees the same limit.
  (PROFILE === 'full' ? it : it.skip)('shares the counters between API replicas through Redis', async () => {
    const replica = await startTestApp(
      { FILE_CLIENTS: JSON.stringify({ 'app-frontend': APP_SECRET }), RATE_LIMIT_PER_USER: '3', QUEUE_PREFIX: app.config.queue.prefix },
      { databaseUrl: app.config.database.url, storageFrom: app.config, worker: false },
    );
    try {
      const frank = app.token({ sub: 'frank', org: 'acme' });
      const meta = buildMeta({ userId: 'frank', fileClientId: 'app-frontend', modelNames: ['Document'], fingerprint: FINGERPRINT });
      const files = [{ buffer: Buffer.from('replicated'), filename: 'r.txt' }];
      await upload({ serverUrl: app.url, token: frank, files, meta });
      await upload({ serverUrl: replica.url, token: frank, files, meta });
      await upload({ serverUrl: app.url, token: frank, files, meta });
      await expect(upload({ serverUrl: replica.url, token: frank, files, meta })).rejects.toMatchObject({ status: 429 });
    } finally {
      await replica.close({ keepDatabase: true });
    }
  });
});

async function expectEventually(check: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 150));
    }
  }
}
