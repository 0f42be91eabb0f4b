import { Inject, Injectable } from '@nestjs/common';
import type { JobHandler, JobOutcome, JobPayloads } from '@app/queue';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { FilesRepository } from './files.repository';

/** Removes bytes a failed write left behind, unless a record has come to point at them. */
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
    return { status: 'succeeded' };
  }
}
