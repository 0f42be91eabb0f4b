import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import type { JobHandler, JobOutcome, JobPayloads } from '@app/queue';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { FileRescanService } from './file-rescan.service';
import { MaintenanceRepository } from './maintenance.repository';
import { MultipartUploadsService } from './multipart/multipart-uploads.service';
import { ResumableUploadsService } from './resumable/resumable-uploads.service';
import { RECONCILE_CATEGORIES, Reconciler } from './reconciler.service';

const BATCH = 200;
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const RECONCILE_PAGES_PER_RUN = 10;
const RECEIVED_GRACE_MS = 5 * 60_000;

/**
 * Scheduled housekeeping, one task per run: expire temporary uploads, fail abandoned uploads, purge soft-deleted
 * files past the retention, reconcile storage with the records (`collect-orphans`: the Reconciler, repairing), queue
 * stalled processing again, make files of tus uploads that received every byte but met an outage on the way to
 * becoming one, remove expired resumable (tus) uploads and abort stale multipart uploads (both after
 * RESUMABLE_UPLOAD_TTL_SECONDS), rescan READY files scanned by an older clamd database (`rescan-outdated`). Each run
 * handles a bounded batch and logs what it removed; the schedule repeats it.
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
    private readonly reconciler: Reconciler,
    private readonly rescans: FileRescanService,
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
        const { repaired } = await this.reconciler.staleUploads(true);
        return this.done(task, `${repaired} abandoned upload(s) failed`, repaired);
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
        return this.reconcile();
      case 'expire-resumable': {
        const { removed, finished } = await this.resumable.expire(new Date(now), BATCH);
        const made = finished > 0 ? `, ${finished} complete one(s) made files` : '';
        return this.done(task, `${removed} expired resumable upload(s) removed${made}`, removed + finished);
      }
      case 'finish-resumable': {
        // Received within the grace: its final request may still be making the file (a second attempt at once would only
        // be wasted work; the file id keeps it to one record either way).
        const { finished, pending } = await this.resumable.finishReceived(new Date(now), RECEIVED_GRACE_MS, BATCH);
        const waiting = pending > 0 ? `, ${pending} still waiting for an unavailable dependency` : '';
        return this.done(task, `${finished} received resumable upload(s) made files${waiting}`, finished);
      }
      case 'abort-stale-multipart': {
        const count = await this.multipart.abortStale(new Date(now - this.config.resumable.ttlSeconds * 1000), BATCH);
        return this.done(task, `${count} stale multipart upload(s) aborted`, count);
      }
      case 'requeue-stalled': {
        // A job lost with Redis' memory (no persistence, a flush) or retried to exhaustion while a dependency was down.
        const count = await this.maintenance.requeueStalled(new Date(now - rules.stalledProcessingSeconds * 1000), BATCH);
        return this.done(task, `${count} stalled file(s) queued again`, count);
      }
      case 'rescan-outdated': {
        const report = await this.rescans.rescanOutdated();
        if (report.skipped) return { status: 'skipped', detail: report.skipped };
        const detail = `${report.checked} file(s) rescanned with database ${report.database}, ${report.quarantined} quarantined${report.interrupted ? `; stopped: ${report.interrupted}` : ''}`;
        return this.done(task, detail, report.checked);
      }
    }
  }

  /**
   * The reconciler in repair mode, a few storage pages per run: objects no record points at (a crash between a write
   * and its record, a failed cleanup) older than ORPHAN_MIN_AGE_SECONDS are removed, records whose bytes are gone end
   * FAILED, stale intents and incomplete uploads are cleaned. The cursor is kept in the database, so large buckets
   * are covered over successive runs.
   */
  private async reconcile(): Promise<JobOutcome> {
    const report = await this.reconciler.run({ repair: true, pageBudget: RECONCILE_PAGES_PER_RUN });
    const { orphanObjects, orphanDerived } = report.findings;
    const others = RECONCILE_CATEGORIES.filter((c) => c !== 'orphanObjects' && c !== 'orphanDerived' && report.findings[c].repaired > 0)
      .map((c) => `${c} ${report.findings[c].repaired} repaired, `)
      .join('');
    const removed = orphanObjects.repaired + orphanDerived.repaired;
    const repaired = RECONCILE_CATEGORIES.reduce((sum, c) => sum + report.findings[c].repaired, 0);
    return this.done('collect-orphans', `${others}${report.examined.objects} object(s) examined, ${removed} unreferenced object(s) removed`, repaired);
  }

  private done(task: string, detail: string, count: number): JobOutcome {
    if (count > 0) this.logger.log(`${task}: ${detail}`);
    return { status: count > 0 ? 'succeeded' : 'skipped', detail };
  }
}
