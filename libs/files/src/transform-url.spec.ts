import { checkTransformUrl, signTransformUrl } from './transform-url';

describe('transform URL signatures', () => {
  const secret = 'a-secret-of-sixteen-or-more';
  const expires = 2_000_000_000;
  const signature = signTransformUrl(secret, 'file-a', expires);

  it('verifies for the file and expiry it was made for', () => {
    expect(checkTransformUrl(secret, 'file-a', String(expires), signature, 0)).toBe('valid');
  });

  it('refuses another file, another expiry, another secret and an altered signature', () => {
    expect(checkTransformUrl(secret, 'file-b', String(expires), signature, 0)).toBe('invalid');
    expect(checkTransformUrl(secret, 'file-a', String(expires + 1), signature, 0)).toBe('invalid');
    expect(checkTransformUrl('another-secret-of-16+', 'file-a', String(expires), signature, 0)).toBe('invalid');
    const altered = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
    expect(checkTransformUrl(secret, 'file-a', String(expires), altered, 0)).toBe('invalid');
    expect(checkTransformUrl(secret, 'file-a', `0${expires}`, signature, 0)).toBe('invalid');
    expect(checkTransformUrl(secret, 'file-a', undefined, signature, 0)).toBe('invalid');
  });

  it('tells an expired URL apart', () => {
    expect(checkTransformUrl(secret, 'file-a', String(expires), signature, (expires + 1) * 1000)).toBe('expired');
  });
});
