import { AppError } from '@app/errors';
import { canTransition, eventForRequestedStatus, FILE_STATUSES, nextStatus, type LifecycleEvent } from './file-lifecycle';

const events: LifecycleEvent[] = ['uploaded', 'verified', 'failed', 'infected', 'reprocess'];

describe('file lifecycle', () => {
  it.each([
    ['UPLOADING', 'uploaded', 'PROCESSING'],
    ['UPLOADING', 'failed', 'FAILED'],
    ['PROCESSING', 'verified', 'READY'],
    ['PROCESSING', 'failed', 'FAILED'],
    ['PROCESSING', 'infected', 'QUARANTINED'],
    ['READY', 'reprocess', 'PROCESSING'],
    ['READY', 'infected', 'QUARANTINED'],
    ['FAILED', 'reprocess', 'PROCESSING'],
    ['QUARANTINED', 'reprocess', 'PROCESSING'],
  ] as const)('%s --%s--> %s', (from, event, to) => {
    expect(nextStatus(from, event)).toBe(to);
  });

  it('refuses every other step with ILLEGAL_TRANSITION', () => {
    const allowed = new Set([
      'UPLOADING:uploaded',
      'UPLOADING:failed',
      'PROCESSING:verified',
      'PROCESSING:failed',
      'PROCESSING:infected',
      'READY:reprocess',
      'READY:infected',
      'FAILED:reprocess',
      'QUARANTINED:reprocess',
    ]);
    for (const from of FILE_STATUSES) {
      for (const event of events) {
        if (allowed.has(`${from}:${event}`)) continue;
        expect(canTransition(from, event)).toBe(false);
        expect(() => nextStatus(from, event)).toThrow(AppError);
        try {
          nextStatus(from, event);
        } catch (e) {
          expect((e as AppError).code).toBe('ILLEGAL_TRANSITION');
          expect((e as AppError).message).toContain(from);
        }
      }
    }
  });

  it('never reaches READY without passing through PROCESSING', () => {
    for (const event of events) {
      if (canTransition('UPLOADING', event)) expect(nextStatus('UPLOADING', event)).not.toBe('READY');
    }
  });

  it('never leaves QUARANTINED except by an admin rescan, and no client may ask for it', () => {
    for (const event of events) {
      if (event !== 'reprocess') expect(canTransition('QUARANTINED', event)).toBe(false);
    }
    expect(() => eventForRequestedStatus('QUARANTINED')).toThrow('Only the virus scanner quarantines a file');
  });

  it('quarantines only scanned content: from PROCESSING (the first scan) or READY (a rescan with newer signatures)', () => {
    for (const from of FILE_STATUSES) expect(canTransition(from, 'infected')).toBe(from === 'PROCESSING' || from === 'READY');
  });
});
