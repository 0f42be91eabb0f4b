import { servedContentType, type FileRow } from '@app/files';

/** Pakt Chainsite's envelope (seed 002) around every answer. */
export interface ChainsiteSuccess<T> {
  status: 'success';
  message: string;
  data: T;
}

export interface ChainsiteFailure {
  status: 'error';
  message: string;
  data?: Record<string, unknown>;
}

/** A file as Chainsite's (Mongo-shaped) records show it. Built from the domain row, never the row itself. */
export interface ChainsiteFileRecord {
  _id: string;
  /** `public|private/<uploader>/<id>.<ext>`: a display path, not our storage key (those are hashed). */
  name: string;
  uploaded_by: string;
  type: string;
  /** Bytes, as a string (as the seed sends it). */
  size: string;
  bucket: string;
  url: string;
  meta: { originalName: string };
  /** Active and available: not deleted and not failed. */
  status: boolean;
  deletedAt: string | null;
  createdAt: string;
  updatedAt: string;
  __v: number;
}

export interface ChainsitePage {
  count: number;
  pages: number;
  data: ChainsiteFileRecord[];
}

export function success<T>(message: string, data: T): ChainsiteSuccess<T> {
  return { status: 'success', message, data };
}

export function toChainsiteRecord(file: FileRow, where: { bucket: string; url: string }): ChainsiteFileRecord {
  const visibility = file.visibility === 'PUBLIC' ? 'public' : 'private';
  return {
    _id: file.id,
    name: `${visibility}/${file.ownerId}/${file.id}${extensionOf(file.originalFilename)}`,
    uploaded_by: file.ownerId,
    type: servedContentType(file),
    size: String(file.size ?? 0),
    bucket: where.bucket,
    url: where.url,
    meta: { originalName: file.originalFilename },
    status: file.deletedAt === null && file.status !== 'FAILED' && file.status !== 'QUARANTINED',
    deletedAt: file.deletedAt?.toISOString() ?? null,
    createdAt: file.createdAt.toISOString(),
    updatedAt: file.updatedAt.toISOString(),
    // Mongo's document revision; ours starts at version 1.
    __v: file.currentVersion - 1,
  };
}

// The original name's extension when it is a plain one (".png"); anything odd is left out of the path.
function extensionOf(filename: string): string {
  const match = /\.([A-Za-z0-9]{1,10})$/.exec(filename);
  return match ? `.${match[1].toLowerCase()}` : '';
}
