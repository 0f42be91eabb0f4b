import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { AppError, Errors } from '@app/errors';
import {
  MAX_PREVIEW_SIZE,
  MediaError,
  MediaProcessor,
  PREVIEW_FITS,
  PREVIEW_FORMATS,
  readMediaInput,
  type PreviewFit,
  type PreviewFormat,
} from '@app/media';
import { STORAGE_DRIVER, StorageLocator, StorageNotFoundError, type StorageDriver } from '@app/storage';
import { FilesRepository, type FileRow } from './files.repository';
import { assertServable } from './file-serving';
import { TransformSlots } from './transform-slots';
import { checkTransformUrl, signTransformUrl } from './transform-url';

const PREVIEW_PREFIX = 'preview-';
/** Default quality of the lossy encoders (sharp's own defaults), so that `q` left out and `q` at the default share a variant. */
const DEFAULT_QUALITY: Record<PreviewFormat, number | undefined> = { webp: 80, avif: 50, jpeg: 80, png: undefined };
const FORMAT_OF_MIME: Record<string, PreviewFormat> = {
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/pjpeg': 'jpeg',
  'image/png': 'png',
  'image/apng': 'png',
  'image/webp': 'webp',
  'image/avif': 'avif',
};

/** `original`: the source's own format where we can write it (else PNG); `auto`: the best the client accepts. */
export type TransformFormat = PreviewFormat | 'original' | 'auto';

export interface PreviewRequest {
  width?: number;
  height?: number;
  format?: TransformFormat;
  fit?: PreviewFit;
  quality?: number;
}

/** The transform with every default filled in and `original`/`auto` resolved: what the cache is keyed by. */
export interface CanonicalTransform {
  width?: number;
  height?: number;
  fit: PreviewFit;
  format: PreviewFormat;
  quality?: number;
}

export interface RenderedPreview {
  file: FileRow;
  /** Opens the bytes: the stored derived object, or the freshly rendered buffer. */
  open(): Promise<Readable | Buffer>;
  size: number;
  mime: string;
  /** Strong validator: the SHA-256 of the bytes. */
  etag: string;
  cached: boolean;
  /** The response depends on the request's Accept header (`format=auto`). */
  variesByAccept: boolean;
}

export type TransformOutcome = 'hit' | 'miss' | 'busy' | 'too_large' | 'timeout';

interface Rendered {
  data: Buffer;
  mime: string;
  sha256: string;
}

/**
 * Image transforms on request (`w`, `h`, `fit`, `format`, `q`) for every surface that serves a file's image: our
 * `/files/:id/preview` (bearer token or a signed URL), public files, the signed REST flow, epilot previews and public
 * links. A variant is rendered on its first request from the original and kept as a derived object (deterministic
 * key from the source's key and the canonical parameters, a `Thumbnail` row with its SHA-256), so the next request
 * streams the stored bytes without running sharp. The work of one request is bounded: pixels in and out, a few
 * renders at once per process (a bounded wait, then 503), and sharp's timeout.
 */
@Injectable()
export class FilePreviewsService {
  private readonly slots: TransformSlots;
  private readonly inFlight = new Map<string, Promise<Rendered>>();
  private readonly listeners: ((outcome: TransformOutcome) => void)[] = [];

  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly media: MediaProcessor,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.slots = new TransformSlots(config.transforms.concurrency);
  }

  /** Called once per transform request with how it went (metrics). */
  observe(listener: (outcome: TransformOutcome) => void): void {
    this.listeners.push(listener);
  }

  async preview(principal: Principal, id: string, request: PreviewRequest, accept?: string): Promise<RenderedPreview> {
    const file = await this.files.findReadable(principal, id);
    if (!file) throw Errors.notFound('File', id);
    return this.render(file, file.storageKey, request, file.sniffedMime, accept);
  }

  /** A URL of `/files/:id/preview` with these parameters that works without a token until it expires. */
  async signedUrl(principal: Principal, id: string, request: PreviewRequest): Promise<{ url: string; expiresAt: Date }> {
    const file = await this.files.findReadable(principal, id);
    if (!file) throw Errors.notFound('File', id);
    canonicalise(request, file.sniffedMime, undefined, this.config.transforms.maxOutputPixels);
    this.renderable(file, file.sniffedMime);
    const ttl = this.config.uploads.signedUrlTtlSeconds;
    const expires = Math.floor(Date.now() / 1000) + ttl;
    const url = new URL(`${this.config.http.publicUrl}/files/${file.id}/preview`);
    for (const [name, value] of Object.entries(toQuery(request))) url.searchParams.set(name, value);
    url.searchParams.set('expires', String(expires));
    url.searchParams.set('signature', signTransformUrl(this.secret, file.id, expires));
    return { url: url.toString(), expiresAt: new Date(expires * 1000) };
  }

  /** The transform of a signed URL: the signature must have been made for this very file and not have expired. */
  async previewSigned(id: string, expires: string | undefined, signature: string | undefined, request: PreviewRequest, accept?: string): Promise<RenderedPreview> {
    const check = checkTransformUrl(this.secret, id, expires, signature);
    if (check === 'expired') throw Errors.signatureExpired('The signed URL has expired; ask GET /files/:id/download-url for a new one');
    if (check === 'invalid') throw Errors.signatureInvalid('The signature does not match: the URL was altered or signed for another file');
    const file = await this.files.findForSignature(id);
    // Deleted since the URL was signed: gone, like every read of it.
    if (!file || file.quarantined) throw Errors.notFound('File', id);
    return this.render(file, file.storageKey, request, file.sniffedMime, accept);
  }

  /**
   * The transform of a public file, for anyone. `hash`, when given, must be a prefix of the file's SHA-256 (the URL
   * then names its content); another hash finds nothing.
   */
  async previewPublic(id: string, request: PreviewRequest, accept?: string, hash?: string): Promise<RenderedPreview> {
    const file = await this.files.findPublic(id);
    if (!file || file.quarantined || (hash !== undefined && !file.sha256?.startsWith(hash))) throw Errors.notFound('File', id);
    return this.render(file, file.storageKey, request, file.sniffedMime, accept);
  }

  /**
   * A transform of `sourceKey` (the file's current bytes or one of its versions' objects) for a file the caller has
   * already been authorised for (a public file, a signature, a key the caller may read).
   */
  async render(file: FileRow, sourceKey: string, request: PreviewRequest, sourceMime = file.sniffedMime, accept?: string): Promise<RenderedPreview> {
    const options = canonicalise(request, sourceMime, accept, this.config.transforms.maxOutputPixels);
    this.renderable(file, sourceMime);
    // Known dimensions (the current bytes, measured after upload) are checked before a byte is read.
    if (sourceKey === file.storageKey && file.width && file.height) {
      this.checkPixels(file.width, file.height, options);
    }
    // The source's key is part of the variant: each version of a file has transforms of its own.
    const variant = variantName(options, sourceKey);
    const stored = await this.files.findDerived(file.id, variant);
    if (stored?.sha256) {
      this.emit('hit');
      return {
        file,
        size: Number(stored.size),
        mime: stored.mime,
        etag: `"${stored.sha256}"`,
        cached: true,
        variesByAccept: request.format === 'auto',
        open: async () => {
          try {
            return (await this.storage.get(stored.storageKey)).body;
          } catch (error) {
            // The derived object went missing (collected, restored backup): render it again.
            if (!(error instanceof StorageNotFoundError)) throw error;
            return (await this.renderOnce(file, sourceKey, variant, options)).data;
          }
        },
      };
    }
    const rendered = await this.renderOnce(file, sourceKey, variant, options);
    return {
      file,
      size: rendered.data.length,
      mime: rendered.mime,
      etag: `"${rendered.sha256}"`,
      cached: false,
      variesByAccept: request.format === 'auto',
      open: () => Promise.resolve(rendered.data),
    };
  }

  private get secret(): string {
    return `file-transform:${this.config.storage.signingSecret}`;
  }

  private renderable(file: FileRow, sourceMime: string | null): void {
    if (file.status === 'QUARANTINED') assertServable(file, true);
    if (file.status !== 'READY') throw new AppError('CONFLICT', `File ${file.id} is ${file.status}; images are transformed once it is READY`);
    if (!MediaProcessor.isImage(sourceMime)) {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Files of type ${sourceMime ?? 'unknown'} cannot be transformed: only JPEG, PNG, WebP, AVIF, GIF and TIFF images can`);
    }
  }

  private checkPixels(width: number, height: number, options: CanonicalTransform): void {
    const limits = this.config.transforms;
    if (width * height > limits.maxInputPixels) {
      this.emit('too_large');
      throw new AppError(
        'IMAGE_TOO_LARGE',
        `The image is ${width}x${height} (${count(width * height)} pixels); transforms take at most ${count(limits.maxInputPixels)} (TRANSFORM_MAX_INPUT_PIXELS)`,
        { width, height, maxInputPixels: limits.maxInputPixels },
      );
    }
    const [outWidth, outHeight] = outputSize(width, height, options);
    if (outWidth * outHeight > limits.maxOutputPixels) {
      this.emit('too_large');
      throw new AppError(
        'IMAGE_TOO_LARGE',
        `The transform would be ${outWidth}x${outHeight} (${count(outWidth * outHeight)} pixels), more than the ${count(limits.maxOutputPixels)} allowed (TRANSFORM_MAX_OUTPUT_PIXELS); ask for a smaller w or h`,
        { width: outWidth, height: outHeight, maxOutputPixels: limits.maxOutputPixels },
      );
    }
  }

  // Identical requests arriving together share one render (per process).
  private renderOnce(file: FileRow, sourceKey: string, variant: string, options: CanonicalTransform): Promise<Rendered> {
    const key = `${file.id}\0${variant}`;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.renderAndKeep(file, sourceKey, variant, options).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    } else {
      this.emit('hit');
    }
    return pending;
  }

  private async renderAndKeep(file: FileRow, sourceKey: string, variant: string, options: CanonicalTransform): Promise<Rendered> {
    const limits = this.config.transforms;
    if (!(await this.slots.acquire(limits.queueTimeoutMs))) {
      this.emit('busy');
      throw new AppError(
        'BUSY',
        `Every image transform slot (TRANSFORM_CONCURRENCY=${limits.concurrency}) stayed busy for ${limits.queueTimeoutMs} ms; retry shortly`,
        { retryAfterSeconds: Math.max(1, Math.ceil(limits.queueTimeoutMs / 1000)) },
      );
    }
    let rendered;
    try {
      const { body } = await this.storage.get(sourceKey);
      const data = await readMediaInput(body);
      const header = await this.media.header(data, limits.maxInputPixels).catch((error: unknown) => {
        throw this.mediaFailure(error);
      });
      this.checkPixels(header.width, header.height, options);
      rendered = await this.media
        .preview(data, { ...options, maxInputPixels: limits.maxInputPixels, timeoutSeconds: limits.timeoutSeconds })
        .catch((error: unknown) => {
          throw this.mediaFailure(error);
        });
    } finally {
      this.slots.release();
    }
    this.emit('miss');
    const sha256 = createHash('sha256').update(rendered.data).digest('hex');
    if ((await this.files.countDerived(file.id, PREVIEW_PREFIX)) < limits.maxVariantsPerFile) {
      // Bytes first, then the row: a failure between leaves an unreferenced object, which the orphan sweep collects.
      const storageKey = StorageLocator.derivedKey(sourceKey, variant);
      await this.storage.put(storageKey, rendered.data, { contentType: rendered.mime });
      await this.files.saveDerived(file.id, {
        variant,
        storageKey,
        mime: rendered.mime,
        width: rendered.width,
        height: rendered.height,
        size: rendered.data.length,
        sha256,
      });
    }
    return { data: rendered.data, mime: rendered.mime, sha256 };
  }

  private mediaFailure(error: unknown): unknown {
    if (!(error instanceof MediaError)) return error;
    switch (error.code) {
      case 'INVALID_PREVIEW_SIZE':
        return new AppError('BAD_REQUEST', error.message);
      case 'UNSUPPORTED':
        return new AppError('UNSUPPORTED_MEDIA_TYPE', error.message);
      case 'IMAGE_TOO_LARGE':
        this.emit('too_large');
        return new AppError('IMAGE_TOO_LARGE', `${error.message} (TRANSFORM_MAX_INPUT_PIXELS)`, error.details);
      case 'TIMEOUT':
        this.emit('timeout');
        return new AppError('BUSY', `${error.message}: the limit is ${this.config.transforms.timeoutSeconds} s (TRANSFORM_TIMEOUT_SECONDS); ask for a smaller size or retry`, {
          retryAfterSeconds: 5,
        });
      case 'CORRUPT_IMAGE':
      case 'CORRUPT_PDF':
        return new AppError('CONFLICT', error.message);
    }
  }

  private emit(outcome: TransformOutcome): void {
    for (const listener of this.listeners) listener(outcome);
  }
}

/**
 * Validates a transform and fills in its defaults: fit `inside`, format `webp`, the encoder's default quality (none
 * for PNG, which is lossless), `fit` dropped to `inside` when only one side is given (every fit gives the same
 * image then). Each refusal is a 400 naming the parameter.
 */
export function canonicalise(request: PreviewRequest, sourceMime: string | null, accept: string | undefined, maxOutputPixels: number): CanonicalTransform {
  const { width, height, quality } = request;
  if (width === undefined && height === undefined) {
    throw Errors.badRequest('A transform needs w (width) or h (height), or both', { field: 'w' });
  }
  for (const [name, value] of [['w', width], ['h', height]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > MAX_PREVIEW_SIZE)) {
      throw Errors.badRequest(`${name} must be a whole number of pixels from 1 to ${MAX_PREVIEW_SIZE}`, { field: name });
    }
  }
  const fit = request.fit ?? 'inside';
  if (!(PREVIEW_FITS as readonly string[]).includes(fit)) {
    throw Errors.badRequest(`fit must be one of ${PREVIEW_FITS.map((f) => `'${f}'`).join(', ')}`, { field: 'fit' });
  }
  const requested = request.format ?? 'webp';
  if (requested !== 'original' && requested !== 'auto' && !(PREVIEW_FORMATS as readonly string[]).includes(requested)) {
    throw Errors.badRequest(`format must be one of ${[...PREVIEW_FORMATS, 'original', 'auto'].map((f) => `'${f}'`).join(', ')}`, { field: 'format' });
  }
  if (quality !== undefined && (!Number.isInteger(quality) || quality < 1 || quality > 100)) {
    throw Errors.badRequest('q (quality) must be a whole number from 1 to 100', { field: 'q' });
  }
  // Exact before any byte is read: these fits produce the box itself.
  if (width !== undefined && height !== undefined && fit !== 'inside' && fit !== 'outside' && width * height > maxOutputPixels) {
    throw new AppError(
      'IMAGE_TOO_LARGE',
      `w x h = ${width}x${height} (${count(width * height)} pixels) is more than the ${count(maxOutputPixels)} a transform may produce (TRANSFORM_MAX_OUTPUT_PIXELS)`,
      { width, height, maxOutputPixels },
    );
  }
  const format = resolveFormat(requested, sourceMime, accept);
  const lossy = DEFAULT_QUALITY[format];
  return {
    ...(width !== undefined ? { width } : {}),
    ...(height !== undefined ? { height } : {}),
    fit: width !== undefined && height !== undefined ? fit : 'inside',
    format,
    ...(lossy !== undefined ? { quality: quality ?? lossy } : {}),
  };
}

function resolveFormat(format: TransformFormat, sourceMime: string | null, accept: string | undefined): PreviewFormat {
  const source = FORMAT_OF_MIME[(sourceMime ?? '').split(';')[0]!.trim().toLowerCase()];
  if (format === 'original') return source ?? 'png';
  if (format !== 'auto') return format;
  const accepted = (accept ?? '').toLowerCase();
  if (accepted.includes('image/avif')) return 'avif';
  if (accepted.includes('image/webp')) return 'webp';
  // Every browser takes these two; PNG where the source may be transparent.
  return source === 'jpeg' ? 'jpeg' : 'png';
}

/** The derived object's variant: a canonical spelling of the parameters, and which bytes they were applied to. */
export function variantName(options: CanonicalTransform, sourceKey: string): string {
  const source = createHash('sha256').update(sourceKey).digest('hex').slice(0, 12);
  return `${PREVIEW_PREFIX}${options.width ?? 'auto'}x${options.height ?? 'auto'}-${options.fit}-q${options.quality ?? 'lossless'}-${source}.${options.format}`;
}

/** The size sharp will produce (never enlarging), from the source's displayed size; an upper bound for the box fits. */
export function outputSize(width: number, height: number, options: Pick<CanonicalTransform, 'width' | 'height' | 'fit'>): [number, number] {
  const { width: w, height: h, fit } = options;
  if (w !== undefined && h !== undefined && fit !== 'inside' && fit !== 'outside') return [w, h];
  const scales = [w === undefined ? undefined : w / width, h === undefined ? undefined : h / height].filter((s): s is number => s !== undefined);
  const scale = Math.min(1, fit === 'outside' ? Math.max(...scales) : Math.min(...scales));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

function toQuery(request: PreviewRequest): Record<string, string> {
  const query: Record<string, string> = {};
  if (request.width !== undefined) query.w = String(request.width);
  if (request.height !== undefined) query.h = String(request.height);
  if (request.fit !== undefined) query.fit = request.fit;
  if (request.format !== undefined) query.format = request.format;
  if (request.quality !== undefined) query.q = String(request.quality);
  return query;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}
