import { SecretBox } from './secret-box';

describe('SecretBox', () => {
  it('opens what it sealed, with a fresh IV every time', () => {
    const box = new SecretBox('key material');
    const a = box.seal('s3cret-value');
    const b = box.seal('s3cret-value');
    expect(a).not.toBe(b);
    expect(a).not.toContain('s3cret');
    expect(box.open(a)).toBe('s3cret-value');
    expect(box.open(b)).toBe('s3cret-value');
  });

  it('refuses a tampered ciphertext and another key', () => {
    const sealed = new SecretBox('key material').seal('s3cret-value');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] ^= 1;
    parts[3] = body.toString('base64url');
    expect(() => new SecretBox('key material').open(parts.join('.'))).toThrow();
    expect(() => new SecretBox('other key').open(sealed)).toThrow();
    expect(() => new SecretBox('key material').open('not-sealed')).toThrow('Unreadable sealed secret');
  });
});
