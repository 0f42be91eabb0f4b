import type { File } from '@app/database';
import { addOutboxJob, type FileEventName } from '@app/queue';
import type { Tx } from '@app/database';

/** What every file event carries about its file (never the storage key). */
export function fileEventData(file: Pick<File, 'id' | 'originalFilename' | 'status' | 'size' | 'sha256' | 'sniffedMime' | 'declaredMime' | 'visibility' | 'ownerId' | 'organizationId'>) {
  return {
    id: file.id,
    name: file.originalFilename,
    status: file.status,
    size: file.size === null ? null : Number(file.size),
    sha256: file.sha256,
    contentType: file.sniffedMime ?? file.declaredMime ?? null,
    visibility: file.visibility === 'PUBLIC' ? 'public' : 'private',
    ownerId: file.ownerId,
    organizationId: file.organizationId,
  };
}

/**
 * Records a file event for the organization's webhooks, through the outbox: inside the transaction of the change
 * when there is one (the event exists exactly when the change does), otherwise right after it. Files without an
 * organization have no webhooks, and an organization without an active webhook gets nothing written either.
 */
export async function emitFileEvent(
  tx: Tx,
  event: FileEventName,
  file: Parameters<typeof fileEventData>[0],
  extra: Record<string, unknown> = {},
): Promise<void> {
  if (!file.organizationId) return;
  // Nobody listening: no job at all (the common case costs one indexed lookup, not two queued jobs per upload).
  const listening = await tx.webhook.findFirst({ where: { organizationId: file.organizationId, active: true }, select: { id: true } });
  if (!listening) return;
  await addOutboxJob(tx, 'webhook.dispatch', {
    event,
    organizationId: file.organizationId,
    occurredAt: new Date().toISOString(),
    data: { file: fileEventData(file), ...extra },
  });
}
