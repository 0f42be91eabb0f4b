import { STATUS_CODES } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Controller, Get, Head, Inject, Logger, Post, Put, Req, Res, SetMetadata } from '@nestjs/common';
import type { Request, Response } from 'express';
import { parseRangeHeader } from './http-range';
import { LocalStorageDriver } from './local.driver';
import { receivePostUpload } from './local-post-upload';
import { SignedRequestError } from './local-url-signer';
import {
  InvalidStorageKeyError,
  RangeNotSatisfiableError,
  STORAGE_DRIVER,
  StorageNotFoundError,
  type StorageDriver,
} from './storage.driver';

/** Metadata on the local storage controller: its routes authenticate by signature, not by bearer token. */
export const SIGNED_STORAGE_ROUTE = 'filehub:signed-storage-route';

// A deployment mistake rather than bad input; its message is safe and useful to show.
class BodyAlreadyReadError extends Error {
  constructor() {
    super(
      'The request body was consumed by a body parser before the storage endpoint; register ' +
        'useStorageSafeBodyParsers(app) before listen() (or create the app with bodyParser: false)',
    );
    this.name = 'BodyAlreadyReadError';
  }
}

function queryOf(req: Request): URLSearchParams {
  const url = req.originalUrl ?? req.url;
  const at = url.indexOf('?');
  return new URLSearchParams(at < 0 ? '' : url.slice(at + 1));
}

function keyOf(req: Request): string {
  // Express 5 hands a named wildcard over as its list of segments.
  const key = (req.params as Record<string, string | string[] | undefined>).key;
  return Array.isArray(key) ? key.join('/') : (key ?? '');
}

// Aborts the storage call when the client goes away before the answer is complete.
function abortOnClose(res: Response): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort(new Error('The client closed the connection'));
  });
  return controller.signal;
}

/**
 * Serves the local driver's signed URLs: GET/HEAD/PUT `/storage/v1/object/<key>` and the browser POST form at
 * `/storage/v1/upload`. The signature is the credential, so no bearer auth applies; all checks live in
 * local-url-signer and local-post-upload.
 */
@SetMetadata(SIGNED_STORAGE_ROUTE, true)
@Controller('storage/v1')
export class LocalStorageController {
  private readonly logger = new Logger(LocalStorageController.name);

  constructor(@Inject(STORAGE_DRIVER) private readonly driver: StorageDriver) {}

  @Head('object/*key')
  async head(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.serve(req, res);
  }

  @Get('object/*key')
  async get(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.serve(req, res);
  }

  @Put('object/*key')
  async put(@Req() req: Request, @Res() res: Response): Promise<void> {
    try {
      const driver = this.localDriver();
      const key = keyOf(req);
      const claims = driver.verifyUrl('PUT', key, queryOf(req));
      const sent = req.headers['content-type']?.trim() || undefined;
      if (claims.contentType !== undefined && sent !== claims.contentType) {
        throw new SignedRequestError(
          403,
          'SignatureDoesNotMatch',
          `This URL was signed for Content-Type "${claims.contentType}", the request sent ${sent ? `"${sent}"` : 'none'}`,
        );
      }
      if (sent !== undefined && !/^[\x20-\x7e]+$/.test(sent)) {
        throw new SignedRequestError(400, 'InvalidArgument', 'Content-Type must be printable ASCII');
      }
      this.assertBodyUnread(req);
      await driver.put(key, req, { contentType: sent, signal: abortOnClose(res) });
      const head = await driver.head(key);
      if (head?.etag) res.setHeader('ETag', head.etag);
      res.status(200).setHeader('Content-Length', '0');
      res.end();
    } catch (error) {
      this.fail(res, error);
    }
  }

  @Post('upload')
  async post(@Req() req: Request, @Res() res: Response): Promise<void> {
    try {
      const driver = this.localDriver();
      if (!/^multipart\/form-data\s*;/i.test(req.headers['content-type'] ?? '')) {
        throw new SignedRequestError(400, 'MalformedPOSTRequest', 'The upload must be sent as multipart/form-data');
      }
      this.assertBodyUnread(req);
      await receivePostUpload(req, driver, abortOnClose(res));
      // S3 answers a POST upload with 204 by default.
      res.status(204).end();
    } catch (error) {
      this.fail(res, error);
    }
  }

  private async serve(req: Request, res: Response): Promise<void> {
    try {
      const driver = this.localDriver();
      const key = keyOf(req);
      // HEAD is answered for GET-signed URLs: it reveals nothing the GET would not.
      const claims = driver.verifyUrl('GET', key, queryOf(req));
      const head = await driver.head(key);
      if (!head) throw new StorageNotFoundError(key);
      const range = parseRangeHeader(req.headers.range, head.size);
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      if (range === 'unsatisfiable') {
        res.setHeader('Content-Range', `bytes */${head.size}`);
        throw new SignedRequestError(416, 'InvalidRange', `The requested range is not satisfiable for ${head.size} bytes`);
      }
      // The stored type is not trusted for serving: only a type the service signed is sent.
      res.setHeader('Content-Type', claims.contentType ?? 'application/octet-stream');
      if (claims.disposition !== undefined) res.setHeader('Content-Disposition', claims.disposition);
      if (head.etag) res.setHeader('ETag', head.etag);
      if (head.lastModified) res.setHeader('Last-Modified', head.lastModified.toUTCString());
      if (req.method === 'HEAD') {
        this.writeSizeHeaders(res, range ?? undefined, head.size);
        res.end();
        return;
      }
      const signal = abortOnClose(res);
      const result = await driver.get(key, { range, signal });
      this.writeSizeHeaders(res, result.range, result.totalSize);
      await pipeline(result.body, res).catch((error: unknown) => {
        // Headers are out; a client that went away is not an error worth more than a debug line.
        if (!signal.aborted) this.logger.warn(`Streaming ${key} failed: ${(error as Error).message}`);
      });
    } catch (error) {
      this.fail(res, error);
    }
  }

  private writeSizeHeaders(res: Response, range: { start: number; end: number } | undefined, size: number): void {
    if (range) {
      res.status(206);
      res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
      res.setHeader('Content-Length', String(range.end - range.start + 1));
    } else {
      res.status(200);
      res.setHeader('Content-Length', String(size));
    }
  }

  private localDriver(): LocalStorageDriver {
    if (!(this.driver instanceof LocalStorageDriver)) {
      const message = `Signed storage URLs are not served here: the storage driver is "${this.driver.name}"`;
      throw new SignedRequestError(404, 'NotFound', message);
    }
    return this.driver;
  }

  // Express body parsers (JSON, urlencoded) read some bodies before we see them; refuse rather than store garbage.
  private assertBodyUnread(req: Request): void {
    if (req.readableDidRead || req.readableEnded) {
      if (req.headers['content-length'] === '0') return;
      throw new BodyAlreadyReadError();
    }
  }

  private fail(res: Response, error: unknown): void {
    // The client went away (and our call was aborted for it): nobody is left to answer.
    if (res.destroyed) return;
    let status: number;
    let code: string;
    let message: string;
    if (error instanceof SignedRequestError) {
      ({ status, code, message } = error);
    } else if (error instanceof StorageNotFoundError) {
      [status, code, message] = [404, 'NoSuchKey', 'The specified key does not exist'];
    } else if (error instanceof RangeNotSatisfiableError) {
      [status, code, message] = [416, 'InvalidRange', 'The requested range is not satisfiable'];
    } else if (error instanceof InvalidStorageKeyError) {
      [status, code, message] = [400, 'InvalidArgument', error.message];
    } else {
      this.logger.error(`Signed storage request failed: ${(error as Error)?.stack ?? String(error)}`);
      const safe = error instanceof BodyAlreadyReadError ? error.message : 'The storage backend failed; see the server log';
      [status, code, message] = [500, 'InternalError', safe];
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // Drop the object's headers set so far; Content-Range stays on a 416, as RFC 9110 asks.
    for (const name of ['Content-Type', 'Content-Length', 'Content-Disposition', 'ETag', 'Last-Modified']) {
      res.removeHeader(name);
    }
    if (status !== 416) res.removeHeader('Content-Range');
    res.status(status).json({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', code, message });
  }
}
