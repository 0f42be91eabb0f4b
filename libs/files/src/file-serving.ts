import { AppError } from '@app/errors';
import type { FileStatusName } from './file-lifecycle';

type Servable = { id: string; status: FileStatusName; virusSignature?: string | null };

/**
 * Why a file's bytes may not be served now, or null when they may. The one rule behind every download path
 * (download and thumbnail URLs, content routes, previews, public links, GraphQL `url`):
 * - QUARANTINED: never, with the signature in the message (403);
 * - READY: yes;
 * - PROCESSING: only while scanning is off (the bytes are the client's own, still being measured); with scanning on,
 *   not before the scan found them clean (409);
 * - anything else has no bytes to serve (409).
 */
export function contentRefusal(file: Servable, scanning: boolean): AppError | null {
  switch (file.status) {
    case 'READY':
      return null;
    case 'QUARANTINED':
      return new AppError('FORBIDDEN', `File ${file.id} is quarantined: infected with ${file.virusSignature ?? 'malware'}`, {
        status: file.status,
        ...(file.virusSignature ? { signature: file.virusSignature } : {}),
      });
    case 'PROCESSING':
      return scanning
        ? new AppError('CONFLICT', `File ${file.id} is being scanned for viruses; its content is served once it is READY`, { status: file.status })
        : null;
    case 'UPLOADING':
    case 'FAILED':
      return new AppError('CONFLICT', `File ${file.id} has no content to download (status ${file.status})`, { status: file.status });
  }
}

export function assertServable(file: Servable, scanning: boolean): void {
  const refusal = contentRefusal(file, scanning);
  if (refusal) throw refusal;
}
