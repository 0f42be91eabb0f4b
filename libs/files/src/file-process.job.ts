import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { unavailableDependency } from '@app/errors';
import { MediaError, MediaProcessor, readMediaInput } from '@app/media';
import { OutboxRelay, type JobContext, type JobHandler, type JobOutcome, type JobPayloads } from '@app/queue';
import { STORAGE_DRIVER, StorageLocator, StorageNotFoundError, type StorageDriver } from '@app/storage';
import { mimeAllowed, sniffMime } from './content-type';
import { nextStatus } from './file-lifecycle';
import { FilesRepository } from './files.repository';
import { SNIFF_BYTES } from './upload-meter';
import { emitFileEvent } from './file-events';
import { ContentQuarantine } from './content-quarantine.service';
import { StoredContentScanner } from './stored-content-scanner';

type Payload = JobPayloads['file.process'];

/** Images up to this size are kept from the verifying read for decoding; larger ones are read again. */
const KEEP_IN_MEMORY_BYTES = 256 * 1024 * 1024;

interface Measured {
  size: number;
  sha256: string;
  head: Buffer;
  /** The whole object, when it was kept for decoding. */
  data?: Buffer;
}

interface DerivedMedia {
  pageCount?: number;
  width?: number;
  height?: number;
  thumbnails: { variant: string; storageKey: string; mime: string; width: number; height: number; size: number }[];
}

/** What the virus scan (when on) said about the bytes. */
type ScanResult =
  | { kind: 'clean'; scannedWith: string; database: number | null }
  | { kind: 'infected'; signature: string; scannedWith: string; database: number | null }
  | { kind: 'unscanned'; reason?: string };

/**
 * Post-upload work, the same for every upload path: read the stored bytes, measure, hash and sniff them, check
 * them against what was recorded and what the category allows; with scanning on, stream them to clamd (infected:
 * QUARANTINED); then derive what the type allows (PDF page count, image size and thumbnails, judged by the sniffed
 * type only) and move to READY, or FAILED with a reason.
 */
@Injectable()
export class FileProcessJob implements JobHandler<'file.process'> {
  readonly jobName = 'file.process' as const;
  private readonly logger = new Logger(FileProcessJob.name);

  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly media: MediaProcessor,
    private readonly relay: OutboxRelay,
    private readonly scanning: StoredContentScanner,
    private readonly contentQuarantine: ContentQuarantine,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async handle({ fileId, tenantId }: Payload, { signal }: JobContext): Promise<JobOutcome> {
    const file = await this.files.findForTenant(tenantId, fileId);
    if (!file) return { status: 'skipped', detail: 'file no longer exists' };
    // Idempotent: a second run after READY/FAILED changes nothing.
    if (file.status !== 'PROCESSING') return { status: 'skipped', detail: `file is ${file.status}` };

    let measured: Measured;
    try {
      // An image is decoded from memory anyway: keep its bytes from this read instead of fetching them again.
      const keep = MediaProcessor.isImage(file.sniffedMime ?? file.declaredMime ?? null) && (file.size === null || Number(file.size) <= KEEP_IN_MEMORY_BYTES);
      measured = await this.measure(file.storageKey, signal, keep);
    } catch (error) {
      if (error instanceof StorageNotFoundError) return this.fail(tenantId, fileId, 'The uploaded object is missing from storage');
      throw error;
    }
    const sniffedMime = await sniffMime(measured.head);
    const problem = this.verify(file, measured, sniffedMime);
    if (problem) return this.fail(tenantId, fileId, problem, { sniffedMime, size: measured.size, sha256: measured.sha256 });

    const measuredData = { sniffedMime, size: measured.size, sha256: measured.sha256 };
    let scan: ScanResult;
    try {
      // Before anything is derived from the bytes: an infected file gets no thumbnails and never becomes READY.
      // A scanner that cannot be reached throws, so the job is retried and the file stays PROCESSING (unserved).
      scan = await this.scan(file.storageKey, measured, signal);
    } catch (error) {
      if (error instanceof StorageNotFoundError) return this.fail(tenantId, fileId, 'The uploaded object is missing from storage');
      throw error;
    }
    if (scan.kind === 'infected') return this.quarantine(tenantId, fileId, file.storageKey, scan, measuredData);
    if (scan.kind === 'unscanned' && scan.reason) {
      if (this.config.scanning.oversizePolicy === 'fail') return this.fail(tenantId, fileId, scan.reason, measuredData);
      this.logger.warn(`File ${fileId} becomes READY unscanned (CLAMAV_OVERSIZE_POLICY=allow): ${scan.reason}`);
    }

    // Reprocessed after a quarantine (a false positive, a rescan by an admin) and found clean: the bytes leave the
    // quarantine key space for a key of this file's own, which is what it serves from READY on.
    let key = file.storageKey;
    if (StorageLocator.isQuarantined(key)) {
      // Only a clean verdict releases: with scanning off, or the file now too large to scan, nothing new is known
      // about the bytes, and they stay quarantined.
      if (scan.kind !== 'clean') return this.keepQuarantined(tenantId, fileId, file.virusSignature, measuredData);
      const released = StorageLocator.originalKey(tenantId, fileId);
      await this.storage.copy(key, released, { signal });
      if (!(await this.files.repointProcessing(tenantId, fileId, key, released))) {
        await this.storage.delete(released).catch(() => undefined);
        return { status: 'skipped', detail: 'status changed meanwhile' };
      }
      this.logger.log(`File ${fileId} released from quarantine: clean with ${scan.scannedWith}`);
      key = released;
    }

    let derived: DerivedMedia;
    try {
      derived = await this.deriveMedia(key, sniffedMime, signal, measured.data);
    } catch (error) {
      // A file whose content cannot be read as what it claims to be fails for good; I/O errors are retried.
      if (error instanceof MediaError) return this.fail(tenantId, fileId, error.message, measuredData);
      if (error instanceof StorageNotFoundError) return this.fail(tenantId, fileId, 'The uploaded object is missing from storage');
      throw error;
    }

    const moved = await this.files.completeProcessing(
      tenantId,
      fileId,
      nextStatus('PROCESSING', 'verified'),
      { ...measuredData, pageCount: derived.pageCount ?? null, width: derived.width ?? null, height: derived.height ?? null },
      derived.thumbnails,
      scan.kind === 'clean' ? { scannedWith: scan.scannedWith, database: scan.database } : null,
    );
    if (moved) {
      await emitFileEvent(this.files.client, 'file.ready', { ...file, status: 'READY', size: BigInt(measured.size), sha256: measured.sha256, sniffedMime });
      this.relay.kick();
    }
    if (!moved && derived.thumbnails.length > 0) {
      // Another run finished first (it wrote the same keys, which its rows keep), or the file left PROCESSING meanwhile
      // (a quarantine of the same bytes removed their thumbnails): the delete job removes only keys no row keeps.
      await this.files.queueObjectDeletes(derived.thumbnails.map((t) => t.storageKey), 'thumbnails of a run that did not finish the file');
    }
    return moved ? { status: 'succeeded', detail: describe(derived) } : { status: 'skipped', detail: 'status changed meanwhile' };
  }

  /** Streams the stored bytes to clamd (StoredContentScanner: a verdict of the same database on the same bytes is reused). */
  private async scan(key: string, measured: Measured, signal: AbortSignal): Promise<ScanResult> {
    if (!this.scanning.enabled) return { kind: 'unscanned' };
    const version = await this.scanning.version(signal);
    const scan = await this.scanning.scan(version, { key, sha256: measured.sha256, size: measured.size }, signal);
    return scan.kind === 'too-large' ? { kind: 'unscanned', reason: scan.reason } : scan;
  }

  /**
   * Infected: QUARANTINED with the signature; never served. Other files sharing the object (content de-duplication:
   * READY ones scanned by an older database, PROCESSING ones not scanned yet) are quarantined with it, and the bytes move to the
   * quarantine key space (ContentQuarantine), kept there for an admin.
   */
  private async quarantine(
    tenantId: string,
    fileId: string,
    key: string,
    scan: { signature: string; scannedWith: string; database: number | null },
    data: { sniffedMime: string | null; size: number; sha256: string },
  ): Promise<JobOutcome> {
    const { signature, scannedWith, database } = scan;
    const reason = `Quarantined: infected with ${signature}`;
    // The bytes first (this record is repointed with the others): if this fails the job is retried with the file
    // still PROCESSING, and a retry after the move finds the bytes under their new key.
    try {
      await this.contentQuarantine.quarantine(key, { signature, scannedWith, database }, { ownFileId: fileId });
    } catch (error) {
      // Already moved by a concurrent run or a rescan; anything else is retried by the job.
      if (!(error instanceof StorageNotFoundError)) throw error;
    }
    const moved = await this.files.updateIfStatus(this.filesDb(), tenantId, fileId, 'PROCESSING', {
      ...data,
      status: nextStatus('PROCESSING', 'infected'),
      failureReason: reason,
      virusSignature: signature,
      scannedWith,
      scanDatabaseVersion: database,
      scannedAt: new Date(),
      processedAt: new Date(),
    });
    const file = moved ? await this.files.findForTenant(tenantId, fileId) : null;
    if (file) {
      this.logger.warn(`File ${fileId} quarantined: clamd found ${signature}`);
      await emitFileEvent(this.filesDb(), 'file.quarantined', file, { signature, reason });
      this.relay.kick();
    }
    return { status: 'failed', detail: reason };
  }

  /** A quarantined file reprocessed without a clean verdict goes back to QUARANTINED, its bytes where they are. */
  private async keepQuarantined(
    tenantId: string,
    fileId: string,
    signature: string | null,
    data: { sniffedMime: string | null; size: number; sha256: string },
  ): Promise<JobOutcome> {
    const reason = `Still quarantined: ${signature ? `infected with ${signature} when last scanned, ` : ''}and not scanned clean since (virus scanning off, or the file too large to scan)`;
    await this.files.updateIfStatus(this.files.client, tenantId, fileId, 'PROCESSING', {
      ...data,
      status: nextStatus('PROCESSING', 'infected'),
      failureReason: reason,
      processedAt: new Date(),
    });
    return { status: 'failed', detail: reason };
  }

  private async deriveMedia(originalKey: string, sniffedMime: string | null, signal: AbortSignal, kept?: Buffer): Promise<DerivedMedia> {
    if (MediaProcessor.isPdf(sniffedMime)) {
      const { body } = await this.storage.get(originalKey, { signal });
      return { pageCount: await this.media.pdfPageCount(body), thumbnails: [] };
    }
    if (!MediaProcessor.isImage(sniffedMime)) return { thumbnails: [] };
    // Images are decoded from memory (as sharp does with any input); the pixel limit is checked from the header first.
    const data = kept ?? (await readMediaInput((await this.storage.get(originalKey, { signal })).body));
    const info = await this.media.analyzeImage(data);
    const thumbnails = await this.media.thumbnails(data);
    // Derived keys are a function of the original and the variant: a second run overwrites, never adds.
    const stored = await Promise.all(
      thumbnails.map(async (t) => {
        const storageKey = StorageLocator.derivedKey(originalKey, t.variant);
        await this.storage.put(storageKey, t.data, { contentType: t.mime, signal });
        return { variant: t.variant, storageKey, mime: t.mime, width: t.width, height: t.height, size: t.data.length };
      }),
    );
    return { width: info.width, height: info.height, thumbnails: stored };
  }

  async onExhausted({ fileId, tenantId }: Payload, error: Error): Promise<void> {
    // Storage, the database or the virus scanner down (refused, silent, or answering ERROR) for longer than the
    // retries: nothing is wrong with the file. It stays PROCESSING (unserved) and the requeue-stalled sweep queues it
    // again after STALLED_PROCESSING_SECONDS.
    const outage = unavailableDependency(error);
    if (outage) {
      this.logger.warn(`file ${fileId}: retries exhausted while the ${outage} was unavailable; left PROCESSING for the stalled sweep`);
      return;
    }
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

  private async measure(key: string, signal: AbortSignal, keep: boolean): Promise<Measured> {
    const { body } = await this.storage.get(key, { signal });
    const hash = createHash('sha256');
    const head: Buffer[] = [];
    const kept: Buffer[] = [];
    let headLength = 0;
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      hash.update(chunk);
      if (keep && size <= KEEP_IN_MEMORY_BYTES) kept.push(chunk);
      else kept.length = 0;
      if (headLength < SNIFF_BYTES) {
        const slice = chunk.subarray(0, SNIFF_BYTES - headLength);
        head.push(slice);
        headLength += slice.length;
      }
    }
    const data = keep && size <= KEEP_IN_MEMORY_BYTES ? Buffer.concat(kept, size) : undefined;
    return { size, sha256: hash.digest('hex'), head: Buffer.concat(head), data };
  }

  private async fail(tenantId: string, fileId: string, reason: string, data: Record<string, unknown> = {}): Promise<JobOutcome> {
    const moved = await this.files.updateIfStatus(this.filesDb(), tenantId, fileId, 'PROCESSING', {
      ...data,
      status: nextStatus('PROCESSING', 'failed'),
      failureReason: reason,
      processedAt: new Date(),
    });
    const file = moved ? await this.files.findForTenant(tenantId, fileId) : null;
    if (file) {
      await emitFileEvent(this.filesDb(), 'file.failed', file, { reason });
      this.relay.kick();
    }
    return { status: 'failed', detail: reason };
  }

  private filesDb() {
    return this.files.client;
  }
}

function describe(derived: DerivedMedia): string | undefined {
  if (derived.pageCount !== undefined) return `${derived.pageCount} page(s)`;
  if (derived.width !== undefined) return `${derived.width}x${derived.height}, ${derived.thumbnails.length} thumbnail(s)`;
  return undefined;
}
