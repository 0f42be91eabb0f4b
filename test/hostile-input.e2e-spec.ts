import { Agent, request as httpRequest } from 'node:http';
import { SignJWT } from 'jose';
import { startTestApp, type TestApp } from './support/test-app';

// Hostile input: every case gets a 4xx with a message that says what is wrong, and leaves nothing stored (no
// record, no object). Each case is one row of a table.

interface Answer {
  status: number;
  body: { message?: string; error?: string } | undefined;
  /** The client port of the connection that carried the answer. */
  port: number | undefined;
}

/** A raw request, so malformed bodies and headers go out exactly as written. */
function raw(app: TestApp, method: string, path: string, headers: Record<string, string>, body: Buffer | string, agent?: Agent): Promise<Answer> {
  const url = new URL(path, app.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent, headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      const port = res.socket?.localPort;
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        let parsed: Answer['body'];
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, port });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const B = 'hostileboundary';
const part = (headers: string, content: string) => `--${B}\r\n${headers}\r\n\r\n${content}\r\n`;
const fileHeader = (filename: string) => `Content-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: text/plain`;
const form = (...parts: string[]) => `${parts.join('')}--${B}--\r\n`;
const multipart = { 'content-type': `multipart/form-data; boundary=${B}` };

describe('hostile input', () => {
  let app: TestApp;
  let token: string;
  let stranger: string;
  let service: string;
  let victimId: string;

  beforeAll(async () => {
    app = await startTestApp({ FILE_CLIENTS: JSON.stringify({ 'hostile-app': 'hostile-client-secret-0123456789' }) });
    token = app.token({ sub: 'eve', org: 'attackers' });
    stranger = app.token({ sub: 'victim', org: 'victims' });
    service = app.token({ sub: 'svc', org: 'attackers', role: 'service' });
    const fd = new FormData();
    fd.append('file', new Blob(['the victim file']), 'secret.txt');
    const res = await fetch(`${app.url}/files`, { method: 'POST', headers: { authorization: `Bearer ${stranger}` }, body: fd });
    victimId = ((await res.json()) as { id: string }).id;
    await app.waitForStatus(victimId, stranger, ['READY']);
  });
  afterAll(() => app?.close());

  const auth = () => ({ authorization: `Bearer ${token}` });

  // ——— malformed multipart, on the three multipart endpoints ———
  const multipartCases: [string, Record<string, string>, string, RegExp][] = [
    ['no boundary', { 'content-type': 'multipart/form-data' }, form(part(fileHeader('a.txt'), 'x')), /multipart/i],
    ['not multipart', { 'content-type': 'application/json' }, '{"file": "x"}', /multipart/i],
    ['truncated body', multipart, `--${B}\r\n${fileHeader('a.txt')}\r\n\r\nabc`, /multipart|unexpected end|closed/i],
    ['no file part', multipart, form(part('Content-Disposition: form-data; name="note"', 'hello')), /file|meta/i],
    ['10 000 parts', multipart, form(...Array.from({ length: 10_000 }, (_, i) => part(`Content-Disposition: form-data; name="f${i}"`, 'x')), part(fileHeader('a.txt'), 'x')), /too many/i],
    ['huge part header', multipart, form(part(`${fileHeader('a.txt')}\r\nX-Padding: ${'a'.repeat(100_000)}`, 'x')), /multipart|header/i],
    ['garbage', multipart, '\u0000\u0001\u0002 not a form at all', /multipart|file/i],
  ];
  const multipartPaths: [string, Record<string, string>][] = [
    ['/files', {}],
    ['/v1/upload', {}],
    ['/api/files/upload', {}],
  ];

  // ——— filenames ———
  const badNames: [string, string, RegExp][] = [
    ['path traversal', '../../etc/passwd', /not a path/],
    ['windows path', '..\\\\windows\\\\win.ini', /not a path/],
    ['NUL', 'a%00.txt', /control|malformed/i],
    ['CR LF header injection', 'a.txt\r\nContent-Type: text/html', /control|multipart/i],
    ['right-to-left override', 'invoice\u202Etxt.exe', /bidirectional/],
    ['10 KB long', `${'n'.repeat(10_240)}.txt`, /at most 255/],
    ['only spaces', '   ', /empty/],
  ];

  it('refuses malformed multipart bodies on every multipart endpoint, storing nothing', async () => {
    const rows = await app.db.file.count();
    const objects = await app.countObjects();
    const wrong: string[] = [];
    for (const [path] of multipartPaths) {
      for (const [name, headers, body, message] of multipartCases) {
        const res = await raw(app, 'POST', path, { ...auth(), ...headers }, body);
        const text = res.body?.message ?? res.body?.error ?? '';
        if (!(res.status >= 400 && res.status < 500) || !message.test(text)) wrong.push(`${path} ${name}: ${res.status} ${text}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(await app.db.file.count()).toBe(rows);
    expect(await app.countObjects()).toBe(objects);
  });

  it('reads a refused body to its end, so the kept-alive connection answers the next request', async () => {
    // The part header is refused at once, while megabytes of the body are still on the wire. Left unread, they
    // would hold the connection, and the next request sent on it would end in a reset instead of an answer.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const body = form(part(`${fileHeader('a.txt')}\r\nX-Padding: ${'a'.repeat(100_000)}`, 'x'.repeat(4 * 1024 * 1024)));
      for (const [path] of multipartPaths) {
        const refused = await raw(app, 'POST', path, { ...auth(), ...multipart }, body, agent);
        const next = await raw(app, 'GET', '/files', auth(), '', agent);
        expect({ path, refused: refused.status, next: next.status, sameConnection: next.port === refused.port }).toEqual({ path, refused: 400, next: 200, sameConnection: true });
      }
    } finally {
      agent.destroy();
    }
  });

  it('refuses hostile file names on every upload path, storing nothing', async () => {
    const rows = await app.db.file.count();
    const objects = await app.countObjects();
    const wrong: string[] = [];
    for (const [name, filename, message] of badNames) {
      const decoded = filename.replace('%00', '\u0000');
      // Multipart through the API (the header carries the name as written; a CR LF there ends the header line
      // instead, so that case is a JSON-only one).
      for (const path of name.startsWith('CR LF') ? [] : ['/files', '/v1/upload']) {
        const body = form(part(fileHeader(decoded), 'content'));
        const answer = await raw(app, 'POST', path, { ...auth(), ...multipart }, body);
        const text = answer.body?.message ?? answer.body?.error ?? '';
        if (answer.status !== 400 || !message.test(text)) wrong.push(`${path} ${name}: ${answer.status} ${text}`);
      }
      // JSON surfaces that create a record first: GraphQL (ROQ), facilioo, epilot.
      const gql = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { ...auth(), authorization: `Bearer ${service}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'mutation($n: String!) { createFileUpload(file: {name: $n, contentType: "text/plain", fileCategory: "default"}) { id } }', variables: { n: decoded } }),
      });
      const gqlBody = (await gql.json()) as { errors?: { message: string }[] };
      const gqlMessage = gqlBody.errors?.[0]?.message ?? 'accepted';
      if (!message.test(gqlMessage)) wrong.push(`graphql ${name}: ${gqlMessage}`);
    }
    expect(wrong).toEqual([]);
    expect(await app.db.file.count()).toBe(rows);
    expect(await app.countObjects()).toBe(objects);
  });

  it('refuses forged, confused, expired and future-dated tokens with 401 and a message', async () => {
    const secret = new TextEncoder().encode(app.config.auth.jwtSecret);
    const now = Math.floor(Date.now() / 1000);
    const header = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const claims = header({ sub: 'eve', org: 'attackers', exp: now + 600 });
    const tokens: [string, string, RegExp][] = [
      ['alg none', `${header({ alg: 'none', typ: 'JWT' })}.${claims}.`, /none|not accepted/],
      ['RS256 header with an HMAC signature (key confusion)', await new SignJWT({ sub: 'eve' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now + 600).sign(secret).then((t) => `${header({ alg: 'RS256', typ: 'JWT' })}.${t.split('.')[1]}.${t.split('.')[2]}`), /RS256|not accepted|invalid/],
      ['another secret', await new SignJWT({ sub: 'eve' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now + 600).sign(new TextEncoder().encode('someone-elses-secret-0123456789')), /invalid/],
      ['expired', await new SignJWT({ sub: 'eve' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(secret), /expired/],
      ['issued in the future', await new SignJWT({ sub: 'eve' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now + 86_400).setExpirationTime(now + 90_000).sign(secret), /future/],
      ['no subject', await new SignJWT({ org: 'attackers' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now + 600).sign(secret), /subject/],
      ['unknown role', await new SignJWT({ sub: 'eve', role: 'root' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now + 600).sign(secret), /role/],
      ['not a JWT', 'hello', /not a JWT/],
    ];
    for (const [name, jwt, message] of tokens) {
      const res = await fetch(`${app.url}/files`, { headers: { authorization: `Bearer ${jwt}` } });
      const body = (await res.json()) as { message: string };
      expect({ name, status: res.status, ok: message.test(body.message) ? 'ok' : body.message }).toEqual({ name, status: 401, ok: 'ok' });
    }
  });

  it("answers 404 for another organization's file on every id-taking endpoint", async () => {
    const probes: [string, string, unknown?][] = [
      ['GET', `/files/${victimId}`],
      ['PATCH', `/files/${victimId}`, { name: 'mine.txt' }],
      ['DELETE', `/files/${victimId}`],
      ['GET', `/files/${victimId}/download-url`],
      ['GET', `/files/${victimId}/preview?w=10`],
      ['GET', `/api/files/${victimId}/meta`],
      ['GET', `/api/files/${victimId}/download-url`],
      ['GET', `/api/files/${victimId}/thumbnail-url`],
      ['PUT', `/api/files/${victimId}/upload`],
      ['POST', `/api/files/${victimId}/complete`],
      ['POST', `/api/files/${victimId}/links`, { entityName: 'x', entityReference: 'y' }],
      ['GET', `/v1/upload/${victimId}`],
      ['GET', `/v1/upload/url/${victimId}`],
      ['DELETE', `/v1/upload/${victimId}`],
      ['GET', `/v2/files/${victimId}`],
      ['DELETE', `/v2/files/${victimId}`],
      ['GET', `/v1/files/${victimId}/download`],
      ['GET', `/v1/files/${victimId}/preview?w=10`],
      ['POST', `/v1/files/${victimId}/public/links`],
      ['GET', `/v1/files/${victimId}/public/links`],
    ];
    for (const [method, path, body] of probes) {
      const res = await fetch(`${app.url}${path}`, {
        method,
        headers: { ...auth(), ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const answer = (await res.json().catch(() => ({}))) as { message?: string; error?: string };
      expect({ method, path, status: res.status, says: Boolean(answer.message ?? answer.error) }).toEqual({ method, path, status: 404, says: true });
    }
    // GraphQL too.
    const gql = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'query($id: ID!) { file(fileId: $id) { id } }', variables: { id: victimId } }),
    });
    expect(((await gql.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('NOT_FOUND');
    // The victim's file is untouched.
    expect((await fetch(`${app.url}/files/${victimId}`, { headers: { authorization: `Bearer ${stranger}` } }).then((r) => r.json()) as { name: string }).name).toBe('secret.txt');
  });

  it('refuses malformed ids, JSON and query values with 400 and a message', async () => {
    const cases: [string, string, Record<string, string>, string | undefined][] = [
      ['GET', '/files/not-a-uuid', {}, undefined],
      ['GET', '/files?limit=0', {}, undefined],
      ['GET', '/files?page=-1', {}, undefined],
      ['GET', '/files?status=DONE', {}, undefined],
      ['GET', '/v1/upload?page=abc', {}, undefined],
      ['PATCH', `/files/${victimId}`, { 'content-type': 'application/json' }, '{"name": '],
      ['POST', '/api/files/share', { 'content-type': 'application/json' }, '{"dv": 2}'],
      ['POST', '/api/files', { 'content-type': 'application/json' }, '{"originalFilename": 42}'],
      ['POST', '/v2/files', { 'content-type': 'application/json' }, '{"access_control": "everyone"}'],
      ['POST', '/webhooks', { 'content-type': 'application/json' }, '{"url": 1}'],
    ];
    for (const [method, path, headers, body] of cases) {
      const res = await raw(app, method, path, { ...auth(), ...headers }, body ?? '');
      const text = res.body?.message ?? res.body?.error;
      expect({ method, path, status: res.status >= 400 && res.status < 500, says: typeof text === 'string' && text.length > 3 }).toEqual({ method, path, status: true, says: true });
    }
  });
});
