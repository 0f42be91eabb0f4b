import {
  SignedRequestError,
  signObjectUrl,
  signPostPolicy,
  verifyObjectUrl,
  verifyPostPolicy,
  type ObjectUrlClaims,
} from './local-url-signer';

const SECRET = 'unit-test-secret-0123456789';
const BASE = 'https://files.example.com/api';
const KEY = 'objects/ab/cd/abcdef0123';
const NOW = Date.UTC(2030, 0, 1);
const claims: ObjectUrlClaims = {
  method: 'GET',
  key: KEY,
  expires: NOW / 1000 + 60,
  disposition: 'attachment; filename="a b.pdf"',
  contentType: 'application/pdf',
};

function query(url: string): URLSearchParams {
  return new URL(url).searchParams;
}

function refusal(fn: () => unknown): SignedRequestError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SignedRequestError) return error;
    throw error;
  }
  throw new Error('expected a SignedRequestError');
}

describe('signed object URLs', () => {
  const url = signObjectUrl(BASE, SECRET, claims);

  it('point at /storage/v1/object/<key> under the public base URL', () => {
    expect(url.startsWith(`${BASE}/storage/v1/object/${KEY}?expires=`)).toBe(true);
    expect(query(url).get('signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('verify with every claim intact', () => {
    expect(verifyObjectUrl(SECRET, 'GET', KEY, query(url), NOW)).toEqual(claims);
  });

  it.each([
    ['expires', String(claims.expires + 1)],
    ['disposition', 'inline'],
    ['type', 'text/html'],
    ['signature', query(url).get('signature')!.replace(/.$/, (c) => (c === '0' ? '1' : '0'))],
  ])('refuse a changed %s with 403 SignatureDoesNotMatch', (name, value) => {
    const q = query(url);
    q.set(name, value);
    expect(refusal(() => verifyObjectUrl(SECRET, 'GET', KEY, q, NOW))).toMatchObject({
      status: 403,
      code: 'SignatureDoesNotMatch',
    });
  });

  it('refuse a dropped override, another key, another method or another secret', () => {
    const q = query(url);
    q.delete('type');
    expect(refusal(() => verifyObjectUrl(SECRET, 'GET', KEY, q, NOW)).status).toBe(403);
    expect(refusal(() => verifyObjectUrl(SECRET, 'GET', `${KEY}x`, query(url), NOW)).status).toBe(403);
    const put = signObjectUrl(BASE, SECRET, { method: 'PUT', key: KEY, expires: claims.expires });
    expect(refusal(() => verifyObjectUrl(SECRET, 'GET', KEY, query(put), NOW)).status).toBe(403);
    expect(refusal(() => verifyObjectUrl(`${SECRET}!`, 'GET', KEY, query(url), NOW)).status).toBe(403);
  });

  it('refuse once expired, saying so', () => {
    const error = refusal(() => verifyObjectUrl(SECRET, 'GET', KEY, query(url), NOW + 61_000));
    expect(error).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(error.message).toMatch(/expired/);
  });

  it('refuse unsigned, malformed, duplicated or extra parameters', () => {
    const cases = [
      '',
      `expires=${claims.expires}`,
      `${query(url).toString()}&extra=1`,
      `${query(url).toString()}&expires=${claims.expires}`,
      query(url).toString().replace(/expires=\d+/, `expires=0${claims.expires}`),
      query(url).toString().replace(/signature=[0-9a-f]+/, 'signature=XYZ'),
    ];
    for (const raw of cases) {
      expect(refusal(() => verifyObjectUrl(SECRET, 'GET', KEY, new URLSearchParams(raw), NOW)).status).toBe(403);
    }
  });

  it('accept a PUT URL only for PUT, with its pinned type', () => {
    const put = signObjectUrl(BASE, SECRET, { method: 'PUT', key: KEY, expires: claims.expires, contentType: 'image/png' });
    expect(verifyObjectUrl(SECRET, 'PUT', KEY, query(put), NOW).contentType).toBe('image/png');
    // "disposition" means nothing on a PUT and is refused rather than ignored.
    const q = query(put);
    q.set('disposition', 'inline');
    expect(refusal(() => verifyObjectUrl(SECRET, 'PUT', KEY, q, NOW)).status).toBe(403);
  });
});

describe('POST policies', () => {
  const input = { key: KEY, expiresAt: NOW + 60_000, contentType: 'image/png', minBytes: 1, maxBytes: 1000 };
  const signed = signPostPolicy(SECRET, input);
  const form = (extra: Record<string, string> = {}): Map<string, string> =>
    new Map(
      Object.entries({ key: KEY, 'content-type': 'image/png', ...signed, ...extra }),
    );

  it('encode an S3-style document: expiration, key, Content-Type and content-length-range', () => {
    expect(JSON.parse(Buffer.from(signed.policy, 'base64').toString('utf8'))).toEqual({
      expiration: new Date(input.expiresAt).toISOString(),
      conditions: [{ key: KEY }, { 'Content-Type': 'image/png' }, ['content-length-range', 1, 1000]],
    });
  });

  it('verify a matching form and hand back the limits', () => {
    expect(verifyPostPolicy(SECRET, form(), NOW)).toEqual({
      key: KEY,
      contentType: 'image/png',
      minBytes: 1,
      maxBytes: 1000,
    });
  });

  it('refuse an altered policy or signature', () => {
    const forged = Buffer.from(
      JSON.stringify({
        expiration: new Date(input.expiresAt).toISOString(),
        conditions: [{ key: KEY }, ['content-length-range', 0, 1e9]],
      }),
    ).toString('base64');
    expect(refusal(() => verifyPostPolicy(SECRET, form({ policy: forged }), NOW))).toMatchObject({
      status: 403,
      code: 'SignatureDoesNotMatch',
    });
    expect(refusal(() => verifyPostPolicy(SECRET, form({ signature: '0'.repeat(64) }), NOW)).status).toBe(403);
    expect(refusal(() => verifyPostPolicy(SECRET, form({ signature: '' }), NOW)).status).toBe(403);
  });

  it('refuse a form that breaks a condition: another key or Content-Type, or a missing field', () => {
    const otherKey = refusal(() => verifyPostPolicy(SECRET, form({ key: 'objects/ab/cd/other' }), NOW));
    expect(otherKey).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(otherKey.message).toContain('Policy Condition failed');
    expect(refusal(() => verifyPostPolicy(SECRET, form({ 'content-type': 'text/html' }), NOW)).status).toBe(403);
    const missing = form();
    missing.delete('content-type');
    expect(refusal(() => verifyPostPolicy(SECRET, missing, NOW)).status).toBe(403);
  });

  it('refuse fields the policy does not cover, except x-ignore-*', () => {
    const extra = refusal(() => verifyPostPolicy(SECRET, form({ acl: 'public-read' }), NOW));
    expect(extra.message).toContain('Extra input fields: acl');
    expect(verifyPostPolicy(SECRET, form({ 'x-ignore-note': 'anything' }), NOW).key).toBe(KEY);
  });

  it('refuse an expired policy', () => {
    const error = refusal(() => verifyPostPolicy(SECRET, form(), NOW + 60_001));
    expect(error).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(error.message).toContain('Policy expired');
  });

  it('leave Content-Type free when not pinned', () => {
    const free = signPostPolicy(SECRET, { ...input, contentType: undefined });
    const fields = new Map(Object.entries({ key: KEY, policy: free.policy, signature: free.signature }));
    expect(verifyPostPolicy(SECRET, fields, NOW).contentType).toBeUndefined();
    fields.set('content-type', 'text/plain');
    expect(verifyPostPolicy(SECRET, fields, NOW).contentType).toBe('text/plain');
  });
});
