import { createHash, randomUUID } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ByteCounter } from './byte-counter';
import {
  abortReason,
  assertExpiresIn,
  assertHeaderValue,
  assertRangeShape,
  assertSizeLimits,
  resolveRange,
} from './driver-guards';
import { LOCAL_STORAGE_PATH, signObjectUrl, signPostPolicy, verifyObjectUrl, verifyPostPolicy } from './local-url-signer';
import type { ObjectUrlClaims, SignedMethod, VerifiedPostPolicy } from './local-url-signer';
import { assertValidKey } from './storage-locator';
import {
  InvalidStorageKeyError,
  StorageNotFoundError,
  type GetOptions,
  type GetResult,
  type IncompleteUpload,
  type IncompleteUploadPage,
  type ListOptions,
  type ListPage,
  type ObjectHead,
  type PresignedPost,
  type PresignGetOptions,
  type PresignPostOptions,
  type PresignPutOptions,
  type PutOptions,
  type PutResult,
  type StorageDriver,
} from './storage.driver';

export interface LocalStorageOptions {
  /** Directory holding the objects; created on demand. */
  root: string;
  /** HMAC key for signed URLs and POST policies. */
  signingSecret: string;
  /** Base URL the API is reached at; signed URLs point at `${publicUrl}/storage/v1/...`. */
  publicUrl: string;
}

interface ObjectMeta {
  size: number;
  etag: string;
  contentType?: string;
}

// Errors meaning "no object at this key": missing, or a path segment that is a file or a directory.
const MISSING_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

function isMissing(error: unknown): boolean {
  return MISSING_CODES.has((error as NodeJS.ErrnoException).code ?? '');
}

const WRITE_BUFFER_BYTES = 1024 * 1024;

async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Objects are plain files under `root/<key>`; their content type and etag sit in `root/.meta/<key>.json`.
 * Writes go to `root/.tmp` (same filesystem) and are renamed into place, so an object is whole or absent.
 * Keys never start with a dot, so `.tmp` and `.meta` cannot collide with them.
 */
export class LocalStorageDriver implements StorageDriver {
  readonly name = 'local' as const;
  private readonly root: string;
  private readonly tmpDir: string;
  private readonly metaDir: string;

  constructor(private readonly options: LocalStorageOptions) {
    if (options.signingSecret.length < 16) throw new Error('The local storage signing secret needs 16+ characters');
    this.root = resolve(options.root);
    this.tmpDir = join(this.root, '.tmp');
    this.metaDir = join(this.root, '.meta');
  }

  async put(key: string, input: Readable | Buffer, options: PutOptions = {}): Promise<PutResult> {
    const body = Buffer.isBuffer(input) ? Readable.from([input]) : input;
    assertValidKey(key);
    assertHeaderValue('contentType', options.contentType);
    const { signal } = options;
    if (signal?.aborted) {
      body.destroy();
      throw abortReason(signal);
    }
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, randomUUID());
    const counter = new ByteCounter();
    try {
      // A larger buffer lets fs.WriteStream batch chunks into one writev while the previous write is in flight.
      await pipeline(body, counter, createWriteStream(tmp, { flags: 'wx', highWaterMark: WRITE_BUFFER_BYTES }), signal ? { signal } : {});
      // Flushed before the rename, so a crash can't leave a complete-looking but empty object.
      await fsyncFile(tmp);
      signal?.throwIfAborted();
      // Every write gets a fresh entity tag: cheaper than hashing the bytes a second time (callers that need a
      // content hash compute SHA-256 while streaming), and it changes whenever the object does.
      const meta: ObjectMeta = { size: counter.bytes, etag: `"${randomUUID().replace(/-/g, '')}"`, contentType: options.contentType };
      await this.commit(key, tmp, meta);
      return { key, size: counter.bytes };
    } catch (error) {
      await rm(tmp, { force: true });
      if (signal?.aborted) throw abortReason(signal);
      throw error;
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    assertValidKey(key);
    assertRangeShape(key, options.range);
    options.signal?.throwIfAborted();
    const handle = await open(this.dataPath(key), 'r').catch((error: unknown) => {
      throw isMissing(error) ? new StorageNotFoundError(key) : error;
    });
    try {
      // Reading through the open handle keeps serving the same bytes even if the key is replaced meanwhile.
      const stats = await handle.stat();
      if (!stats.isFile()) throw new StorageNotFoundError(key);
      const range = options.range && resolveRange(key, options.range, stats.size);
      const meta = await this.readMeta(key, stats.size);
      const body = handle.createReadStream(range ? { start: range.start, end: range.end } : {});
      if (options.signal) addAbortSignal(options.signal, body);
      return {
        body,
        contentLength: range ? range.end - range.start + 1 : stats.size,
        totalSize: stats.size,
        contentType: meta?.contentType,
        etag: meta?.etag,
        range,
      };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async head(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectHead | null> {
    assertValidKey(key);
    options.signal?.throwIfAborted();
    const stats = await stat(this.dataPath(key)).catch((error: unknown) => {
      if (isMissing(error)) return null;
      throw error;
    });
    if (!stats?.isFile()) return null;
    const meta = await this.readMeta(key, stats.size);
    // Built here rather than taken from stats, so it is a Date of the caller's realm (jest, vm contexts).
    const lastModified = new Date(stats.mtimeMs);
    return { key, size: stats.size, contentType: meta?.contentType, etag: meta?.etag, lastModified };
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    assertValidKey(key);
    options.signal?.throwIfAborted();
    await unlink(this.dataPath(key)).catch((error: unknown) => {
      if (!isMissing(error)) throw error;
    });
    await rm(this.metaPath(key), { force: true });
  }

  async copy(sourceKey: string, targetKey: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    assertValidKey(sourceKey);
    assertValidKey(targetKey);
    options.signal?.throwIfAborted();
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, randomUUID());
    try {
      // FICLONE makes a copy-on-write clone where the filesystem supports it, a plain copy elsewhere.
      await copyFile(this.dataPath(sourceKey), tmp, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL).catch(
        (error: unknown) => {
          throw isMissing(error) ? new StorageNotFoundError(sourceKey) : error;
        },
      );
      await fsyncFile(tmp);
      const { size } = await stat(tmp);
      const meta = (await this.readMeta(sourceKey, size)) ?? { size, etag: await this.md5Etag(tmp) };
      options.signal?.throwIfAborted();
      await this.commit(targetKey, tmp, meta);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  async presignGet(key: string, options: PresignGetOptions): Promise<string> {
    assertHeaderValue('contentDisposition', options.contentDisposition);
    assertHeaderValue('contentType', options.contentType);
    return this.signUrl({
      method: 'GET',
      key: assertValidKey(key),
      expires: this.expiresAt(options.expiresInSeconds),
      disposition: options.contentDisposition,
      contentType: options.contentType,
    });
  }

  async presignPut(key: string, options: PresignPutOptions): Promise<string> {
    assertHeaderValue('contentType', options.contentType);
    return this.signUrl({
      method: 'PUT',
      key: assertValidKey(key),
      expires: this.expiresAt(options.expiresInSeconds),
      contentType: options.contentType,
    });
  }

  async presignPost(key: string, options: PresignPostOptions): Promise<PresignedPost> {
    assertValidKey(key);
    assertHeaderValue('contentType', options.contentType);
    const minBytes = options.minBytes ?? 0;
    assertSizeLimits(minBytes, options.maxBytes);
    const expiresAt = Date.now() + assertExpiresIn(options.expiresInSeconds) * 1000;
    const { policy, signature } = signPostPolicy(this.options.signingSecret, {
      key,
      expiresAt,
      contentType: options.contentType,
      minBytes,
      maxBytes: options.maxBytes,
    });
    const fields: Record<string, string> = { key };
    if (options.contentType !== undefined) fields['Content-Type'] = options.contentType;
    fields.policy = policy;
    fields.signature = signature;
    return { url: `${this.baseUrl()}${LOCAL_STORAGE_PATH}/upload`, fields };
  }

  async checkHealth(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true });
    const probe = join(this.tmpDir, `health-${randomUUID()}`);
    try {
      await writeFile(probe, 'ok', { flag: 'wx' });
    } finally {
      await rm(probe, { force: true });
    }
  }

  /** For the local controller: checks a signed object URL with this driver's secret. */
  verifyUrl(method: SignedMethod, key: string, query: URLSearchParams, nowMs?: number): ObjectUrlClaims {
    return verifyObjectUrl(this.options.signingSecret, method, key, query, nowMs);
  }

  /** For the local controller: checks a POST policy (fields named in lower case) with this driver's secret. */
  verifyPolicy(fields: ReadonlyMap<string, string>, nowMs?: number): VerifiedPostPolicy {
    return verifyPostPolicy(this.options.signingSecret, fields, nowMs);
  }

  private signUrl(claims: ObjectUrlClaims): string {
    return signObjectUrl(this.baseUrl(), this.options.signingSecret, claims);
  }

  private baseUrl(): string {
    return this.options.publicUrl.replace(/\/+$/, '');
  }

  private expiresAt(expiresInSeconds: number): number {
    return Math.floor(Date.now() / 1000) + assertExpiresIn(expiresInSeconds);
  }

  /**
   * Walks the object tree (skipping the temp and metadata directories) and answers one page in key order. The walk
   * is whole each time: fine for the single-node embedded store, where S3's index is not there to ask.
   */
  async list(options: ListOptions): Promise<ListPage> {
    const limit = Math.max(1, Math.min(1000, options.limit));
    let entries;
    try {
      entries = await readdir(this.root, { withFileTypes: true, recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { objects: [] };
      throw error;
    }
    const keys = entries
      .filter((e) => e.isFile())
      .map((e) => relative(this.root, join(e.parentPath, e.name)).split(sep).join('/'))
      .filter((key) => !key.startsWith('.') && (!options.prefix || key.startsWith(options.prefix)) && (!options.startAfter || key > options.startAfter))
      .sort();
    const page = keys.slice(0, limit);
    const listed = await Promise.all(
      page.map(async (key) => {
        // Deleted since the directory was read (a cleanup job running beside the listing): not there any more.
        const info = await stat(this.dataPath(key)).catch((error: unknown) => {
          if (isMissing(error)) return null;
          throw error;
        });
        return info ? { key, size: info.size, lastModified: info.mtime } : null;
      }),
    );
    const objects = listed.filter((o): o is NonNullable<typeof o> => o !== null);
    return { objects, ...(keys.length > limit ? { next: page.at(-1)! } : {}) };
  }

  /** Partial writes in the temp directory (a put or copy in progress, or one a crash interrupted), by name. */
  async listIncompleteUploads(options: { after?: string; limit: number; prefix?: string }): Promise<IncompleteUploadPage> {
    const limit = Math.max(1, Math.min(1000, options.limit));
    let names: string[];
    try {
      names = (await readdir(this.tmpDir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    } catch (error) {
      if (isMissing(error)) return { uploads: [] };
      throw error;
    }
    const page = names.filter((n) => (!options.after || n > options.after) && `.tmp/${n}`.startsWith(options.prefix ?? '')).sort();
    const uploads: IncompleteUpload[] = [];
    for (const name of page.slice(0, limit)) {
      // Renamed into place (or removed) since the directory was read: no longer incomplete.
      const info = await stat(join(this.tmpDir, name)).catch((error: unknown) => {
        if (isMissing(error)) return null;
        throw error;
      });
      if (info) uploads.push({ key: `.tmp/${name}`, uploadId: name, initiated: new Date(info.mtimeMs) });
    }
    return { uploads, ...(page.length > limit ? { next: page[limit - 1] } : {}) };
  }

  async abortIncompleteUpload(upload: IncompleteUpload): Promise<void> {
    // Names are ours (UUIDs, health probes); anything else is refused rather than resolved outside the directory.
    if (!/^[A-Za-z0-9-]+(?:\.json)?$/.test(upload.uploadId)) throw new InvalidStorageKeyError(upload.key);
    await rm(join(this.tmpDir, upload.uploadId), { force: true });
  }

  private dataPath(key: string): string {
    return join(this.root, key);
  }

  private metaPath(key: string): string {
    return join(this.metaDir, `${key}.json`);
  }

  // The metadata goes first, so whoever sees the object also sees its content type.
  private async commit(key: string, tmp: string, meta: ObjectMeta): Promise<void> {
    const metaTmp = `${tmp}.json`;
    try {
      await writeFile(metaTmp, JSON.stringify(meta), { flag: 'wx' });
      await mkdir(dirname(this.metaPath(key)), { recursive: true });
      await rename(metaTmp, this.metaPath(key));
    } catch (error) {
      await rm(metaTmp, { force: true });
      throw error;
    }
    await mkdir(dirname(this.dataPath(key)), { recursive: true });
    await rename(tmp, this.dataPath(key));
  }

  private async readMeta(key: string, size: number): Promise<ObjectMeta | undefined> {
    try {
      const meta = JSON.parse(await readFile(this.metaPath(key), 'utf8')) as ObjectMeta;
      // A sidecar left over from another version of the object says nothing about this one.
      return meta.size === size ? meta : undefined;
    } catch (error) {
      if (isMissing(error) || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  private async md5Etag(path: string): Promise<string> {
    const hash = createHash('md5');
    const handle = await open(path, 'r');
    try {
      for await (const chunk of handle.createReadStream({ autoClose: false })) hash.update(chunk as Buffer);
    } finally {
      await handle.close();
    }
    return `"${hash.digest('hex')}"`;
  }
}
