import { AppError } from '@app/errors';

// Every upload path (multipart through the API, pre-signed POST/PUT, S3 multipart, tus) walks the same steps:
//   intent (record in UPLOADING) → uploaded (bytes in storage, PROCESSING) → verified → READY | FAILED,
// and, with virus scanning on, PROCESSING → infected → QUARANTINED (never served; an admin may rescan it), or
// READY → infected → QUARANTINED when a rescan with newer signatures finds what the first scan could not.
// This table is the only place that says which step may follow which.
export const FILE_STATUSES = ['UPLOADING', 'PROCESSING', 'READY', 'FAILED', 'QUARANTINED'] as const;
export type FileStatusName = (typeof FILE_STATUSES)[number];

export type LifecycleEvent =
  /** The bytes are in storage and within the declared limits. */
  | 'uploaded'
  /** Post-upload verification (size, hash, sniffed type, derived data) succeeded. */
  | 'verified'
  /** The upload or its verification failed for good. */
  | 'failed'
  /** The virus scanner found a signature in the bytes. */
  | 'infected'
  /** An admin asks to run post-upload work again. */
  | 'reprocess';

const TRANSITIONS: Record<FileStatusName, Partial<Record<LifecycleEvent, FileStatusName>>> = {
  UPLOADING: { uploaded: 'PROCESSING', failed: 'FAILED' },
  PROCESSING: { verified: 'READY', failed: 'FAILED', infected: 'QUARANTINED' },
  READY: { reprocess: 'PROCESSING', infected: 'QUARANTINED' },
  FAILED: { reprocess: 'PROCESSING' },
  // An admin rescans after a signature update withdrew a false positive; nothing else leaves quarantine.
  QUARANTINED: { reprocess: 'PROCESSING' },
};

export function canTransition(from: FileStatusName, event: LifecycleEvent): boolean {
  return TRANSITIONS[from][event] !== undefined;
}

/** The status after `event`, or an ILLEGAL_TRANSITION error that says what was attempted. */
export function nextStatus(from: FileStatusName, event: LifecycleEvent): FileStatusName {
  const to = TRANSITIONS[from][event];
  if (!to) {
    throw new AppError('ILLEGAL_TRANSITION', `A file in status ${from} cannot take the '${event}' step`, {
      from,
      event,
    });
  }
  return to;
}

/** The statuses a client may ask for directly (ROQ's updateFileStatus) and the event each one means. */
export function eventForRequestedStatus(status: FileStatusName): LifecycleEvent {
  switch (status) {
    case 'READY':
    case 'PROCESSING':
      return 'uploaded';
    case 'FAILED':
      return 'failed';
    case 'UPLOADING':
      throw new AppError('ILLEGAL_TRANSITION', 'A file cannot be moved back to UPLOADING');
    case 'QUARANTINED':
      throw new AppError('ILLEGAL_TRANSITION', 'Only the virus scanner quarantines a file');
  }
}
