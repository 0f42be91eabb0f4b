import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';
import type { FileAssociation } from '@app/database';
import { Errors } from '@app/errors';
import { STORAGE_DRIVER, type GetResult, type StorageDriver } from '@app/storage';
import { contentDisposition, isActiveContent } from './content-type';
import { OutboxRelay } from '@app/queue';
import { MaintenanceRepository } from './maintenance.repository';
import { assertServable, contentRefusal } from './file-serving';
import { emitFileEvent } from './file-events';
import {
  FilesRepository,
  type FileListFilter,
  type FileListPage,
  type FileRow,
  type FileWithRelations,
} from './files.repository';

export interface SignedUrl {
  url: string;
  expiresAt: Date;
}

/** Reading, listing, sharing state and deletion of files; uploads live in FileUploadService. */
@Injectable()
export class FilesService {
  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly maintenance: MaintenanceRepository,
    private readonly relay: OutboxRelay,
  ) {}

  async get(principal: Principal, id: string): Promise<FileRow> {
    const row = await this.files.findReadable(principal, id);
    if (!row) throw Errors.notFound('File', id);
    return row;
  }

  async getWithRelations(principal: Principal, id: string): Promise<FileWithRelations> {
    const row = await this.files.findReadableWithRelations(principal, id);
    if (!row) throw Errors.notFound('File', id);
    return row;
  }

  list(principal: Principal, filter: FileListFilter, page: FileListPage) {
    return this.files.list(principal, filter, page);
  }

  /** A time-limited URL for the bytes; active content is always a download. */
  async downloadUrl(principal: Principal, id: string, disposition: 'inline' | 'attachment' = 'attachment'): Promise<SignedUrl> {
    return this.signedUrlFor(await this.get(principal, id), disposition);
  }

  /** Throws the reason a file's bytes may not be served now (quarantined, not scanned yet, no bytes); see contentRefusal. */
  assertServable(file: Pick<FileRow, 'id' | 'status' | 'virusSignature'> & { storageKey?: string }): void {
    assertServable(file, this.scanning);
  }

  /** Whether the file's bytes may be served now. */
  servable(file: Pick<FileRow, 'id' | 'status' | 'virusSignature'> & { storageKey?: string }): boolean {
    return contentRefusal(file, this.scanning) === null;
  }

  /** With virus scanning on, bytes are served only once the scan found them clean. */
  private get scanning(): boolean {
    return this.config.scanning.clamavAddress !== undefined;
  }

  async signedUrlFor(file: FileRow, disposition: 'inline' | 'attachment' = 'attachment'): Promise<SignedUrl> {
    this.assertServable(file);
    const type = servedContentType(file);
    const expiresInSeconds = this.config.uploads.signedUrlTtlSeconds;
    const url = await this.storage.presignGet(file.storageKey, {
      expiresInSeconds,
      contentType: type,
      contentDisposition: contentDisposition(file.originalFilename, isActiveContent(type) ? 'attachment' : disposition),
    });
    return { url, expiresAt: new Date(Date.now() + expiresInSeconds * 1000) };
  }

  /**
   * A time-limited URL of the file's thumbnail nearest to `width` (the smallest at least that wide, else the
   * largest). Thumbnails are made in the background, so until one exists the URL is the original's and
   * `isFallback` says so.
   */
  async thumbnailUrl(principal: Principal, id: string, width = 256): Promise<SignedUrl & { isFallback: boolean }> {
    const file = await this.getWithRelations(principal, id);
    this.assertServable(file);
    const byWidth = [...file.thumbnails].sort((a, b) => a.width - b.width);
    const thumbnail = byWidth.find((t) => t.width >= width) ?? byWidth.at(-1);
    if (!thumbnail) return { ...(await this.signedUrlFor(file, 'inline')), isFallback: true };
    const expiresInSeconds = this.config.uploads.signedUrlTtlSeconds;
    const url = await this.storage.presignGet(thumbnail.storageKey, {
      expiresInSeconds,
      contentType: thumbnail.mime,
      contentDisposition: contentDisposition(`thumbnail-${thumbnail.variant}.${thumbnail.mime.split('/')[1] ?? 'bin'}`, 'inline'),
    });
    return { url, expiresAt: new Date(Date.now() + expiresInSeconds * 1000), isFallback: false };
  }

  /** The static address of a public file's bytes; it serves only while the file stays public. */
  publicUrl(file: Pick<FileRow, 'id'>): string {
    return `${this.config.http.publicUrl}/public/files/${file.id}`;
  }

  /**
   * The URL a client should use: static for public files, signed and short-lived for private ones. Null while
   * there are no bytes to serve yet.
   */
  async urlFor(file: FileRow): Promise<string | null> {
    if (contentRefusal(file, this.scanning)) return null;
    if (file.visibility === 'PUBLIC') return this.publicUrl(file);
    return (await this.signedUrlFor(file, 'inline')).url;
  }

  /** The versions of a readable file, newest first. */
  async versions(principal: Principal, id: string) {
    const file = await this.get(principal, id);
    return this.files.versionsOf(file.id);
  }

  /** Renames, retags or changes the visibility of a file the principal may write. */
  async updateAttributes(principal: Principal, id: string, changes: { name?: string; visibility?: 'PUBLIC' | 'PRIVATE'; tags?: string[] }): Promise<FileRow> {
    const file = await this.mustWrite(principal, id);
    return this.files.update(file.id, {
      ...(changes.name !== undefined ? { originalFilename: changes.name } : {}),
      ...(changes.visibility !== undefined ? { visibility: changes.visibility } : {}),
      ...(changes.tags !== undefined ? { tags: changes.tags } : {}),
    });
  }

  async setVisibility(principal: Principal, id: string, visibility: 'PUBLIC' | 'PRIVATE'): Promise<FileRow> {
    const file = await this.mustWrite(principal, id);
    if (file.visibility === visibility) return file;
    return this.files.update(file.id, { visibility });
  }

  /** Soft delete: the record disappears from every read at once; the bytes stay until the purge job runs. */
  async softDelete(principal: Principal, id: string): Promise<FileRow> {
    const file = await this.mustWrite(principal, id);
    const deleted = await this.files.update(file.id, { deletedAt: new Date() });
    await emitFileEvent(this.files.client, 'file.deleted', deleted);
    this.relay.kick();
    return deleted;
  }

  /**
   * Deletes a file for good, now: it leaves every read at once, then the bytes of every version and derived image
   * that no other record shares are removed, then the record. Needs delete access (`delete` grants count).
   */
  async purge(principal: Principal, id: string): Promise<void> {
    const file = await this.files.findDeletable(principal, id);
    if (!file) {
      if (await this.files.findReadable(principal, id)) throw Errors.forbidden(`You may not delete file ${id}`);
      throw Errors.notFound('File', id);
    }
    await this.files.update(file.id, { deletedAt: new Date() });
    await emitFileEvent(this.files.client, 'file.deleted', file, { purged: true });
    this.relay.kick();
    const [candidate] = (await this.maintenance.purgeable(new Date(Date.now() + 1000), 1, file.id)) ?? [];
    if (!candidate) return;
    const shared = await this.maintenance.keysStillReferenced(file.id, candidate.keys);
    for (const key of candidate.keys) if (!shared.has(key)) await this.storage.delete(key);
    await this.maintenance.deleteFile(file.id);
  }

  /** The bytes of a public file, for the static URL. Private (or made private again) answers not found. */
  async openPublic(
    id: string,
    rangeFor: (size: number | null) => { start: number; end?: number } | undefined,
    hash?: string,
  ): Promise<{ file: FileRow; object: GetResult }> {
    const file = await this.files.findPublic(id);
    if (!file || file.status === 'UPLOADING' || file.status === 'FAILED') throw Errors.notFound('File', id);
    // A URL naming other content (an older version's hash) finds nothing.
    if (hash !== undefined && !file.sha256?.startsWith(hash)) throw Errors.notFound('File', id);
    return { file, object: await this.openContent(file, rangeFor) };
  }

  /** The bytes of a file the caller has already been authorised for (by a signature, say). */
  async openContent(
    file: FileRow,
    rangeFor: (size: number | null) => { start: number; end?: number } | undefined,
  ): Promise<GetResult> {
    this.assertServable(file);
    const range = rangeFor(file.size === null ? null : Number(file.size));
    return this.storage.get(file.storageKey, { range });
  }

  async associate(principal: Principal, fileId: string, entityName: string, entityReference: string): Promise<FileAssociation> {
    const name = entityName.trim();
    const reference = entityReference.trim();
    if (!name || name.length > 200) throw Errors.badRequest('entityName must be 1 to 200 characters');
    if (!reference || reference.length > 500) throw Errors.badRequest('entityReference must be 1 to 500 characters');
    const file = await this.mustWrite(principal, fileId);
    const association = await this.files.upsertAssociation(file, name, reference, principal.userId);
    await emitFileEvent(this.files.client, 'file.attached', file, { entityName: name, entityReference: reference });
    this.relay.kick();
    return association;
  }

  async dissociate(principal: Principal, associationId: string): Promise<FileAssociation> {
    const association = await this.files.findWritableAssociation(principal, associationId);
    if (!association) throw Errors.notFound('File association', associationId);
    await this.files.deleteAssociation(association.id);
    return association;
  }

  private async mustWrite(principal: Principal, id: string): Promise<FileRow> {
    const row = await this.files.findWritable(principal, id);
    if (!row) {
      // Readable but not writable is a 403; not even readable stays a 404 so nothing leaks.
      if (await this.files.findReadable(principal, id)) throw Errors.forbidden(`You may not change file ${id}`);
      throw Errors.notFound('File', id);
    }
    return row;
  }
}

/** What we send as Content-Type: the sniffed type; the declared one only when the bytes gave no answer. */
export function servedContentType(file: Pick<FileRow, 'sniffedMime' | 'declaredMime'>): string {
  if (file.sniffedMime) return file.sniffedMime;
  // A declared type is not trusted for serving when it would make the browser run it.
  if (file.declaredMime && !isActiveContent(file.declaredMime) && /^(text\/plain|text\/csv|application\/json)/.test(file.declaredMime)) {
    return file.declaredMime;
  }
  return 'application/octet-stream';
}
