import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { buildMeta, upload as condoUpload } from '@app/files-client';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { gql } from './support/graphql';
import { startTestApp, type TestApp } from './support/test-app';

// Image transforms on request (docs/image-transforms.md): sizes, fits, formats, quality, the derived-object cache,
// the pixel limits, and the same parameters on signed URLs, the Condo signed flow, public files and public links.

const APP_SECRET = 'transforms-app-secret-0123456789';

async function upload(app: TestApp, token: string, bytes: Buffer, name: string): Promise<{ id: string }> {
  const fd = new FormData();
  fd.append('file', new Blob([new Uint8Array(bytes)], { type: 'application/octet-stream' }), name);
  const res = await fetch(`${app.url}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: fd });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string };
}

// Noise, so that encoder quality makes a visible difference in size.
const noise = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).png().toBuffer();

async function image(res: Response): Promise<{ bytes: Buffer; meta: sharp.Metadata }> {
  const bytes = Buffer.from(await res.arrayBuffer());
  return { bytes, meta: await sharp(bytes).metadata() };
}

describe('image transforms', () => {
  let app: TestApp;
  let token: string;
  let photoId: string;
  let photoSha: string;

  beforeAll(async () => {
    app = await startTestApp({
      // Low limits, so the refusals can be shown with small images.
      TRANSFORM_MAX_INPUT_PIXELS: '1000000',
      TRANSFORM_MAX_OUTPUT_PIXELS: '250000',
      FILE_CLIENTS: JSON.stringify({ 'app-frontend': APP_SECRET }),
    });
    token = app.token({ sub: 'tina', org: 'transforms' });
    photoId = (await upload(app, token, await noise(600, 400), 'photo.png')).id;
    photoSha = String((await app.waitForStatus(photoId, token, ['READY'])).sha256);
  });
  afterAll(() => app?.close());

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  const transform = (query: string, headers: Record<string, string> = {}) => get(`/files/${photoId}/preview?${query}`, headers);
  const rendersSoFar = async () => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    return Number(/^filehub_image_transforms_total\{result="miss"\} (\d+)/m.exec(text)?.[1] ?? Number.NaN);
  };

  it('sizes by width, by height, and by both with each fit (600x400 source)', async () => {
    for (const [query, width, height] of [
      ['w=300', 300, 200],
      ['h=100', 150, 100],
      ['w=200&h=200&fit=inside', 200, 133],
      ['w=200&h=200&fit=outside', 300, 200],
      ['w=200&h=200&fit=cover', 200, 200],
      ['w=200&h=200&fit=contain', 200, 200],
      ['w=200&h=100&fit=fill', 200, 100],
      // Never enlarged.
      ['w=1200', 600, 400],
    ] as const) {
      const res = await transform(`${query}&format=png`);
      expect({ query, status: res.status }).toEqual({ query, status: 200 });
      const { meta } = await image(res);
      expect({ query, width: meta.width, height: meta.height }).toEqual({ query, width, height });
    }
  });

  it('encodes webp, avif, jpeg and png, the source format (original) and what the client accepts (auto)', async () => {
    for (const [format, type, decoded] of [
      ['webp', 'image/webp', 'webp'],
      ['avif', 'image/avif', 'heif'],
      ['jpeg', 'image/jpeg', 'jpeg'],
      ['png', 'image/png', 'png'],
      ['original', 'image/png', 'png'],
    ] as const) {
      const res = await transform(`w=64&format=${format}`);
      expect({ format, status: res.status, type: res.headers.get('content-type') }).toEqual({ format, status: 200, type });
      const { meta } = await image(res);
      expect({ format, decoded: meta.format, width: meta.width }).toEqual({ format, decoded, width: 64 });
      if (format === 'avif') expect(meta.compression).toBe('av1');
    }
    const avif = await transform('w=64&format=auto', { accept: 'image/avif,image/webp,*/*' });
    expect([avif.headers.get('content-type'), avif.headers.get('vary')]).toEqual(['image/avif', 'Accept']);
    const plain = await transform('w=64&format=auto', { accept: '*/*' });
    expect(plain.headers.get('content-type')).toBe('image/png');
    await Promise.all([avif.arrayBuffer(), plain.arrayBuffer()]);
  });

  it('makes fewer bytes at a lower quality', async () => {
    for (const format of ['jpeg', 'webp', 'avif']) {
      const low = (await image(await transform(`w=300&format=${format}&q=20`))).bytes.length;
      const high = (await image(await transform(`w=300&format=${format}&q=90`))).bytes.length;
      expect({ format, smaller: low < high }).toEqual({ format, smaller: true });
    }
  });

  it('renders a variant once: the second request is served from the derived object, same ETag, 304 when revalidated', async () => {
    const renders = await rendersSoFar();
    const derived = () => app.db.thumbnail.count({ where: { fileId: photoId, variant: { startsWith: 'preview-' } } });
    const rows = await derived();

    const first = await transform('w=123&fit=cover&h=77&format=webp&q=70');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-preview-cache')).toBe('miss');
    expect(first.headers.get('cache-control')).toBe('private, max-age=3600');
    const { bytes, meta } = await image(first);
    expect([meta.width, meta.height]).toEqual([123, 77]);
    // A strong ETag: the SHA-256 of the bytes.
    const etag = first.headers.get('etag')!;
    expect(etag).toBe(`"${createHash('sha256').update(bytes).digest('hex')}"`);
    expect(await rendersSoFar()).toBe(renders + 1);
    expect(await derived()).toBe(rows + 1);

    // The same parameters spelled differently (order, defaults) are the same variant.
    const second = await transform('q=70&format=webp&h=77&w=123&fit=cover');
    expect(second.headers.get('x-preview-cache')).toBe('hit');
    expect(second.headers.get('etag')).toBe(etag);
    expect(Buffer.from(await second.arrayBuffer()).equals(bytes)).toBe(true);
    const revalidated = await transform('w=123&h=77&fit=cover&q=70', { 'if-none-match': etag });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get('etag')).toBe(etag);
    // No second render, no second row.
    expect(await rendersSoFar()).toBe(renders + 1);
    expect(await derived()).toBe(rows + 1);
  });

  it('refuses images over TRANSFORM_MAX_INPUT_PIXELS and results over TRANSFORM_MAX_OUTPUT_PIXELS with 422', async () => {
    const big = (await upload(app, token, await sharp({ create: { width: 1200, height: 1000, channels: 3, background: '#123456' } }).png().toBuffer(), 'big.png')).id;
    await app.waitForStatus(big, token, ['READY']);
    const input = await get(`/files/${big}/preview?w=100`);
    expect(input.status).toBe(422);
    expect(((await input.json()) as { message: string }).message).toMatch(/1200x1000 .*TRANSFORM_MAX_INPUT_PIXELS/);

    const output = await transform('w=600&h=600&fit=fill');
    expect(output.status).toBe(422);
    expect(((await output.json()) as { message: string }).message).toMatch(/600x600 .*TRANSFORM_MAX_OUTPUT_PIXELS/);
    // outside covers the box: 750x500 from 600x400 would be enlarged, so it stays 600x400 = 240,000 pixels, allowed.
    expect((await transform('w=500&h=500&fit=outside')).status).toBe(200);
  });

  it('answers 400 naming the parameter for each invalid value', async () => {
    for (const [query, field, pattern] of [
      ['', 'w', /w \(width\) or h/],
      ['w=0', 'w', /w must be a whole number of pixels from 1 to 4096/],
      ['w=5000', 'w', /from 1 to 4096/],
      ['h=abc', 'h', /h must be a whole number/],
      ['w=10&w=20', 'w', /w must be given once/],
      ['w=10&fit=squash', 'fit', /fit must be one of 'cover', 'contain', 'inside', 'outside', 'fill'/],
      ['w=10&format=gif', 'format', /format must be one of/],
      ['w=10&q=0', 'q', /q \(quality\) must be a whole number from 1 to 100/],
      ['w=10&q=101', 'q', /from 1 to 100/],
      ['w=10&q=high', 'q', /q must be a whole number/],
    ] as const) {
      const res = await transform(query);
      const body = (await res.json()) as { message: string; field?: string };
      expect({ query, status: res.status, field: body.field }).toEqual({ query, status: 400, field });
      expect(body.message).toMatch(pattern);
    }
  });

  it('answers 415 for files that are not images and 409 for files not READY', async () => {
    const text = (await upload(app, token, Buffer.from('just words, not pixels'), 'notes.txt')).id;
    await app.waitForStatus(text, token, ['READY']);
    const res = await get(`/files/${text}/preview?w=100`);
    expect(res.status).toBe(415);
    expect(((await res.json()) as { message: string }).message).toMatch(/cannot be transformed/);

    const service = app.token({ sub: 'tina', org: 'transforms', role: 'service' });
    const created = await gql(app, service, 'mutation { createFileUpload(file: {name: "later.png", contentType: "image/png", fileCategory: "default"}) { id } }');
    const pending = created.data.createFileUpload.id as string;
    const notReady = await get(`/files/${pending}/preview?w=100`);
    expect(notReady.status).toBe(409);
    expect(((await notReady.json()) as { message: string }).message).toMatch(/UPLOADING/);
  });

  it("refuses another organization's file with 404, on the preview and on its signed URL", async () => {
    const stranger = app.token({ sub: 'sam', org: 'elsewhere' });
    const headers = { authorization: `Bearer ${stranger}` };
    expect((await fetch(`${app.url}/files/${photoId}/preview?w=100`, { headers })).status).toBe(404);
    expect((await fetch(`${app.url}/files/${photoId}/download-url?w=100`, { headers })).status).toBe(404);
  });

  it('works on a signed URL from download-url, which the holder may re-parameterise but not point at another file', async () => {
    const signedRes = await get(`/files/${photoId}/download-url?w=100&format=png`);
    expect(signedRes.status).toBe(200);
    const { url, expiresAt } = (await signedRes.json()) as { url: string; expiresAt: string };
    expect(new URL(url).pathname).toBe(`/files/${photoId}/preview`);
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());

    // No bearer token: the signature is the credential.
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('private, max-age=3600');
    expect((await image(res)).meta).toMatchObject({ format: 'png', width: 100 });

    const resized = new URL(url);
    resized.searchParams.set('w', '40');
    resized.searchParams.set('format', 'jpeg');
    expect((await image(await fetch(resized))).meta).toMatchObject({ format: 'jpeg', width: 40 });

    const tampered = new URL(url);
    const signature = tampered.searchParams.get('signature')!;
    tampered.searchParams.set('signature', (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1));
    expect((await fetch(tampered)).status).toBe(403);
    const later = new URL(url);
    later.searchParams.set('expires', String(Number(later.searchParams.get('expires')) + 3600));
    expect((await fetch(later)).status).toBe(403);

    // The same signature on another file (one the holder could not read otherwise) is refused.
    const other = (await upload(app, token, await noise(60, 40), 'other.png')).id;
    await app.waitForStatus(other, token, ['READY']);
    const elsewhere = new URL(url);
    elsewhere.pathname = `/files/${other}/preview`;
    const refused = await fetch(elsewhere);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { message: string }).message).toMatch(/another file/);
    // Without a signature or a token, nothing.
    expect((await fetch(`${app.url}/files/${photoId}/preview?w=100`)).status).toBe(401);
  });

  it("works on the signed flow's download URL under the same signature check", async () => {
    const alice = app.token({ sub: 'alice', org: 'acme' });
    const meta = buildMeta({ userId: 'alice', fileClientId: 'app-frontend', modelNames: ['Document'], fingerprint: 'e2e-transforms', organizationId: 'acme' });
    const result = await condoUpload({
      serverUrl: app.url,
      token: alice,
      files: [
        { buffer: await noise(300, 200), filename: 'lease-photo.png' },
        { buffer: await noise(90, 60), filename: 'second.png' },
      ],
      meta,
    });
    const [first, second] = result.files;
    await app.waitForStatus(first!.id, alice, ['READY']);
    await app.waitForStatus(second!.id, alice, ['READY']);
    const res = await fetch(`${app.url}/api/files/${first!.id}?sign=${encodeURIComponent(first!.signature)}&w=50&format=png`);
    expect(res.status).toBe(200);
    expect((await image(res)).meta).toMatchObject({ format: 'png', width: 50, height: 33 });
    // The second file's signature does not open the first.
    expect((await fetch(`${app.url}/api/files/${first!.id}?sign=${encodeURIComponent(second!.signature)}&w=50`)).status).toBe(403);
    expect((await fetch(`${app.url}/api/files/${first!.id}?w=50`)).status).toBe(403);
  });

  it('works on public files (immutable when the URL names the content) and on public links', async () => {
    const id = (await upload(app, token, await noise(200, 100), 'banner.png')).id;
    const sha = String((await app.waitForStatus(id, token, ['READY'])).sha256);
    // Still private: the public URL knows nothing of it.
    expect((await fetch(`${app.url}/public/files/${id}?w=80`)).status).toBe(404);
    const made = await fetch(`${app.url}/files/${id}`, { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ visibility: 'public' }) });
    expect(made.status).toBe(200);

    const open = await fetch(`${app.url}/public/files/${id}?w=80`);
    expect(open.status).toBe(200);
    expect(open.headers.get('cache-control')).toBe('public, no-cache');
    expect((await image(open)).meta).toMatchObject({ format: 'webp', width: 80, height: 40 });
    const pinned = await fetch(`${app.url}/public/files/${id}?w=80&hash=${sha.slice(0, 16)}`);
    expect(pinned.status).toBe(200);
    expect(pinned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    await pinned.arrayBuffer();
    expect((await fetch(`${app.url}/public/files/${id}?w=80&hash=${photoSha.slice(0, 16)}`)).status).toBe(404);
    expect((await fetch(`${app.url}/public/files/${id}?w=80&hash=xyz`)).status).toBe(400);

    // An epilot public link of a private file: the link is the credential.
    const linkRes = await fetch(`${app.url}/v1/files/${photoId}/public/links`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(linkRes.status).toBe(201);
    const link = (await linkRes.json()) as string;
    const viaLink = await fetch(`${link}?w=64&format=png`);
    expect(viaLink.status).toBe(200);
    expect((await image(viaLink)).meta).toMatchObject({ format: 'png', width: 64 });
    const linkPinned = await fetch(`${link}?w=64&format=png&hash=${photoSha.slice(0, 12)}`);
    expect(linkPinned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    await linkPinned.arrayBuffer();
    // Without transform parameters the link still redirects to the bytes.
    expect((await fetch(link, { redirect: 'manual' })).status).toBe(302);
  });

  it("removes a file's derived objects with the file", async () => {
    const id = (await upload(app, token, await noise(120, 80), 'short-lived.png')).id;
    await app.waitForStatus(id, token, ['READY']);
    for (const query of ['w=30', 'w=40&format=jpeg', 'h=20&format=avif']) expect((await get(`/files/${id}/preview?${query}`)).status).toBe(200);
    const derived = await app.db.thumbnail.findMany({ where: { fileId: id, variant: { startsWith: 'preview-' } } });
    expect(derived).toHaveLength(3);
    const storage = app.get<StorageDriver>(STORAGE_DRIVER);
    for (const row of derived) expect(await storage.head(row.storageKey)).not.toBeNull();

    expect((await fetch(`${app.url}/v2/files/${id}?purge=true`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect(await app.db.thumbnail.count({ where: { fileId: id } })).toBe(0);
    for (const row of derived) expect(await storage.head(row.storageKey)).toBeNull();
  });
});

describe('image transforms under load', () => {
  let app: TestApp;
  let token: string;

  beforeAll(async () => {
    // One render at a time and no waiting: a request that finds the slot taken is refused at once.
    app = await startTestApp({ TRANSFORM_CONCURRENCY: '1', TRANSFORM_QUEUE_TIMEOUT_MS: '0' });
    token = app.token({ sub: 'lou', org: 'load' });
  });
  afterAll(() => app?.close());

  it('answers 503 with Retry-After when every transform slot is busy, and serves the rest', async () => {
    const { id } = await upload(app, token, await noise(800, 600), 'busy.png');
    await app.waitForStatus(id, token, ['READY']);
    // Eight different AVIF variants at once (each a fresh render taking a slot for a while).
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => fetch(`${app.url}/files/${id}/preview?w=800&format=avif&q=${40 + i}`, { headers: { authorization: `Bearer ${token}` } })),
    );
    const statuses = answers.map((res) => res.status);
    expect(statuses).toContain(200);
    expect(statuses).toContain(503);
    for (const res of answers) {
      if (res.status === 200) {
        expect((await sharp(Buffer.from(await res.arrayBuffer())).metadata()).compression).toBe('av1');
        continue;
      }
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as { message: string }).message).toMatch(/TRANSFORM_CONCURRENCY=1/);
    }
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(Number(/^filehub_image_transforms_total\{result="busy"\} (\d+)/m.exec(metrics)?.[1])).toBe(statuses.filter((s) => s === 503).length);
  });
});
