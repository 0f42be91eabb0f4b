import { Errors } from '@app/errors';
import { fileTypeFromBuffer } from 'file-type';

/** The MIME type the bytes say they are, or null when the format isn't recognised (plain text, CSV, …). */
export async function sniffMime(head: Buffer): Promise<string | null> {
  if (head.length === 0) return null;
  const detected = await fileTypeFromBuffer(head);
  return detected?.mime ?? null;
}

// Types a browser would run or render as a document of our origin: always served as a download.
const ACTIVE_CONTENT = [/^text\/html/i, /^image\/svg\+xml/i, /xml/i, /javascript/i, /^application\/xhtml/i];

export function isActiveContent(mime: string): boolean {
  return ACTIVE_CONTENT.some((re) => re.test(mime));
}

/** A MIME type is allowed when the list is empty or an entry matches exactly or by `type/*`. */
export function mimeAllowed(mime: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const lower = mime.toLowerCase();
  return allowed.some((entry) => {
    const e = entry.toLowerCase();
    return e.endsWith('/*') ? lower.startsWith(e.slice(0, -1)) : lower === e;
  });
}

/** RFC 6266 Content-Disposition with an ASCII fallback and the UTF-8 name in filename*. */
export function contentDisposition(filename: string, disposition: 'inline' | 'attachment'): string {
  const cleaned = filename.replace(/[\r\n\u0000-\u001f\u007f]/g, '').trim() || 'file';
  const fallback = cleaned.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_').replace(/[%;]/g, '_');
  const encoded = encodeURIComponent(cleaned).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${disposition}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

const MAX_FILENAME_LENGTH = 255;
// C0/C1 controls (NUL, CR, LF…), and the bidirectional controls that make "exe.pdf" show as "fdp.exe".
const FORBIDDEN_IN_NAMES = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f]/;

/**
 * A file name as a user gave it, checked before anything is stored: 1–255 characters, no path separators, no
 * control or bidirectional-override characters. The name is only ever metadata (storage keys are hashes), but it
 * ends up in headers, logs and other people's download dialogs.
 */
export function checkFilename(name: string, field = 'filename'): string {
  if (name.length === 0 || name.trim().length === 0) throw Errors.badRequest(`${field} must not be empty`, { field });
  if (name.length > MAX_FILENAME_LENGTH) throw Errors.badRequest(`${field} must be at most ${MAX_FILENAME_LENGTH} characters, got ${name.length}`, { field });
  if (FORBIDDEN_IN_NAMES.test(name)) throw Errors.badRequest(`${field} must not contain control or bidirectional-override characters`, { field });
  if (/[\\/]/.test(name)) throw Errors.badRequest(`${field} must be a name, not a path (no / or \\)`, { field });
  if (name === '.' || name === '..') throw Errors.badRequest(`${field} must be a name, not ${name}`, { field });
  return name;
}

/**
 * The last path segment of a client-side name (what Condo's and epilot's servers keep: `path.basename`), at most
 * 255 characters, `file` when nothing usable is left. For surfaces whose clients may send a path; ours refuse it.
 */
export function baseName(name: string): string {
  const base = name.split(/[\\/]/).pop()?.trim() ?? '';
  return base && base !== '.' && base !== '..' ? base.slice(0, MAX_FILENAME_LENGTH) : 'file';
}
