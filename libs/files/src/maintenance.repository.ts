import { Inject, Injectable } from '@nestjs/common';
import { PRISMA, type Db } from '@app/database';

export interface PurgeCandidate {
  id: string;
  keys: string[];
}

/**
 * System-wide queries of the lifecycle jobs. They act on every tenant by design, so they live apart from the
 * tenant-scoped FilesRepository and are used by no request handler.
 */
@Injectable()
export class MaintenanceRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  /** Temporary uploads past their time that were never made permanent. */
  async expiredTemporary(now: Date, limit: number): Promise<string[]> {
    const rows = await this.db.file.findMany({
      where: { temporaryUntil: { lt: now }, deletedAt: null },
      select: { id: true },
      take: limit,
    });
    return rows.map((r) => r.id);
  }

  async markDeleted(ids: string[], at: Date): Promise<number> {
    if (ids.length === 0) return 0;
    const { count } = await this.db.file.updateMany({ where: { id: { in: ids }, deletedAt: null }, data: { deletedAt: at } });
    return count;
  }

  /**
   * UPLOADING records older than `before`: the client never sent (or never confirmed) the bytes. Multipart uploads
   * in progress have their own expiry (RESUMABLE_UPLOAD_TTL_SECONDS, the abort-stale-multipart task).
   */
  async abandonedUploads(before: Date, limit: number): Promise<{ id: string; storageKey: string }[]> {
    return this.db.file.findMany({
      where: { status: 'UPLOADING', createdAt: { lt: before }, deletedAt: null, multipartUpload: null },
      select: { id: true, storageKey: true },
      take: limit,
    });
  }

  async failAbandoned(id: string, reason: string): Promise<boolean> {
    const { count } = await this.db.file.updateMany({ where: { id, status: 'UPLOADING' }, data: { status: 'FAILED', failureReason: reason } });
    return count === 1;
  }

  /** Soft-deleted files past the retention, with every key their bytes live under. */
  async purgeable(deletedBefore: Date, limit: number, onlyId?: string): Promise<PurgeCandidate[]> {
    const rows = await this.db.file.findMany({
      where: { deletedAt: { lt: deletedBefore }, ...(onlyId ? { id: onlyId } : {}) },
      select: { id: true, storageKey: true, versions: { select: { storageKey: true } }, thumbnails: { select: { storageKey: true } } },
      take: limit,
    });
    return rows.map((r) => ({
      id: r.id,
      keys: [...new Set([r.storageKey, ...r.versions.map((v) => v.storageKey), ...r.thumbnails.map((t) => t.storageKey)])],
    }));
  }

  /** Keys of `keys` that a record other than `fileId` still points at (shared bytes are kept). */
  async keysStillReferenced(fileId: string, keys: string[]): Promise<Set<string>> {
    const [files, versions, thumbnails] = await Promise.all([
      this.db.file.findMany({ where: { storageKey: { in: keys }, id: { not: fileId } }, select: { storageKey: true } }),
      this.db.fileVersion.findMany({ where: { storageKey: { in: keys }, fileId: { not: fileId } }, select: { storageKey: true } }),
      this.db.thumbnail.findMany({ where: { storageKey: { in: keys }, fileId: { not: fileId } }, select: { storageKey: true } }),
    ]);
    return new Set([...files, ...versions, ...thumbnails].map((r) => r.storageKey));
  }

  /** Which of `keys` some record (file, version or thumbnail) points at. */
  async referencedKeys(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const [files, versions, thumbnails] = await Promise.all([
      this.db.file.findMany({ where: { storageKey: { in: keys } }, select: { storageKey: true } }),
      this.db.fileVersion.findMany({ where: { storageKey: { in: keys } }, select: { storageKey: true } }),
      this.db.thumbnail.findMany({ where: { storageKey: { in: keys } }, select: { storageKey: true } }),
    ]);
    return new Set([...files, ...versions, ...thumbnails].map((r) => r.storageKey));
  }

  async readState<T>(key: string): Promise<T | null> {
    const row = await this.db.maintenanceState.findUnique({ where: { key } });
    return row ? (row.value as T) : null;
  }

  async writeState(key: string, value: object): Promise<void> {
    await this.db.maintenanceState.upsert({ where: { key }, create: { key, value }, update: { value } });
  }

  async deleteFile(id: string): Promise<void> {
    // Versions, associations, thumbnails, links and grants go with it (ON DELETE CASCADE).
    await this.db.file.deleteMany({ where: { id } });
  }
}
