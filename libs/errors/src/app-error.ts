// The closed set of error codes every surface maps. Adding a code forces each mapper's switch to handle it.
export const ERROR_CODES = {
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  ILLEGAL_TRANSITION: 409,
  PAYLOAD_TOO_LARGE: 413,
  RANGE_NOT_SATISFIABLE: 416,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UPLOAD_INCOMPLETE: 409,
  SIGNATURE_INVALID: 403,
  SIGNATURE_EXPIRED: 403,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 413,
  STORAGE_UNAVAILABLE: 503,
  // An image with more pixels than a transform may decode or produce: the request is valid, the work is refused.
  IMAGE_TOO_LARGE: 422,
  // Momentary overload (every transform slot stayed busy, or the work ran past its time): retry after `retryAfterSeconds`.
  BUSY: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get status(): number {
    return ERROR_CODES[this.code];
  }
}

export const Errors = {
  badRequest: (message: string, details?: Record<string, unknown>) => new AppError('BAD_REQUEST', message, details),
  unauthenticated: (message = 'Missing or invalid bearer token') => new AppError('UNAUTHENTICATED', message),
  forbidden: (message: string) => new AppError('FORBIDDEN', message),
  notFound: (what: string, id?: string) =>
    new AppError('NOT_FOUND', id ? `${what} ${id} was not found` : `${what} was not found`),
  tooLarge: (maxBytes: number) =>
    new AppError('PAYLOAD_TOO_LARGE', `File is larger than the maximum of ${maxBytes} bytes`, { maxBytes }),
  rangeNotSatisfiable: (size: number) =>
    new AppError('RANGE_NOT_SATISFIABLE', `The requested range is outside the object's ${size} bytes`, { size }),
  signatureInvalid: (message = 'The signature is invalid') => new AppError('SIGNATURE_INVALID', message),
  signatureExpired: (message = 'The signed URL has expired') => new AppError('SIGNATURE_EXPIRED', message),
};
