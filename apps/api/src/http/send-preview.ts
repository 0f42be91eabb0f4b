import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { contentDisposition, type RenderedPreview } from '@app/files';

/** A year: what `immutable` responses of content-addressed URLs may be kept. */
export const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';

/**
 * Streams a transformed image with its strong validator (the SHA-256 of its bytes; a matching If-None-Match gets a
 * 304 without reading them), an inline `<name>-preview.<ext>` disposition, and whether it came from the
 * derived-object cache (`X-Preview-Cache: hit|miss`).
 */
export async function sendPreview(req: Request, res: Response, preview: RenderedPreview, cacheControl = 'private, max-age=3600'): Promise<void> {
  res.setHeader('ETag', preview.etag);
  res.setHeader('Cache-Control', cacheControl);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (preview.variesByAccept) res.setHeader('Vary', 'Accept');
  res.setHeader('X-Preview-Cache', preview.cached ? 'hit' : 'miss');
  if (matches(req.headers['if-none-match'], preview.etag)) {
    res.status(304).end();
    return;
  }
  const body = await preview.open();
  res.setHeader('Content-Type', preview.mime);
  res.setHeader('Content-Length', String(preview.size));
  const extension = preview.mime.split('/')[1];
  res.setHeader('Content-Disposition', contentDisposition(`${preview.file.originalFilename.replace(/\.[^.]*$/, '')}-preview.${extension}`, 'inline'));
  res.status(200);
  await pipeline(Buffer.isBuffer(body) ? Readable.from([body]) : body, res);
}

// If-None-Match may list several validators, or `*`; weak ones (W/) match too, as RFC 9110 asks for GET.
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}
