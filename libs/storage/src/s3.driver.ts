import { addAbortSignal, pipeline, type Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ByteCounter } from './byte-counter';
import { StallGuardHttpHandler } from './stall-guard.handler';
import {
  abortReason,
  assertExpiresIn,
  assertHeaderValue,
  assertRangeShape,
  assertSizeLimits,
  resolveRange,
} from './driver-guards';
import { assertValidKey } from './storage-locator';
import {
  RangeNotSatisfiableError,
  StorageNotFoundError,
  type GetOptions,
  type GetResult,
  type IncompleteUpload,
  type IncompleteUploadPage,
  type ListOptions,
  type ListPage,
  type MultipartStorage,
  type ObjectHead,
  type PresignedPost,
  type PresignGetOptions,
  type PresignPostOptions,
  type PresignPutOptions,
  type PutOptions,
  type PutResult,
  type StorageDriver,
  type UploadedPart,
} from './storage.driver';

const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/** How every S3 client of the service talks to the store (the driver's, and tus' S3 store's). */
export function s3ClientConfig(options: Omit<S3StorageOptions, 'bucket'>): S3ClientConfig {
  return {
    // A trailing slash would come out as "//" in every signed URL.
    endpoint: options.endpoint?.replace(/\/+$/, ''),
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    // Default CRC32 checksums would be baked into presigned PUT URLs (so any real body fails) and are not
    // implemented by every S3-compatible store; only send them where the API requires them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Fails a request the store stops answering (connections open, nothing moves) instead of waiting for the
    // kernel; counts idle time only, so slow transfers are not cut (stall-guard.handler.ts).
    requestHandler: new StallGuardHttpHandler(options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS),
  };
}

export interface S3StorageOptions {
  /** Custom endpoint (MinIO, R2, ...); signed URLs are built on it as given. Omit for AWS. */
  endpoint?: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  /** A request on which the store makes no progress for this long fails with StorageStalledError. Default 30 s. */
  stallTimeoutMs?: number;
  /** Multipart part size; memory per upload is about partSizeBytes * queueSize. Default 8 MiB. */
  partSizeBytes?: number;
  /** Parts uploaded in parallel per upload. Default 4. */
  queueSize?: number;
  /**
   * Objects up to this size are copied with one CopyObject (S3 allows 5 GiB); larger ones part by part. Default
   * 1 GiB: a store may send nothing while it copies, and the stall guard (stallTimeoutMs) must not take a long
   * single copy for a stall; parts of copyPartBytes each answer well within it.
   */
  singleCopyMaxBytes?: number;
  /** Part size of a copy done part by part (UploadPartCopy; at most 10 000 parts). Default 512 MiB. */
  copyPartBytes?: number;
}

const GiB = 1024 * 1024 * 1024;
const MAX_PARTS = 10_000;
const COPY_CONCURRENCY = 4;

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as Error)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchUpload' || statusOf(error) === 404;
}

/** S3 multipart uploads whose parts the client PUTs to pre-signed URLs. */
class S3Multipart implements MultipartStorage {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async create(key: string, options: { contentType?: string; signal?: AbortSignal } = {}): Promise<string> {
    assertValidKey(key);
    assertHeaderValue('contentType', options.contentType);
    const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: options.contentType }), {
      abortSignal: options.signal,
    });
    if (!created.UploadId) throw new Error(`The store started no multipart upload for ${key}`);
    return created.UploadId;
  }

  async presignPart(key: string, uploadId: string, partNumber: number, options: { expiresInSeconds: number }): Promise<string> {
    assertValidKey(key);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) throw new RangeError(`Part number ${partNumber} is outside 1–10000`);
    const command = new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber });
    return getSignedUrl(this.client, command, { expiresIn: assertExpiresIn(options.expiresInSeconds) });
  }

  async listParts(key: string, uploadId: string, options: { signal?: AbortSignal } = {}): Promise<UploadedPart[]> {
    assertValidKey(key);
    const parts: UploadedPart[] = [];
    let marker: string | undefined;
    try {
      do {
        const page = await this.client.send(new ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }), {
          abortSignal: options.signal,
        });
        for (const part of page.Parts ?? []) {
          if (part.PartNumber !== undefined && part.ETag) parts.push({ partNumber: part.PartNumber, etag: part.ETag, size: part.Size ?? 0 });
        }
        marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
      } while (marker);
    } catch (error) {
      if (isNotFound(error)) throw new StorageNotFoundError(key);
      throw error;
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async complete(key: string, uploadId: string, parts: { partNumber: number; etag: string }[], options: { signal?: AbortSignal } = {}): Promise<void> {
    assertValidKey(key);
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
        { abortSignal: options.signal },
      );
    } catch (error) {
      if (isNotFound(error)) throw new StorageNotFoundError(key);
      throw error;
    }
  }

  async abort(key: string, uploadId: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    assertValidKey(key);
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }), { abortSignal: options.signal });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

export class S3StorageDriver implements StorageDriver {
  readonly name = 's3' as const;
  readonly client: S3Client;
  readonly multipart: MultipartStorage;
  private readonly bucket: string;

  constructor(private readonly options: S3StorageOptions) {
    this.bucket = options.bucket;
    this.client = new S3Client(s3ClientConfig(options));
    this.multipart = new S3Multipart(this.client, this.bucket);
  }

  async put(key: string, input: Readable | Buffer, options: PutOptions = {}): Promise<PutResult> {
    assertValidKey(key);
    assertHeaderValue('contentType', options.contentType);
    const { signal } = options;
    if (Buffer.isBuffer(input)) {
      // Bytes in memory (thumbnails): one PutObject with a known length, no multipart machinery.
      signal?.throwIfAborted();
      try {
        await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: input, ContentLength: input.length, ContentType: options.contentType }),
          { abortSignal: signal },
        );
      } catch (error) {
        if (signal?.aborted) throw abortReason(signal);
        throw error;
      }
      return { key, size: input.length };
    }
    const body = input;
    if (signal?.aborted) {
      body.destroy();
      throw abortReason(signal);
    }
    const counter = new ByteCounter();
    pipeline(body, counter, () => undefined);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: counter, ContentType: options.contentType },
      partSize: this.options.partSizeBytes ?? 8 * 1024 * 1024,
      queueSize: this.options.queueSize ?? 4,
      leavePartsOnError: false,
    });
    // Aborting by failing the stream (not upload.abort()) makes done() settle only after the multipart upload
    // was aborted on the server; upload.abort() would return at once and clean up in the background.
    const onAbort = (): void => {
      counter.destroy(new Error('Upload aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (error) {
      counter.destroy();
      if (signal?.aborted) throw abortReason(signal);
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (signal?.aborted) {
      // The last (or only) part was already in flight when the abort came: take the object back.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      throw abortReason(signal);
    }
    return { key, size: counter.bytes };
  }

  async list(options: ListOptions): Promise<ListPage> {
    const page = await this.client.send(
      new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: options.prefix,
        StartAfter: options.startAfter,
        MaxKeys: Math.max(1, Math.min(1000, options.limit)),
      }),
    );
    const objects = (page.Contents ?? [])
      .filter((o): o is typeof o & { Key: string } => typeof o.Key === 'string')
      .map((o) => ({ key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) }));
    return { objects, ...(page.IsTruncated && objects.length ? { next: objects.at(-1)!.key } : {}) };
  }

  /** ListMultipartUploads; `after` is the JSON of S3's (key, upload id) markers. */
  async listIncompleteUploads(options: { after?: string; limit: number; prefix?: string }): Promise<IncompleteUploadPage> {
    const marker = options.after ? (JSON.parse(options.after) as { key: string; uploadId: string }) : undefined;
    const page = await this.client.send(
      new ListMultipartUploadsCommand({
        Bucket: this.bucket,
        Prefix: options.prefix,
        KeyMarker: marker?.key,
        UploadIdMarker: marker?.uploadId,
        MaxUploads: Math.max(1, Math.min(1000, options.limit)),
      }),
    );
    const uploads = (page.Uploads ?? [])
      .filter((u): u is typeof u & { Key: string; UploadId: string } => typeof u.Key === 'string' && typeof u.UploadId === 'string')
      .map((u) => ({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) }));
    const next =
      page.IsTruncated && page.NextKeyMarker ? JSON.stringify({ key: page.NextKeyMarker, uploadId: page.NextUploadIdMarker ?? '' }) : undefined;
    return { uploads, ...(next ? { next } : {}) };
  }

  async abortIncompleteUpload(upload: IncompleteUpload): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.key, UploadId: upload.uploadId }));
    } catch (error) {
      // Finished or aborted meanwhile: nothing left to discard.
      if ((error as Error)?.name === 'NoSuchUpload' || statusOf(error) === 404) return;
      throw error;
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    assertValidKey(key);
    assertRangeShape(key, options.range);
    const { range, signal } = options;
    let response;
    try {
      response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end ?? ''}` : undefined,
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      if (isNotFound(error)) throw new StorageNotFoundError(key);
      if ((error as Error)?.name === 'InvalidRange' || statusOf(error) === 416) {
        throw new RangeNotSatisfiableError(key, range!);
      }
      throw error;
    }
    const body = response.Body as Readable;
    let served: { start: number; end: number } | undefined;
    let totalSize = response.ContentLength ?? 0;
    if (range) {
      // S3 clamps an end past the object; the port promises start <= end < size, so check it here.
      const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.ContentRange ?? '');
      totalSize = match ? Number(match[3]) : totalSize;
      try {
        served = resolveRange(key, range, totalSize);
      } catch (error) {
        body.destroy();
        throw error;
      }
    }
    if (signal) addAbortSignal(signal, body);
    return {
      body,
      contentLength: response.ContentLength ?? 0,
      totalSize,
      contentType: response.ContentType,
      etag: response.ETag,
      range: served,
    };
  }

  async head(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectHead | null> {
    assertValidKey(key);
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: options.signal,
      });
      return {
        key,
        size: response.ContentLength ?? 0,
        contentType: response.ContentType,
        etag: response.ETag,
        lastModified: response.LastModified,
      };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    assertValidKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), {
      abortSignal: options.signal,
    });
  }

  async copy(sourceKey: string, targetKey: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    assertValidKey(sourceKey);
    assertValidKey(targetKey);
    // CopyObject stops at 5 GiB; direct uploads (multipart) can be larger and are copied at completion.
    const source = await this.head(sourceKey, options);
    if (!source) throw new StorageNotFoundError(sourceKey);
    try {
      if (source.size > (this.options.singleCopyMaxBytes ?? GiB)) {
        await this.copyInParts(sourceKey, targetKey, source, options.signal);
        return;
      }
      // Keys are URL-safe by construction, so the copy source needs no escaping.
      await this.client.send(
        new CopyObjectCommand({ Bucket: this.bucket, Key: targetKey, CopySource: `${this.bucket}/${sourceKey}` }),
        { abortSignal: options.signal },
      );
    } catch (error) {
      if (isNotFound(error)) throw new StorageNotFoundError(sourceKey);
      throw error;
    }
  }

  /**
   * A server-side copy part by part (UploadPartCopy), pinned to the source's entity tag so a source replaced
   * meanwhile fails the copy instead of mixing two objects. Aborted on any failure: no half-copied target.
   */
  private async copyInParts(sourceKey: string, targetKey: string, source: ObjectHead, signal?: AbortSignal): Promise<void> {
    const partBytes = Math.max(this.options.copyPartBytes ?? 512 * 1024 * 1024, Math.ceil(source.size / MAX_PARTS));
    const uploadId = await this.multipart.create(targetKey, { contentType: source.contentType, signal });
    try {
      const count = Math.ceil(source.size / partBytes);
      const parts: { PartNumber: number; ETag: string }[] = new Array(count);
      let next = 0;
      let failed = false;
      // A few parts at a time: each is a server-side copy, so the time is the store's, not our bandwidth.
      const copyParts = async (): Promise<void> => {
        for (let index = next++; index < count && !failed; index = next++) {
          const start = index * partBytes;
          const end = Math.min(start + partBytes, source.size) - 1;
          const copied = await this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: targetKey,
              UploadId: uploadId,
              PartNumber: index + 1,
              CopySource: `${this.bucket}/${sourceKey}`,
              CopySourceRange: `bytes=${start}-${end}`,
              CopySourceIfMatch: source.etag,
            }),
            { abortSignal: signal },
          );
          if (!copied.CopyPartResult?.ETag) throw new Error(`The store returned no entity tag for part ${index + 1} of the copy to ${targetKey}`);
          parts[index] = { PartNumber: index + 1, ETag: copied.CopyPartResult.ETag };
        }
      };
      // Every copier stops before the abort below: a part copied after it would keep the upload's storage alive.
      const copiers = await Promise.allSettled(
        Array.from({ length: Math.min(COPY_CONCURRENCY, count) }, () =>
          copyParts().catch((error: unknown) => {
            failed = true;
            throw error;
          }),
        ),
      );
      const failure = copiers.find((c) => c.status === 'rejected');
      if (failure) throw failure.reason;
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: targetKey, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
        { abortSignal: signal },
      );
    } catch (error) {
      await this.multipart.abort(targetKey, uploadId).catch(() => undefined);
      throw error;
    }
  }

  async presignGet(key: string, options: PresignGetOptions): Promise<string> {
    assertValidKey(key);
    assertHeaderValue('contentDisposition', options.contentDisposition);
    assertHeaderValue('contentType', options.contentType);
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ResponseContentDisposition: options.contentDisposition,
      ResponseContentType: options.contentType,
    });
    return getSignedUrl(this.client, command, { expiresIn: assertExpiresIn(options.expiresInSeconds) });
  }

  async presignPut(key: string, options: PresignPutOptions): Promise<string> {
    assertValidKey(key);
    assertHeaderValue('contentType', options.contentType);
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentType: options.contentType });
    return getSignedUrl(this.client, command, {
      expiresIn: assertExpiresIn(options.expiresInSeconds),
      // The presigner leaves Content-Type unsigned by default; signing it is what pins it for the uploader.
      signableHeaders: options.contentType === undefined ? undefined : new Set(['content-type']),
    });
  }

  async presignPost(key: string, options: PresignPostOptions): Promise<PresignedPost> {
    assertValidKey(key);
    assertHeaderValue('contentType', options.contentType);
    const minBytes = options.minBytes ?? 0;
    assertSizeLimits(minBytes, options.maxBytes);
    const pinned = options.contentType !== undefined;
    const { url, fields } = await createPresignedPost(this.client, {
      Bucket: this.bucket,
      Key: key,
      Expires: assertExpiresIn(options.expiresInSeconds),
      Conditions: [
        ['content-length-range', minBytes, options.maxBytes],
        pinned ? ['eq', '$Content-Type', options.contentType!] : ['starts-with', '$Content-Type', ''],
      ],
      Fields: pinned ? { 'Content-Type': options.contentType! } : {},
    });
    return { url, fields };
  }

  async checkHealth(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: AbortSignal.timeout(5000) });
  }
}
