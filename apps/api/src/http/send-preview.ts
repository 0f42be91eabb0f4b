import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { contentDisposition, type RenderedPreview } from '@app/files';

/**
 * Streams a rendered (or stored) preview with its validator (a matching If-None-Match gets a 304), an inline
 * `<name>-preview.<ext>` disposition, and whether it came from the derived-object cache.
 */
export async function sendPreview(req: Request, res: Response, preview: RenderedPreview, cacheControl = 'private, max-age=3600'): Promise<void> {
  res.setHeader('ETag', preview.etag);
  res.setHeader('Cache-Control', cacheControl);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (req.headers['if-none-match'] === preview.etag) {
    if (!Buffer.isBuffer(preview.body)) (preview.body as Readable).destroy();
    res.status(304).end();
    return;
  }
  res.setHeader('Content-Type', preview.mime);
  res.setHeader('Content-Length', String(preview.size));
  const extension = preview.mime.split('/')[1];
  res.setHeader('Content-Disposition', contentDisposition(`${preview.file.originalFilename.replace(/\.[^.]*$/, '')}-preview.${extension}`, 'inline'));
  res.setHeader('X-Preview-Cache', preview.cached ? 'hit' : 'miss');
  res.status(200);
  await pipeline(Buffer.isBuffer(preview.body) ? Readable.from([preview.body]) : (preview.body as Readable), res);
}
