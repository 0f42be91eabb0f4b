import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/client';

export type Db = PrismaClient;

const CONNECT_TIMEOUT_MS = 5_000;
const QUERY_TIMEOUT_MS = 10_000;
/** How long a request may wait for a free connection of the pool (a burst queues; it is not an outage). */
const POOL_WAIT_MS = 20_000;
/** The client handed to a callback of `$transaction`. */
export type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

/** A connection that gives up opening after CONNECT_TIMEOUT_MS, whatever the pool's queue wait is. */
class BoundedConnectClient extends pg.Client {
  constructor(config?: pg.ClientConfig) {
    super({ ...config, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  }
}

export function createPrismaClient(url: string, maxConnections: number, options: { emitQueryEvents?: boolean } = {}): PrismaClient {
  // A database that stops answering without closing the connection (a network partition, a frozen host) must cost
  // a bounded wait and a 503, not a request hanging until the kernel gives up on TCP: a new connection gets 5 s, a
  // query 10 s of silence. Queries here take milliseconds; transactions are bounded at 30 s anyway.
  // node-postgres uses one setting both for opening a connection and for waiting in the pool's queue; a burst of
  // uploads on a busy machine queues for longer than a connection takes to open, so the two are set apart: the
  // pool waits up to 20 s for a free connection, and each connection it opens gets 5 s (the client's own timer).
  const pool = new pg.Pool({
    connectionString: url,
    max: maxConnections,
    connectionTimeoutMillis: POOL_WAIT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    Client: BoundedConnectClient,
  });
  const adapter = new PrismaPg(pool, { disposeExternalPool: true });
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
