import { contentDisposition, isActiveContent, mimeAllowed, sniffMime } from './content-type';

describe('content types', () => {
  it('sniffs PNG and PDF from their first bytes and returns null for plain text', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    expect(await sniffMime(Buffer.concat([png, Buffer.alloc(64)]))).toBe('image/png');
    expect(await sniffMime(Buffer.from('%PDF-1.7\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n'))).toBe('application/pdf');
    expect(await sniffMime(Buffer.from('hello, world\n'))).toBeNull();
  });

  it('matches category MIME lists exactly or by wildcard', () => {
    expect(mimeAllowed('image/png', ['image/*'])).toBe(true);
    expect(mimeAllowed('application/pdf', ['image/*'])).toBe(false);
    expect(mimeAllowed('application/pdf', [])).toBe(true);
    expect(mimeAllowed('Application/PDF', ['application/pdf'])).toBe(true);
  });

  it('treats HTML, SVG and XML as active content', () => {
    expect(isActiveContent('text/html; charset=utf-8')).toBe(true);
    expect(isActiveContent('image/svg+xml')).toBe(true);
    expect(isActiveContent('application/xml')).toBe(true);
    expect(isActiveContent('image/png')).toBe(false);
  });

  it('encodes filenames safely in Content-Disposition', () => {
    expect(contentDisposition('report.pdf', 'inline')).toBe(`inline; filename="report.pdf"; filename*=UTF-8''report.pdf`);
    const header = contentDisposition('naïve "x";\r\nSet-Cookie: a=b.txt', 'attachment');
    expect(header).not.toMatch(/[\r\n]/);
    expect(header).toContain(`filename="na_ve _x__Set-Cookie: a=b.txt"`);
    expect(header).toContain(`filename*=UTF-8''na%C3%AFve%20%22x%22%3BSet-Cookie%3A%20a%3Db.txt`);
  });
});
