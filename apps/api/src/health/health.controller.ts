import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Public } from '@app/auth';
import { PRISMA, type Db } from '@app/database';
import { QUEUE_DRIVER, type QueueDriver } from '@app/queue';
import { parseClamdVersion, VIRUS_SCANNER, type VirusScanner } from '@app/scanning';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';

type Check = { status: 'up' } | { status: 'down'; error: string };

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out after 3 s')), 3000).unref())]);
}

async function check(fn: () => Promise<unknown>): Promise<Check> {
  try {
    await withTimeout(fn());
    return { status: 'up' };
  } catch (error) {
    return { status: 'down', error: (error as Error).message };
  }
}

@Controller('health')
export class HealthController {
  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(QUEUE_DRIVER) private readonly queue: QueueDriver,
    @Inject(VIRUS_SCANNER) private readonly scanner: VirusScanner | null,
  ) {}

  /**
   * 200 once database, storage and queue answer; 503 with what is down otherwise. With virus scanning on, the
   * scanner is reported too (its signature database version from clamd's VERSION), but an unreachable scanner
   * only makes the answer `degraded`, still 200: uploads are accepted and wait in PROCESSING until it is back.
   */
  @Public()
  @Get()
  async health(@Res({ passthrough: true }) res: Response) {
    const [database, storage, queue, scanner] = await Promise.all([
      check(() => this.db.$queryRaw`SELECT 1`),
      check(() => this.storage.checkHealth()),
      check(() => this.queue.checkHealth()),
      this.scannerCheck(),
    ]);
    const ok = [database, storage, queue].every((c) => c.status === 'up');
    res.status(ok ? 200 : 503);
    return {
      status: !ok ? 'unavailable' : scanner?.status === 'down' ? 'degraded' : 'ok',
      checks: {
        database,
        storage: { driver: this.storage.name, ...storage },
        queue: { driver: this.queue.name, ...queue },
        ...(scanner ? { scanner } : {}),
      },
    };
  }

  /** clamd's VERSION: reachable, and which signature database it has loaded. Null without scanning. */
  private async scannerCheck() {
    if (!this.scanner) return null;
    const { address } = this.scanner;
    try {
      // Aborted with the check, so a clamd that stopped answering holds no socket past the probe.
      const version = await withTimeout(this.scanner.version(AbortSignal.timeout(3000)));
      return { status: 'up' as const, address, version, ...parseClamdVersion(version) };
    } catch (error) {
      return { status: 'down' as const, address, error: (error as Error).message };
    }
  }
}
