export type MediaErrorCode = 'IMAGE_TOO_LARGE' | 'CORRUPT_IMAGE' | 'CORRUPT_PDF' | 'UNSUPPORTED' | 'INVALID_PREVIEW_SIZE' | 'TIMEOUT';

// A problem with the content itself: retrying will not help, and the message is shown as the file's failureReason.
// Storage/stream I/O errors are never wrapped in it, so the caller can tell "bad file" from "try again".
export class MediaError extends Error {
  readonly details?: Record<string, unknown>;

  constructor(
    readonly code: MediaErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.name = 'MediaError';
    this.details = options.details;
  }
}
