import type { FileVersion } from '@app/database';
import { servedContentType, type FileRow, type FileWithRelations } from '@app/files';

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

/** One file with what the detail view shows: tags, links to records, thumbnails and versions (newest first). */
export interface FileDetailView extends FileView {
  tags: string[];
  associations: { id: string; entityName: string; entityReference: string }[];
  thumbnails: { variant: string; width: number; height: number; contentType: string }[];
  versions: { version: number; name: string; size: number | null; sha256: string | null; contentType: string | null; createdAt: string }[];
}

export function toFileDetailView(file: FileWithRelations, versions: FileVersion[]): FileDetailView {
  return {
    ...toFileView(file),
    tags: file.tags ?? [],
    associations: file.associations.map((a) => ({ id: a.id, entityName: a.entityName, entityReference: a.entityReference })),
    thumbnails: file.thumbnails.map((t) => ({ variant: t.variant, width: t.width, height: t.height, contentType: t.mime })),
    versions: versions.map((v) => ({
      version: v.version,
      name: v.originalFilename,
      size: v.size === null ? null : Number(v.size),
      sha256: v.sha256,
      contentType: v.mime,
      createdAt: v.createdAt.toISOString(),
    })),
  };
}
