import type { Readable } from 'node:stream';

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive; omitted means to the end of the object. */
  end?: number;
}

export interface ListOptions {
  /** Only keys starting with this. */
  prefix?: string;
  /** Only keys after this one (lexicographic, as S3 orders them). */
  startAfter?: string;
  /** At most this many (1–1000). */
  limit: number;
}

export interface ListedObject {
  key: string;
  size: number;
  lastModified: Date;
}

export interface ListPage {
  objects: ListedObject[];
  /** Pass as `startAfter` for the next page; absent on the last page. */
  next?: string;
}

/** An upload begun in storage and never finished: an S3 multipart upload, or a partial temp file of the local driver. */
export interface IncompleteUpload {
  /** The key it would have become (S3), or `.tmp/<name>` for the local driver's partial files. */
  key: string;
  /** S3's upload id; the temp file's name for the local driver. */
  uploadId: string;
  initiated: Date;
}

export interface IncompleteUploadPage {
  uploads: IncompleteUpload[];
  /** Pass as `after` for the next page; absent on the last page. */
  next?: string;
}

export interface ObjectHead {
  key: string;
  size: number;
  contentType?: string;
  /** HTTP entity tag, quoted as S3 sends it. */
  etag?: string;
  lastModified?: Date;
}

export interface PutOptions {
  contentType?: string;
  signal?: AbortSignal;
}

export interface PutResult {
  key: string;
  size: number;
}

export interface GetOptions {
  range?: ByteRange;
  signal?: AbortSignal;
}

export interface GetResult {
  body: Readable;
  /** Bytes in `body`. */
  contentLength: number;
  /** Size of the whole object. */
  totalSize: number;
  contentType?: string;
  etag?: string;
  /** Present when a range was served. */
  range?: { start: number; end: number };
}

export interface PresignGetOptions {
  expiresInSeconds: number;
  /** Sent back as Content-Disposition by whoever serves the URL. */
  contentDisposition?: string;
  /** Sent back as Content-Type by whoever serves the URL. */
  contentType?: string;
}

export interface PresignPutOptions {
  expiresInSeconds: number;
  contentType?: string;
}

export interface PresignPostOptions {
  expiresInSeconds: number;
  /** When set, the form must carry exactly this Content-Type. */
  contentType?: string;
  minBytes?: number;
  maxBytes: number;
}

export interface PresignedPost {
  url: string;
  /** Every field must be sent before the `file` part. */
  fields: Record<string, string>;
}

export interface UploadedPart {
  partNumber: number;
  /** Entity tag the store answered for the part, quoted as S3 sends it. */
  etag: string;
  size: number;
}

/**
 * Multipart uploads straight to storage: the client PUTs each part to a pre-signed URL, the service completes or
 * aborts. Only stores with S3's multipart API offer it (`StorageDriver.multipart` is undefined otherwise).
 */
export interface MultipartStorage {
  /** Starts a multipart upload to `key`; returns the store's upload id. */
  create(key: string, options?: { contentType?: string; signal?: AbortSignal }): Promise<string>;
  /** A URL to which the client PUTs part `partNumber` (1–10000) of the upload. */
  presignPart(key: string, uploadId: string, partNumber: number, options: { expiresInSeconds: number }): Promise<string>;
  /** The parts stored so far, in part order. Throws StorageNotFoundError when the upload does not exist. */
  listParts(key: string, uploadId: string, options?: { signal?: AbortSignal }): Promise<UploadedPart[]>;
  /** Assembles the object from the parts; it appears at `key` only now. */
  complete(key: string, uploadId: string, parts: { partNumber: number; etag: string }[], options?: { signal?: AbortSignal }): Promise<void>;
  /** Discards the upload and its parts. Idempotent: an upload that is gone already succeeds. */
  abort(key: string, uploadId: string, options?: { signal?: AbortSignal }): Promise<void>;
}

/**
 * The one port between the file domain and object storage. Keys come from the StorageLocator only and are
 * validated before any driver runs. Every call takes an AbortSignal; a put that is aborted or fails leaves
 * no object behind.
 */
export interface StorageDriver {
  readonly name: 'local' | 's3';
  /** Streams `body` to `key`. The object appears only once the whole stream has been written. */
  /** A stream (any size, never buffered) or bytes already in memory (small derived objects: one request). */
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<PutResult>;
  /**
   * Streams the object (or a byte range of it). Throws StorageNotFoundError when it does not exist and
   * RangeNotSatisfiableError unless start <= end < size.
   */
  get(key: string, options?: GetOptions): Promise<GetResult>;
  /** Returns null when the object does not exist. */
  head(key: string, options?: { signal?: AbortSignal }): Promise<ObjectHead | null>;
  /** Idempotent: deleting a missing object succeeds. */
  delete(key: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** Objects in key order, a page at a time (for housekeeping: finding objects no record references). */
  list(options: ListOptions): Promise<ListPage>;
  /**
   * Uploads begun and not finished, a page at a time (for housekeeping: the reconciler aborts those older than
   * its minimum age). S3: ListMultipartUploads; local: partial files in the temp directory. `prefix`: only those whose
   * key starts with it.
   */
  listIncompleteUploads(options: { after?: string; limit: number; prefix?: string }): Promise<IncompleteUploadPage>;
  /** Discards an incomplete upload and the parts it holds. Idempotent. */
  abortIncompleteUpload(upload: IncompleteUpload): Promise<void>;
  copy(sourceKey: string, targetKey: string, options?: { signal?: AbortSignal }): Promise<void>;
  presignGet(key: string, options: PresignGetOptions): Promise<string>;
  presignPut(key: string, options: PresignPutOptions): Promise<string>;
  presignPost(key: string, options: PresignPostOptions): Promise<PresignedPost>;
  /** Throws when the store cannot be reached or written. */
  checkHealth(): Promise<void>;
  /** Direct multipart uploads with pre-signed part URLs; undefined when the store has none (local disk). */
  readonly multipart?: MultipartStorage;
}

export const STORAGE_DRIVER = Symbol('STORAGE_DRIVER');

export class StorageNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`Object ${key} does not exist`);
    this.name = 'StorageNotFoundError';
  }
}

export class InvalidStorageKeyError extends Error {
  constructor(readonly key: string) {
    super(`Invalid storage key: ${JSON.stringify(key)}`);
    this.name = 'InvalidStorageKeyError';
  }
}

export class RangeNotSatisfiableError extends Error {
  constructor(
    readonly key: string,
    readonly range: ByteRange,
    /** Size of the whole object, when known. */
    readonly size?: number,
  ) {
    super(
      `Range ${range.start}-${range.end ?? ''} is not satisfiable for object ${key}` +
        (size === undefined ? '' : ` of ${size} bytes`),
    );
    this.name = 'RangeNotSatisfiableError';
  }
}

/**
 * The store made no progress for `idleMs` while we waited on it (it stopped answering without closing its
 * connections): an outage, answered 503 like a refused connection.
 */
export class StorageStalledError extends Error {
  constructor(
    readonly idleMs: number,
    readonly phase: 'request' | 'response',
  ) {
    super(`Storage made no progress for ${idleMs} ms while ${phase === 'request' ? 'sending a request or awaiting its answer' : 'sending an answer'}`);
    this.name = 'StorageStalledError';
  }
}
