import { servedContentType, type FileRow } from '@app/files';

/** The wire shape of a file on our own REST surface. Never a Prisma row: no storage key, no internals. */
export interface FileView {
  id: string;
  name: string;
  status: FileRow['status'];
  failureReason: string | null;
  contentType: string;
  declaredContentType: string | null;
  size: number | null;
  sha256: string | null;
  visibility: 'private' | 'public';
  category: string | null;
  ownerId: string;
  organizationId: string | null;
  pageCount: number | null;
  width: number | null;
  height: number | null;
  createdAt: string;
  updatedAt: string;
}

export function toFileView(file: FileRow): FileView {
  return {
    id: file.id,
    name: file.originalFilename,
    status: file.status,
    failureReason: file.failureReason,
    contentType: servedContentType(file),
    declaredContentType: file.declaredMime,
    size: file.size === null ? null : Number(file.size),
    sha256: file.sha256,
    visibility: file.visibility === 'PUBLIC' ? 'public' : 'private',
    category: file.category?.key ?? null,
    ownerId: file.ownerId,
    organizationId: file.organizationId,
    pageCount: file.pageCount,
    width: file.width,
    height: file.height,
    createdAt: file.createdAt.toISOString(),
    updatedAt: file.updatedAt.toISOString(),
  };
}
