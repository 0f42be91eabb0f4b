import type { IncomingMessage } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import busboy from 'busboy';
import { ByteCounter, ByteLimitError } from './byte-counter';
import type { LocalStorageDriver } from './local.driver';
import { SignedRequestError } from './local-url-signer';
import type { PutResult } from './storage.driver';

const FORM_LIMITS = { fields: 50, fieldNameSize: 200, fieldSize: 64 * 1024, files: 1, parts: 51 };

function malformed(message: string): SignedRequestError {
  return new SignedRequestError(400, 'MalformedPOSTRequest', message);
}

function sizeError(error: ByteLimitError): SignedRequestError {
  return error.kind === 'too-large'
    ? new SignedRequestError(
        400,
        'EntityTooLarge',
        `Your proposed upload exceeds the maximum allowed size of ${error.limit} bytes`,
      )
    : new SignedRequestError(
        400,
        'EntityTooSmall',
        `Your proposed upload is smaller than the minimum allowed size of ${error.limit} bytes`,
      );
}

/**
 * Streams a browser POST upload (S3 POST-policy form) into the driver. Fields must come first; when the part
 * named `file` starts, the policy is verified against them and the file is streamed with its size range
 * enforced on the fly, so an oversized upload fails part-way and leaves nothing behind.
 */
export function receivePostUpload(
  req: IncomingMessage,
  driver: LocalStorageDriver,
  signal?: AbortSignal,
): Promise<PutResult> {
  return new Promise<PutResult>((resolve, reject) => {
    let form: busboy.Busboy;
    try {
      form = busboy({ headers: req.headers, limits: FORM_LIMITS });
    } catch {
      reject(malformed('The body of your POST request is not well-formed multipart/form-data'));
      return;
    }
    const fields = new Map<string, string>();
    let settled = false;
    let sawFile = false;
    let counter: ByteCounter | undefined;

    const finish = (error: unknown, result?: PutResult): void => {
      if (settled) return;
      settled = true;
      if (error !== undefined) {
        // A write still in flight must fail too, so the driver removes its temp file.
        counter?.destroy(error instanceof Error ? error : new Error(String(error)));
        // Stop parsing and let the rest of the body drain, so the client still reads our answer.
        req.unpipe(form);
        req.resume();
        reject(error);
      } else {
        resolve(result!);
      }
    };

    form.on('field', (name, value, info) => {
      // As in S3, fields after the file are ignored.
      if (sawFile) return;
      if (info.nameTruncated || info.valueTruncated) {
        finish(malformed(`Form field "${name}" is too long`));
        return;
      }
      const lower = name.toLowerCase();
      if (fields.has(lower)) {
        finish(new SignedRequestError(400, 'InvalidArgument', `Form field "${name}" appears more than once`));
        return;
      }
      fields.set(lower, value);
    });

    form.on('file', (name: string, stream: Readable) => {
      if (name !== 'file' || sawFile || settled) {
        stream.resume();
        if (!settled) finish(malformed(`Unexpected file part "${name}": send one part named "file", after the fields`));
        return;
      }
      sawFile = true;
      let policy;
      try {
        policy = driver.verifyPolicy(fields);
      } catch (error) {
        stream.resume();
        finish(error);
        return;
      }
      const contentType = policy.contentType || undefined;
      if (contentType !== undefined && !/^[\x20-\x7e]+$/.test(contentType)) {
        stream.resume();
        finish(new SignedRequestError(400, 'InvalidArgument', 'The Content-Type field must be printable ASCII'));
        return;
      }
      counter = new ByteCounter({ minBytes: policy.minBytes, maxBytes: policy.maxBytes });
      pipeline(stream, counter, () => undefined);
      driver
        .put(policy.key, counter, { contentType, signal })
        .then(
          (result) => finish(undefined, result),
          (error: unknown) => finish(error instanceof ByteLimitError ? sizeError(error) : error),
        );
    });

    form.on('error', (error: unknown) => {
      finish(malformed(`The multipart body could not be read: ${(error as Error).message}`));
    });
    for (const limit of ['partsLimit', 'filesLimit', 'fieldsLimit'] as const) {
      form.on(limit, () => finish(malformed('The form has too many parts')));
    }
    req.on('error', () => finish(malformed('The request was interrupted before the form was complete')));
    form.on('close', () => {
      if (!sawFile) finish(malformed('The form has no part named "file"'));
    });
    req.pipe(form);
  });
}
