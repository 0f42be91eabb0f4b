import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import type { JobContext, JobHandler, JobOutcome, JobPayloads } from '@app/queue';
import { nextStatus } from './file-lifecycle';
import { FileUploadService } from './file-upload.service';
import { FilesRepository } from './files.repository';
import { safeFetch, SourceUrlError } from './source-url/safe-fetch';

// Refusals that another attempt would not change: the file fails at once with the reason.
const FINAL: ReadonlySet<SourceUrlError['code']> = new Set(['INVALID_URL', 'BLOCKED_ADDRESS', 'TOO_MANY_REDIRECTS', 'HTTP_STATUS', 'TOO_LARGE']);

/**
 * Imports the bytes of a file created from a `source_url` (epilot saveFileV2). The URL is fetched with the SSRF
 * guard (no loopback, private, link-local or metadata addresses, each redirect checked, the address pinned between
 * check and connect; SOURCE_URL_ALLOW_HOSTS opens exceptions), within MAX_UPLOAD_BYTES and SOURCE_URL_TIMEOUT_MS,
 * and streamed into the record's key like any upload; the post-upload job follows. Refusals end FAILED with the
 * reason; network trouble is retried with backoff.
 */
@Injectable()
export class ImportUrlJob implements JobHandler<'file.import-url'> {
  readonly jobName = 'file.import-url' as const;
  private readonly logger = new Logger('ImportUrl');

  constructor(
    private readonly files: FilesRepository,
    private readonly uploads: FileUploadService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async handle({ fileId, tenantId, url }: JobPayloads['file.import-url'], { signal }: JobContext): Promise<JobOutcome> {
    const file = await this.files.findForTenant(tenantId, fileId);
    if (!file || file.deletedAt) return { status: 'skipped', detail: 'file no longer exists' };
    if (file.status !== 'UPLOADING') return { status: 'skipped', detail: `file is ${file.status}` };
    try {
      const fetched = await safeFetch(url, {
        allowList: this.config.sourceUrl.allowList,
        maxBytes: this.config.uploads.maxBytes,
        timeoutMs: this.config.sourceUrl.timeoutMs,
        signal,
      });
      await this.uploads.receive(file, fetched.body, { contentType: fetched.contentType, signal });
      return { status: 'succeeded', detail: `imported from ${new URL(fetched.finalUrl).host}` };
    } catch (error) {
      if (error instanceof SourceUrlError && FINAL.has(error.code)) {
        await this.fail(tenantId, fileId, `Import from source_url refused: ${error.message}`);
        return { status: 'failed', detail: error.message };
      }
      throw error;
    }
  }

  async onExhausted({ fileId, tenantId }: JobPayloads['file.import-url'], error: Error): Promise<void> {
    await this.fail(tenantId, fileId, `Import from source_url failed: ${error.message}`);
  }

  private async fail(tenantId: string, fileId: string, reason: string): Promise<void> {
    this.logger.warn(`${fileId}: ${reason}`);
    await this.files.updateIfStatus(this.files.client, tenantId, fileId, 'UPLOADING', { status: nextStatus('UPLOADING', 'failed'), failureReason: reason });
  }
}
