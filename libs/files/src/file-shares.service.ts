import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { AppError, Errors } from '@app/errors';
import { addOutboxJob, OutboxRelay } from '@app/queue';
import { FilesRepository, tenantIdOf, type FileRow } from './files.repository';
import { emitFileEvent } from './file-events';
import { assertServable } from './file-serving';

export interface ShareInput {
  /** The user the new record belongs to. */
  toUserId: string;
  /** The file client the new record is issued to. */
  fileClientId: string;
  metadata: Record<string, unknown>;
}

/**
 * Sharing without copying bytes (the signed REST flow's `/api/files/share`): a new record in the source file's
 * organization, owned by the target user and issued to the target client, pointing at the same object. It
 * remembers where it came from (`sourceFileId`, `sourceFileClientId`: the client the bytes were first uploaded
 * for, kept across re-shares). The object stays until the last record pointing at it is purged.
 */
@Injectable()
export class FileSharesService {
  constructor(
    private readonly files: FilesRepository,
    private readonly relay: OutboxRelay,
  ) {}

  /** `principal` must be able to read the source; another tenant's file is not found. */
  async share(principal: Principal, sourceId: string, input: ShareInput): Promise<FileRow> {
    const source = await this.files.findReadableWithRelations(principal, sourceId);
    if (!source) throw Errors.notFound('File', sourceId);
    if (source.status === 'QUARANTINED') assertServable(source, true);
    if (source.status !== 'READY' && source.status !== 'PROCESSING') {
      throw new AppError('CONFLICT', `File ${sourceId} has no content to share (status ${source.status})`);
    }
    const id = randomUUID();
    const tenantId = tenantIdOf(source);
    await this.files.transaction(async (tx) => {
      await this.files.create(tx, {
        id,
        ownerId: input.toUserId,
        organizationId: source.organizationId,
        fileClientId: input.fileClientId,
        sourceFileClientId: source.sourceFileClientId ?? source.fileClientId,
        sourceFileId: source.id,
        originalFilename: source.originalFilename,
        encoding: source.encoding,
        storageKey: source.storageKey,
        declaredMime: source.declaredMime,
        sniffedMime: source.sniffedMime,
        size: source.size,
        sha256: source.sha256,
        status: source.status,
        visibility: source.visibility,
        categoryId: source.categoryId,
        metadata: input.metadata as object,
        pageCount: source.pageCount,
        width: source.width,
        height: source.height,
        uploadedAt: source.uploadedAt,
        processedAt: source.processedAt,
      });
      await this.files.addVersion(tx, {
        fileId: id,
        version: 1,
        storageKey: source.storageKey,
        originalFilename: source.originalFilename,
        mime: source.sniffedMime ?? source.declaredMime,
        size: source.size,
        sha256: source.sha256,
        createdBy: principal.userId,
      });
      await emitFileEvent(tx, 'file.shared', source, { sharedAs: { id, ownerId: input.toUserId, fileClientId: input.fileClientId } });
      if (source.status === 'READY') {
        // The derived images are the source's too.
        await this.files.saveThumbnails(
          tx,
          id,
          source.thumbnails.map((t) => ({ variant: t.variant, storageKey: t.storageKey, mime: t.mime, width: t.width, height: t.height, size: Number(t.size) })),
        );
      } else {
        // Still being processed: the copy gets its own run (same object, same derived keys), so it reaches READY too.
        await addOutboxJob(tx, 'file.process', { fileId: id, tenantId });
      }
    });
    this.relay.kick();
    return (await this.files.findForTenant(tenantId, id))!;
  }
}
