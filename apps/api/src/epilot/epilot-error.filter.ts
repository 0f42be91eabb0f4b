import { Catch } from '@nestjs/common';
import { HttpErrorFilter, type ErrorBody } from '../http/http-error.filter';

/**
 * Errors of the epilot routes: epilot's ErrorObject `{status, error}` (error = what went wrong), with our usual
 * `statusCode`, `message`, `code` and `field` beside it, so either kind of client finds what it reads.
 */
@Catch()
export class EpilotErrorFilter extends HttpErrorFilter {
  protected override shape(body: ErrorBody): object {
    return { ...body, status: body.statusCode, error: body.message };
  }
}
