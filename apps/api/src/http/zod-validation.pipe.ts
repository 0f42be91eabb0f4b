import type { PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { Errors } from '@app/errors';

/** Checks a request body or query against a zod schema; the first problem becomes a 400 naming the field. */
export class ZodValidationPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(
    private readonly schema: S,
    private readonly what: 'body' | 'query' = 'body',
  ) {}

  transform(value: unknown): z.output<S> {
    if (value === undefined && this.what === 'body') {
      throw Errors.badRequest('Expected a JSON body (Content-Type: application/json)');
    }
    return parseOrThrow(this.schema, value, this.what);
  }
}

/** Parses `value`; the first problem becomes a 400 whose message and `field` name where it is (`meta.user.id`). */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, prefix?: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = [...(prefix ? [prefix] : []), ...issue.path.map(String)];
  // An unknown key is reported at the key itself, not at its parent object.
  if (issue.code === 'unrecognized_keys' && issue.keys.length) path.push(issue.keys[0]!);
  const where = path.length ? path.join('.') : what;
  throw Errors.badRequest(`${where}: ${issue.message}`, { field: where });
}
