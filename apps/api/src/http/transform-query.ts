import { Errors } from '@app/errors';
import type { PreviewRequest } from '@app/files';

/** The query parameters of an image transform, the same on every route that serves an image. */
export const TRANSFORM_PARAMS = ['w', 'h', 'fit', 'format', 'q'] as const;

/** Whether the query asks for a transform (any transform parameter present, even empty). */
export function wantsTransform(query: Record<string, unknown>): boolean {
  return TRANSFORM_PARAMS.some((name) => query[name] !== undefined);
}

/**
 * Reads `w`, `h`, `fit`, `format` and `q` (ranges and names are checked by the domain, which knows the limits);
 * a parameter given twice or not a whole number is a 400 naming it.
 */
export function parseTransformQuery(query: Record<string, unknown>): PreviewRequest {
  const one = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') throw Errors.badRequest(`${name} must be given once`, { field: name });
    return value;
  };
  const int = (name: string, what: string): number | undefined => {
    const value = one(name);
    if (value === undefined) return undefined;
    if (!/^\d{1,6}$/.test(value)) throw Errors.badRequest(`${name} must be a whole number ${what}`, { field: name });
    return Number(value);
  };
  return {
    width: int('w', 'of pixels'),
    height: int('h', 'of pixels'),
    fit: one('fit') as PreviewRequest['fit'],
    format: one('format') as PreviewRequest['format'],
    quality: int('q', 'from 1 to 100'),
  };
}

/** `hash`, when given, must be a prefix (8 to 64 hex digits) of the file's SHA-256: the URL then names its content. */
export function contentHashParam(query: Record<string, unknown>): string | undefined {
  const value = query.hash;
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{8,64}$/.test(value)) {
    throw Errors.badRequest('hash must be 8 to 64 hexadecimal digits of the file\'s SHA-256', { field: 'hash' });
  }
  return value.toLowerCase();
}
