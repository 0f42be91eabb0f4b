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
