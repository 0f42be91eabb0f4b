import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { STORAGE_DRIVER, type IncompleteUpload, type ListedObject, type StorageDriver } from '@app/storage';
import { MaintenanceRepository } from './maintenance.repository';
import { MANAGED_PREFIXES, ReconcileKeySpaces } from './reconcile-key-spaces';

export const RECONCILE_CATEGORIES = [
  'orphanObjects',
  'orphanDerived',
  'missingObjects',
  'missingDerived',
  'staleUploads',
  'incompleteUploads',
] as const;
export type ReconcileCategory = (typeof RECONCILE_CATEGORIES)[number];

export interface ReconcileFinding {
  /** Inconsistencies found (old enough to act on). */
  count: number;
  /** Of those, how many this run repaired (0 in a dry run). */
  repaired: number;
  /** Candidates left alone because they may still be in flight (younger than the minimum age). Never touched. */
  deferred: number;
  /** Up to SAMPLE_SIZE storage keys (objects, incomplete uploads) or file ids (records). */
  sample: string[];
  /** Up to SAMPLE_SIZE of the deferred ones. */
  deferredSample: string[];
}

export interface ReconcileReport {
  repair: boolean;
  /** False when a bounded (scheduled) run stopped before walking the whole store; the next run continues. */
  complete: boolean;
  startedAt: string;
  finishedAt: string;
  examined: { objects: number; incompleteUploads: number };
  findings: Record<ReconcileCategory, ReconcileFinding>;
  /** Sum of the counts: 0 means "no object without a record, no record without an object". */
  total: number;
}

export interface ReconcileOptions {
  repair: boolean;
  /** Walk at most this many storage pages, continuing from where the previous bounded run stopped (schedule). */
  pageBudget?: number;
}

const SAMPLE_SIZE = 10;
const PAGE_SIZE = 1000;
const STALE_BATCH = 200;
const HOUR = 3600_000;
const CURSOR = 'reconcile.cursor';
// Storage timestamps have a precision of one second (S3's Last-Modified): an object is judged by its age minus that.
const TIMESTAMP_SLACK_MS = 1000;
// Separates the upload id from the key in samples of incomplete uploads.
const UPLOAD_ID_SEPARATOR = ' upload ';

interface Cursor {
  prefix?: string;
  startAfter?: string;
}

/** The smallest string greater than every key starting with `prefix` (byte order). */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

function emptyFindings(): Record<ReconcileCategory, ReconcileFinding> {
  return Object.fromEntries(RECONCILE_CATEGORIES.map((c) => [c, { count: 0, repaired: 0, deferred: 0, sample: [], deferredSample: [] }])) as unknown as Record<
    ReconcileCategory,
    ReconcileFinding
  >;
}

function note(finding: ReconcileFinding, sample: string): void {
  finding.count++;
  if (finding.sample.length < SAMPLE_SIZE) finding.sample.push(sample);
}

function defer(finding: ReconcileFinding, sample: string): void {
  finding.deferred++;
  if (finding.deferredSample.length < SAMPLE_SIZE) finding.deferredSample.push(sample);
}

/**
 * Proves (and restores) the invariant "no object without a record, no record without an object". Walks storage in
 * key order under the service's key spaces, and for each page asks the database which records expect an object in
 * that key range: a merge of the two sorted lists finds objects nobody references and records whose bytes are gone.
 * Then upload intents past their time and incomplete uploads. Repairs delete only bytes; a record whose bytes are
 * gone is marked FAILED with the reason, never deleted. Anything younger than ORPHAN_MIN_AGE_SECONDS is counted as
 * deferred and left alone: an upload may be writing it.
 */
@Injectable()
export class Reconciler {
  private readonly logger = new Logger('Reconciler');

  constructor(
    private readonly maintenance: MaintenanceRepository,
    private readonly keySpaces: ReconcileKeySpaces,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async run(options: ReconcileOptions): Promise<ReconcileReport> {
    const startedAt = new Date();
    const findings = emptyFindings();
    const examined = { objects: 0, incompleteUploads: 0 };
    const complete = await this.walkObjects(options, findings, examined);
    await this.staleUploads(options.repair, findings.staleUploads);
    examined.incompleteUploads = await this.incompleteUploads(options.repair, findings.incompleteUploads);
    const total = RECONCILE_CATEGORIES.reduce((sum, c) => sum + findings[c].count, 0);
    const report: ReconcileReport = {
      repair: options.repair,
      complete,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      examined,
      findings,
      total,
    };
    if (total > 0) {
      const summary = RECONCILE_CATEGORIES.filter((c) => findings[c].count > 0)
        .map((c) => `${c} ${findings[c].count}${options.repair ? ` (${findings[c].repaired} repaired)` : ''}`)
        .join(', ');
      this.logger.warn(`${options.repair ? 'repair' : 'report'}: ${summary}`);
    }
    return report;
  }

  /** The key spaces walked, in order: the service's own, then those modules registered for uploads in flight. */
  private prefixes(): string[] {
    return [...MANAGED_PREFIXES, ...this.keySpaces.list().map((s) => s.prefix)];
  }

  /** Returns whether every prefix was walked to its end in this run. */
  private async walkObjects(
    options: ReconcileOptions,
    findings: Record<ReconcileCategory, ReconcileFinding>,
    examined: { objects: number },
  ): Promise<boolean> {
    const prefixes = this.prefixes();
    const bounded = options.pageBudget !== undefined;
    const saved = bounded ? ((await this.maintenance.readState<Cursor>(CURSOR)) ?? {}) : {};
    let index = saved.prefix ? Math.max(0, prefixes.indexOf(saved.prefix)) : 0;
    let startAfter = saved.prefix && prefixes.includes(saved.prefix) ? saved.startAfter : undefined;
    const resumed = startAfter !== undefined || index > 0;
    let pages = 0;
    while (index < prefixes.length) {
      if (bounded && pages >= options.pageBudget!) {
        await this.maintenance.writeState(CURSOR, { prefix: prefixes[index], startAfter });
        return false;
      }
      const prefix = prefixes[index]!;
      const listed = await this.storage.list({ prefix, startAfter, limit: PAGE_SIZE });
      pages++;
      examined.objects += listed.objects.length;
      const lower = startAfter ?? prefix;
      // The last page of a prefix answers for every key up to the prefix's end.
      const upper = listed.next ? listed.next : prefixEnd(prefix);
      await this.orphansOf(listed.objects, options.repair, findings);
      await this.missingIn(lower, upper, !listed.next, new Set(listed.objects.map((o) => o.key)), options.repair, findings);
      if (listed.next) {
        startAfter = listed.next;
      } else {
        index++;
        startAfter = undefined;
      }
    }
    if (bounded) await this.maintenance.writeState(CURSOR, {});
    return !resumed;
  }

  /** Listed objects no record references: orphans once old enough, deferred before. */
  private async orphansOf(objects: ListedObject[], repair: boolean, findings: Record<ReconcileCategory, ReconcileFinding>): Promise<void> {
    if (objects.length === 0) return;
    const referenced = await this.maintenance.referencedKeys(objects.map((o) => o.key));
    const now = Date.now();
    const due: ListedObject[] = [];
    for (const object of objects) {
      if (referenced.has(object.key)) continue;
      const finding = object.key.startsWith('derived/') ? findings.orphanDerived : findings.orphanObjects;
      if (now - object.lastModified.getTime() < this.minAgeMs(object.key) + TIMESTAMP_SLACK_MS) {
        defer(finding, object.key);
        continue;
      }
      note(finding, object.key);
      due.push(object);
    }
    if (!repair || due.length === 0) return;
    // Asked again right before deleting: a record may have come to point at one meanwhile.
    const stillReferenced = await this.maintenance.referencedKeys(due.map((o) => o.key));
    for (const object of due) {
      if (stillReferenced.has(object.key)) continue;
      await this.storage.delete(object.key);
      (object.key.startsWith('derived/') ? findings.orphanDerived : findings.orphanObjects).repaired++;
    }
  }

  /**
   * Records expecting an object in the key range the page covered whose key the page did not list. Each candidate
   * is checked once more with a HEAD (the record may have moved to another key, or its object appeared after the
   * listing) before it counts.
   */
  private async missingIn(
    lower: string,
    upper: string,
    upperExclusive: boolean,
    listed: Set<string>,
    repair: boolean,
    findings: Record<ReconcileCategory, ReconcileFinding>,
  ): Promise<void> {
    const { files, thumbnails } = await this.maintenance.recordsInKeyRange(lower, upper, upperExclusive);
    const exists = new Map<string, boolean>();
    const objectExists = async (key: string): Promise<boolean> => {
      if (listed.has(key)) return true;
      if (!exists.has(key)) exists.set(key, (await this.storage.head(key)) !== null);
      return exists.get(key)!;
    };
    for (const file of files) {
      if (await objectExists(file.storageKey)) continue;
      if (!(await this.maintenance.fileStillExpects(file.id, file.storageKey))) continue;
      note(findings.missingObjects, file.id);
      if (repair && (await this.maintenance.failMissing(file.id, file.storageKey, 'The stored bytes of this file are missing (found by the reconciler)'))) {
        findings.missingObjects.repaired++;
      }
    }
    for (const thumbnail of thumbnails) {
      if (await objectExists(thumbnail.storageKey)) continue;
      if (!(await this.maintenance.thumbnailStillExpects(thumbnail.id, thumbnail.storageKey))) continue;
      note(findings.missingDerived, thumbnail.storageKey);
      if (repair && (await this.maintenance.deleteThumbnail(thumbnail.id, thumbnail.storageKey))) findings.missingDerived.repaired++;
    }
  }

  /**
   * UPLOADING records older than ABANDONED_UPLOAD_HOURS: the bytes never came. Repair fails them with the reason and
   * removes whatever partial bytes their key holds. Younger intents are deferred. Also the `abandoned-uploads` task.
   */
  async staleUploads(repair: boolean, finding: ReconcileFinding = emptyFindings().staleUploads): Promise<ReconcileFinding> {
    const hours = this.config.lifecycle.abandonedUploadHours;
    const cutoff = new Date(Date.now() - hours * HOUR);
    const { total, rows } = await this.maintenance.staleUploads(cutoff, STALE_BATCH);
    finding.count += total;
    finding.sample.push(...rows.slice(0, SAMPLE_SIZE - finding.sample.length).map((r) => r.id));
    for (const id of await this.maintenance.uploadsInFlight(cutoff)) defer(finding, id);
    if (!repair) return finding;
    for (const row of rows) {
      if (!(await this.maintenance.failAbandoned(row.id, `Upload abandoned: no bytes confirmed within ${hours} h`))) continue;
      const shared = await this.maintenance.keysStillReferenced(row.id, [row.storageKey]);
      if (!shared.has(row.storageKey)) await this.storage.delete(row.storageKey);
      finding.repaired++;
    }
    return finding;
  }

  /**
   * Multipart uploads (S3) or partial temp files (local) never finished. Old enough ones are aborted; those whose key
   * an UPLOADING record or a registered in-flight key space claims get that upload's longer allowance.
   */
  private async incompleteUploads(repair: boolean, finding: ReconcileFinding): Promise<number> {
    let after: string | undefined;
    let examined = 0;
    const now = Date.now();
    do {
      const page = await this.storage.listIncompleteUploads({ after, limit: PAGE_SIZE });
      examined += page.uploads.length;
      const intents = await this.maintenance.uploadingKeys(page.uploads.map((u) => u.key));
      const due: IncompleteUpload[] = [];
      for (const upload of page.uploads) {
        const intent = intents.get(upload.key);
        // A direct multipart upload (POST /files/multipart) lives until RESUMABLE_UPLOAD_TTL_SECONDS, when its own
        // task aborts it; other intents until ABANDONED_UPLOAD_HOURS.
        const intentAllowance = intent?.multipart ? this.config.resumable.ttlSeconds * 1000 : this.config.lifecycle.abandonedUploadHours * HOUR;
        const allowance = intent ? Math.max(this.minAgeMs(upload.key), intentAllowance) : this.minAgeMs(upload.key);
        const since = intent ? Math.max(intent.createdAt.getTime(), upload.initiated.getTime()) : upload.initiated.getTime();
        if (now - since < allowance + TIMESTAMP_SLACK_MS) {
          defer(finding, `${upload.key}${UPLOAD_ID_SEPARATOR}${upload.uploadId}`);
          continue;
        }
        note(finding, `${upload.key}${UPLOAD_ID_SEPARATOR}${upload.uploadId}`);
        due.push(upload);
      }
      if (repair) {
        for (const upload of due) {
          await this.storage.abortIncompleteUpload(upload);
          finding.repaired++;
        }
      }
      after = page.next;
    } while (after);
    return examined;
  }

  /** How old an unreferenced object or unfinished upload must be before it is judged abandoned. */
  private minAgeMs(key: string): number {
    const space = this.keySpaces.match(key);
    if (space) return (space.abandonAfterSeconds ?? this.config.lifecycle.abandonedUploadHours * 3600) * 1000;
    return this.config.lifecycle.orphanMinAgeSeconds * 1000;
  }
}
