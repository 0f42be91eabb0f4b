import { Inject, Injectable } from '@nestjs/common';
import { parseClamdVersion, VIRUS_SCANNER, verdictKey, type VirusScanner } from '@app/scanning';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { FilesRepository } from './files.repository';

/** What a scan said about stored bytes. `scannedWith`: clamd's VERSION answer; `database`: its database version. */
export type ContentScan =
  | { kind: 'clean'; scannedWith: string; database: number | null }
  | { kind: 'infected'; signature: string; scannedWith: string; database: number | null }
  | { kind: 'too-large'; reason: string };

/**
 * Streams stored bytes to clamd, for the post-upload job and the rescans alike. A verdict of the same clamd database
 * on the same bytes (sha256) is reused instead: the same bytes and signatures give the same answer. Without a
 * database version in clamd's VERSION answer (local signature files only) every object is scanned. Throws
 * ScannerUnavailableError when clamd gives no verdict, StorageNotFoundError when the object is gone.
 */
@Injectable()
export class StoredContentScanner {
  constructor(
    @Inject(VIRUS_SCANNER) private readonly scanner: VirusScanner | null,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly files: FilesRepository,
  ) {}

  /** Null when scanning is off (CLAMAV_ADDRESS unset). */
  get enabled(): boolean {
    return this.scanner !== null;
  }

  /** clamd's VERSION answer; asked once per job or rescan run, it keys the verdicts. */
  version(signal?: AbortSignal): Promise<string> {
    if (!this.scanner) throw new Error('Virus scanning is off (CLAMAV_ADDRESS is unset)');
    return this.scanner.version(signal);
  }

  async scan(version: string, object: { key: string; sha256: string | null; size: number | null }, signal?: AbortSignal): Promise<ContentScan> {
    if (!this.scanner) throw new Error('Virus scanning is off (CLAMAV_ADDRESS is unset)');
    const { database } = parseClamdVersion(version);
    const engineKey = verdictKey(version);
    const known = engineKey && object.sha256 ? await this.files.findScanVerdict(object.sha256, engineKey) : null;
    if (known) {
      return known.infected ? { kind: 'infected', signature: known.infected, scannedWith: version, database } : { kind: 'clean', scannedWith: version, database };
    }
    const { body } = await this.storage.get(object.key, { signal });
    const verdict = await this.scanner.scan(body, { size: object.size ?? undefined, signal }).finally(() => body.destroy());
    switch (verdict.result) {
      case 'clean':
        return { kind: 'clean', scannedWith: version, database };
      case 'infected':
        return { kind: 'infected', signature: verdict.signature, scannedWith: version, database };
      case 'too-large':
        return { kind: 'too-large', reason: `Not scanned for viruses: ${verdict.detail}` };
    }
  }
}
