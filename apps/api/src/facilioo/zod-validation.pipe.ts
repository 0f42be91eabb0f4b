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
    const result = this.schema.safeParse(value);
    if (result.success) return result.data;
    const issue = result.error.issues[0];
    const where = issue.path.length ? issue.path.join('.') : this.what;
    throw Errors.badRequest(`${where}: ${issue.message}`);
  }
}
