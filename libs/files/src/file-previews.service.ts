import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { AppError, Errors } from '@app/errors';
import { MAX_PREVIEW_SIZE, MediaError, MediaProcessor, readMediaInput, type PreviewFit, type PreviewFormat } from '@app/media';
import { STORAGE_DRIVER, StorageLocator, type StorageDriver } from '@app/storage';
import { FilesRepository, type FileRow } from './files.repository';
import { assertServable } from './file-serving';

/** Cached preview variants per file; past this, previews are still rendered but no longer kept. */
export const MAX_CACHED_PREVIEWS = 32;
const PREVIEW_PREFIX = 'preview-';

export interface PreviewRequest {
  width?: number;
  height?: number;
  format?: PreviewFormat;
  fit?: PreviewFit;
}

export interface RenderedPreview {
  file: FileRow;
  body: NodeJS.ReadableStream | Buffer;
  size: number;
  mime: string;
  /** Strong validator: the same original and variant always render the same bytes. */
  etag: string;
  cached: boolean;
}

/**
 * Image previews of any size (`w`, `h`, format, fit) rendered on first request from the original and kept as
 * derived objects (deterministic keys from the original's key and the variant), so the next request streams the
 * stored bytes. Rendering happens in the request: a preview is one resize of a READY image, bounded by
 * MAX_PREVIEW_SIZE and the pixel limit the original already passed.
 */
@Injectable()
export class FilePreviewsService {
  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly media: MediaProcessor,
  ) {}

  async preview(principal: Principal, id: string, request: PreviewRequest): Promise<RenderedPreview> {
    const file = await this.files.findReadable(principal, id);
    if (!file) throw Errors.notFound('File', id);
    return this.render(file, file.storageKey, request);
  }

  /**
   * A preview of `sourceKey` (the file's current bytes or one of its versions' objects) for a file the caller has
   * already been authorised for (a public file, a key the caller may read).
   */
  async render(file: FileRow, sourceKey: string, request: PreviewRequest, sourceMime = file.sniffedMime): Promise<RenderedPreview> {
    const options = normalise(request);
    const id = file.id;
    if (file.status === 'QUARANTINED') assertServable(file, true);
    if (file.status !== 'READY') throw new AppError('CONFLICT', `File ${id} is ${file.status}; previews are made once it is READY`);
    if (!MediaProcessor.isImage(sourceMime)) {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Files of type ${sourceMime ?? 'unknown'} have no image preview`);
    }
    // The source's key is part of the variant: each version of a file has previews of its own.
    const source = createHash('sha256').update(sourceKey).digest('hex').slice(0, 12);
    const variant = `${PREVIEW_PREFIX}${options.width ?? 'auto'}x${options.height ?? 'auto'}-${options.fit}-${source}.${options.format}`;
    const etag = `"${createHash('sha256').update(`${sourceKey}\0${variant}`).digest('base64url').slice(0, 27)}"`;
    const stored = await this.files.findDerived(file.id, variant);
    if (stored) {
      const object = await this.storage.get(stored.storageKey).catch(() => null);
      if (object) return { file, body: object.body, size: object.contentLength, mime: stored.mime, etag, cached: true };
    }
    const { body } = await this.storage.get(sourceKey);
    let rendered;
    try {
      rendered = await this.media.preview(await readMediaInput(body), options);
    } catch (error) {
      if (error instanceof MediaError) {
        const code = error.code === 'INVALID_PREVIEW_SIZE' ? 'BAD_REQUEST' : error.code === 'UNSUPPORTED' ? 'UNSUPPORTED_MEDIA_TYPE' : 'CONFLICT';
        throw new AppError(code, error.message);
      }
      throw error;
    }
    const cache = (await this.files.countDerived(file.id, PREVIEW_PREFIX)) < MAX_CACHED_PREVIEWS;
    if (cache) {
      const storageKey = StorageLocator.derivedKey(sourceKey, variant);
      await this.storage.put(storageKey, rendered.data, { contentType: rendered.mime });
      await this.files.transaction((tx) =>
        this.files.saveThumbnails(tx, file.id, [
          { variant, storageKey, mime: rendered.mime, width: rendered.width, height: rendered.height, size: rendered.data.length },
        ]),
      );
    }
    return { file, body: rendered.data, size: rendered.data.length, mime: rendered.mime, etag, cached: false };
  }
}

function normalise(request: PreviewRequest): Required<Pick<PreviewRequest, 'format' | 'fit'>> & PreviewRequest {
  const { width, height } = request;
  if (width === undefined && height === undefined) throw Errors.badRequest('A preview needs w (width) or h (height), or both');
  for (const [name, value] of [['w', width], ['h', height]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > MAX_PREVIEW_SIZE)) {
      throw Errors.badRequest(`${name} must be a whole number of pixels from 1 to ${MAX_PREVIEW_SIZE}`, { field: name });
    }
  }
  const format = request.format ?? 'webp';
  if (!['webp', 'jpeg', 'png'].includes(format)) throw Errors.badRequest("format must be 'webp', 'jpeg' or 'png'", { field: 'format' });
  const fit = request.fit ?? 'inside';
  if (fit !== 'inside' && fit !== 'cover') throw Errors.badRequest("fit must be 'inside' or 'cover'", { field: 'fit' });
  return { width, height, format, fit };
}
