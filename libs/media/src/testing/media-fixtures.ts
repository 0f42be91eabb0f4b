import { crc32, deflateSync } from 'node:zlib';

// Hand-built media for tests (unit and end-to-end): exact bytes, no binary fixtures in the repository.

// A PNG whose IHDR claims width x height, with one tiny IDAT: decoding it would need width*height bytes.
export function pngBomb(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(64))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// Objects numbered from 1 in order, each body a string or a stream; a correct xref table and trailer.
export type PdfObject = string | { dict: string; data: Buffer };

export function buildPdf(objects: PdfObject[], trailer = ''): Buffer {
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let length = parts[0]!.length;
  const offsets: number[] = [];
  const push = (part: Buffer | string) => {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'latin1') : part;
    parts.push(bytes);
    length += bytes.length;
  };
  objects.forEach((object, i) => {
    offsets.push(length);
    if (typeof object === 'string') {
      push(`${i + 1} 0 obj\n${object}\nendobj\n`);
    } else {
      push(`${i + 1} 0 obj\n${object.dict}\nstream\n`);
      push(object.data);
      push('\nendstream\nendobj\n');
    }
  });
  const xrefAt = length;
  push(`xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`);
  for (const offset of offsets) push(`${String(offset).padStart(10, '0')} 00000 n \n`);
  push(`trailer\n<< /Size ${objects.length + 1} /Root 1 0 R ${trailer}>>\nstartxref\n${xrefAt}\n%%EOF\n`);
  return Buffer.concat(parts);
}

// Catalog 1, Pages 2, pages 3.., each page with a content stream whose bytes look like PDF objects.
export function classicPdf(pageCount: number, contentBytes = 200): Buffer {
  const firstPage = 3;
  const kids = Array.from({ length: pageCount }, (_, i) => `${firstPage + i} 0 R`).join(' ');
  const contentNum = firstPage + pageCount;
  const decoy = Buffer.from('9 0 obj << /Type /Pages /Count 99 >> endobj\nendstream\ntrailer << /Root 9 0 R >>\n', 'latin1');
  const content = Buffer.alloc(contentBytes, 0x20);
  decoy.copy(content, 0, 0, Math.min(decoy.length, contentBytes));
  if (contentBytes > 2 * decoy.length) decoy.copy(content, contentBytes - decoy.length);
  return buildPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${kids}] /Count ${pageCount} >>`,
    ...Array.from(
      { length: pageCount },
      () => `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ${contentNum} 0 R /Resources << >> >>`,
    ),
    { dict: `<< /Length ${content.length} >>`, data: content },
  ]);
}

