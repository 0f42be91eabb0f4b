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
      // preservePath: the name as sent, so a path in it is refused (checkFilename) instead of silently cut.
      parser = busboy({ headers: req.headers, defParamCharset: 'utf8', preservePath: true, limits: { files: 1, fields: 50, parts: 100, fieldSize: 64 * 1024, headerPairs: 50 } });
    } catch (error) {
      return reject(Errors.badRequest(`Malformed multipart body: ${(error as Error).message}`));
    }
    const aborter = new AbortController();
    const fields: Record<string, string> = {};
    let handled = false;
    let settled = false;
    const succeed = (value: T) => {
      if (settled) return;
      settled = true;
      resolve(value);
    };
    // Every refusal stops the parser but keeps reading (and discarding) the rest of the body: a request left
    // half-read would hold its keep-alive connection, and the client's next request on it would end in a reset
    // instead of an answer.
    const fail = (error: unknown) => {
      // Drained even after the answer is settled (a malformed tail after the file part).
      req.unpipe(parser);
      req.resume();
      if (settled) return;
      settled = true;
      aborter.abort(error);
      reject(error);
    };
    // A client that disconnects mid-upload aborts the storage write, which then removes what it wrote.
    req.on('close', () => {
      if (!req.complete) aborter.abort(Errors.badRequest('The client closed the connection before the upload finished'));
    });
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(Errors.badRequest(`Field '${name}' is longer than 65536 bytes`, { field: name }));
      fields[name] = value;
    });
    // Thousands of parts or fields are an attack on the parser, not an upload.
    for (const limit of ['partsLimit', 'fieldsLimit'] as const) {
      parser.on(limit, () => fail(Errors.badRequest('Too many parts in the multipart body (at most 100, and one file)')));
    }
    parser.on('file', (name, stream, info) => {
      // A truncated body errors the part's stream; whoever reads it sees the error, and a skipped part must not
      // crash the process with an unhandled one.
      stream.on('error', () => undefined);
      if (name !== fieldName || handled || settled) {
        stream.resume();
        return;
      }
      handled = true;
      consume({ stream, filename: info.filename || 'file', mimeType: info.mimeType, encoding: info.encoding, fields }, aborter.signal).then(succeed, fail);
    });
    parser.on('error', (error: Error) => fail(Errors.badRequest(`Malformed multipart body: ${error.message}`)));
    parser.on('close', () => {
      if (!handled) fail(Errors.badRequest(`The multipart body has no '${fieldName}' part`));
    });
    req.pipe(parser);
  });
}

export interface MultipartFiles<T> {
  /** Text fields, whatever their position among the files. */
  fields: Record<string, string>;
  /** What `consume` answered for each file part, in order. */
  files: T[];
}

/**
 * Streams every file part of a multipart request, one after the other, through `consume` (the parts arrive in
 * sequence, so memory holds one chunk at a time whatever the sizes). Any field name is taken as a file part, as
 * Condo's server does. Text fields may come before or after the files. If a part fails, the request is drained
 * and the error rejects once the part in flight has stopped; what `consume` did for the parts is the caller's to
 * undo (it should keep its own list, since a part may finish while the request fails).
 */
export function readMultipartFiles<T>(
  req: Request,
  options: { maxFiles: number; maxFieldBytes: number },
  consume: (file: MultipartFile, signal: AbortSignal) => Promise<T>,
): Promise<MultipartFiles<T>> {
  return new Promise<MultipartFiles<T>>((resolve, reject) => {
    const type = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data/i.test(type)) {
      return reject(Errors.badRequest('Wrong request type: only multipart/form-data is accepted here'));
    }
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, defParamCharset: 'utf8', preservePath: true, limits: { files: options.maxFiles, fields: 20, parts: options.maxFiles + 20, fieldSize: options.maxFieldBytes, headerPairs: 50 } });
    } catch (error) {
      return reject(Errors.badRequest(`Malformed multipart body: ${(error as Error).message}`));
    }
    const aborter = new AbortController();
    const fields: Record<string, string> = {};
    const results: T[] = [];
    let chain: Promise<void> = Promise.resolve();
    let failed = false;
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      failed = true;
      aborter.abort(error);
      // Keep reading (and discarding) so the client sees our answer instead of a reset connection.
      req.unpipe(parser);
      req.resume();
      // Answer once the part in flight has stopped, so the caller can undo everything that was done.
      chain.then(
        () => reject(error),
        () => reject(error),
      );
    };
    req.on('close', () => {
      if (!req.complete) fail(Errors.badRequest('The client closed the connection before the upload finished'));
    });
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(Errors.badRequest(`Field '${name}' is longer than ${options.maxFieldBytes} bytes`, { field: name }));
      fields[name] = value;
    });
    parser.on('file', (_name, stream, info) => {
      stream.on('error', () => undefined);
      if (failed) {
        stream.resume();
        return;
      }
      // Busboy hands out the next part only once this one is read, so the chain runs the parts in order.
      chain = chain.then(async () => {
        if (failed) {
          stream.resume();
          return;
        }
        results.push(
          await consume({ stream, filename: info.filename || 'file', mimeType: info.mimeType, encoding: info.encoding, fields }, aborter.signal),
        );
      });
      chain.catch(fail);
    });
    parser.on('filesLimit', () => fail(Errors.badRequest(`At most ${options.maxFiles} files may be uploaded in one request`)));
    parser.on('fieldsLimit', () => fail(Errors.badRequest('Too many fields in the multipart body')));
    parser.on('partsLimit', () => fail(Errors.badRequest('Too many parts in the multipart body')));
    parser.on('error', (error: Error) => fail(Errors.badRequest(`Malformed multipart body: ${error.message}`)));
    parser.on('close', () => {
      chain.then(
        () => {
          if (settled) return;
          settled = true;
          resolve({ fields, files: results });
        },
        () => undefined,
      );
    });
    req.pipe(parser);
  });
}
