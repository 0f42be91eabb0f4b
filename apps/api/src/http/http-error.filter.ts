import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppError, UNAVAILABLE_RETRY_AFTER_SECONDS, unavailableDependency, type ErrorCode } from '@app/errors';
import { logContext } from '@app/logging';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  code?: string;
  /** The request field at fault, when one is (e.g. `meta.user.id`). */
  field?: string;
  requestId?: string;
}

function errorName(code: ErrorCode): string {
  switch (code) {
    case 'BAD_REQUEST':
      return 'Bad Request';
    case 'UNAUTHENTICATED':
      return 'Unauthorized';
    case 'FORBIDDEN':
    case 'SIGNATURE_INVALID':
    case 'SIGNATURE_EXPIRED':
      return 'Forbidden';
    case 'NOT_FOUND':
      return 'Not Found';
    case 'CONFLICT':
    case 'ILLEGAL_TRANSITION':
    case 'UPLOAD_INCOMPLETE':
      return 'Conflict';
    case 'PAYLOAD_TOO_LARGE':
      return 'Payload Too Large';
    case 'RANGE_NOT_SATISFIABLE':
      return 'Range Not Satisfiable';
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 'Unsupported Media Type';
    case 'RATE_LIMITED':
      return 'Too Many Requests';
    case 'QUOTA_EXCEEDED':
      return 'Payload Too Large';
    case 'STORAGE_UNAVAILABLE':
    case 'BUSY':
      return 'Service Unavailable';
    case 'IMAGE_TOO_LARGE':
      return 'Unprocessable Entity';
  }
}

/** Headers some errors carry besides their body: how long to wait after a 429 or a busy 503. */
export function setErrorHeaders(res: Response, exception: unknown): void {
  if (exception instanceof AppError && (exception.code === 'RATE_LIMITED' || exception.code === 'BUSY')) {
    res.setHeader('Retry-After', String(exception.details?.retryAfterSeconds ?? 1));
  }
  const prismaCode = (exception as { code?: unknown })?.code;
  if (prismaCode === 'P2024' || prismaCode === 'P2028') res.setHeader('Retry-After', '1');
  else if (unavailableDependency(exception) || (exception instanceof AppError && exception.code === 'STORAGE_UNAVAILABLE')) {
    res.setHeader('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
  }
}

/** A 503 body for a dependency that is down for a moment (logged as a warning, not as an unexpected error). */
export function unavailableBody(exception: unknown): ErrorBody | undefined {
  const dependency = unavailableDependency(exception);
  if (!dependency) return undefined;
  const name = dependency === 'database' ? 'The database' : dependency === 'storage' ? 'Storage' : 'A backing service';
  return {
    statusCode: 503,
    error: 'Service Unavailable',
    message: `${name} is unavailable at the moment; try again in a few seconds`,
    code: dependency === 'database' ? 'DATABASE_UNAVAILABLE' : dependency === 'storage' ? 'STORAGE_UNAVAILABLE' : 'SERVICE_UNAVAILABLE',
  };
}

/** Maps domain errors to JSON for REST; anything unknown is a 500 with the request id, logged once. */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType<string>() !== 'http') throw exception;
    const res = host.switchToHttp().getResponse<Response>();
    const req = host.switchToHttp().getRequest<Request>();
    if (res.headersSent) {
      // The answer was under way: nothing more can be said, only the connection cut. A client that went away
      // mid-download (its socket closed) is no fault of ours and not worth an error in the log.
      if (!req.socket?.destroyed) this.toBody(exception, req);
      res.destroy();
      return;
    }
    const body = this.toBody(exception, req);
    setErrorHeaders(res, exception);
    res.status(body.statusCode).json(this.shape(body, exception));
  }

  /** The JSON answered for `body`; surfaces with an envelope of their own (Condo, epilot) extend this. */
  protected shape(body: ErrorBody, _exception: unknown): object {
    return body;
  }

  toBody(exception: unknown, req: Request): ErrorBody {
    if (exception instanceof AppError) {
      const field = typeof exception.details?.field === 'string' ? exception.details.field : undefined;
      return { statusCode: exception.status, error: errorName(exception.code), message: exception.message, code: exception.code, ...(field ? { field } : {}) };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const message =
        typeof response === 'string'
          ? response
          : Array.isArray((response as { message?: unknown }).message)
            ? ((response as { message: string[] }).message).join('; ')
            : String((response as { message?: unknown }).message ?? exception.message);
      return { statusCode: status, error: exception.name.replace(/Exception$/, ''), message };
    }
    // Every database connection stayed busy for the whole wait: a momentary overload, not a fault. Say so, and when
    // to try again, instead of a 500.
    const prismaCode = (exception as { code?: unknown })?.code;
    if (prismaCode === 'P2024' || prismaCode === 'P2028') {
      return { statusCode: 503, error: 'Service Unavailable', message: 'The database is busy; try again in a moment', code: 'DATABASE_BUSY' };
    }
    // A dependency down for a moment (a database restart, storage unreachable): say so and when to come back.
    const unavailable = unavailableBody(exception);
    if (unavailable) {
      this.logger.warn(`${unavailable.message}: ${(exception as Error)?.message?.split('\n').filter(Boolean).at(-1) ?? String(exception)}`);
      return unavailable;
    }
    // The client went away mid-request: nobody is left to answer, and nothing went wrong on our side.
    if ((exception as { name?: string })?.name === 'AbortError') {
      return { statusCode: 400, error: 'Bad Request', message: 'The request was aborted by the client' };
    }
    // Malformed JSON bodies and the like come from body-parser with a status of their own.
    const status = (exception as { status?: number; statusCode?: number })?.status ?? (exception as { statusCode?: number })?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return { statusCode: status, error: 'Bad Request', message: (exception as Error).message };
    }
    const requestId = logContext.getStore()?.reqId ?? String(req.headers['x-request-id'] ?? '');
    this.logger.error(exception instanceof Error ? exception : new Error(String(exception)));
    return { statusCode: 500, error: 'Internal Server Error', message: `Unexpected error (request ${requestId})`, requestId };
  }
}
