import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppError, type ErrorCode } from '@app/errors';
import { logContext } from '@app/logging';
import { setErrorHeaders } from '../http/http-error.filter';
import type { ChainsiteFailure } from './chainsite.dto';

interface Answer {
  status: number;
  body: ChainsiteFailure;
}

/** Chainsite's status for each domain error; the switch must name every code. */
function fromAppError(error: AppError): Answer {
  const failure = (status: number, data?: Record<string, unknown>): Answer => ({
    status,
    body: { status: 'error', message: error.message, ...(data ? { data } : {}) },
  });
  const code: ErrorCode = error.code;
  switch (code) {
    case 'BAD_REQUEST':
      return failure(400);
    case 'UNAUTHENTICATED':
      return failure(401);
    case 'FORBIDDEN':
    case 'SIGNATURE_INVALID':
    case 'SIGNATURE_EXPIRED':
      return failure(403);
    case 'NOT_FOUND':
      return failure(404);
    case 'CONFLICT':
    case 'ILLEGAL_TRANSITION':
    case 'UPLOAD_INCOMPLETE':
      return failure(409);
    case 'PAYLOAD_TOO_LARGE':
      // The limit, so a client can tell its user what fits.
      return failure(413, { maxBytes: error.details?.maxBytes });
    case 'UNSUPPORTED_MEDIA_TYPE':
      return failure(415);
    case 'RANGE_NOT_SATISFIABLE':
      return failure(416);
    case 'QUOTA_EXCEEDED':
      return failure(413, { quota: error.details });
    case 'RATE_LIMITED':
      return failure(429, { retryAfterSeconds: error.details?.retryAfterSeconds });
    case 'STORAGE_UNAVAILABLE':
      return failure(503);
    case 'BUSY':
      return failure(503, { retryAfterSeconds: error.details?.retryAfterSeconds });
    case 'IMAGE_TOO_LARGE':
      return failure(422);
  }
}

/**
 * Errors of the Chainsite routes in Chainsite's envelope `{status: "error", message, data?}` (the rest of the API
 * answers `{statusCode, error, message}`). Anything unknown is a 500 carrying the request id, logged once.
 */
@Catch()
export class ChainsiteErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('ChainsiteError');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const req = host.switchToHttp().getRequest<Request>();
    const { status, body } = this.answer(exception, req);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    setErrorHeaders(res, exception);
    res.status(status).json(body);
  }

  private answer(exception: unknown, req: Request): Answer {
    if (exception instanceof AppError) return fromAppError(exception);
    if (exception instanceof HttpException) {
      const response = exception.getResponse();
      const message =
        typeof response === 'string'
          ? response
          : [(response as { message?: unknown }).message ?? exception.message].flat().map(String).join('; ');
      return { status: exception.getStatus(), body: { status: 'error', message } };
    }
    if ((exception as { name?: string })?.name === 'AbortError') {
      return { status: 400, body: { status: 'error', message: 'The request was aborted by the client' } };
    }
    // Body-parser and similar errors carry a 4xx of their own.
    const status = (exception as { status?: unknown })?.status ?? (exception as { statusCode?: unknown })?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return { status, body: { status: 'error', message: (exception as Error).message } };
    }
    const requestId = logContext.getStore()?.reqId ?? String(req.headers['x-request-id'] ?? '');
    this.logger.error(exception instanceof Error ? exception : new Error(String(exception)));
    return { status: 500, body: { status: 'error', message: `Unexpected error (request ${requestId})`, data: { requestId } } };
  }
}
