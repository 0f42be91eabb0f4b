import { AppError } from '@app/errors';
import { canTransition, FILE_STATUSES, nextStatus, type LifecycleEvent } from './file-lifecycle';

const events: LifecycleEvent[] = ['uploaded', 'verified', 'failed', 'reprocess'];

describe('file lifecycle', () => {
  it.each([
    ['UPLOADING', 'uploaded', 'PROCESSING'],
    ['UPLOADING', 'failed', 'FAILED'],
    ['PROCESSING', 'verified', 'READY'],
    ['PROCESSING', 'failed', 'FAILED'],
    ['READY', 'reprocess', 'PROCESSING'],
    ['FAILED', 'reprocess', 'PROCESSING'],
  ] as const)('%s --%s--> %s', (from, event, to) => {
    expect(nextStatus(from, event)).toBe(to);
  });

  it('refuses every other step with ILLEGAL_TRANSITION', () => {
    const allowed = new Set([
      'UPLOADING:uploaded',
      'UPLOADING:failed',
      'PROCESSING:verified',
      'PROCESSING:failed',
      'READY:reprocess',
      'FAILED:reprocess',
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
});
