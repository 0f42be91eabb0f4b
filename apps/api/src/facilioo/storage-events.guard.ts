import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { AppError, Errors } from '@app/errors';
import { sameSecret } from '@app/signatures';

/** The bucket-notification webhook authenticates with the shared STORAGE_EVENTS_TOKEN, not a user's JWT. */
@Injectable()
export class StorageEventsTokenGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.storageEvents.token;
    if (!expected) throw new AppError('NOT_FOUND', 'Storage events are not enabled: set STORAGE_EVENTS_TOKEN');
    const header = context.switchToHttp().getRequest<Request>().headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) throw Errors.unauthenticated('Missing storage event token: send Authorization: Bearer <STORAGE_EVENTS_TOKEN>');
    if (!sameSecret(match[1], expected)) throw Errors.forbidden('The storage event token is not valid');
    return true;
  }
}
