import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import type { JobHandler, JobOutcome, JobPayloads } from '@app/queue';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { MaintenanceRepository } from './maintenance.repository';
import { MultipartUploadsService } from './multipart/multipart-uploads.service';
import { ResumableUploadsService } from './resumable/resumable-uploads.service';

const BATCH = 200;
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const ORPHAN_CURSOR = 'collect-orphans.cursor';
const ORPHAN_PAGE_SIZE = 1000;
const ORPHAN_PAGES_PER_RUN = 10;
// Only the service's own key spaces (StorageLocator); anything else in a shared bucket is left alone.
const MANAGED_PREFIXES = ['objects/', 'derived/'];

/**
 * Scheduled housekeeping, one task per run: expire temporary uploads, fail abandoned uploads, purge soft-deleted
 * files past the retention, collect objects no record references, remove expired resumable (tus) uploads and abort
 * stale multipart uploads (both after RESUMABLE_UPLOAD_TTL_SECONDS). Each run handles a bounded batch and logs what it removed; the schedule repeats it.
 */
@Injectable()
export class LifecycleSweepJob implements JobHandler<'lifecycle.sweep'> {
  readonly jobName = 'lifecycle.sweep' as const;
  private readonly logger = new Logger('LifecycleSweep');

  constructor(
    private readonly maintenance: MaintenanceRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly resumable: ResumableUploadsService,
    private readonly multipart: MultipartUploadsService,
  ) {}

  async handle({ task }: JobPayloads['lifecycle.sweep']): Promise<JobOutcome> {
    const now = Date.now();
    const rules = this.config.lifecycle;
    switch (task) {
      case 'expire-temporary': {
        const ids = await this.maintenance.expiredTemporary(new Date(now), BATCH);
        // Expired temporary files need no retention: they were never made permanent.
        const count = await this.maintenance.markDeleted(ids, new Date(0));
        return this.done(task, `${count} temporary file(s) expired`, count);
      }
      case 'abandoned-uploads': {
        const rows = await this.maintenance.abandonedUploads(new Date(now - rules.abandonedUploadHours * HOUR), BATCH);
        let count = 0;
        for (const row of rows) {
          if (!(await this.maintenance.failAbandoned(row.id, `Upload abandoned: no bytes confirmed within ${rules.abandonedUploadHours} h`))) continue;
          await this.storage.delete(row.storageKey);
          count++;
        }
        return this.done(task, `${count} abandoned upload(s) failed`, count);
      }
      case 'purge-deleted': {
        const candidates = await this.maintenance.purgeable(new Date(now - rules.softDeleteRetentionDays * DAY), BATCH);
        let objects = 0;
        for (const candidate of candidates) {
          const shared = await this.maintenance.keysStillReferenced(candidate.id, candidate.keys);
          for (const key of candidate.keys) {
            if (shared.has(key)) continue;
            await this.storage.delete(key);
            objects++;
          }
          // The row goes last: if a delete above fails, the next run finds the file again.
          await this.maintenance.deleteFile(candidate.id);
        }
        return this.done(task, `${candidates.length} file(s) purged, ${objects} object(s) removed`, candidates.length);
      }
      case 'collect-orphans':
        return this.collectOrphans(now - rules.orphanMinAgeSeconds * 1000);
      case 'expire-resumable': {
        const count = await this.resumable.expire(new Date(now), BATCH);
        return this.done(task, `${count} expired resumable upload(s) removed`, count);
      }
      case 'abort-stale-multipart': {
        const count = await this.multipart.abortStale(new Date(now - this.config.resumable.ttlSeconds * 1000), BATCH);
        return this.done(task, `${count} stale multipart upload(s) aborted`, count);
      }
    }
  }

  /**
   * Objects no record points at (a crash between a write and its record, a failed cleanup) are removed once they
   * are older than ORPHAN_MIN_AGE_SECONDS (a day by default), so uploads in flight and staged copies are never touched. Storage is
   * walked in key order a few pages per run; the cursor is kept in the database, so large buckets are covered over
   * successive runs and the walk starts again from the beginning once it reaches the end.
   */
  private async collectOrphans(olderThan: number): Promise<JobOutcome> {
    const state = (await this.maintenance.readState<{ startAfter?: string }>(ORPHAN_CURSOR)) ?? {};
    let startAfter = state.startAfter;
    let examined = 0;
    let removed = 0;
    for (let page = 0; page < ORPHAN_PAGES_PER_RUN; page++) {
      const listed = await this.storage.list({ startAfter, limit: ORPHAN_PAGE_SIZE });
      examined += listed.objects.length;
      const old = listed.objects.filter((o) => MANAGED_PREFIXES.some((p) => o.key.startsWith(p)) && o.lastModified.getTime() < olderThan);
      const referenced = await this.maintenance.referencedKeys(old.map((o) => o.key));
      for (const object of old) {
        if (referenced.has(object.key)) continue;
        await this.storage.delete(object.key);
        removed++;
      }
      startAfter = listed.next;
      if (!startAfter) break;
    }
    await this.maintenance.writeState(ORPHAN_CURSOR, startAfter ? { startAfter } : {});
    return this.done('collect-orphans', `${examined} object(s) examined, ${removed} unreferenced object(s) removed`, removed);
  }

  private done(task: string, detail: string, count: number): JobOutcome {
    if (count > 0) this.logger.log(`${task}: ${detail}`);
    return { status: count > 0 ? 'succeeded' : 'skipped', detail };
  }
}
