import type { File, FileAssociation, FileCategory, FileGrant, FileVersion } from '@app/database';

// Wire shapes of the epilot File API (seed 004; the published @epilot/file-client's OpenAPI document is the
// reference). Only mapping here: no queries, no rules.

export type FileType =
  | 'document'
  | 'document_template'
  | 'text'
  | 'image'
  | 'video'
  | 'audio'
  | 'spreadsheet'
  | 'presentation'
  | 'font'
  | 'archive'
  | 'application'
  | 'unknown';

export const FILE_TYPES: readonly FileType[] = [
  'document',
  'document_template',
  'text',
  'image',
  'video',
  'audio',
  'spreadsheet',
  'presentation',
  'font',
  'archive',
  'application',
  'unknown',
];

export interface S3Ref {
  bucket: string;
  key: string;
}

/** What the epilot surface keeps in File.metadata.epilot besides our own columns. */
export interface EpilotMeta {
  type?: FileType;
  manifest?: string[];
  customDownloadUrl?: string;
  sourceUrl?: string;
  /** Keys the schema does not define, kept and answered under `__additional`. */
  additional?: Record<string, unknown>;
  /** A temporary upload (uploadFileV2 / uploadFilePublic) not yet saved as an entity. */
  temporary?: boolean;
}

export interface FileItemView {
  s3ref: S3Ref;
  filename: string;
  size_bytes?: number;
  readable_size?: string;
  mime_type?: string;
}

export interface FileEntityView {
  _id: string;
  _title: string;
  _schema: 'file';
  _org: string;
  _tags: string[];
  _purpose: string[];
  _manifest?: string[];
  filename: string;
  type: FileType;
  mime_type?: string;
  size_bytes?: number;
  readable_size?: string;
  access_control: 'private' | 'public-read';
  public_url?: string;
  custom_download_url?: string;
  source_url?: string;
  s3ref?: S3Ref;
  versions: FileItemView[];
  _created_at: string;
  _updated_at: string;
  _acl: { view: string[]; edit: string[]; delete: string[] };
  _owners: { org_id: string; user_id?: string }[];
  __additional?: Record<string, unknown>;
}

export type EpilotFile = File & { category: FileCategory | null; versions: FileVersion[]; grants: FileGrant[]; associations: FileAssociation[] };

export function epilotMeta(file: Pick<File, 'metadata'>): EpilotMeta {
  const meta = (file.metadata as { epilot?: EpilotMeta } | null)?.epilot;
  return meta && typeof meta === 'object' ? meta : {};
}

/** epilot's file type from a MIME type, when the caller named none. */
export function fileTypeOf(mime: string | null | undefined): FileType {
  const m = (mime ?? '').toLowerCase();
  if (m.startsWith('image/')) return 'image';
  if (m.startsWith('video/')) return 'video';
  if (m.startsWith('audio/')) return 'audio';
  if (m.startsWith('font/')) return 'font';
  if (/spreadsheet|excel|csv/.test(m)) return 'spreadsheet';
  if (/presentation|powerpoint/.test(m)) return 'presentation';
  if (m === 'application/pdf' || /word|opendocument\.text|rtf/.test(m)) return 'document';
  if (m.startsWith('text/')) return 'text';
  if (/zip|tar|gzip|x-7z|rar|bzip/.test(m)) return 'archive';
  if (m.startsWith('application/')) return 'application';
  return 'unknown';
}

/** 1234 → "1.2 KB" (decimal units, as the seed's "1.2 MB"). */
export function readableSize(bytes: number | null | undefined): string | undefined {
  if (bytes === null || bytes === undefined) return undefined;
  if (bytes < 1000) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1).replace(/\.0$/, '')} ${units[unit]}`;
}

export function aclOf(grants: FileGrant[]): FileEntityView['_acl'] {
  const of = (permission: FileGrant['permission']) =>
    grants.filter((g) => g.permission === permission).map((g) => `${g.principalType}:${g.principalId}`);
  return { view: of('READ'), edit: of('WRITE'), delete: of('DELETE') };
}

export interface ViewContext {
  bucket: string;
  publicUrl(fileId: string): string;
  /** The custom download URL as handed out: signed with its file id and an expiry. */
  signCustomUrl(url: string, fileId: string): string;
}

export function toFileEntity(file: EpilotFile, context: ViewContext): FileEntityView {
  const meta = epilotMeta(file);
  const mime = file.sniffedMime ?? file.declaredMime ?? undefined;
  const size = file.size === null ? undefined : Number(file.size);
  // Newest first, as epilot lists them.
  const versions = [...file.versions]
    .sort((a, b) => b.version - a.version)
    .map(
      (v): FileItemView => ({
        s3ref: { bucket: context.bucket, key: v.storageKey },
        filename: v.originalFilename,
        ...(v.size !== null ? { size_bytes: Number(v.size), readable_size: readableSize(Number(v.size)) } : {}),
        ...(v.mime ? { mime_type: v.mime } : {}),
      }),
    );
  const hasBytes = file.versions.length > 0;
  return {
    _id: file.id,
    _title: file.originalFilename,
    _schema: 'file',
    _org: file.organizationId ?? '',
    _tags: file.tags ?? [],
    _purpose: file.purposes ?? [],
    ...(meta.manifest ? { _manifest: meta.manifest } : {}),
    filename: file.originalFilename,
    type: meta.type ?? fileTypeOf(mime),
    ...(mime ? { mime_type: mime } : {}),
    ...(size !== undefined ? { size_bytes: size, readable_size: readableSize(size) } : {}),
    access_control: file.visibility === 'PUBLIC' ? 'public-read' : 'private',
    // A quarantined file's public address would only refuse: leave it out.
    ...(file.visibility === 'PUBLIC' && hasBytes && file.status !== 'QUARANTINED' ? { public_url: context.publicUrl(file.id) } : {}),
    ...(meta.customDownloadUrl ? { custom_download_url: context.signCustomUrl(meta.customDownloadUrl, file.id) } : {}),
    ...(meta.sourceUrl ? { source_url: meta.sourceUrl } : {}),
    ...(hasBytes ? { s3ref: { bucket: context.bucket, key: file.storageKey } } : {}),
    versions,
    _created_at: file.createdAt.toISOString(),
    _updated_at: file.updatedAt.toISOString(),
    _acl: aclOf(file.grants),
    _owners: [{ org_id: file.organizationId ?? '', user_id: file.ownerId }],
    ...(meta.additional && Object.keys(meta.additional).length ? { __additional: meta.additional } : {}),
  };
}
