import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { PdfString, isDict, nameOf, type PdfDict, type PdfValue } from './pdf-object.parser';

// The PDF standard security handler (ISO 32000-1 §7.6.3, ISO 32000-2 §7.6.4), opened with the empty user
// password: the common case of a PDF "secured" only against printing or copying, which every viewer opens
// without asking. It only decrypts stream data (for object streams); nothing here needs strings.

export type PdfStreamDecryptor = (num: number, gen: number, data: Buffer) => Buffer;

export type PdfDecryptorResult =
  | { ok: true; decrypt: PdfStreamDecryptor }
  | { ok: false; reason: 'password' | 'unsupported'; detail: string };

const PASSWORD_PADDING = Buffer.from('28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a', 'hex');

export function createStandardDecryptor(encrypt: PdfDict, fileId: Buffer | undefined): PdfDecryptorResult {
  const filter = nameOf(encrypt.get('Filter'));
  if (filter !== 'Standard') return unsupported(`security handler ${filter ?? '(none)'}`);
  const v = integer(encrypt.get('V')) ?? 0;
  const r = integer(encrypt.get('R'));
  const o = bytes(encrypt.get('O'));
  const u = bytes(encrypt.get('U'));
  if (r === undefined || !o || !u) return unsupported('an incomplete encryption dictionary');

  const method = streamCipher(encrypt, v);
  if (method === undefined) return unsupported(`encryption V${v}`);
  if (method === 'identity') return { ok: true, decrypt: (_num, _gen, data) => data };

  if (r >= 5) {
    const key = aes256FileKey(encrypt, r, u);
    if (!key) return { ok: false, reason: 'password', detail: 'a user password is required' };
    return { ok: true, decrypt: (_num, _gen, data) => aesDecrypt('aes-256-cbc', key, data) };
  }

  const keyLength = r === 2 ? 5 : (integer(encrypt.get('Length')) ?? 40) / 8;
  if (!Number.isInteger(keyLength) || keyLength < 5 || keyLength > 16) return unsupported(`a ${keyLength * 8}-bit key`);
  const encryptMetadata = encrypt.get('EncryptMetadata') !== false;
  const key = rc4FileKey(o, integer(encrypt.get('P')) ?? 0, fileId ?? Buffer.alloc(0), r, keyLength, encryptMetadata);
  if (!userPasswordMatches(key, u, fileId ?? Buffer.alloc(0), r)) {
    return { ok: false, reason: 'password', detail: 'a user password is required' };
  }
  return {
    ok: true,
    decrypt: (num, gen, data) => {
      const objectKey = createHash('md5')
        .update(key)
        .update(Buffer.from([num & 0xff, (num >> 8) & 0xff, (num >> 16) & 0xff, gen & 0xff, (gen >> 8) & 0xff]))
        .update(method === 'aes128' ? Buffer.from('sAlT', 'latin1') : Buffer.alloc(0))
        .digest()
        .subarray(0, Math.min(keyLength + 5, 16));
      return method === 'aes128' ? aesDecrypt('aes-128-cbc', objectKey, data) : rc4(objectKey, data);
    },
  };
}

function unsupported(what: string): PdfDecryptorResult {
  return { ok: false, reason: 'unsupported', detail: `it uses ${what}` };
}

// V1/V2 are RC4 throughout; V4/V5 name a crypt filter for streams (/StmF) defined in /CF.
function streamCipher(encrypt: PdfDict, v: number): 'rc4' | 'aes128' | 'aes256' | 'identity' | undefined {
  if (v === 1 || v === 2) return 'rc4';
  if (v !== 4 && v !== 5) return undefined;
  const filterName = nameOf(encrypt.get('StmF')) ?? 'Identity';
  if (filterName === 'Identity') return 'identity';
  const filters = encrypt.get('CF');
  const filter = isDict(filters) ? filters.get(filterName) : undefined;
  const cfm = isDict(filter) ? nameOf(filter.get('CFM')) : undefined;
  if (cfm === 'V2') return 'rc4';
  if (cfm === 'AESV2') return 'aes128';
  if (cfm === 'AESV3') return 'aes256';
  return cfm === 'None' ? 'identity' : undefined;
}

// Algorithm 2 (revisions 2–4) with the empty password.
function rc4FileKey(o: Buffer, p: number, fileId: Buffer, r: number, keyLength: number, encryptMetadata: boolean): Buffer {
  const permissions = Buffer.alloc(4);
  permissions.writeInt32LE(p | 0);
  const hash = createHash('md5').update(PASSWORD_PADDING).update(o.subarray(0, 32)).update(permissions).update(fileId);
  if (r >= 4 && !encryptMetadata) hash.update(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  let key = hash.digest();
  if (r >= 3) for (let i = 0; i < 50; i++) key = createHash('md5').update(key.subarray(0, keyLength)).digest();
  return key.subarray(0, keyLength);
}

// Algorithms 4 and 5: the key is right when it reproduces /U.
function userPasswordMatches(key: Buffer, u: Buffer, fileId: Buffer, r: number): boolean {
  if (r === 2) return rc4(key, PASSWORD_PADDING).equals(u.subarray(0, 32));
  let check = rc4(key, createHash('md5').update(PASSWORD_PADDING).update(fileId).digest());
  for (let i = 1; i <= 19; i++) check = rc4(key.map((b) => b ^ i), check);
  return check.equals(u.subarray(0, 16));
}

// Revisions 5 and 6 (AES-256): check the empty password against /U's validation salt, then unwrap /UE.
function aes256FileKey(encrypt: PdfDict, r: number, u: Buffer): Buffer | undefined {
  const ue = bytes(encrypt.get('UE'));
  if (u.length < 48 || !ue || ue.length < 32) return undefined;
  const hash = (salt: Buffer) => (r === 5 ? createHash('sha256').update(salt).digest() : hardenedHash(salt));
  if (!hash(u.subarray(32, 40)).equals(u.subarray(0, 32))) return undefined;
  const decipher = createDecipheriv('aes-256-cbc', hash(u.subarray(40, 48)), Buffer.alloc(16));
  decipher.setAutoPadding(false);
  return Buffer.concat([decipher.update(ue.subarray(0, 32)), decipher.final()]);
}

// Algorithm 2.B (ISO 32000-2) for the empty password and no /U data.
function hardenedHash(salt: Buffer): Buffer {
  let k = createHash('sha256').update(salt).digest();
  for (let round = 0; ; round++) {
    const k1 = Buffer.concat(Array.from({ length: 64 }, () => k));
    const cipher = createCipheriv('aes-128-cbc', k.subarray(0, 16), k.subarray(16, 32));
    cipher.setAutoPadding(false);
    const e = Buffer.concat([cipher.update(k1), cipher.final()]);
    // The first 16 bytes as a big-endian number, mod 3: 256 ≡ 1 (mod 3), so the byte sum will do.
    let sum = 0;
    for (let i = 0; i < 16; i++) sum += e[i]!;
    k = createHash(['sha256', 'sha384', 'sha512'][sum % 3]!).update(e).digest();
    if (round >= 63 && e[e.length - 1]! <= round - 31) return k.subarray(0, 32);
  }
}

function aesDecrypt(algorithm: 'aes-128-cbc' | 'aes-256-cbc', key: Buffer, data: Buffer): Buffer {
  // The first block is the IV; the data is PKCS#7 padded.
  if (data.length < 32 || data.length % 16 !== 0) throw new Error('AES data is not whole blocks');
  const decipher = createDecipheriv(algorithm, key, data.subarray(0, 16));
  return Buffer.concat([decipher.update(data.subarray(16)), decipher.final()]);
}

// RC4 is not in OpenSSL 3's default provider, and is ten lines.
function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  const s = new Uint8Array(256);
  for (let i = 0; i < 256; i++) s[i] = i;
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i]! + key[i % key.length]!) & 0xff;
    [s[i], s[j]] = [s[j]!, s[i]!];
  }
  const out = Buffer.alloc(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 0xff;
    j = (j + s[i]!) & 0xff;
    [s[i], s[j]] = [s[j]!, s[i]!];
    out[n] = data[n]! ^ s[(s[i]! + s[j]!) & 0xff]!;
  }
  return out;
}

function integer(value: PdfValue | undefined): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}

function bytes(value: PdfValue | undefined): Buffer | undefined {
  return value instanceof PdfString ? value.bytes() : undefined;
}
