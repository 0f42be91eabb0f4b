import type { IncomingHttpHeaders } from 'node:http';
import { Metadata } from '@tus/server';
import { Errors } from '@app/errors';
import type { ResumableCreation } from '@app/files';

/** What a tus creation request declares, checked before any upload exists. */
export function parseCreation(headers: IncomingHttpHeaders): ResumableCreation {
  const header = (name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(',') : value;
  };
  if (header('upload-defer-length') !== undefined) {
    throw Errors.badRequest('Upload-Length is required: deferred lengths are not accepted, since size limits and quotas are checked at creation', { field: 'Upload-Length' });
  }
  if (header('upload-concat') !== undefined) throw Errors.badRequest('Upload-Concat (parallel uploads) is not supported', { field: 'Upload-Concat' });
  const length = header('upload-length');
  if (length === undefined || !/^\d{1,16}$/.test(length)) throw Errors.badRequest('Upload-Length must be the file size in bytes', { field: 'Upload-Length' });
  let metadata: Record<string, string | null>;
  try {
    metadata = header('upload-metadata') ? Metadata.parse(header('upload-metadata')) : {};
  } catch {
    throw Errors.badRequest('Upload-Metadata is invalid: comma-separated "key base64value" pairs, keys unique', { field: 'Upload-Metadata' });
  }
  const pick = (...keys: string[]): string | undefined => keys.map((k) => metadata[k]).find((v): v is string => typeof v === 'string' && v !== '');
  const filename = pick('filename', 'name');
  if (filename === undefined) throw Errors.badRequest('Upload-Metadata must carry the file name (key filename)', { field: 'Upload-Metadata' });
  const visibility = pick('visibility');
  if (visibility !== undefined && visibility !== 'private' && visibility !== 'public') {
    throw Errors.badRequest("visibility must be 'private' or 'public'", { field: 'Upload-Metadata' });
  }
  return {
    filename,
    contentType: pick('filetype', 'contentType', 'type'),
    categoryKey: pick('category'),
    visibility: visibility === undefined ? undefined : visibility === 'public' ? 'PUBLIC' : 'PRIVATE',
    size: Number(length),
  };
}
