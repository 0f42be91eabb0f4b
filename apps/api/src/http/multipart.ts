import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Request } from 'express';
import { Errors } from '@app/errors';

export interface MultipartFile {
  stream: Readable;
  filename: string;
  mimeType: string;
  encoding: string;
  /** Text fields that came before the file part. */
  fields: Record<string, string>;
}

/**
 * Streams the single file part of a multipart request to `consume` without buffering it. Fields must come
 * before the file (as browsers and S3's POST require). The request's AbortSignal fires if the client goes away.
 */
export function readSingleFile<T>(
  req: Request,
  fieldName: string,
  consume: (file: MultipartFile, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const type = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data/i.test(type)) {
      return reject(Errors.badRequest(`Expected a multipart/form-data body with a '${fieldName}' part`));
    }
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { files: 1, fields: 50, fieldSize: 64 * 1024 } });
    } catch (error) {
      return reject(Errors.badRequest(`Malformed multipart body: ${(error as Error).message}`));
    }
    const aborter = new AbortController();
    const fields: Record<string, string> = {};
    let handled = false;
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    // A client that disconnects mid-upload aborts the storage write, which then removes what it wrote.
    req.on('close', () => {
      if (!req.complete) aborter.abort(Errors.badRequest('The client closed the connection before the upload finished'));
    });
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (name, stream, info) => {
      if (name !== fieldName || handled) {
        stream.resume();
        return;
      }
      handled = true;
      consume({ stream, filename: info.filename || 'file', mimeType: info.mimeType, encoding: info.encoding, fields }, aborter.signal).then(
        (value) => finish(() => resolve(value)),
        (error: unknown) => {
          // Keep reading (and discarding) so the client sees our answer instead of a reset connection.
          req.unpipe(parser);
          req.resume();
          finish(() => reject(error));
        },
      );
    });
    parser.on('error', (error: Error) => {
      aborter.abort(error);
      finish(() => reject(Errors.badRequest(`Malformed multipart body: ${error.message}`)));
    });
    parser.on('close', () => {
      if (!handled) finish(() => reject(Errors.badRequest(`The multipart body has no '${fieldName}' part`)));
    });
    req.pipe(parser);
  });
}
