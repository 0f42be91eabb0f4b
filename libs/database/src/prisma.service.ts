import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client';

export type Db = PrismaClient;
/** The client handed to a callback of `$transaction`. */
export type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export function createPrismaClient(url: string, maxConnections: number, options: { emitQueryEvents?: boolean } = {}): PrismaClient {
  const adapter = new PrismaPg({ connectionString: url, max: maxConnections });
  // Query events let tests count statements (no N+1); off in production.
  return new PrismaClient({ adapter, ...(options.emitQueryEvents ? { log: [{ emit: 'event' as const, level: 'query' as const }] } : {}) }) as PrismaClient;
}
