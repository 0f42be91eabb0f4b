import type { FileAssociation, FileCategory } from '@app/database';
import type { FileStatusName, FileWithRelations, SignedUrl } from '@app/files';

// Response shapes of the facilioo surface (seed 003, CONTRACT section 3). Built from domain rows by the
// mappers below; no storage key, owner or other internals leave through them.

export interface FileTypeView {
  id: string;
  key: string;
  name: string;
  mimeTypes: string[];
  extensions: string[];
  maxBytes: number | null;
  defaultVisibility: 'private' | 'public';
}

export interface FileLinkView {
  id: string;
  entityName: string;
  entityReference: string;
}

export interface FaciliooFileView {
  id: string;
  originalFilename: string;
  fileTypeId: string | null;
  externalId: string | null;
  /** The type the client declared (at creation or by its upload); what is served is sniffed from the bytes. */
  contentType: string | null;
  status: FileStatusName;
  failureReason: string | null;
  /** Computed once the bytes are in storage; read-only. */
  fileSize: number | null;
  /** PDFs: computed in the background after upload; read-only. */
  pageCount: number | null;
  links: FileLinkView[];
  createdAt: string;
  updatedAt: string;
}

export interface FaciliooFilePage {
  data: FaciliooFileView[];
  totalCount: number;
}

export interface UrlView {
  url: string;
  expiresAt: string;
}

export interface UploadUrlView {
  uploadUrl: string;
  expiresAt: string;
}

export interface ThumbnailUrlView extends UrlView {
  /** True while the URL points at the original because no thumbnail exists (yet). */
  isFallback: boolean;
}

export function toFileTypeView(category: FileCategory): FileTypeView {
  return {
    id: category.id,
    key: category.key,
    name: category.name,
    mimeTypes: category.mimeTypes,
    extensions: category.extensions,
    maxBytes: category.maxBytes === null ? null : Number(category.maxBytes),
    defaultVisibility: category.defaultVisibility === 'PUBLIC' ? 'public' : 'private',
  };
}

export function toLinkView(association: FileAssociation): FileLinkView {
  return { id: association.id, entityName: association.entityName, entityReference: association.entityReference };
}

export function toFaciliooFileView(file: FileWithRelations): FaciliooFileView {
  return {
    id: file.id,
    originalFilename: file.originalFilename,
    fileTypeId: file.categoryId,
    externalId: file.externalId,
    contentType: file.declaredMime,
    status: file.status,
    failureReason: file.failureReason,
    fileSize: file.size === null ? null : Number(file.size),
    pageCount: file.pageCount,
    links: file.associations.map(toLinkView),
    createdAt: file.createdAt.toISOString(),
    updatedAt: file.updatedAt.toISOString(),
  };
}

export function toUrlView(signed: SignedUrl): UrlView {
  return { url: signed.url, expiresAt: signed.expiresAt.toISOString() };
}
