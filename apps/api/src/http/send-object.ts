import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { contentDisposition, isActiveContent, servedContentType, type FileRow } from '@app/files';
import { parseRangeHeader, type GetResult } from '@app/storage';
import { Errors } from '@app/errors';

/** Parses the request's Range header against the object's size; 416 when it cannot be served. */
export function requestedRange(req: Request, size: number | null): { start: number; end?: number } | undefined {
  if (size === null) return undefined;
  const range = parseRangeHeader(req.headers.range, size);
  if (range === 'unsatisfiable') throw Errors.rangeNotSatisfiable(size);
  return range;
}

export interface ObjectResponse {
  body: NodeJS.ReadableStream;
  contentLength: number;
  totalSize: number;
  range?: { start: number; end: number };
  contentType: string;
  contentDisposition: string;
  cacheControl: string;
}

/** Streams an object with the headers every download gets (ranges, disposition, nosniff). */
export async function sendObject(res: Response, object: ObjectResponse): Promise<void> {
  res.setHeader('Content-Type', object.contentType);
  res.setHeader('Content-Disposition', object.contentDisposition);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Cache-Control', object.cacheControl);
  res.setHeader('Content-Length', String(object.contentLength));
  if (object.range) {
    res.status(206);
    res.setHeader('Content-Range', `bytes ${object.range.start}-${object.range.end}/${object.totalSize}`);
  } else {
    res.status(200);
  }
  await pipeline(object.body, res);
}

/**
 * A file's bytes as its own content: the type sniffed from them, shown inline unless it is active content (then a
 * download), with the original name.
 */
export function sendFileContent(res: Response, file: FileRow, object: GetResult, cacheControl: string): Promise<void> {
  const type = servedContentType(file);
  return sendObject(res, {
    ...object,
    contentType: type,
    contentDisposition: contentDisposition(file.originalFilename, isActiveContent(type) ? 'attachment' : 'inline'),
    cacheControl,
  });
}
