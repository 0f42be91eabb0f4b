import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { JobContext, JobHandler, JobOutcome, JobPayloads } from '@app/queue';
import { STORAGE_DRIVER, StorageNotFoundError, type StorageDriver } from '@app/storage';
import { mimeAllowed, sniffMime } from './content-type';
import { nextStatus } from './file-lifecycle';
import { FilesRepository } from './files.repository';
import { SNIFF_BYTES } from './upload-meter';

type Payload = JobPayloads['file.process'];

/**
 * Post-upload verification, the same for every upload path: read the stored bytes once, measure, hash and
 * sniff them, check them against what was recorded and what the category allows, then READY or FAILED.
 */
@Injectable()
export class FileProcessJob implements JobHandler<'file.process'> {
  readonly jobName = 'file.process' as const;

  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
  ) {}

  async handle({ fileId, tenantId }: Payload, { signal }: JobContext): Promise<JobOutcome> {
    const file = await this.files.findForTenant(tenantId, fileId);
    if (!file) return { status: 'skipped', detail: 'file no longer exists' };
    // Idempotent: a second run after READY/FAILED changes nothing.
    if (file.status !== 'PROCESSING') return { status: 'skipped', detail: `file is ${file.status}` };

    let measured: { size: number; sha256: string; head: Buffer };
    try {
      measured = await this.measure(file.storageKey, signal);
    } catch (error) {
      if (error instanceof StorageNotFoundError) return this.fail(tenantId, fileId, 'The uploaded object is missing from storage');
      throw error;
    }
    const sniffedMime = await sniffMime(measured.head);
    const problem = this.verify(file, measured, sniffedMime);
    if (problem) return this.fail(tenantId, fileId, problem, { sniffedMime, size: measured.size, sha256: measured.sha256 });

    const moved = await this.files.updateIfStatus(this.filesDb(), tenantId, fileId, 'PROCESSING', {
      status: nextStatus('PROCESSING', 'verified'),
      size: measured.size,
      sha256: measured.sha256,
      sniffedMime,
      processedAt: new Date(),
      failureReason: null,
    });
    return moved ? { status: 'succeeded' } : { status: 'skipped', detail: 'status changed meanwhile' };
  }

  async onExhausted({ fileId, tenantId }: Payload, error: Error): Promise<void> {
    await this.fail(tenantId, fileId, `Processing failed: ${error.message}`);
  }

  private verify(
    file: NonNullable<Awaited<ReturnType<FilesRepository['findForTenant']>>>,
    measured: { size: number; sha256: string },
    sniffedMime: string | null,
  ): string | null {
    if (file.size !== null && Number(file.size) !== measured.size) {
      return `Stored size ${measured.size} differs from the uploaded size ${file.size}`;
    }
    if (file.declaredSize !== null && Number(file.declaredSize) !== measured.size) {
      return `Stored size ${measured.size} differs from the declared size ${file.declaredSize}`;
    }
    if (file.sha256 && file.sha256 !== measured.sha256) return 'Stored bytes do not match the SHA-256 computed at upload';
    const maxBytes = file.category?.maxBytes;
    if (maxBytes !== null && maxBytes !== undefined && measured.size > Number(maxBytes)) {
      return `File is larger than category '${file.category!.key}' allows (${maxBytes} bytes)`;
    }
    if (sniffedMime && file.category && !mimeAllowed(sniffedMime, file.category.mimeTypes)) {
      return `The bytes are ${sniffedMime}, which category '${file.category.key}' does not accept`;
    }
    return null;
  }

  private async measure(key: string, signal: AbortSignal): Promise<{ size: number; sha256: string; head: Buffer }> {
    const { body } = await this.storage.get(key, { signal });
    const hash = createHash('sha256');
    const head: Buffer[] = [];
    let headLength = 0;
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      hash.update(chunk);
      if (headLength < SNIFF_BYTES) {
        const slice = chunk.subarray(0, SNIFF_BYTES - headLength);
        head.push(slice);
        headLength += slice.length;
      }
    }
    return { size, sha256: hash.digest('hex'), head: Buffer.concat(head) };
  }

  private async fail(tenantId: string, fileId: string, reason: string, data: Record<string, unknown> = {}): Promise<JobOutcome> {
    await this.files.updateIfStatus(this.filesDb(), tenantId, fileId, 'PROCESSING', {
      ...data,
      status: nextStatus('PROCESSING', 'failed'),
      failureReason: reason,
      processedAt: new Date(),
    });
    return { status: 'failed', detail: reason };
  }

  private filesDb() {
    return this.files.client;
  }
}
