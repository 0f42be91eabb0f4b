import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Public } from '@app/auth';
import { PRISMA, type Db } from '@app/database';
import { QUEUE_DRIVER, type QueueDriver } from '@app/queue';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';

type Check = { status: 'up' } | { status: 'down'; error: string };

async function check(fn: () => Promise<unknown>): Promise<Check> {
  try {
    await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 3 s')), 3000).unref())]);
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
  ) {}

  /** 200 once database, storage and queue answer; 503 with what is down otherwise. */
  @Public()
  @Get()
  async health(@Res({ passthrough: true }) res: Response) {
    const [database, storage, queue] = await Promise.all([
      check(() => this.db.$queryRaw`SELECT 1`),
      check(() => this.storage.checkHealth()),
      check(() => this.queue.checkHealth()),
    ]);
    const ok = [database, storage, queue].every((c) => c.status === 'up');
    res.status(ok ? 200 : 503);
    return {
      status: ok ? 'ok' : 'unavailable',
      checks: { database, storage: { driver: this.storage.name, ...storage }, queue: { driver: this.queue.name, ...queue } },
    };
  }
}
