import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client';

export type Db = PrismaClient;

const CONNECT_TIMEOUT_MS = 5_000;
const QUERY_TIMEOUT_MS = 10_000;
/** The client handed to a callback of `$transaction`. */
export type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export function createPrismaClient(url: string, maxConnections: number, options: { emitQueryEvents?: boolean } = {}): PrismaClient {
  // A database that stops answering without closing the connection (a network partition, a frozen host) must cost
  // a bounded wait and a 503, not a request hanging until the kernel gives up on TCP: new connections get 5 s, a
  // query 10 s of silence. Queries here take milliseconds; transactions are bounded at 30 s anyway.
  const adapter = new PrismaPg({
    connectionString: url,
    max: maxConnections,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
  });
  // Transactions wait for a connection in turn: the embedded profile has exactly one, so under a burst of uploads
  // the queue can be long. Prisma's default of 2 s to start one would turn that queue into errors.
  const transactionOptions = { maxWait: 30_000, timeout: 30_000 };
  // Query events let tests count statements (no N+1); off in production.
  return new PrismaClient({
    adapter,
    transactionOptions,
    ...(options.emitQueryEvents ? { log: [{ emit: 'event' as const, level: 'query' as const }] } : {}),
  }) as PrismaClient;
}
