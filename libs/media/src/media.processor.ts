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

export const PREVIEW_FORMATS = ['webp', 'avif', 'jpeg', 'png'] as const;
export const PREVIEW_FITS = ['cover', 'contain', 'inside', 'outside', 'fill'] as const;
export type PreviewFormat = (typeof PREVIEW_FORMATS)[number];
export type PreviewFit = (typeof PREVIEW_FITS)[number];

export interface PreviewOptions {
  width?: number;
  height?: number;
  format?: PreviewFormat;
  fit?: PreviewFit;
  /** 1–100 for webp, avif and jpeg (encoder defaults: 80, 50, 80); PNG is lossless and ignores it. */
  quality?: number;
  /** Pixel limit of the input for this call (default: the processor's `maxInputPixels`). */
  maxInputPixels?: number;
  /** libvips gives up after this many seconds (sharp's timeout; 0 or absent: no limit). */
  timeoutSeconds?: number;
}

export interface Preview {
  data: Buffer;
  mime: 'image/webp' | 'image/avif' | 'image/jpeg' | 'image/png';
  width: number;
  height: number;
}

/** What the header says of an image: displayed dimensions (after EXIF orientation), format and transparency. */
export interface ImageHeader {
  width: number;
  height: number;
  /** sharp's name, with HEIF told apart as avif / heic / heif. */
  format: string;
  hasAlpha: boolean;
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
const PREVIEW_MIME = { webp: 'image/webp', avif: 'image/avif', jpeg: 'image/jpeg', png: 'image/png' } as const;

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
   * A preview of width×height (a missing side follows the aspect ratio), never enlarged, with sharp's fits: inside
   * (within the box), outside (covering it, uncropped), cover (cropped to it, centred), contain (letterboxed,
   * transparent, or white for JPEG), fill (stretched). Sizes must be integers from 1 to 4096
   * (INVALID_PREVIEW_SIZE). JPEG is flattened onto white. A stream input is consumed, and destroyed if the options
   * are refused. Over `maxInputPixels`: IMAGE_TOO_LARGE, before any pixel is decoded; past `timeoutSeconds`: TIMEOUT.
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
    const maxInputPixels = options.maxInputPixels ?? this.maxInputPixels;
    const data = await readInput(input);
    await this.readHeader(data, maxInputPixels);
    const background = format === 'jpeg' ? '#ffffff' : { r: 255, g: 255, b: 255, alpha: 0 };
    let image = this.pipeline(data, maxInputPixels).resize({ ...box(options.width, options.height, fit), background });
    if (options.timeoutSeconds) image = image.timeout({ seconds: options.timeoutSeconds });
    const quality = options.quality;
    if (format === 'jpeg') image = image.flatten({ background: '#ffffff' }).jpeg(quality ? { quality } : {});
    else if (format === 'png') image = image.png();
    else if (format === 'avif') image = image.avif(quality ? { quality } : {});
    else image = image.webp(quality ? { quality } : {});
    const { data: out, info } = await this.decode(image.toBuffer({ resolveWithObject: true }), maxInputPixels);
    return { data: out, mime: PREVIEW_MIME[format], width: info.width, height: info.height };
  }

  /** The header of an image, read without decoding a pixel (same refusals as analyzeImage). */
  async header(data: Buffer, maxInputPixels = this.maxInputPixels): Promise<ImageHeader> {
    const meta = await this.readHeader(data, maxInputPixels);
    const swap = (meta.orientation ?? 1) >= 5;
    return { width: swap ? meta.height : meta.width, height: swap ? meta.width : meta.height, format: formatName(meta), hasAlpha: meta.hasAlpha === true };
  }

  /**
   * The number of pages of a PDF, read in one pass without holding the file (see PdfPageCounter for the method
   * and its limits). Throws CORRUPT_PDF when no page tree can be found, UNSUPPORTED when it is out of reach
   * (encrypted object streams).
   */
  async pdfPageCount(input: MediaInput): Promise<number> {
    return (await countPdfPages(input)).pages;
  }

  private pipeline(data: Buffer, maxInputPixels = this.maxInputPixels): Sharp {
    // animated: false reads the first frame only; autoOrient applies and drops the EXIF orientation.
    return sharp(data, { limitInputPixels: maxInputPixels, animated: false }).autoOrient();
  }

  private async readHeader(data: Buffer, maxInputPixels = this.maxInputPixels): Promise<Metadata> {
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
    if (pixels > maxInputPixels) {
      throw new MediaError(
        'IMAGE_TOO_LARGE',
        `The image is ${meta.width}x${meta.height} (${formatCount(pixels)} pixels), more than the ${formatCount(maxInputPixels)} allowed`,
        { details: { width: meta.width, height: meta.height, pixels, maxInputPixels } },
      );
    }
    return meta;
  }

  private async decode<T>(work: Promise<T>, maxInputPixels = this.maxInputPixels): Promise<T> {
    try {
      return await work;
    } catch (error) {
      const reason = sharpReason(error);
      if (/exceeds pixel limit/i.test(reason)) {
        throw new MediaError('IMAGE_TOO_LARGE', `The image has more than the ${formatCount(maxInputPixels)} pixels allowed`, { cause: error });
      }
      if (/^timeout/i.test(reason)) {
        throw new MediaError('TIMEOUT', `Processing the image took too long (${reason})`, { cause: error });
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
  if (!(format in PREVIEW_MIME)) throw new MediaError('UNSUPPORTED', `Preview format '${format}' is not supported (${PREVIEW_FORMATS.join(', ')})`);
  if (!(PREVIEW_FITS as readonly string[]).includes(fit)) throw new MediaError('UNSUPPORTED', `Preview fit '${fit}' is not supported (${PREVIEW_FITS.join(', ')})`);
  const { quality } = options;
  if (quality !== undefined && (!Number.isInteger(quality) || quality < 1 || quality > 100)) {
    throw new MediaError('INVALID_PREVIEW_SIZE', `Preview quality must be an integer from 1 to 100, got ${quality}`);
  }
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
