import { AppError } from '@app/errors';
import { contentRefusal } from './file-serving';

describe('contentRefusal', () => {
  it('serves READY files, and PROCESSING ones only while scanning is off', () => {
    expect(contentRefusal({ id: 'f', status: 'READY' }, true)).toBeNull();
    expect(contentRefusal({ id: 'f', status: 'PROCESSING' }, false)).toBeNull();
    const unscanned = contentRefusal({ id: 'f', status: 'PROCESSING' }, true);
    expect(unscanned).toBeInstanceOf(AppError);
    expect(unscanned).toMatchObject({ code: 'CONFLICT', message: 'File f is being scanned for viruses; its content is served once it is READY' });
  });

  it('never serves a quarantined file, and says what it is infected with', () => {
    for (const scanning of [true, false]) {
      const refusal = contentRefusal({ id: 'f', status: 'QUARANTINED', virusSignature: 'Eicar-Test-Signature' }, scanning);
      expect(refusal).toMatchObject({ code: 'FORBIDDEN', message: 'File f is quarantined: infected with Eicar-Test-Signature' });
      expect(refusal?.status).toBe(403);
    }
  });

  it('never serves bytes under the quarantine key space, whatever the record says', () => {
    for (const status of ['READY', 'PROCESSING'] as const) {
      expect(contentRefusal({ id: 'f', status, storageKey: 'quarantine/ab/cd/abcd' }, false)).toMatchObject({
        code: 'FORBIDDEN',
        message: 'File f is quarantined: another file with the same content was found infected',
      });
    }
    expect(contentRefusal({ id: 'f', status: 'READY', storageKey: 'objects/ab/cd/abcd' }, true)).toBeNull();
  });

  it.each(['UPLOADING', 'FAILED'] as const)('has nothing to serve for %s', (status) => {
    expect(contentRefusal({ id: 'f', status }, false)).toMatchObject({ code: 'CONFLICT', message: `File f has no content to download (status ${status})` });
  });
});
