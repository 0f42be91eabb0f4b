import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { HttpErrorFilter, setErrorHeaders } from '../http/http-error.filter';

/**
 * Errors of the epilot routes: epilot's ErrorObject `{status, error}` (error = what went wrong), with our usual
 * `statusCode`, `message`, `code` and `field` beside it, so either kind of client finds what it reads.
 */
@Catch()
export class EpilotErrorFilter implements ExceptionFilter {
  private readonly base = new HttpErrorFilter();

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const req = host.switchToHttp().getRequest<Request>();
    const body = this.base.toBody(exception, req);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    setErrorHeaders(res, exception);
    res.status(body.statusCode).json({ ...body, status: body.statusCode, error: body.message });
  }
}
