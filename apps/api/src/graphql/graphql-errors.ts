import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { AppError, unavailableDependency, type ErrorCode } from '@app/errors';

function graphqlCode(code: ErrorCode): string {
  switch (code) {
    case 'BAD_REQUEST':
    case 'UNSUPPORTED_MEDIA_TYPE':
    case 'PAYLOAD_TOO_LARGE':
    case 'RANGE_NOT_SATISFIABLE':
      return 'BAD_USER_INPUT';
    case 'UNAUTHENTICATED':
      return 'UNAUTHENTICATED';
    case 'FORBIDDEN':
    case 'SIGNATURE_INVALID':
    case 'SIGNATURE_EXPIRED':
      return 'FORBIDDEN';
    case 'NOT_FOUND':
      return 'NOT_FOUND';
    case 'CONFLICT':
    case 'ILLEGAL_TRANSITION':
    case 'UPLOAD_INCOMPLETE':
      return 'CONFLICT';
    case 'RATE_LIMITED':
      return 'TOO_MANY_REQUESTS';
    case 'QUOTA_EXCEEDED':
      return 'QUOTA_EXCEEDED';
    case 'STORAGE_UNAVAILABLE':
    case 'BUSY':
      return 'SERVICE_UNAVAILABLE';
    case 'IMAGE_TOO_LARGE':
      return 'BAD_USER_INPUT';
  }
}

/** Domain errors keep their message and get a stable `extensions.code`; anything else is hidden. */
export function formatGraphqlError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  if (original instanceof AppError) {
    return { ...formatted, message: original.message, extensions: { code: graphqlCode(original.code), status: original.status } };
  }
  const dependency = unavailableDependency(original);
  if (dependency) {
    return { message: `The ${dependency} is unavailable at the moment; try again in a few seconds`, locations: formatted.locations, path: formatted.path, extensions: { code: 'SERVICE_UNAVAILABLE', status: 503 } };
  }
  const code = formatted.extensions?.code;
  if (code === 'INTERNAL_SERVER_ERROR' || code === undefined) {
    return { message: 'Internal server error', locations: formatted.locations, path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  }
  return formatted;
}
