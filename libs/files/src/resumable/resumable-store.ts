import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { FileStore } from '@tus/file-store';
import { S3Store } from '@tus/s3-store';
import type { DataStore } from '@tus/server';
import type { AppConfig } from '@app/config';
import { s3ClientConfig } from '@app/storage';

export const RESUMABLE_STORE = Symbol('RESUMABLE_STORE');

// tus data lives under its own prefix (S3 keys `tus/<id>`, `tus/<id>.info`, `tus/<id>.part`; files under
// DATA_DIR/tus), apart from the object key spaces the orphan collector manages.
export const RESUMABLE_PREFIX = 'tus/';
const PREFIX = RESUMABLE_PREFIX;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The store id of the upload that will become file `fileId`. */
export function resumableStoreId(fileId: string): string {
  return `${PREFIX}${fileId}`;
}

/** The file id of a store id, or undefined when it is not one of ours. */
export function fileIdOfStoreId(storeId: string): string | undefined {
  const id = storeId.startsWith(PREFIX) ? storeId.slice(PREFIX.length) : '';
  return UUID.test(id) ? id : undefined;
}

export function isUploadId(id: string): boolean {
  return UUID.test(id);
}

/**
 * Where tus keeps uploads in progress: a tus DataStore (the tus file store on the local driver, the tus S3 store in
 * the configured bucket on the S3 driver), plus what the domain needs beyond tus: reading a finished upload and
 * removing every trace of one, finished or not.
 */
export interface ResumableStore extends DataStore {
  /** The bytes of a finished upload. */
  readFinished(storeId: string): Promise<Readable>;
  /** Removes the upload's data, whatever state it is in; removing what is gone succeeds. */
  discard(storeId: string): Promise<void>;
}

class LocalResumableStore extends FileStore implements ResumableStore {
  constructor(private readonly root: string, expirationPeriodInMilliseconds: number) {
    super({ directory: root, expirationPeriodInMilliseconds });
  }

  async readFinished(storeId: string): Promise<Readable> {
    return this.read(storeId);
  }

  async discard(storeId: string): Promise<void> {
    if (!fileIdOfStoreId(storeId)) throw new Error(`Not a resumable upload id: ${storeId}`);
    // The data file and the tus file store's `<id>.json` beside it.
    await rm(join(this.root, storeId), { force: true });
    await rm(join(this.root, `${storeId}.json`), { force: true });
  }

  // Termination (tus DELETE) removes what there is, even an upload whose data file went missing.
  override async remove(storeId: string): Promise<void> {
    await this.discard(storeId);
  }
}

class S3ResumableStore extends S3Store implements ResumableStore {
  async readFinished(storeId: string): Promise<Readable> {
    // tus completes the S3 multipart upload when the last byte is written; if storage failed right then, every part
    // is there but the object is not: complete it now.
    const metadata = await this.getMetadata(storeId);
    if (metadata['upload-id'] && metadata.file.size !== undefined) {
      const parts = await this.retrieveParts(storeId).catch((error: { name?: string }) => {
        if (error.name === 'NoSuchUpload' || error.name === 'NoSuchKey') return undefined;
        throw error;
      });
      const stored = parts?.reduce((sum, part) => sum + (part.Size ?? 0), 0);
      if (parts && stored === metadata.file.size) {
        await this.finishMultipartUpload(metadata, parts);
        await this.completeMetadata(metadata.file);
        await this.clearCache(storeId);
      }
    }
    return this.read(storeId);
  }

  async discard(storeId: string): Promise<void> {
    if (!fileIdOfStoreId(storeId)) throw new Error(`Not a resumable upload id: ${storeId}`);
    // The S3 multipart upload first (its parts are invisible to listings), then the object, info and pending part.
    const uploadId = await this.getMetadata(storeId).then(
      (m) => m['upload-id'],
      () => undefined,
    );
    if (uploadId) {
      await this.client.abortMultipartUpload({ Bucket: this.bucket, Key: storeId, UploadId: uploadId }).catch((error: { name?: string }) => {
        if (error.name !== 'NoSuchUpload' && error.name !== 'NotFound' && error.name !== 'NoSuchKey') throw error;
      });
    }
    await this.client.deleteObjects({
      Bucket: this.bucket,
      Delete: { Objects: [{ Key: storeId }, { Key: this.infoKey(storeId) }, { Key: this.partKey(storeId, true) }], Quiet: true },
    });
    await this.clearCache(storeId);
  }

  // tus' own remove gives up on a finished upload (no multipart upload left) and keeps its object and info.
  override async remove(storeId: string): Promise<void> {
    await this.discard(storeId);
  }
}

export function createResumableStore(config: AppConfig): ResumableStore {
  const expirationPeriodInMilliseconds = config.resumable.ttlSeconds * 1000;
  const storage = config.storage;
  if (storage.driver === 's3') {
    return new S3ResumableStore({
      expirationPeriodInMilliseconds,
      // Expired uploads are found through their records (the lifecycle sweep), not object tags, which not every
      // S3-compatible store has.
      useTags: false,
      s3ClientConfig: { bucket: storage.bucket, ...s3ClientConfig(storage) },
    });
  }
  // Store ids carry the `tus/` prefix, so the files land in DATA_DIR/tus.
  return new LocalResumableStore(config.dataDir, expirationPeriodInMilliseconds);
}
