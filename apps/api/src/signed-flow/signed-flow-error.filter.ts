import { Catch } from '@nestjs/common';
import { AppError } from '@app/errors';
import { logContext } from '@app/logging';
import { HttpErrorFilter, type ErrorBody } from '../http/http-error.filter';

// Condo's GraphQL-style codes (packages/keystone/errors) by HTTP status.
const CONDO_CODE: Record<number, string> = {
  400: 'BAD_USER_INPUT',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'BAD_USER_INPUT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'BAD_USER_INPUT',
  422: 'BAD_USER_INPUT',
  416: 'BAD_USER_INPUT',
  429: 'TOO_MANY_REQUESTS',
};

// Condo's error types where one matches ours, so an app that branches on `errors[0].extensions.type` still can.
function condoType(body: { statusCode: number; code?: string; field?: string }): string {
  if (body.code === 'RATE_LIMITED') return 'RATE_LIMIT_EXCEEDED';
  if (body.code === 'UNAUTHENTICATED') return 'AUTHORIZATION_REQUIRED';
  if (body.code === 'PAYLOAD_TOO_LARGE' || body.code === 'QUOTA_EXCEEDED') return 'PAYLOAD_TOO_LARGE';
  if (body.code === 'NOT_FOUND') return 'FILE_NOT_FOUND';
  if (body.code === 'SIGNATURE_INVALID' || body.code === 'SIGNATURE_EXPIRED') return 'INVALID_SIGNATURE';
  if (body.field === 'meta' || body.field?.startsWith('meta.')) return body.field === 'meta.fileClientId' ? 'INVALID_APP_ID' : 'INVALID_META';
  if (body.field === 'file') return 'MISSING_ATTACHED_FILES';
  if (body.field === 'fileClientId') return 'INVALID_APP_ID';
  if (body.statusCode === 400) return 'INVALID_PAYLOAD';
  return body.code ?? 'INTERNAL_ERROR';
}

/**
 * Errors of the signed REST flow: our usual body (`statusCode`, `error`, `message`, `code`, `field`) plus the
 * `errors` array Condo's server answers with (`errors[0].message`, `errors[0].extensions.{code,type}`), which is
 * what Condo apps and its client read.
 */
@Catch()
export class SignedFlowErrorFilter extends HttpErrorFilter {
  protected override shape(body: ErrorBody, exception: unknown): object {
    const reqId = logContext.getStore()?.reqId;
    const extensions = {
      code: body.statusCode >= 500 ? 'INTERNAL_ERROR' : (CONDO_CODE[body.statusCode] ?? 'BAD_USER_INPUT'),
      type: exception instanceof AppError || body.statusCode < 500 ? condoType(body) : 'INTERNAL_ERROR',
      message: body.message,
    };
    return { ...body, errors: [{ name: 'GQLError', message: body.message, ...(reqId ? { reqId } : {}), extensions }] };
  }
}
