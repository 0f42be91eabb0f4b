import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client';

export type Db = PrismaClient;
/** The client handed to a callback of `$transaction`. */
export type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export function createPrismaClient(url: string, maxConnections: number, options: { emitQueryEvents?: boolean } = {}): PrismaClient {
  const adapter = new PrismaPg({ connectionString: url, max: maxConnections });
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
