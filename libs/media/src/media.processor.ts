import sharp, { type Metadata, type Sharp } from 'sharp';
import { readInput, type MediaInput } from './media-input';
import { MediaError } from './media.error';
import { countPdfPages } from './pdf/pdf-page.counter';

export interface MediaProcessorOptions {
  thumbnailSizes?: number[];
  maxInputPixels?: number;
  format?: 'webp';
}

export interface ImageInfo {
  width: number;
  height: number;
  format: string;
  pages?: number;
  orientation?: number;
}

export interface Thumbnail {
  variant: string;
  size: number;
  width: number;
  height: number;
  mime: 'image/webp';
  data: Buffer;
}

export type PreviewFormat = 'webp' | 'jpeg' | 'png';
export type PreviewFit = 'inside' | 'cover';

export interface PreviewOptions {
  width?: number;
  height?: number;
  format?: PreviewFormat;
  fit?: PreviewFit;
}

export interface Preview {
  data: Buffer;
  mime: 'image/webp' | 'image/jpeg' | 'image/png';
  width: number;
  height: number;
}

export const DEFAULT_THUMBNAIL_SIZES: readonly number[] = [64, 256, 1024];
export const DEFAULT_MAX_INPUT_PIXELS = 100_000_000;
export const MAX_PREVIEW_SIZE = 4096;

// Decoders we hand untrusted bytes to. sharp can also read SVG (librsvg), which is active content and not
// something to rasterise on upload; anything else sharp reads (raw, vips) needs a file path or options.
const DECODABLE_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);
const IMAGE_MIME_TYPES = new Set([
  'image/jpeg',
  'image/jpg',
  'image/pjpeg',
  'image/png',
  'image/apng',
  'image/webp',
  'image/gif',
  'image/avif',
  'image/tiff',
]);
const HEIC_MIME_TYPES = new Set(['image/heic', 'image/heif', 'image/heic-sequence', 'image/heif-sequence']);
const PDF_MIME_TYPES = new Set(['application/pdf', 'application/x-pdf']);
const PREVIEW_MIME = { webp: 'image/webp', jpeg: 'image/jpeg', png: 'image/png' } as const;

/**
 * The media port of the post-upload worker: image metadata, thumbnails, on-demand previews and PDF page counts.
 *
 * Storage-agnostic: inputs are streams or buffers, outputs are buffers. Image inputs are read into memory before
 * decoding, as sharp does with stream input anyway; decoded pixels are bounded by `maxInputPixels`, checked from
 * the header before any pixel is decoded. PDFs are scanned as a stream without being held whole.
 *
 * Content problems throw {@link MediaError} with a message fit for a file's `failureReason`; errors of the input
 * stream itself are passed through unchanged so a caller can retry them.
 */
export class MediaProcessor {
  readonly thumbnailSizes: readonly number[];
  readonly maxInputPixels: number;
  readonly format: 'webp';

  constructor(options: MediaProcessorOptions = {}) {
    const sizes = [...new Set(options.thumbnailSizes ?? DEFAULT_THUMBNAIL_SIZES)].sort((a, b) => a - b);
    if (sizes.length === 0 || sizes.some((s) => !Number.isInteger(s) || s < 1 || s > MAX_PREVIEW_SIZE)) {
      throw new RangeError(`thumbnailSizes must be integers from 1 to ${MAX_PREVIEW_SIZE}, got ${JSON.stringify(options.thumbnailSizes)}`);
    }
    const maxInputPixels = options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
    if (!Number.isSafeInteger(maxInputPixels) || maxInputPixels < 1) {
      throw new RangeError(`maxInputPixels must be a positive integer, got ${maxInputPixels}`);
    }
    if ((options.format ?? 'webp') !== 'webp') throw new RangeError(`Unsupported thumbnail format '${options.format}'`);
    this.thumbnailSizes = sizes;
    this.maxInputPixels = maxInputPixels;
    this.format = 'webp';
  }

  /** Whether this sharp build can decode HEIC (HEVC); the prebuilt binaries carry only the AV1 (AVIF) decoder. */
  static get heicSupported(): boolean {
    return (sharp.format.heif?.input.fileSuffix ?? []).includes('.heic');
  }

  /** Whether `mime` is an image type this processor can analyse and thumbnail. */
  static isImage(mime: string | null | undefined): boolean {
    const type = normaliseMime(mime);
    return IMAGE_MIME_TYPES.has(type) || (HEIC_MIME_TYPES.has(type) && MediaProcessor.heicSupported);
  }

  static isPdf(mime: string | null | undefined): boolean {
    return PDF_MIME_TYPES.has(normaliseMime(mime));
  }

  /**
   * Dimensions as displayed (after EXIF orientation), format, frame/page count and orientation, from the header
   * alone. Throws IMAGE_TOO_LARGE over `maxInputPixels`, CORRUPT_IMAGE when unreadable, UNSUPPORTED for formats
   * not processed here (SVG, HEIC without a decoder).
   */
  async analyzeImage(input: MediaInput): Promise<ImageInfo> {
    const meta = await this.readHeader(await readInput(input));
    // Orientations 5–8 turn the image a quarter turn, so width and height swap.
    const swap = (meta.orientation ?? 1) >= 5;
    const info: ImageInfo = {
      width: swap ? meta.height : meta.width,
      height: swap ? meta.width : meta.height,
      format: formatName(meta),
    };
    if (meta.pages !== undefined) info.pages = meta.pages;
    if (meta.orientation !== undefined) info.orientation = meta.orientation;
    return info;
  }

  /**
   * One WebP per configured size, each fitted inside a size×size box and never enlarged, auto-oriented, first
   * frame only, metadata stripped. The image is decoded once, already reduced to the largest size (JPEG and WebP
   * shrink on load); the sizes are then derived from those pixels in parallel.
   */
  async thumbnails(input: MediaInput): Promise<Thumbnail[]> {
    const data = await readInput(input);
    await this.readHeader(data);
    const largest = this.thumbnailSizes[this.thumbnailSizes.length - 1]!;
    // sharp's clone() shares the input bytes, not the decoded image: each clone would decode again.
    const base = await this.decode(
      this.pipeline(data).resize(box(largest, largest, 'inside')).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }),
    );
    const { width, height, channels } = base.info;
    return Promise.all(
      this.thumbnailSizes.map(async (size): Promise<Thumbnail> => {
        const { data: webp, info } = await sharp(base.data, { raw: { width, height, channels } })
          .resize(box(size, size, 'inside'))
          .webp()
          .toBuffer({ resolveWithObject: true });
        return { variant: `thumb-${size}`, size, width: info.width, height: info.height, mime: 'image/webp', data: webp };
      }),
    );
  }

  /**
   * A preview fitted inside (or covering, cropped to) width×height, never enlarged; a missing side follows the
   * aspect ratio. Sizes must be integers from 1 to 4096 (INVALID_PREVIEW_SIZE). JPEG previews are flattened
   * onto white. A stream input is consumed, and destroyed if the options are refused.
   */
  async preview(input: MediaInput, options: PreviewOptions = {}): Promise<Preview> {
    const format = options.format ?? 'webp';
    const fit = options.fit ?? 'inside';
    try {
      validatePreview(options, format, fit);
    } catch (error) {
      if (!Buffer.isBuffer(input)) input.destroy();
      throw error;
    }
    const data = await readInput(input);
    await this.readHeader(data);
    let image = this.pipeline(data).resize(box(options.width, options.height, fit));
    if (format === 'jpeg') image = image.flatten({ background: '#ffffff' }).jpeg();
    else if (format === 'png') image = image.png();
    else image = image.webp();
    const { data: out, info } = await this.decode(image.toBuffer({ resolveWithObject: true }));
    return { data: out, mime: PREVIEW_MIME[format], width: info.width, height: info.height };
  }

  /**
   * The number of pages of a PDF, read in one pass without holding the file (see PdfPageCounter for the method
   * and its limits). Throws CORRUPT_PDF when no page tree can be found, UNSUPPORTED when it is out of reach
   * (encrypted object streams).
   */
  async pdfPageCount(input: MediaInput): Promise<number> {
    return (await countPdfPages(input)).pages;
  }

  private pipeline(data: Buffer): Sharp {
    // animated: false reads the first frame only; autoOrient applies and drops the EXIF orientation.
    return sharp(data, { limitInputPixels: this.maxInputPixels, animated: false }).autoOrient();
  }

  private async readHeader(data: Buffer): Promise<Metadata> {
    if (data.length === 0) throw new MediaError('CORRUPT_IMAGE', 'The image is empty');
    let meta: Metadata;
    try {
      // Header only, so no pixel limit here: it is checked below, where the message can give the size.
      meta = await sharp(data, { limitInputPixels: false }).metadata();
    } catch (error) {
      throw new MediaError('CORRUPT_IMAGE', `The image cannot be read: ${sharpReason(error)}`, { cause: error });
    }
    if (meta.format === 'heif' && meta.compression === 'hevc' && !MediaProcessor.heicSupported) {
      throw new MediaError('UNSUPPORTED', 'HEIC images are not supported by this server (no HEVC decoder)');
    }
    if (!DECODABLE_FORMATS.has(meta.format)) {
      throw new MediaError('UNSUPPORTED', `${meta.format.toUpperCase()} images are not processed`, { details: { format: meta.format } });
    }
    const pixels = meta.width * meta.height;
    if (!(pixels > 0)) throw new MediaError('CORRUPT_IMAGE', 'The image header gives no dimensions');
    if (pixels > this.maxInputPixels) {
      throw new MediaError(
        'IMAGE_TOO_LARGE',
        `The image is ${meta.width}x${meta.height} (${formatCount(pixels)} pixels), more than the ${formatCount(this.maxInputPixels)} allowed`,
        { details: { width: meta.width, height: meta.height, pixels, maxInputPixels: this.maxInputPixels } },
      );
    }
    return meta;
  }

  private async decode<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      const reason = sharpReason(error);
      if (/exceeds pixel limit/i.test(reason)) {
        throw new MediaError('IMAGE_TOO_LARGE', `The image has more than the ${formatCount(this.maxInputPixels)} pixels allowed`, { cause: error });
      }
      throw new MediaError('CORRUPT_IMAGE', `The image cannot be decoded: ${reason}`, { cause: error });
    }
  }
}

function box(width: number | undefined, height: number | undefined, fit: PreviewFit) {
  return { width, height, fit, withoutEnlargement: true } as const;
}

function validatePreview(options: PreviewOptions, format: string, fit: string): void {
  const { width, height } = options;
  if (width === undefined && height === undefined) {
    throw new MediaError('INVALID_PREVIEW_SIZE', 'A preview needs a width or a height');
  }
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > MAX_PREVIEW_SIZE)) {
      throw new MediaError('INVALID_PREVIEW_SIZE', `Preview ${name} must be an integer from 1 to ${MAX_PREVIEW_SIZE}, got ${value}`);
    }
  }
  if (!(format in PREVIEW_MIME)) throw new MediaError('UNSUPPORTED', `Preview format '${format}' is not supported (webp, jpeg, png)`);
  if (fit !== 'inside' && fit !== 'cover') throw new MediaError('UNSUPPORTED', `Preview fit '${fit}' is not supported (inside, cover)`);
}

function normaliseMime(mime: string | null | undefined): string {
  return (mime ?? '').split(';')[0]!.trim().toLowerCase();
}

function formatName(meta: Metadata): string {
  // sharp calls both HEIF flavours 'heif'; the codec tells them apart.
  if (meta.format !== 'heif') return meta.format;
  if (meta.compression === 'av1') return 'avif';
  return meta.compression === 'hevc' ? 'heic' : 'heif';
}

function sharpReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // libvips messages can run over several lines; a failureReason is one.
  return message.split('\n').map((line) => line.trim()).filter(Boolean).join('; ');
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
