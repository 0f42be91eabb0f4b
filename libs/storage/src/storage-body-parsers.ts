import type { IncomingMessage } from 'node:http';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { LOCAL_STORAGE_PATH } from './local-url-signer';

function mimeOf(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * Registers Nest's default JSON and urlencoded body parsers, minus the local storage routes: a presigned PUT of a
 * JSON file must reach the driver as a byte stream, not as a parsed object. Call before `app.init()`/`listen()`;
 * Nest then skips its own parsers (they are recognised by name). `prefix` is the app's global prefix, if any.
 */
export function useStorageSafeBodyParsers(app: NestExpressApplication, options: { prefix?: string; rawPaths?: string[] } = {}): void {
  const storagePath = `${(options.prefix ?? '').replace(/\/+$/, '')}${LOCAL_STORAGE_PATH}/`;
  const raw = [storagePath, ...(options.rawPaths ?? [])];
  const parses = (mime: string) => (req: IncomingMessage) =>
    !raw.some((path) => (req.url ?? '').startsWith(path)) && mimeOf(req) === mime;
  app.useBodyParser('json', { type: parses('application/json') });
  app.useBodyParser('urlencoded', { type: parses('application/x-www-form-urlencoded'), extended: true });
}
