import { Readable } from 'node:stream';
import { crc32, deflateSync } from 'node:zlib';
import { Test } from '@nestjs/testing';
import sharp from 'sharp';
import { MediaError, type MediaErrorCode } from './media.error';
import { MediaModule } from './media.module';
import { MediaProcessor } from './media.processor';
import { countPdfPages } from './pdf/pdf-page.counter';
import { buildPdf, classicPdf, pngBomb } from './testing/media-fixtures';

const media = new MediaProcessor();

describe('MediaProcessor', () => {
  describe('analyzeImage', () => {
    it('reads dimensions and format from a stream', async () => {
      const png = await solid(100, 50).png().toBuffer();
      await expect(media.analyzeImage(chunked(png, 17))).resolves.toEqual({ width: 100, height: 50, format: 'png' });
    });

    it('swaps width and height for EXIF orientations 5–8', async () => {
      const jpeg = await solid(100, 50).jpeg().withMetadata({ orientation: 6 }).toBuffer();
      await expect(media.analyzeImage(jpeg)).resolves.toEqual({ width: 50, height: 100, format: 'jpeg', orientation: 6 });
      const mirrored = await solid(100, 50).jpeg().withMetadata({ orientation: 2 }).toBuffer();
      await expect(media.analyzeImage(mirrored)).resolves.toMatchObject({ width: 100, height: 50, orientation: 2 });
    });

    it('reports the frames of an animated image', async () => {
      await expect(media.analyzeImage(await animatedGif())).resolves.toEqual({ width: 40, height: 30, format: 'gif', pages: 2 });
    });

    it('refuses a decompression bomb from its header, quickly', async () => {
      const bomb = pngBomb(50_000, 50_000);
      expect(bomb.length).toBeLessThan(200);
      const started = Date.now();
      const error = await mediaError(media.analyzeImage(bomb), 'IMAGE_TOO_LARGE');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(error.message).toBe('The image is 50000x50000 (2,500,000,000 pixels), more than the 100,000,000 allowed');
    });

    it('refuses bytes that are not an image, and formats it does not process', async () => {
      const error = await mediaError(media.analyzeImage(Buffer.from('definitely not an image')), 'CORRUPT_IMAGE');
      expect(error.message).toMatch(/^The image cannot be read: .*unsupported image format/);
      await mediaError(media.analyzeImage(Buffer.alloc(0)), 'CORRUPT_IMAGE');
      const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
      await expect(media.analyzeImage(svg)).rejects.toMatchObject({ code: 'UNSUPPORTED', message: 'SVG images are not processed' });
    });

    it('passes stream errors through untouched, so the caller can retry', async () => {
      const failing = new Readable({
        read() {
          this.destroy(new Error('connection reset'));
        },
      });
      const rejection = media.analyzeImage(failing);
      await expect(rejection).rejects.toThrow('connection reset');
      await expect(rejection).rejects.not.toBeInstanceOf(MediaError);
    });
  });

  describe('thumbnails', () => {
    it('fits every size inside its box without enlarging', async () => {
      const png = await solid(100, 50).png().toBuffer();
      const thumbs = await media.thumbnails(chunked(png, 64));
      expect(thumbs.map(({ variant, size, width, height, mime }) => ({ variant, size, width, height, mime }))).toEqual([
        { variant: 'thumb-64', size: 64, width: 64, height: 32, mime: 'image/webp' },
        { variant: 'thumb-256', size: 256, width: 100, height: 50, mime: 'image/webp' },
        { variant: 'thumb-1024', size: 1024, width: 100, height: 50, mime: 'image/webp' },
      ]);
      for (const thumb of thumbs) {
        expect(thumb.data.subarray(0, 4).toString('latin1')).toBe('RIFF');
        expect(thumb.data.subarray(8, 12).toString('latin1')).toBe('WEBP');
        const meta = await sharp(thumb.data).metadata();
        expect([meta.format, meta.width, meta.height]).toEqual(['webp', thumb.width, thumb.height]);
      }
    });

    it('derives all sizes from a 4000x3000 photo', async () => {
      const photo = await noisy(4000, 3000).jpeg({ quality: 90 }).toBuffer();
      const thumbs = await media.thumbnails(Readable.from([photo]));
      expect(thumbs.map((t) => [t.width, t.height])).toEqual([
        [64, 48],
        [256, 192],
        [1024, 768],
      ]);
    });

    it('applies EXIF orientation and strips all metadata from the output', async () => {
      // Left half red, right half blue; orientation 6 means "turn 90° clockwise to display": red ends up on top.
      const halves = await sharp({ create: { width: 100, height: 50, channels: 3, background: '#0000ff' } })
        .composite([{ input: { create: { width: 50, height: 50, channels: 3, background: '#ff0000' } }, left: 0, top: 0 }])
        .jpeg({ quality: 95 })
        .withMetadata({ orientation: 6 })
        .withExif({ IFD0: { Copyright: 'secret owner', Artist: 'someone' } })
        .toBuffer();
      const input = await sharp(halves).metadata();
      expect(input.exif).toBeDefined();

      const thumbs = await media.thumbnails(halves);
      expect(thumbs.map((t) => [t.width, t.height])).toEqual([
        [32, 64],
        [50, 100],
        [50, 100],
      ]);
      for (const thumb of thumbs) {
        const meta = await sharp(thumb.data).metadata();
        expect(meta.exif).toBeUndefined();
        expect(meta.xmp).toBeUndefined();
        expect(meta.iptc).toBeUndefined();
        expect(meta.orientation).toBeUndefined();
        expect(thumb.data.includes('secret owner')).toBe(false);
        const { data, info } = await sharp(thumb.data).raw().toBuffer({ resolveWithObject: true });
        const pixel = (x: number, y: number) => [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)];
        expect(isMostly(pixel(info.width >> 1, 2), 'red')).toBe(true);
        expect(isMostly(pixel(info.width >> 1, info.height - 3), 'blue')).toBe(true);
      }
    });

    it('takes the first frame of an animated image', async () => {
      const thumbs = await media.thumbnails(await animatedGif());
      for (const thumb of thumbs) {
        const meta = await sharp(thumb.data).metadata();
        expect(meta.pages === undefined || meta.pages === 1).toBe(true);
        expect([meta.width, meta.height]).toEqual([40, 30]);
        const { data } = await sharp(thumb.data).raw().toBuffer({ resolveWithObject: true });
        expect(isMostly([...data.subarray(0, 3)], 'red')).toBe(true);
      }
    });

    it('refuses a decompression bomb without decoding it', async () => {
      const started = Date.now();
      await mediaError(media.thumbnails(Readable.from([pngBomb(50_000, 50_000)])), 'IMAGE_TOO_LARGE');
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('applies maxInputPixels', async () => {
      const small = new MediaProcessor({ maxInputPixels: 4_999, thumbnailSizes: [16] });
      const png = await solid(100, 50).png().toBuffer();
      const error = await mediaError(small.thumbnails(png), 'IMAGE_TOO_LARGE');
      expect(error.message).toBe('The image is 100x50 (5,000 pixels), more than the 4,999 allowed');
      await expect(new MediaProcessor({ maxInputPixels: 5_000, thumbnailSizes: [16] }).thumbnails(png)).resolves.toHaveLength(1);
    });

    it('refuses a corrupt image', async () => {
      const jpeg = await noisy(300, 200).jpeg().toBuffer();
      const truncated = jpeg.subarray(0, Math.floor(jpeg.length / 2));
      const error = await mediaError(media.thumbnails(truncated), 'CORRUPT_IMAGE');
      expect(error.message).toMatch(/^The image cannot be decoded: /);
      expect(error.message).not.toContain('\n');
    });
  });

  describe('preview', () => {
    it('fits inside by default, as WebP', async () => {
      const png = await solid(100, 50).png().toBuffer();
      const preview = await media.preview(chunked(png, 10), { width: 50 });
      expect([preview.mime, preview.width, preview.height]).toEqual(['image/webp', 50, 25]);
      expect(preview.data.subarray(8, 12).toString('latin1')).toBe('WEBP');
    });

    it('covers a box as JPEG or PNG, never enlarging', async () => {
      const png = await solid(100, 50).png().toBuffer();
      const jpeg = await media.preview(png, { width: 40, height: 40, fit: 'cover', format: 'jpeg' });
      expect([jpeg.mime, jpeg.width, jpeg.height]).toEqual(['image/jpeg', 40, 40]);
      expect([...jpeg.data.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
      const big = await media.preview(png, { width: 4096, height: 4096, format: 'png' });
      expect([big.mime, big.width, big.height]).toEqual(['image/png', 100, 50]);
    });

    it.each([
      [{}, 'A preview needs a width or a height'],
      [{ width: 0 }, 'Preview width must be an integer from 1 to 4096, got 0'],
      [{ height: 4097 }, 'Preview height must be an integer from 1 to 4096, got 4097'],
      [{ width: 10.5 }, 'Preview width must be an integer from 1 to 4096, got 10.5'],
      [{ width: Number.NaN }, 'Preview width must be an integer from 1 to 4096, got NaN'],
    ])('refuses %j with INVALID_PREVIEW_SIZE and releases the stream', async (options, message) => {
      const stream = Readable.from([Buffer.from('unused')]);
      const error = await mediaError(media.preview(stream, options), 'INVALID_PREVIEW_SIZE');
      expect(error.message).toBe(message);
      expect(stream.destroyed).toBe(true);
    });
  });

  describe('pdfPageCount', () => {
    it('counts the pages of a classic PDF, skipping stream data by /Length', async () => {
      const pdf = classicPdf(3);
      await expect(media.pdfPageCount(Readable.from([pdf]))).resolves.toBe(3);
    });

    it('gives the same count however the stream is chunked', async () => {
      const pdf = classicPdf(3);
      for (const size of [1, 2, 7, 64, 1000]) {
        await expect(media.pdfPageCount(chunked(pdf, size))).resolves.toBe(3);
      }
    });

    it('reads a page tree kept in a compressed object stream (PDF 1.5 xref streams)', async () => {
      await expect(countPdfPages(chunked(objectStreamPdf(5, { indirectLength: false }), 13))).resolves.toEqual({ pages: 5, method: 'page-tree' });
      await expect(countPdfPages(chunked(objectStreamPdf(4, { indirectLength: true }), 13))).resolves.toEqual({ pages: 4, method: 'page-tree' });
    });

    it('takes the newest page tree after an incremental update', async () => {
      await expect(countPdfPages(incrementallyUpdatedPdf())).resolves.toEqual({ pages: 3, method: 'page-tree' });
    });

    it('streams past large content without holding it', async () => {
      const pdf = classicPdf(2, 32 * 1024 * 1024);
      const started = Date.now();
      await expect(media.pdfPageCount(chunked(pdf, 64 * 1024))).resolves.toBe(2);
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it('falls back to the page tree root, then to counting Page objects', async () => {
      const noCatalog = buildPdf([
        '<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>',
        '<< /Type /Page /Parent 1 0 R >>',
        '<< /Type /Page /Parent 1 0 R >>',
      ]);
      await expect(countPdfPages(noCatalog)).resolves.toEqual({ pages: 2, method: 'orphan-page-tree' });
      const noTree = buildPdf(['<< /Type /Page >>', '<< /Type /Page >>', '<< /Type /Page >>', '<< /Type /Font >>']);
      await expect(countPdfPages(noTree)).resolves.toEqual({ pages: 3, method: 'page-objects' });
    });

    it('refuses what is not a PDF or has no pages', async () => {
      let error = await mediaError(media.pdfPageCount(Readable.from([Buffer.from('hello, world')])), 'CORRUPT_PDF');
      expect(error.message).toBe('The file is not a PDF: no %PDF- header in its first 1024 bytes');
      error = await mediaError(media.pdfPageCount(Readable.from([Buffer.from('%PDF-1.7\n%\xe2\xe3\n1 0 obj << /Type /Catalog', 'latin1')])), 'CORRUPT_PDF');
      expect(error.message).toBe('No page tree found in the PDF: it is damaged or truncated');
      await mediaError(media.pdfPageCount(Readable.from([Buffer.alloc(0)])), 'CORRUPT_PDF');
      const garbage = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256))]);
      await mediaError(media.pdfPageCount(chunked(garbage, 100)), 'CORRUPT_PDF');
    });

    it('cannot count an encrypted PDF whose page tree is in object streams', async () => {
      const encrypted = Buffer.from(
        objectStreamPdf(3, { indirectLength: false })
          .toString('latin1')
          .replace('/Type /XRef', '/Type /XRef /Encrypt 99 0 R'),
        'latin1',
      );
      // Scramble the object stream as encryption would.
      const at = encrypted.indexOf('stream\n') + 7;
      for (let i = at; i < at + 20; i++) encrypted[i]! ^= 0x5a;
      await expect(media.pdfPageCount(encrypted)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    });
  });

  describe('MIME helpers', () => {
    it('knows which types it can thumbnail', () => {
      for (const mime of ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif', 'image/tiff', 'IMAGE/PNG; charset=x']) {
        expect(MediaProcessor.isImage(mime)).toBe(true);
      }
      for (const mime of ['image/svg+xml', 'application/pdf', 'text/plain', '', null, undefined]) {
        expect(MediaProcessor.isImage(mime)).toBe(false);
      }
      // The prebuilt sharp binaries decode AVIF but not HEIC (HEVC).
      expect(MediaProcessor.isImage('image/heic')).toBe(MediaProcessor.heicSupported);
      expect(MediaProcessor.isPdf('application/pdf')).toBe(true);
      expect(MediaProcessor.isPdf('image/png')).toBe(false);
    });
  });

  describe('options and module', () => {
    it('validates its options', () => {
      expect(new MediaProcessor({ thumbnailSizes: [512, 32, 32] }).thumbnailSizes).toEqual([32, 512]);
      expect(() => new MediaProcessor({ thumbnailSizes: [] })).toThrow(RangeError);
      expect(() => new MediaProcessor({ thumbnailSizes: [0] })).toThrow(RangeError);
      expect(() => new MediaProcessor({ maxInputPixels: -1 })).toThrow(RangeError);
    });

    it('provides a MediaProcessor through MediaModule', async () => {
      const plain = await Test.createTestingModule({ imports: [MediaModule] }).compile();
      expect(plain.get(MediaProcessor).thumbnailSizes).toEqual([64, 256, 1024]);
      const configured = await Test.createTestingModule({ imports: [MediaModule.forRoot({ thumbnailSizes: [128] })] }).compile();
      expect(configured.get(MediaProcessor).thumbnailSizes).toEqual([128]);
    });
  });
});

async function mediaError(promise: Promise<unknown>, code: MediaErrorCode): Promise<MediaError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MediaError);
  expect((error as MediaError).code).toBe(code);
  return error as MediaError;
}

function solid(width: number, height: number) {
  return sharp({ create: { width, height, channels: 3, background: '#336699' } });
}

function noisy(width: number, height: number) {
  return sharp({ create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } });
}

function chunked(data: Buffer, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
  return Readable.from(chunks);
}

function isMostly([r, g, b]: number[], colour: 'red' | 'blue'): boolean {
  return colour === 'red' ? r! > 200 && g! < 60 && b! < 60 : b! > 200 && r! < 60 && g! < 60;
}

async function animatedGif(): Promise<Buffer> {
  const frame = (background: string) => sharp({ create: { width: 40, height: 30, channels: 3, background } }).png().toBuffer();
  return sharp([await frame('#ff0000'), await frame('#0000ff')], { join: { animated: true } }).gif().toBuffer();
}

// PDF 1.5 style: everything but the streams lives in one FlateDecode object stream; a cross-reference stream
// (whose dictionary is the trailer) replaces the xref table.
function objectStreamPdf(pageCount: number, { indirectLength }: { indirectLength: boolean }): Buffer {
  const kids = Array.from({ length: pageCount }, (_, i) => `${3 + i} 0 R`).join(' ');
  const packed = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${kids}] /Count ${pageCount} >>`,
    ...Array.from({ length: pageCount }, () => '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>'),
  ];
  let body = '';
  const header: string[] = [];
  packed.forEach((object, i) => {
    header.push(`${i + 1} ${body.length}`);
    body += `${object}\n`;
  });
  const headerText = `${header.join(' ')}\n`;
  const compressed = deflateSync(Buffer.from(headerText + body, 'latin1'));
  const objStmNum = packed.length + 1;
  const lengthNum = objStmNum + 1;
  const xrefNum = objStmNum + 2;

  const parts: Buffer[] = [Buffer.from('%PDF-1.5\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let length = parts[0]!.length;
  const push = (part: Buffer | string) => {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'latin1') : part;
    parts.push(bytes);
    length += bytes.length;
  };
  const objStmAt = length;
  const lengthEntry = indirectLength ? `${lengthNum} 0 R` : String(compressed.length);
  push(`${objStmNum} 0 obj\n<< /Type /ObjStm /N ${packed.length} /First ${headerText.length} /Length ${lengthEntry} /Filter /FlateDecode >>\nstream\n`);
  push(compressed);
  push('\nendstream\nendobj\n');
  const lengthAt = length;
  push(`${lengthNum} 0 obj\n${compressed.length}\nendobj\n`);
  const xrefAt = length;
  // Entries: type 1 byte, field 2 four bytes, field 3 two bytes.
  const rows: Buffer[] = [];
  const row = (type: number, a: number, b: number) => {
    const r = Buffer.alloc(7);
    r[0] = type;
    r.writeUInt32BE(a, 1);
    r.writeUInt16BE(b, 5);
    rows.push(r);
  };
  row(0, 0, 65535);
  packed.forEach((_, i) => row(2, objStmNum, i));
  row(1, objStmAt, 0);
  row(1, lengthAt, 0);
  row(1, xrefAt, 0);
  const xrefData = deflateSync(Buffer.concat(rows));
  push(`${xrefNum} 0 obj\n<< /Type /XRef /Size ${xrefNum + 1} /W [1 4 2] /Root 1 0 R /Length ${xrefData.length} /Filter /FlateDecode >>\nstream\n`);
  push(xrefData);
  push(`\nendstream\nendobj\nstartxref\n${xrefAt}\n%%EOF\n`);
  return Buffer.concat(parts);
}

// A two-page PDF, then an update appended after %%EOF that adds a page and rewrites the page tree.
function incrementallyUpdatedPdf(): Buffer {
  const base = buildPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>',
    '<< /Type /Page /Parent 2 0 R >>',
    '<< /Type /Page /Parent 2 0 R >>',
  ]);
  const pages = `2 0 obj\n<< /Type /Pages /Kids [3 0 R 4 0 R 5 0 R] /Count 3 >>\nendobj\n`;
  const page = `5 0 obj\n<< /Type /Page /Parent 2 0 R >>\nendobj\n`;
  const pagesAt = base.length;
  const pageAt = pagesAt + pages.length;
  const xrefAt = pageAt + page.length;
  const previous = /startxref\n(\d+)/.exec(base.toString('latin1'))![1];
  const update =
    pages +
    page +
    `xref\n0 1\n0000000000 65535 f \n2 1\n${String(pagesAt).padStart(10, '0')} 00000 n \n5 1\n${String(pageAt).padStart(10, '0')} 00000 n \n` +
    `trailer\n<< /Size 6 /Root 1 0 R /Prev ${previous} >>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.concat([base, Buffer.from(update, 'latin1')]);
}
