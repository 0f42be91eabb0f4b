import { createHash, randomBytes } from 'node:crypto';
import { InvalidStorageKeyError } from './storage.driver';

// Storage keys are hashed and carry no user input: no filename, no tenant id in clear.
const KEY_PATTERN = /^[a-z0-9]+(?:\/[a-z0-9][a-z0-9._-]*)+$/;

export function assertValidKey(key: string): string {
  if (key.length > 512 || !KEY_PATTERN.test(key) || key.split('/').some((s) => s === '.' || s === '..')) {
    throw new InvalidStorageKeyError(key);
  }
  return key;
}

function digest(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex');
}

export const StorageLocator = {
  /** A fresh key for new bytes of a file: never reused, so a failed write can't clobber live data. */
  originalKey(tenantId: string, fileId: string): string {
    const h = digest('original', tenantId, fileId, randomBytes(16).toString('hex'));
    return `objects/${h.slice(0, 2)}/${h.slice(2, 4)}/${h}`;
  },
  /**
   * Where a client writes a direct upload (pre-signed PUT or POST) before completion: never served. Completion
   * copies the bytes to a fresh originalKey, so a URL still valid afterwards can only write bytes no record serves.
   */
  stagingKey(tenantId: string, fileId: string): string {
    const h = digest('staging', tenantId, fileId, randomBytes(16).toString('hex'));
    return `staging/${h.slice(0, 2)}/${h.slice(2, 4)}/${h}`;
  },
  /**
   * Where infected bytes move when a rescan quarantines them, so that URLs already handed out for the old key (S3
   * pre-signed, or the local driver's signed URLs) find nothing. A function of the old key: moving again is the same.
   */
  quarantineKey(originalKey: string): string {
    assertValidKey(originalKey);
    if (originalKey.startsWith('quarantine/')) return originalKey;
    const h = digest('quarantine', originalKey);
    return `quarantine/${h.slice(0, 2)}/${h.slice(2, 4)}/${h}`;
  },
  /** Bytes moved to quarantine: never served, whatever record or version points at them. */
  isQuarantined(key: string): boolean {
    return key.startsWith('quarantine/');
  },
  /** Derived objects (thumbnails, previews) live beside the original's hash. */
  derivedKey(originalKey: string, variant: string): string {
    assertValidKey(originalKey);
    const h = digest('derived', originalKey, variant);
    return `derived/${h.slice(0, 2)}/${h.slice(2, 4)}/${h}`;
  },
};
