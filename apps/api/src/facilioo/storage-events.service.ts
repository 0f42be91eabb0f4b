import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { AppError } from '@app/errors';
import { FileUploadService } from '@app/files';
import type { StorageEvent, StorageEventOutcome, StorageEventRecord } from './storage-events.dto';

const OBJECT_CREATED = 's3:ObjectCreated:';

/**
 * Bucket notifications (MinIO's webhook target) complete direct-to-storage uploads, whichever comes first of the
 * notification and the client's own completion call; both are idempotent.
 */
@Injectable()
export class StorageEventsService {
  constructor(
    private readonly uploads: FileUploadService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async receive(event: StorageEvent): Promise<{ records: StorageEventOutcome[] }> {
    const records: StorageEventOutcome[] = [];
    for (const record of event.Records) records.push(await this.handle(record));
    return { records };
  }

  // Problems that retrying can't fix (no such upload, bytes against the rules) are answered, not thrown: the
  // webhook would otherwise redeliver them forever. Storage or database outages do throw, so MinIO retries.
  private async handle(record: StorageEventRecord): Promise<StorageEventOutcome> {
    const key = decodeKey(record.s3.object.key);
    if (key === null) return { key: record.s3.object.key, outcome: 'ignored', reason: 'the key is not URL-encoded text' };
    if (!record.eventName.startsWith(OBJECT_CREATED)) {
      return { key, outcome: 'ignored', reason: `${record.eventName} is not an object-created event` };
    }
    const bucket = this.config.storage.driver === 's3' ? this.config.storage.bucket : null;
    if (bucket !== null && record.s3.bucket.name !== bucket) {
      return { key, outcome: 'ignored', reason: `bucket ${record.s3.bucket.name} is not ours` };
    }
    try {
      const file = await this.uploads.completeByKey(key);
      if (!file) return { key, outcome: 'ignored', reason: 'no file has this key' };
      return { key, outcome: 'completed', status: file.status };
    } catch (error) {
      if (error instanceof AppError && error.status < 500) return { key, outcome: 'refused', reason: error.message };
      throw error;
    }
  }
}

// S3 notifications URL-encode the key, with "+" for spaces.
function decodeKey(raw: string): string | null {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}
