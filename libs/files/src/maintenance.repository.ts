import { Inject, Injectable } from '@nestjs/common';
import { Prisma, PRISMA, type Db, type File } from '@app/database';
import { addOutboxJob } from '@app/queue';
import { emitFileEvent } from './file-events';
import { nextStatus } from './file-lifecycle';
import { tenantIdOf } from './files.repository';

export interface KeyedRow {
  id: string;
  storageKey: string;
}

/** A READY file whose scan is older than the scanner's signature database. */
export interface OutdatedScan {
  id: string;
  storageKey: string;
  sha256: string | null;
  size: bigint | null;
}

/** What clamd found in bytes a rescan (or a first scan) quarantines. */
export interface QuarantineVerdict {
  signature: string;
  /** clamd's VERSION answer. */
  scannedWith: string;
  /** Its signature database version, when it names one. */
  database: number | null;
}

export interface PurgeCandidate {
  id: string;
  keys: string[];
}

// SQL condition on "File": the record has bytes of its own (not an epilot entity made of a custom_download_url alone).
const HAS_OWN_BYTES = Prisma.sql`NOT ("metadata" #> '{epilot,customDownloadUrl}' IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM "FileVersion" v WHERE v."fileId" = "File"."id"))`;

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

  /** Fails an upload intent the reconciler found stale (only while it is still UPLOADING). */
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

  /**
   * Records whose key lies in (`lower`, `upper`] (or (`lower`, `upper`) when `upperExclusive`), compared byte-wise
   * as storage lists keys (the COLLATE "C" indexes of the reconciler migration serve these ranges). Only the ones
   * that promise bytes: live READY/PROCESSING files, and thumbnails.
   * An epilot entity saved with only a custom_download_url (and no version since) has a key but no bytes of its own:
   * it expects nothing.
   */
  async recordsInKeyRange(lower: string, upper: string, upperExclusive: boolean): Promise<{ files: KeyedRow[]; thumbnails: KeyedRow[] }> {
    const below = upperExclusive ? Prisma.sql`< ${upper}` : Prisma.sql`<= ${upper}`;
    const [files, thumbnails] = await Promise.all([
      this.db.$queryRaw<KeyedRow[]>`SELECT "id", "storageKey" FROM "File"
        WHERE "storageKey" COLLATE "C" > ${lower} AND "storageKey" COLLATE "C" ${below}
          AND "status" IN ('READY', 'PROCESSING') AND "deletedAt" IS NULL AND ${HAS_OWN_BYTES}`,
      this.db.$queryRaw<KeyedRow[]>`SELECT "id", "storageKey" FROM "Thumbnail"
        WHERE "storageKey" COLLATE "C" > ${lower} AND "storageKey" COLLATE "C" ${below}`,
    ]);
    return { files, thumbnails };
  }

  /** Marks a live file FAILED when it still points at `key` (the bytes of which are gone). */
  async failMissing(id: string, key: string, reason: string): Promise<boolean> {
    const { count } = await this.db.file.updateMany({
      where: { id, storageKey: key, status: { in: ['READY', 'PROCESSING'] }, deletedAt: null },
      data: { status: 'FAILED', failureReason: reason },
    });
    return count === 1;
  }

  /** Whether the file still is live, READY/PROCESSING and points at `key`. */
  async fileStillExpects(id: string, key: string): Promise<boolean> {
    return (await this.db.file.count({ where: { id, storageKey: key, status: { in: ['READY', 'PROCESSING'] }, deletedAt: null } })) === 1;
  }

  async thumbnailStillExpects(id: string, key: string): Promise<boolean> {
    return (await this.db.thumbnail.count({ where: { id, storageKey: key } })) === 1;
  }

  /** A thumbnail row is a cache entry of a derived object: without its object it is removed (reprocessing makes it again). */
  async deleteThumbnail(id: string, key: string): Promise<boolean> {
    const { count } = await this.db.thumbnail.deleteMany({ where: { id, storageKey: key } });
    return count === 1;
  }

  /** UPLOADING records created before `before`, and how many there are. */
  async staleUploads(before: Date, limit: number): Promise<{ total: number; rows: { id: string; storageKey: string }[] }> {
    // Direct multipart uploads are timed by their own task (abort-stale-multipart, RESUMABLE_UPLOAD_TTL_SECONDS).
    const where = { status: 'UPLOADING' as const, createdAt: { lt: before }, deletedAt: null, multipartUpload: null };
    const [total, rows] = await Promise.all([
      this.db.file.count({ where }),
      this.db.file.findMany({ where, select: { id: true, storageKey: true }, orderBy: { createdAt: 'asc' }, take: limit }),
    ]);
    return { total, rows };
  }

  /** UPLOADING records created at or after `since`: intents still within their time. */
  async uploadsInFlight(since: Date): Promise<string[]> {
    const rows = await this.db.file.findMany({
      where: { status: 'UPLOADING', createdAt: { gte: since }, deletedAt: null, multipartUpload: null },
      select: { id: true },
      take: 1000,
    });
    return rows.map((r) => r.id);
  }

  /** Of `keys`, those an UPLOADING record points at, with the record's creation time. */
  async uploadingKeys(keys: string[]): Promise<Map<string, { createdAt: Date; multipart: boolean }>> {
    if (keys.length === 0) return new Map();
    const rows = await this.db.file.findMany({
      where: { storageKey: { in: keys }, status: 'UPLOADING', deletedAt: null },
      select: { storageKey: true, createdAt: true, multipartUpload: { select: { fileId: true } } },
    });
    return new Map(rows.map((r) => [r.storageKey, { createdAt: r.createdAt, multipart: r.multipartUpload !== null }]));
  }

  /**
   * PROCESSING files not updated since `before` get their post-upload job written to the outbox again, and their
   * updatedAt touched (so the next sweep waits another period). The job is idempotent: if the first run was only
   * slow, the second finds the file done and skips.
   */
  async requeueStalled(before: Date, limit: number): Promise<number> {
    const rows = await this.db.file.findMany({
      where: { status: 'PROCESSING', updatedAt: { lt: before }, deletedAt: null },
      select: { id: true, ownerId: true, organizationId: true },
      take: limit,
    });
    let count = 0;
    for (const row of rows) {
      const requeued = await this.db.$transaction(async (tx) => {
        const { count: touched } = await tx.file.updateMany({ where: { id: row.id, status: 'PROCESSING', updatedAt: { lt: before } }, data: { updatedAt: new Date() } });
        if (touched === 0) return false;
        await addOutboxJob(tx, 'file.process', { fileId: row.id, tenantId: tenantIdOf(row) });
        return true;
      });
      if (requeued) count++;
    }
    return count;
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

  /**
   * READY files whose bytes were last checked against a signature database older than `database`, or against none
   * recorded (scanned before versions were kept, or READY before scanning was turned on): the oldest first.
   */
  outdatedScans(database: number, limit: number): Promise<OutdatedScan[]> {
    return this.db.$queryRaw<OutdatedScan[]>`
      SELECT "id", "storageKey", "sha256", "size" FROM "File"
      WHERE "status" = 'READY' AND "deletedAt" IS NULL AND ${HAS_OWN_BYTES}
        AND ("scanDatabaseVersion" IS NULL OR "scanDatabaseVersion" < ${database})
      ORDER BY "rescanFailedAt" ASC NULLS FIRST, "scanDatabaseVersion" ASC NULLS FIRST, "id"
      LIMIT ${limit}`;
  }

  /** A rescan got no verdict on these files' bytes: they go after the files not tried yet, next runs. */
  async recordRescanFailure(ids: string[]): Promise<void> {
    await this.db.file.updateMany({ where: { id: { in: ids } }, data: { rescanFailedAt: new Date() } });
  }

  /**
   * Records that the bytes under `key` were checked against `database`: scanned clean (`scannedWith`), or not
   * scannable (too large, gone: null), so the next runs move on. Only READY files still pointing at `key`.
   */
  async recordScanCheck(ids: string[], key: string, database: number, scannedWith: string | null): Promise<number> {
    const { count } = await this.db.file.updateMany({
      where: { id: { in: ids }, storageKey: key, status: 'READY' },
      data: { scanDatabaseVersion: database, rescanFailedAt: null, ...(scannedWith ? { scannedWith, scannedAt: new Date() } : {}) },
    });
    return count;
  }

  /**
   * Infected bytes under `key`, already copied to `target`, in one transaction: every READY file serving them
   * becomes QUARANTINED with the verdict (a file.quarantined event each, as a first-scan hit), every record pointing
   * at them (files of any status, versions) is repointed to `target`, and the old key is queued for deletion.
   * Across tenants by design: records sharing an object (content de-duplication, shares) share its bytes.
   */
  /** `ownFileId`: the PROCESSING file whose own job found the infection and moves it to QUARANTINED itself. */
  async quarantineContent(key: string, target: string, verdict: QuarantineVerdict, ownFileId?: string): Promise<File[]> {
    const reason = `Quarantined: infected with ${verdict.signature}`;
    return this.db.$transaction(async (tx) => {
      const now = new Date();
      // Every record on these bytes: READY ones, and PROCESSING ones too (deduplicated onto the same object while
      // this rescan ran), whose job would otherwise finish them READY on infected bytes.
      const quarantined: File[] = [];
      for (const from of ['READY', 'PROCESSING'] as const) {
        quarantined.push(
          ...(await tx.file.updateManyAndReturn({
            where: { storageKey: key, status: from, ...(from === 'PROCESSING' && ownFileId ? { id: { not: ownFileId } } : {}) },
            data: {
              status: nextStatus(from, 'infected'),
              failureReason: reason,
              virusSignature: verdict.signature,
              scannedWith: verdict.scannedWith,
              scannedAt: now,
              scanDatabaseVersion: verdict.database,
            },
          })),
        );
      }
      if (target !== key) {
        await tx.file.updateMany({ where: { storageKey: key }, data: { storageKey: target } });
        await tx.fileVersion.updateMany({ where: { storageKey: key }, data: { storageKey: target } });
        await addOutboxJob(tx, 'storage.delete-object', { key, reason: 'infected bytes moved to quarantine' });
      }
      // Thumbnails are pictures of the infected content: those of every record on these bytes go (the file whose own
      // job found the infection and FAILED records included), so their URLs, pre-signed ones included, stop serving;
      // a release from quarantine (a clean reprocess) derives them again.
      const onContent = (await tx.file.findMany({ where: { storageKey: { in: [key, target] } }, select: { id: true } })).map((f) => f.id);
      const thumbnails = await tx.thumbnail.findMany({ where: { fileId: { in: onContent } }, select: { storageKey: true } });
      if (thumbnails.length > 0) {
        await tx.thumbnail.deleteMany({ where: { fileId: { in: onContent } } });
        for (const thumbKey of new Set(thumbnails.map((t) => t.storageKey))) {
          await addOutboxJob(tx, 'storage.delete-object', { key: thumbKey, reason: 'thumbnail of quarantined content' });
        }
      }
      for (const file of quarantined) {
        if (!file.deletedAt) await emitFileEvent(tx, 'file.quarantined', file, { signature: verdict.signature, reason });
      }
      return quarantined;
    });
  }
}
