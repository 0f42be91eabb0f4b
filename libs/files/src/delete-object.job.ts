import { Inject, Injectable } from '@nestjs/common';
import type { JobHandler, JobOutcome, JobPayloads } from '@app/queue';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { FilesRepository } from './files.repository';

/**
 * Removes bytes a failed write left behind, unless a record has come to point at them: the object, and the multipart
 * upload a streamed write could not abort itself (storage stalled or down at that moment).
 */
@Injectable()
export class DeleteObjectJob implements JobHandler<'storage.delete-object'> {
  readonly jobName = 'storage.delete-object' as const;

  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
  ) {}

  async handle({ key }: JobPayloads['storage.delete-object']): Promise<JobOutcome> {
    if (await this.files.isKeyReferenced(key)) return { status: 'skipped', detail: 'a record points at this key' };
    await this.storage.delete(key);
    // Keys are fresh per write, so an upload still open to this one is the failed write's own.
    const { uploads } = await this.storage.listIncompleteUploads({ prefix: key, limit: 100 });
    for (const upload of uploads) if (upload.key === key) await this.storage.abortIncompleteUpload(upload);
    return { status: 'succeeded' };
  }
}
