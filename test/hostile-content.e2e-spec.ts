import { crc32, deflateRawSync } from 'node:zlib';
import { buildPdf, pngBomb } from '@app/media/testing/media-fixtures';
import { startTestApp, type TestApp } from './support/test-app';

// Hostile content (the bytes, not the request): active content is never served inline, decompression bombs are
// refused before any pixel is decoded, archives are never expanded, and a PDF whose page tree loops does not hang
// the worker. Each fixture is built here, byte by byte, so what it claims is visible.

/** A GIF whose logical screen and only frame claim 65535 × 65535 pixels, with a few bytes of image data. */
function gifBomb(): Buffer {
  const header = Buffer.from('GIF89a', 'latin1');
  const screen = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00]); // 65535x65535, 2-colour global table
  const palette = Buffer.from([0, 0, 0, 255, 255, 255]);
  const descriptor = Buffer.from([0x2c, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x00]);
  const data = Buffer.from([0x02, 0x02, 0x44, 0x01, 0x00]); // LZW min code size 2, one tiny sub-block
  return Buffer.concat([header, screen, palette, descriptor, data, Buffer.from([0x3b])]);
}

/** A zip holding one 256 MiB file of zeros, deflated to a few hundred KB. */
function zipBomb(): { bytes: Buffer; expanded: number } {
  const expanded = 256 * 1024 * 1024;
  const zeros = Buffer.alloc(expanded);
  const compressed = deflateRawSync(zeros, { level: 9 });
  const crc = crc32(zeros);
  const name = Buffer.from('zeros.bin');
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8); // deflate
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(compressed.length, 18);
  local.writeUInt32LE(expanded, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(compressed.length, 20);
  central.writeUInt32LE(expanded, 24);
  central.writeUInt16LE(name.length, 28);
  const centralOffset = local.length + name.length + compressed.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + name.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  return { bytes: Buffer.concat([local, name, compressed, central, name, end]), expanded };
}

/** A PDF whose page tree is a loop: the root's only kid is a Pages node whose only kid is the root. */
const cyclicPdf = () =>
  buildPdf(['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [3 0 R] /Count 1 >>', '<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>']);

describe('hostile content', () => {
  let app: TestApp;
  let token: string;

  beforeAll(async () => {
    app = await startTestApp();
    token = app.token({ sub: 'mallory', org: 'hostile-content' });
  });
  afterAll(() => app?.close());

  const auth = () => ({ authorization: `Bearer ${token}` });

  async function upload(bytes: Buffer, filename: string, type = 'application/octet-stream'): Promise<string> {
    const fd = new FormData();
    fd.append('file', new Blob([new Uint8Array(bytes)], { type }), filename);
    const res = await fetch(`${app.url}/files`, { method: 'POST', headers: auth(), body: fd });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  async function download(id: string, disposition: 'inline' | 'attachment'): Promise<Response> {
    const link = await fetch(`${app.url}/files/${id}/download-url?disposition=${disposition}`, { headers: auth() });
    expect(link.status).toBe(200);
    const { url } = (await link.json()) as { url: string };
    return fetch(url);
  }

  async function derivedObjects(fileId: string): Promise<number> {
    return app.db.thumbnail.count({ where: { fileId } });
  }

  it.each([
    ['SVG with a script', 'drawing.svg', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>', 'image/svg+xml'],
    ['HTML with a script', 'page.html', '<!doctype html><html><body><script>fetch("/files")</script></body></html>', 'text/html'],
    ['HTML named .txt', 'notes.txt', '<html><script>alert(1)</script></html>', 'text/plain'],
  ])('serves %s only as an attachment, with nosniff, even when inline is asked for', async (_name, filename, content, type) => {
    const id = await upload(Buffer.from(content), filename, type);
    await app.waitForStatus(id, token, ['READY']);
    const res = await download(id, 'inline');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const disposition = res.headers.get('content-disposition') ?? '';
    const served = res.headers.get('content-type') ?? '';
    // Either it is named active content and forced to download, or it is served as inert text.
    const inert = /^text\/plain|^application\/octet-stream/.test(served);
    expect(inert || disposition.startsWith('attachment')).toBe(true);
    expect(served).not.toMatch(/^text\/html/);
    if (/svg|html/.test(served)) expect(disposition).toMatch(/^attachment/);
    await res.arrayBuffer();
  });

  it('refuses a PNG decompression bomb from its header: FAILED with the pixel count, no derived object, no preview', async () => {
    const bytes = pngBomb(40_000, 40_000);
    expect(bytes.length).toBeLessThan(1024 * 1024);
    const id = await upload(bytes, 'bomb.png', 'image/png');
    const file = await app.waitForStatus(id, token, ['READY', 'FAILED']);
    expect(file.status).toBe('FAILED');
    expect(String(file.failureReason)).toMatch(/40000x40000 \(1,600,000,000 pixels\), more than the [\d,]+ allowed/);
    expect(await derivedObjects(id)).toBe(0);
    const preview = await fetch(`${app.url}/files/${id}/preview?w=64`, { headers: auth() });
    expect(preview.status).toBe(409);
    expect(((await preview.json()) as { message: string }).message).toMatch(/FAILED/);
    expect(await derivedObjects(id)).toBe(0);
  });

  it('refuses a GIF decompression bomb the same way', async () => {
    const id = await upload(gifBomb(), 'bomb.gif', 'image/gif');
    const file = await app.waitForStatus(id, token, ['READY', 'FAILED']);
    expect(file.status).toBe('FAILED');
    expect(String(file.failureReason)).toMatch(/65535x65535 .* more than the [\d,]+ allowed/);
    expect(await derivedObjects(id)).toBe(0);
  });

  it('keeps a zip bomb as the bytes it is: never expanded, stored at its compressed size, no preview', async () => {
    const { bytes, expanded } = zipBomb();
    expect(bytes.length * 100).toBeLessThan(expanded);
    const id = await upload(bytes, 'archive.zip', 'application/zip');
    const file = await app.waitForStatus(id, token, ['READY', 'FAILED']);
    expect(file).toMatchObject({ status: 'READY', size: bytes.length, contentType: 'application/zip' });
    expect(await derivedObjects(id)).toBe(0);
    const preview = await fetch(`${app.url}/files/${id}/preview?w=64`, { headers: auth() });
    expect(preview.status).toBe(415);
    expect(((await preview.json()) as { message: string }).message).toMatch(/application\/zip cannot be transformed/);
    const res = await download(id, 'attachment');
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('counts a PDF whose page tree loops without hanging the worker, and keeps serving', async () => {
    const id = await upload(cyclicPdf(), 'loop.pdf', 'application/pdf');
    const file = await app.waitForStatus(id, token, ['READY', 'FAILED']);
    // The declared /Count is taken, never a walk of /Kids, so the loop costs nothing.
    expect(file).toMatchObject({ status: 'READY', pageCount: 1, contentType: 'application/pdf' });
    const healthy = await fetch(`${app.url}/health`);
    expect(healthy.status).toBe(200);
  });
});
