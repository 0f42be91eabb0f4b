import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
} from '@aws-sdk/client-s3';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import {
  LocalStorageController,
  LocalStorageDriver,
  S3StorageDriver,
  STORAGE_DRIVER,
  useStorageSafeBodyParsers,
  type StorageDriver,
} from '@app/storage';

export interface StorageHarness {
  driver: StorageDriver;
  /** Same settings, but any I/O would fail differently from a key check (missing root, closed port). */
  offline: StorageDriver;
  /** Where every signed URL of this driver must point. */
  urlBase: string;
  /** Leftovers of failed writes: temp files, or multipart uploads still open under `key`. */
  leftovers(key: string): Promise<string[]>;
  close(): Promise<void>;
}

export interface HarnessCase {
  name: 'local' | 's3';
  setup(): Promise<StorageHarness>;
}

async function setupLocal(): Promise<StorageHarness> {
  const root = await mkdtemp(join(tmpdir(), 'storage-contract-'));
  const signingSecret = randomBytes(32).toString('hex');
  // The app serves URLs signed by another instance sharing root and secret, as API replicas would.
  const served = new LocalStorageDriver({ root, signingSecret, publicUrl: 'http://unused.invalid' });
  const moduleRef = await Test.createTestingModule({
    controllers: [LocalStorageController],
    providers: [{ provide: STORAGE_DRIVER, useValue: served }],
  }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: ['error', 'warn'] });
  useStorageSafeBodyParsers(app);
  await app.listen(0, '127.0.0.1');
  const publicUrl = await app.getUrl();
  return {
    driver: new LocalStorageDriver({ root, signingSecret, publicUrl }),
    urlBase: `${publicUrl}/storage/v1/`,
    offline: new LocalStorageDriver({ root: join(root, 'never-created'), signingSecret, publicUrl }),
    async leftovers() {
      return readdir(join(root, '.tmp')).catch(() => []);
    },
    async close() {
      await (app as INestApplication).close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function setupS3(): Promise<StorageHarness> {
  const env = process.env;
  const options = {
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION ?? 'us-east-1',
    bucket: env.S3_BUCKET ?? 'contract-test',
    accessKeyId: env.S3_ACCESS_KEY_ID ?? 'minioadmin',
    secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? 'minioadmin',
    forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true' || env.S3_FORCE_PATH_STYLE === '1',
    // The smallest part S3 allows, so the multi-MB cases really go multipart.
    partSizeBytes: 5 * 1024 * 1024,
    // Copies over 5 MiB go part by part here, so the contract covers what S3 needs above 5 GiB.
    singleCopyMaxBytes: 5 * 1024 * 1024,
    copyPartBytes: 5 * 1024 * 1024,
  };
  const driver = new S3StorageDriver(options);
  try {
    await driver.client.send(new HeadBucketCommand({ Bucket: options.bucket }));
  } catch {
    await driver.client.send(new CreateBucketCommand({ Bucket: options.bucket }));
  }
  const endpoint = new URL(options.endpoint ?? `https://s3.${options.region}.amazonaws.com`);
  const base = `${endpoint.origin}${endpoint.pathname.replace(/\/+$/, '')}`;
  return {
    driver,
    urlBase: options.forcePathStyle
      ? `${base}/${options.bucket}`
      : `${endpoint.protocol}//${options.bucket}.${base.slice(endpoint.protocol.length + 2)}`,
    offline: new S3StorageDriver({ ...options, endpoint: 'http://127.0.0.1:9' }),
    async leftovers(key) {
      const listed = await driver.client.send(
        new ListMultipartUploadsCommand({ Bucket: options.bucket, Prefix: key }),
      );
      return (listed.Uploads ?? []).map((u) => `${u.Key} (${u.UploadId})`);
    },
    async close() {
      driver.client.destroy();
    },
  };
}

export const storageHarnesses: HarnessCase[] = [
  { name: 'local', setup: setupLocal },
  ...(process.env.S3_ENDPOINT ? [{ name: 's3' as const, setup: setupS3 }] : []),
];

const BLOCK = 32;

/** Deterministic pseudo-random bytes [start, end) of a pattern, so any range can be checked without storing it. */
export function patternBytes(seed: number, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  // xorshift32 per 32-byte block: cheap, and each block is addressable on its own.
  for (let block = Math.floor(start / BLOCK); block * BLOCK < end; block++) {
    let x = (seed * 2654435761 + block * 40503 + 1) >>> 0 || 1;
    for (let i = 0; i < BLOCK; i += 4) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      for (let b = 0; b < 4; b++) {
        const at = block * BLOCK + i + b;
        if (at >= start && at < end) out[at - start] = (x >>> (b * 8)) & 0xff;
      }
    }
  }
  return out;
}

/** A pattern of `size` bytes produced chunk by chunk, never held whole in memory. */
export function patternStream(seed: number, size: number, chunk = 256 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= size) {
        this.push(null);
        return;
      }
      const end = Math.min(offset + chunk, size);
      this.push(patternBytes(seed, offset, end));
      offset = end;
    },
  });
}
