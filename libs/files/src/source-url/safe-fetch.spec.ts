import type { LookupAddress } from 'node:dns';
import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import {
  SourceUrlError,
  checkSourceUrl,
  isBlockedAddress,
  pinnedLookup,
  safeFetch,
  type SafeFetchOptions,
  type SourceUrlErrorCode,
} from './safe-fetch';

/** The code of the SourceUrlError `fn` throws, or a marker when it throws something else / nothing. */
function thrownCode(fn: () => unknown): SourceUrlErrorCode | 'NOT_A_SOURCE_URL_ERROR' | 'NO_THROW' {
  try {
    fn();
    return 'NO_THROW';
  } catch (err) {
    return err instanceof SourceUrlError ? err.code : 'NOT_A_SOURCE_URL_ERROR';
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function lookupAll(lookup: LookupFunction, host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    lookup(host, { all: true }, (err, addresses) => {
      if (err) reject(err);
      else if (Array.isArray(addresses)) resolve(addresses);
      else reject(new Error('lookup with all: true must answer a list'));
    });
  });
}

describe('checkSourceUrl', () => {
  it.each([
    ['file:///etc/passwd', 'INVALID_URL'],
    ['ftp://example.com/x.pdf', 'INVALID_URL'],
    ['javascript:alert(1)', 'INVALID_URL'],
    ['not a url', 'INVALID_URL'],
    ['https://user:pass@example.com/x.pdf', 'INVALID_URL'],
    ['https://:secret@example.com/x.pdf', 'INVALID_URL'],
    ['http://localhost/', 'BLOCKED_ADDRESS'],
    ['http://LOCALHOST./', 'BLOCKED_ADDRESS'],
    ['http://api.localhost/', 'BLOCKED_ADDRESS'],
    ['http://127.0.0.1/', 'BLOCKED_ADDRESS'],
    ['http://2130706433/', 'BLOCKED_ADDRESS'],
    ['http://0x7f000001/', 'BLOCKED_ADDRESS'],
    ['http://0x7f.1/', 'BLOCKED_ADDRESS'],
    ['http://0177.0.0.1/', 'BLOCKED_ADDRESS'],
    ['http://127.1/', 'BLOCKED_ADDRESS'],
    ['http://0.0.0.0/', 'BLOCKED_ADDRESS'],
    ['http://10.0.0.1/', 'BLOCKED_ADDRESS'],
    ['http://172.16.5.4/', 'BLOCKED_ADDRESS'],
    ['http://192.168.1.1/', 'BLOCKED_ADDRESS'],
    ['http://169.254.169.254/latest/meta-data/', 'BLOCKED_ADDRESS'],
    ['http://100.64.0.1/', 'BLOCKED_ADDRESS'],
    ['http://[::1]/', 'BLOCKED_ADDRESS'],
    ['http://[::]/', 'BLOCKED_ADDRESS'],
    ['http://[::ffff:127.0.0.1]/', 'BLOCKED_ADDRESS'],
    ['http://[::ffff:a9fe:a9fe]/', 'BLOCKED_ADDRESS'],
    ['http://[64:ff9b::10.0.0.1]/', 'BLOCKED_ADDRESS'],
    ['http://[fe80::1]/', 'BLOCKED_ADDRESS'],
    ['http://[fd00::1]/', 'BLOCKED_ADDRESS'],
  ])('refuses %s (%s)', (url, code) => {
    expect(thrownCode(() => checkSourceUrl(url))).toBe(code);
  });

  it('accepts public http(s) URLs and returns the parsed URL', () => {
    expect(checkSourceUrl('https://example.com/x.pdf').hostname).toBe('example.com');
    expect(checkSourceUrl('http://8.8.8.8/file').hostname).toBe('8.8.8.8');
    expect(checkSourceUrl('http://[2606:4700:4700::1111]/').hostname).toBe('[2606:4700:4700::1111]');
  });

  it('lets allow-listed hosts and ranges through', () => {
    expect(checkSourceUrl('http://127.0.0.1:8080/x', ['127.0.0.1']).port).toBe('8080');
    expect(checkSourceUrl('http://localhost/x', ['localhost']).hostname).toBe('localhost');
    expect(checkSourceUrl('http://10.1.2.3/x', ['10.1.0.0/16']).hostname).toBe('10.1.2.3');
    expect(checkSourceUrl('http://[::1]/x', ['::1/128']).hostname).toBe('[::1]');
    expect(thrownCode(() => checkSourceUrl('http://10.2.0.1/x', ['10.1.0.0/16']))).toBe('BLOCKED_ADDRESS');
    expect(thrownCode(() => checkSourceUrl('http://localhost/x', ['127.0.0.1']))).toBe('BLOCKED_ADDRESS');
  });

  it('explains refusals in words an API user understands', () => {
    expect(() => checkSourceUrl('http://2130706433/')).toThrow(
      'source_url resolves to 127.0.0.1, a loopback/private/link-local address; it is not fetched',
    );
    expect(() => checkSourceUrl('file:///etc/passwd')).toThrow('source_url must be http or https');
    expect(() => checkSourceUrl('https://u:p@example.com/')).toThrow('source_url must not contain a user name or password');
  });
});

describe('isBlockedAddress', () => {
  it.each([
    '0.0.0.0', '0.255.255.255', '10.1.2.3', '100.64.0.1', '100.127.255.255', '127.0.0.1', '127.255.255.254',
    '169.254.169.254', '172.16.0.1', '172.31.255.255', '192.0.0.8', '192.168.0.1', '198.18.0.1', '198.19.255.255',
    '224.0.0.1', '239.255.255.250', '240.0.0.1', '255.255.255.255',
    '::', '::1', '[::1]', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'fe80::1%eth0', 'febf::1', 'ff02::1',
    '::ffff:127.0.0.1', '::ffff:127.0.0.1%eth0', '::ffff:7f00:1', '::ffff:169.254.169.254', '::127.0.0.1', '64:ff9b::10.0.0.1',
    '64:ff9b::a9fe:a9fe', 'not-an-address', '',
  ])('blocks %s', (address) => {
    expect(isBlockedAddress(address)).toBe(true);
  });

  it.each([
    '8.8.8.8', '1.1.1.1', '93.184.216.34', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0',
    '192.0.1.1', '192.167.255.255', '198.17.255.255', '198.20.0.0', '223.255.255.255',
    '2606:4700:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', '::8.8.8.8', '64:ff9b::8.8.8.8',
  ])('allows %s', (address) => {
    expect(isBlockedAddress(address)).toBe(false);
  });

  it('honours the allow-list by exact host and by CIDR', () => {
    expect(isBlockedAddress('127.0.0.1', ['127.0.0.1'])).toBe(false);
    expect(isBlockedAddress('127.0.0.2', ['127.0.0.1'])).toBe(true);
    expect(isBlockedAddress('::ffff:127.0.0.1', ['127.0.0.1'])).toBe(false);
    expect(isBlockedAddress('::ffff:127.0.0.1%eth0', ['127.0.0.1'])).toBe(false);
    expect(isBlockedAddress('10.1.255.7', ['10.1.0.0/16'])).toBe(false);
    expect(isBlockedAddress('10.2.0.1', ['10.1.0.0/16'])).toBe(true);
    expect(isBlockedAddress('::1', ['::1/128'])).toBe(false);
    expect(isBlockedAddress('fd00::1', ['::1/128'])).toBe(true);
    expect(isBlockedAddress('files.intranet', ['Files.Intranet'])).toBe(false);
    expect(isBlockedAddress('files.intranet', [])).toBe(true);
  });

  it('ignores malformed CIDR entries instead of widening the allow-list', () => {
    expect(isBlockedAddress('10.0.0.1', ['10.0.0.0/33'])).toBe(true);
    expect(isBlockedAddress('10.0.0.1', ['10.0.0.0/8/8'])).toBe(true);
    expect(isBlockedAddress('10.0.0.1', ['10.0.0.0/x'])).toBe(true);
  });
});

describe('pinnedLookup', () => {
  it('refuses a hostname that resolves to a loopback address', async () => {
    const err = await rejection(lookupAll(pinnedLookup([]), 'localhost'));
    expect(err).toBeInstanceOf(SourceUrlError);
    expect(err).toMatchObject({ code: 'BLOCKED_ADDRESS' });
    expect((err as SourceUrlError).message).toMatch(/^source_url resolves to (127\.0\.0\.1|::1), a loopback/);
  });

  it('answers the validated addresses when allow-listed by range or by name', async () => {
    const byRange = await lookupAll(pinnedLookup(['127.0.0.0/8', '::1/128']), 'localhost');
    expect(byRange.map((a) => a.address)).toContain('127.0.0.1');
    const byName = await lookupAll(pinnedLookup(['localhost']), 'localhost');
    expect(byName.map((a) => a.address)).toContain('127.0.0.1');
  });

  it('answers a single address when net asks without `all`', async () => {
    const lookup = pinnedLookup(['127.0.0.0/8', '::1/128']);
    const [address, family] = await new Promise<[unknown, unknown]>((resolve, reject) =>
      lookup('localhost', {}, (err, addr, fam) => (err ? reject(err) : resolve([addr, fam]))),
    );
    expect(typeof address).toBe('string');
    expect([4, 6]).toContain(family);
  });

  it('makes a real http request fail before connecting', async () => {
    const err = await new Promise<Error>((resolve) => {
      const req = http.get({ hostname: 'localhost', port: 9, path: '/', lookup: pinnedLookup([]), agent: false });
      req.on('error', resolve);
    });
    expect(err).toBeInstanceOf(SourceUrlError);
    expect(err).toMatchObject({ code: 'BLOCKED_ADDRESS' });
  });
});

describe('safeFetch', () => {
  type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
  const hits = new Map<string, number>();
  let routes: Record<string, Handler> = {};
  let server: http.Server;
  let base: string;
  const allowed = (extra: Partial<SafeFetchOptions> = {}): SafeFetchOptions => ({
    allowList: ['127.0.0.1'],
    maxBytes: 1024 * 1024,
    timeoutMs: 5000,
    ...extra,
  });
  const redirect = (location: string, status = 302): Handler => (_req, res) => {
    res.writeHead(status, { location });
    res.end();
  };

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      const handler = routes[path];
      if (handler) return handler(req, res);
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  beforeEach(() => {
    hits.clear();
    routes = {
      '/report': (_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/pdf',
          'content-disposition': `attachment; filename="report.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`,
        });
        res.end('%PDF-1.7 hello');
      },
      '/plain-name': (_req, res) => {
        res.writeHead(200, { 'content-disposition': 'attachment; filename="../../etc/quarterly \\"Q3\\".csv"' });
        res.end('a,b\n');
      },
      '/docs/My%20Report.pdf': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': '5' });
        res.end('%PDF-');
      },
      '/headers': (req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(req.headers));
      },
      '/to-metadata': redirect('http://169.254.169.254/latest/meta-data/iam/security-credentials/'),
      '/to-private': redirect('http://10.0.0.1/', 301),
      '/to-file': redirect('file:///etc/passwd'),
      '/to-localhost': redirect('http://localhost/', 307),
      '/to-credentials': redirect('http://admin:pw@127.0.0.1/report'),
      '/to-relative': redirect('docs/My%20Report.pdf', 303),
      '/to-absolute': redirect('/to-relative', 308),
      '/loop': redirect('/loop'),
      '/declared-large': (_req, res) => {
        res.writeHead(200, { 'content-length': '2048' });
        res.end(Buffer.alloc(2048));
      },
      '/hang': () => undefined,
      '/stall-body': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write('first chunk');
      },
    };
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('streams the body, with the filename from Content-Disposition (filename* preferred)', async () => {
    const result = await safeFetch(`${base}/report`, allowed());
    expect(result).toMatchObject({
      contentType: 'application/pdf',
      filename: 'résumé.pdf',
      finalUrl: `${base}/report`,
    });
    expect((await readAll(result.body)).toString()).toBe('%PDF-1.7 hello');
  });

  it('strips directories from a quoted Content-Disposition filename', async () => {
    const result = await safeFetch(`${base}/plain-name`, allowed());
    expect(result.filename).toBe('quarterly "Q3".csv');
    await readAll(result.body);
  });

  it('falls back to the decoded last path segment, and reports Content-Length', async () => {
    const result = await safeFetch(`${base}/docs/My%20Report.pdf?download=1`, allowed());
    expect(result).toMatchObject({ filename: 'My Report.pdf', contentLength: 5, contentType: 'application/pdf' });
    expect((await readAll(result.body)).toString()).toBe('%PDF-');
  });

  it('sends a fixed User-Agent and Accept and no credentials', async () => {
    const result = await safeFetch(`${base}/headers`, allowed());
    const headers = JSON.parse((await readAll(result.body)).toString()) as Record<string, string>;
    expect(headers['user-agent']).toBe('filehub-import/1');
    expect(headers.accept).toBe('*/*');
    expect(headers).not.toHaveProperty('cookie');
    expect(headers).not.toHaveProperty('authorization');
  });

  it('refuses a non-allow-listed 127.0.0.1 URL without connecting', async () => {
    const err = await rejection(safeFetch(`${base}/report`, { maxBytes: 1024, timeoutMs: 1000 }));
    expect(err).toMatchObject({ code: 'BLOCKED_ADDRESS' });
    expect(hits.get('/report')).toBeUndefined();
  });

  it('checks hostnames after DNS: localhost allow-listed by name connects through the pinned lookup', async () => {
    const port = (server.address() as AddressInfo).port;
    const result = await safeFetch(`http://localhost:${port}/report`, allowed({ allowList: ['localhost'] }));
    expect((await readAll(result.body)).toString()).toBe('%PDF-1.7 hello');
  });

  it.each([
    ['/to-metadata', 'BLOCKED_ADDRESS', /redirect target resolves to 169\.254\.169\.254/],
    ['/to-private', 'BLOCKED_ADDRESS', /redirect target resolves to 10\.0\.0\.1/],
    ['/to-localhost', 'BLOCKED_ADDRESS', /redirect target points to localhost, a loopback host name/],
    ['/to-file', 'INVALID_URL', /redirect target must be http or https/],
    ['/to-credentials', 'INVALID_URL', /user name or password/],
  ])('refuses the redirect %s (%s)', async (path, code, message) => {
    const err = await rejection(safeFetch(`${base}${path}`, allowed()));
    expect(err).toBeInstanceOf(SourceUrlError);
    expect(err).toMatchObject({ code });
    expect((err as SourceUrlError).message).toMatch(message);
  });

  it('follows absolute-path and relative redirects to allow-listed URLs', async () => {
    const result = await safeFetch(`${base}/to-absolute`, allowed());
    expect(result.finalUrl).toBe(`${base}/docs/My%20Report.pdf`);
    expect(result.filename).toBe('My Report.pdf');
    expect((await readAll(result.body)).toString()).toBe('%PDF-');
  });

  it('gives up on redirect loops after maxRedirects (default 5)', async () => {
    const err = await rejection(safeFetch(`${base}/loop`, allowed()));
    expect(err).toMatchObject({ code: 'TOO_MANY_REDIRECTS', message: 'source_url redirected more than 5 times' });
    expect(hits.get('/loop')).toBe(6);

    hits.clear();
    expect(await rejection(safeFetch(`${base}/loop`, allowed({ maxRedirects: 0 })))).toMatchObject({
      code: 'TOO_MANY_REDIRECTS',
    });
    expect(hits.get('/loop')).toBe(1);
  });

  it('fails with HTTP_STATUS on a 404', async () => {
    const err = await rejection(safeFetch(`${base}/missing`, allowed()));
    expect(err).toMatchObject({ code: 'HTTP_STATUS', message: 'The source answered 404' });
  });

  it('refuses a declared Content-Length over maxBytes before reading', async () => {
    const err = await rejection(safeFetch(`${base}/declared-large`, allowed({ maxBytes: 1024 })));
    expect(err).toMatchObject({ code: 'TOO_LARGE', message: 'The source file is larger than 1024 bytes' });
  });

  it('errors the body stream and closes the connection when a chunked body exceeds maxBytes', async () => {
    let serverSawClose!: Promise<void>;
    routes['/endless'] = (_req, res) => {
      serverSawClose = new Promise((resolve) => res.on('close', () => resolve()));
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no Content-Length: chunked
      const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024, 1)), 2);
      res.on('close', () => clearInterval(timer));
    };
    const result = await safeFetch(`${base}/endless`, allowed({ maxBytes: 100_000 }));
    expect(result.contentLength).toBeUndefined();
    const err = await rejection(readAll(result.body));
    expect(err).toMatchObject({ code: 'TOO_LARGE' });
    await serverSawClose;
  });

  it('fails with TIMEOUT when the server never answers', async () => {
    const started = Date.now();
    const err = await rejection(safeFetch(`${base}/hang`, allowed({ timeoutMs: 300 })));
    expect(err).toMatchObject({ code: 'TIMEOUT', message: 'source_url did not complete within 300 ms' });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('aborts the body stream at the same deadline', async () => {
    const result = await safeFetch(`${base}/stall-body`, allowed({ timeoutMs: 300 }));
    const err = await rejection(readAll(result.body));
    expect(err).toMatchObject({ code: 'TIMEOUT' });
  });

  it("rejects with the caller's abort reason when options.signal aborts", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err = await rejection(safeFetch(`${base}/hang`, allowed({ signal: controller.signal })));
    expect(err).toMatchObject({ name: 'AbortError' });

    const already = AbortSignal.abort(new Error('client went away'));
    expect(await rejection(safeFetch(`${base}/report`, allowed({ signal: already })))).toMatchObject({
      message: 'client went away',
    });
  });

  it('fails with NETWORK when nothing listens', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await rejection(safeFetch(`http://127.0.0.1:${port}/`, allowed()));
    expect(err).toMatchObject({ code: 'NETWORK' });
    expect((err as SourceUrlError).message).toMatch(/^source_url could not be fetched: .*ECONNREFUSED/);
  });
});
