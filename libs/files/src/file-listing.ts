import { Errors } from '@app/errors';

/** Page numbers beyond this are refused: no collection is that long, and the offset stays far inside an int. */
export const MAX_PAGE_NUMBER = 1_000_000;

export interface PageRequest {
  /** 1-based. */
  page: number;
  limit: number;
  offset: number;
}

export interface PageRules {
  defaultLimit: number;
  maxLimit: number;
}

/**
 * `page`/`limit` as they come off a query string (a string, several strings, or absent), checked once for every
 * REST surface that pages: whole numbers in range, or a 400 that says what is allowed.
 */
export function parsePageRequest(raw: { page?: unknown; limit?: unknown }, rules: PageRules): PageRequest {
  const page = wholeNumber('page', raw.page, MAX_PAGE_NUMBER, 1);
  const limit = wholeNumber('limit', raw.limit, rules.maxLimit, rules.defaultLimit);
  return { page, limit, offset: (page - 1) * limit };
}

/** How many pages `total` items fill at `limit` per page (0 when there are none). */
export function pageCount(total: number, limit: number): number {
  return Math.ceil(total / limit);
}

function wholeNumber(name: string, value: unknown, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const problem = `${name} must be a whole number from 1 to ${max}`;
  // Only plain digits: "-1", "1.5", "1e3", "0x10", "" and repeated parameters are all refused.
  if (typeof value !== 'string' || !/^[0-9]{1,10}$/.test(value)) {
    throw Errors.badRequest(`${problem}, got ${describe(value)}`);
  }
  const n = Number(value);
  if (n < 1 || n > max) throw Errors.badRequest(`${problem}, got ${n}`);
  return n;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value === '' ? 'an empty value' : JSON.stringify(value.slice(0, 40));
  if (Array.isArray(value)) return 'several values';
  return typeof value;
}
