import { AppError } from '@app/errors';
import { StorageLocator } from '@app/storage';
import type { FileStatusName } from './file-lifecycle';

type Servable = { id: string; status: FileStatusName; virusSignature?: string | null; storageKey?: string };

/**
 * Why a file's bytes may not be served now, or null when they may. The one rule behind every download path
 * (download and thumbnail URLs, content routes, previews, public links, GraphQL `url`):
 * - QUARANTINED: never, with the signature in the message (403);
 * - READY: yes;
 * - PROCESSING: only while scanning is off (the bytes are the client's own, still being measured); with scanning on,
 *   not before the scan found them clean (409);
 * - anything else has no bytes to serve (409);
 * - and whatever the status, never bytes under the quarantine key space (403): another record on the same bytes was
 *   found infected (content de-duplication), and they were moved there.
 */
export function contentRefusal(file: Servable, scanning: boolean): AppError | null {
  const moved = file.storageKey === undefined ? null : quarantinedKeyRefusal(`File ${file.id}`, file.status, file.storageKey);
  if (moved) return moved;
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

/**
 * Bytes under the quarantine key space named by a record that is not QUARANTINED itself (another record on the same
 * bytes was found infected, and they were moved there): `what` (a file, one of its versions) is never served. A
 * QUARANTINED record is refused by contentRefusal with its own signature.
 */
export function quarantinedKeyRefusal(what: string, status: FileStatusName, key: string): AppError | null {
  if (status === 'QUARANTINED' || !StorageLocator.isQuarantined(key)) return null;
  return new AppError('FORBIDDEN', `${what} is quarantined: another file with the same content was found infected`, { status });
}

export function assertServable(file: Servable, scanning: boolean): void {
  const refusal = contentRefusal(file, scanning);
  if (refusal) throw refusal;
}
