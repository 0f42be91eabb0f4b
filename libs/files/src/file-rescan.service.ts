import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { unavailableDependency } from '@app/errors';
import { parseClamdVersion, ScannerUnavailableError } from '@app/scanning';
import { StorageNotFoundError } from '@app/storage';
import { ContentQuarantine } from './content-quarantine.service';
import { MaintenanceRepository, type OutdatedScan } from './maintenance.repository';
import { StoredContentScanner } from './stored-content-scanner';

export interface RescanReport {
  /** Why nothing was done, when nothing was. */
  skipped?: string;
  /** The scanner's signature database version. */
  database?: number;
  /** Files checked again (clean, quarantined, or not scannable). */
  checked: number;
  quarantined: number;
  /** Files whose object alone could not be rescanned (clamd timed out or answered ERROR on it): tried next run. */
  failed?: number;
  /** The scanner stopped answering partway: the files not reached stay READY, untouched, for the next run. */
  interrupted?: string;
}

/**
 * The `rescan-outdated` task: READY files were scanned by the signature database of their day; when clamd has a
 * newer one, a bounded batch of them (CLAMAV_RESCAN_BATCH_SIZE per run) is streamed to it again, each stored object
 * once however many records share it. Infected ones are quarantined as a first-scan hit would be (ContentQuarantine:
 * file.quarantined, never served, bytes moved so URLs already issued stop working). A scanner that cannot be reached
 * changes nothing: the files stay READY with their old version and the next run tries again.
 */
@Injectable()
export class FileRescanService {
  private readonly logger = new Logger('Rescan');

  constructor(
    private readonly maintenance: MaintenanceRepository,
    private readonly scanning: StoredContentScanner,
    private readonly quarantine: ContentQuarantine,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async rescanOutdated(signal?: AbortSignal): Promise<RescanReport> {
    const report: RescanReport = { checked: 0, quarantined: 0 };
    const limit = this.config.scanning.rescanBatchSize;
    if (!this.scanning.enabled) return { ...report, skipped: 'virus scanning is off' };
    if (limit === 0) return { ...report, skipped: 'CLAMAV_RESCAN_BATCH_SIZE=0' };
    let version: string;
    try {
      version = await this.scanning.version(signal);
    } catch (error) {
      if (error instanceof ScannerUnavailableError) return { ...report, skipped: `scanner unavailable: ${error.message}` };
      throw error;
    }
    const { database } = parseClamdVersion(version);
    // Local signature files only: VERSION does not show their changes, so no file can be known to be outdated.
    if (database === null) return { ...report, skipped: `clamd names no signature database version (${version})` };
    report.database = database;

    const byKey = new Map<string, OutdatedScan[]>();
    for (const file of await this.maintenance.outdatedScans(database, limit)) {
      byKey.set(file.storageKey, [...(byKey.get(file.storageKey) ?? []), file]);
    }
    for (const [key, files] of byKey) {
      const ids = files.map((f) => f.id);
      const first = files[0]!;
      let infected: string | undefined;
      try {
        const scan = await this.scanning.scan(version, { key, sha256: first.sha256, size: first.size === null ? null : Number(first.size) }, signal);
        switch (scan.kind) {
          case 'clean':
            report.checked += await this.maintenance.recordScanCheck(ids, key, database, scan.scannedWith);
            break;
          case 'infected':
            infected = scan.signature;
            report.checked += files.length;
            report.quarantined += (await this.quarantine.quarantine(key, { signature: scan.signature, scannedWith: scan.scannedWith, database }, { signal })).length;
            break;
          case 'too-large':
            // Served until now, and nothing new is known about the bytes: left READY, not tried again with this database.
            this.logger.warn(`${ids.join(', ')}: not rescanned (${scan.reason}); left READY`);
            report.checked += await this.maintenance.recordScanCheck(ids, key, database, null);
            break;
        }
      } catch (error) {
        // The bytes are gone: the reconciler reports (and fails) the records; not for this task to judge.
        if (error instanceof StorageNotFoundError) {
          report.checked += await this.maintenance.recordScanCheck(ids, key, database, null);
          continue;
        }
        if (error instanceof ScannerUnavailableError) {
          // clamd gone: the rest waits for the next run. clamd still there: this object alone (a timeout on a
          // large archive, an ERROR reply), which must not hold up every file after it, run after run.
          if (!error.mayBeContent || !(await this.scannerAnswers(signal))) {
            report.interrupted = error.message;
            break;
          }
        } else if (unavailableDependency(error)) {
          // Storage or the database down: the task fails and runs again on schedule.
          throw error;
        }
        report.failed = (report.failed ?? 0) + files.length;
        if (infected) {
          // Known infected: first in line again next run (not sent to the back as a file clamd failed on).
          this.logger.error(`${ids.join(', ')}: infected with ${infected} but not quarantined yet (tried again next run): ${(error as Error).message}`);
        } else {
          await this.maintenance.recordRescanFailure(ids);
          this.logger.warn(`${ids.join(', ')}: not rescanned this run, tried after the others next run: ${(error as Error).message}`);
        }
      }
    }
    if (report.quarantined > 0) this.logger.warn(`${report.quarantined} file(s) quarantined by a rescan with database ${database}`);
    return report;
  }

  private async scannerAnswers(signal?: AbortSignal): Promise<boolean> {
    try {
      await this.scanning.version(signal);
      return true;
    } catch {
      return false;
    }
  }
}
