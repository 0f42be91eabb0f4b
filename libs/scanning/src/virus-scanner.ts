import type { ScanVerdict } from './clamd.client';

/**
 * The port between the post-upload job and a virus scanner (clamd). Both calls throw ScannerUnavailableError when
 * there is no answer; the caller retries and never treats that as clean.
 */
export interface VirusScanner {
  /** Where the scanner is, for messages. */
  readonly address: string;
  /** The engine and database version, e.g. `ClamAV 1.4.6/27000/Tue Nov 25 09:00:00 2026`. */
  version(signal?: AbortSignal): Promise<string>;
  /** Streams the bytes to the scanner; `size` (when known) lets an oversized file be refused without sending it. */
  scan(body: AsyncIterable<Uint8Array>, options?: { size?: number; signal?: AbortSignal }): Promise<ScanVerdict>;
}

/** The VirusScanner, or null when CLAMAV_ADDRESS is unset (no scanning). */
export const VIRUS_SCANNER = Symbol('VIRUS_SCANNER');

/**
 * The part of a VERSION answer that identifies a verdict: engine and database version (`ClamAV 1.4.6/27000`), or null
 * when the answer names no database version (only local signature files such as `.ndb`, whose changes VERSION does
 * not show): then no verdict may be reused.
 */
export function verdictKey(version: string): string | null {
  const match = /^(ClamAV [^/\s]+\/\d+)\//.exec(version.trim());
  return match ? match[1] : null;
}

/** clamd's VERSION answer taken apart: `ClamAV 1.4.6/27000/Tue Nov 25 09:00:00 2026`. */
export interface ClamdVersion {
  /** The engine, `1.4.6`. */
  engine: string;
  /** The signature database version (daily's), or null when clamd loaded only local signature files. */
  database: number | null;
  /** When that database was built, as clamd prints it. */
  databaseDate: string | null;
}

export function parseClamdVersion(version: string): ClamdVersion {
  const match = /^ClamAV ([^/\s]+)(?:\/(\d+)(?:\/(.+))?)?$/.exec(version.trim());
  if (!match) return { engine: version.trim(), database: null, databaseDate: null };
  return { engine: match[1]!, database: match[2] ? Number(match[2]) : null, databaseDate: match[3] ?? null };
}
