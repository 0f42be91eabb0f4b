import { Inject, Injectable, Logger } from '@nestjs/common';
import type { File } from '@app/database';
import { OutboxRelay } from '@app/queue';
import { STORAGE_DRIVER, StorageLocator, type StorageDriver } from '@app/storage';
import { FilesRepository } from './files.repository';
import { MaintenanceRepository, type QuarantineVerdict } from './maintenance.repository';

/**
 * Infected bytes, found by a first scan or a rescan: every file on them (READY, or PROCESSING) becomes QUARANTINED, and the
 * bytes move to the `quarantine/` key space (copy, repoint every record in one transaction, delete the old key), so
 * URLs already handed out for the old key (S3 pre-signed GETs, the local driver's signed URLs) stop serving them.
 * The bytes are kept for an admin under the new key.
 */
@Injectable()
export class ContentQuarantine {
  private readonly logger = new Logger('Quarantine');

  constructor(
    private readonly maintenance: MaintenanceRepository,
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly relay: OutboxRelay,
  ) {}

  /**
   * Returns the files this call moved to QUARANTINED (READY ones, and PROCESSING ones other than `ownFileId`: the
   * file whose job found the infection, which records its own measurements with the status).
   */
  async quarantine(key: string, verdict: QuarantineVerdict, options: { signal?: AbortSignal; ownFileId?: string } = {}): Promise<File[]> {
    const { signal, ownFileId } = options;
    const target = StorageLocator.quarantineKey(key);
    // The copy first: if it fails, nothing has changed and the caller tries again; if the transaction below fails,
    // the copy is an object no record points at, which the reconciler collects.
    if (target !== key) await this.storage.copy(key, target, { signal });
    const quarantined = await this.maintenance.quarantineContent(key, target, verdict, ownFileId);
    this.relay.kick();
    for (const file of quarantined) this.logger.warn(`File ${file.id} quarantined: clamd found ${verdict.signature}`);
    if (target !== key) await this.removeOld(key);
    return quarantined;
  }

  // Also queued (storage.delete-object) in the transaction, should this fail: the old URLs must stop serving soon.
  private async removeOld(key: string): Promise<void> {
    try {
      if (!(await this.files.isKeyReferenced(key))) await this.storage.delete(key);
    } catch (error) {
      this.logger.warn(`${key}: left to the queued delete: ${(error as Error).message}`);
    }
  }
}
