export { MediaError, type MediaErrorCode } from './media.error';
export { readInput as readMediaInput, type MediaInput } from './media-input';
export {
  DEFAULT_MAX_INPUT_PIXELS,
  DEFAULT_THUMBNAIL_SIZES,
  MAX_PREVIEW_SIZE,
  PREVIEW_FITS,
  PREVIEW_FORMATS,
  MediaProcessor,
  type ImageHeader,
  type ImageInfo,
  type MediaProcessorOptions,
  type Preview,
  type PreviewFit,
  type PreviewFormat,
  type PreviewOptions,
  type Thumbnail,
} from './media.processor';
export { PdfPageCounter, countPdfPages, type PdfPageCountMethod, type PdfPageCountResult } from './pdf/pdf-page.counter';
export { MediaModule } from './media.module';
