// Errors that mean a backing service is down or unreachable for a moment, not that the request or the code is wrong.
// Recognised by shape (no driver imported here): Prisma's driver-adapter errors, PostgreSQL's SQLSTATEs, the AWS
// SDK's metadata and Node's socket error codes. Every surface answers them 503 with Retry-After instead of a 500.

export type UnavailableDependency = 'database' | 'storage' | 'virus scanner' | 'backing service';

const PRISMA_UNREACHABLE_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017']);
const ADAPTER_UNREACHABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
// SQLSTATE class 08 (connection exception); 57P01-57P03: shutting down, crashed, starting up; 53300: too many clients.
const POSTGRES_UNAVAILABLE = /^(08...|57P0[123]|53300)$/;
const DATABASE_MESSAGES = /Connection terminated|terminating connection|the database system is (starting up|shutting down|in recovery mode)|Can't reach database server|Server has closed the connection|Connection ended unexpectedly|Client has encountered a connection error|Query read timeout|timeout exceeded when trying to connect|Connection terminated due to connection timeout|^timeout expired$/im;
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);
const S3_UNAVAILABLE_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeTooSkewed', 'ServiceUnavailable', 'SlowDown', 'InternalError', 'XMinioServerNotInitialized', 'XMinioStorageFull']);

interface Shaped {
  name?: unknown;
  /** A driver adapter's error cause (`DriverAdapterError.cause`). */
  kind?: unknown;
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  meta?: { driverAdapterError?: { cause?: { kind?: unknown; originalCode?: unknown; code?: unknown } } };
  $metadata?: { httpStatusCode?: unknown };
}

function isDatabaseError(e: Shaped): boolean {
  const name = typeof e.name === 'string' ? e.name : '';
  if (typeof e.code === 'string' && PRISMA_UNREACHABLE_CODES.has(e.code)) return true;
  // The driver adapter's cause, met on its own (DriverAdapterError's `cause`) or inside Prisma's `meta`.
  if (typeof e.kind === 'string' && ADAPTER_UNREACHABLE_KINDS.has(e.kind)) return true;
  const cause = e.meta?.driverAdapterError?.cause;
  if (cause && typeof cause.kind === 'string') {
    if (ADAPTER_UNREACHABLE_KINDS.has(cause.kind)) return true;
    if (cause.kind === 'postgres' && typeof cause.code === 'string' && POSTGRES_UNAVAILABLE.test(cause.code)) return true;
  }
  // Prisma's wrappers, and node-postgres's own (plain Error) messages for a connection that broke mid-transaction
  // or did not open in time ('timeout expired': the client's connect timer, prisma.service.ts).
  if (typeof e.message === 'string' && DATABASE_MESSAGES.test(e.message) && (name.startsWith('PrismaClient') || name === 'DriverAdapterError' || name === 'Error')) {
    return true;
  }
  // node-postgres errors straight from the server.
  return typeof e.code === 'string' && POSTGRES_UNAVAILABLE.test(e.code) && 'severity' in e;
}

function isStorageError(e: Shaped): boolean {
  const status = e.$metadata?.httpStatusCode;
  if (e.$metadata !== undefined && (status === undefined || (typeof status === 'number' && status >= 500))) return true;
  return typeof e.name === 'string' && S3_UNAVAILABLE_NAMES.has(e.name) && e.$metadata !== undefined;
}

/** Which dependency `error` says is unavailable, or undefined when it is some other error. */
export function unavailableDependency(error: unknown): UnavailableDependency | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  // Drivers wrap errors: look through the cause chain (bounded).
  while (current && typeof current === 'object' && !seen.has(current) && seen.size < 5) {
    seen.add(current);
    const e = current as Shaped;
    if (isDatabaseError(e)) return 'database';
    if (isStorageError(e)) return 'storage';
    // libs/storage's error for a store that stopped answering without closing its connections.
    if (e.name === 'StorageStalledError') return 'storage';
    // libs/scanning's error for a clamd that refused, timed out or answered ERROR.
    if (e.name === 'ScannerUnavailableError') return 'virus scanner';
    if (typeof e.code === 'string' && SOCKET_CODES.has(e.code)) {
      // The database's socket errors come wrapped by Prisma and the AWS SDK's carry $metadata (both caught above).
      return 'backing service';
    }
    current = e.cause;
  }
  return undefined;
}

/** Seconds a client should wait before trying again after a 503 for an unavailable dependency. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 2;
