import { Queue } from 'bullmq';
import Redis from 'ioredis';
import sharp from 'sharp';
import { expectConsistent } from '../support/consistency';
import { waitForStartupSweeps } from '../support/startup-sweeps';
import { waitFor } from '../support/wait';
import { startTestApp, type TestApp } from '../support/test-app';
import { ChaosMinio, ChaosPostgres, ChaosRedis, chaosEnv, useChaosEnv } from './support/services';
import { uploadFile } from '../support/upload';

// The job pipeline losing its footing: the worker SIGKILLed mid-job and Redis killed (without persistence, so every
// job it held is gone) while files are queued, running and still arriving. Every file still reaches READY, once.
// test/faults.e2e-spec.ts covers the gentler cases (a worker killed alone; Redis down before the uploads arrive).

describe('chaos: worker and Redis killed while jobs are queued and running', () => {
  let pg: ChaosPostgres;
  let redis: ChaosRedis;
  let minio: ChaosMinio;
  let app: TestApp;

  beforeAll(async () => {
    [pg, redis, minio] = await Promise.all([ChaosPostgres.start(), ChaosRedis.start(), ChaosMinio.start()]);
    useChaosEnv(chaosEnv({ pg, redis, s3Endpoint: minio.endpoint }));
    // One job at a time and a short lock, so jobs queue up and a dead worker's job is handed on within seconds.
    // Stalled PROCESSING files are looked at every 2 s and re-queued after 5 s without progress.
    app = await startTestApp(
      { QUEUE_LOCK_DURATION_MS: '2000', QUEUE_CONCURRENCY: '1', LIFECYCLE_SWEEP_INTERVAL_SECONDS: '2', STALLED_PROCESSING_SECONDS: '5' },
      { databaseUrl: pg.url },
    );
    await waitForStartupSweeps(app);
  }, 180_000);
  afterAll(async () => {
    await app?.close({ keepDatabase: true });
    await Promise.all([pg?.close(), redis?.close(), minio?.close()]);
  }, 60_000);

  it('every file reaches READY exactly once after the worker and Redis die mid-way', async () => {
    const token = app.token({ sub: 'quinn', org: 'queue-chaos' });
    const photo = await sharp({ create: { width: 2400, height: 1600, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
      .jpeg({ quality: 85 })
      .toBuffer();
    const distinct = (i: number) => Buffer.concat([photo, Buffer.from(`#${i}`)]);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await uploadFile(app, token, distinct(i), `photo-${i}.jpg`, 'image/jpeg'));

    // Jobs running and waiting in Redis: then Redis is killed, losing them all (and the job schedulers) while the
    // worker keeps running and reconnects by itself.
    const probe = new Redis(redis.url, { maxRetriesPerRequest: null });
    probe.on('error', () => undefined);
    const queue = new Queue('jobs', { connection: probe, prefix: app.config.queue.prefix });
    queue.on('error', () => undefined);
    await waitFor(async () => (await queue.getActiveCount()) > 0 && (await queue.getWaitingCount()) > 0, 30_000, 'jobs running and waiting', { ignoreErrors: true });
    await queue.close();
    probe.disconnect();
    await redis.stopServer();
    // Files keep arriving meanwhile; their jobs wait in the outbox.
    for (let i = 10; i < 14; i++) ids.push(await uploadFile(app, token, distinct(i), `photo-${i}.jpg`, 'image/jpeg'));
    await redis.startServer();
    for (const id of ids) {
      const file = await app.waitForStatus(id, token, ['READY', 'FAILED'], 120_000);
      expect({ id, status: file.status, reason: file.failureReason }).toEqual({ id, status: 'READY', reason: null });
    }

    // Then the worker SIGKILLed while a job runs, and started again.
    for (let i = 14; i < 20; i++) ids.push(await uploadFile(app, token, distinct(i), `photo-${i}.jpg`, 'image/jpeg'));
    const probe2 = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue2 = new Queue('jobs', { connection: probe2, prefix: app.config.queue.prefix });
    await waitFor(async () => (await queue2.getActiveCount()) > 0, 30_000, 'a job running', { ignoreErrors: true });
    await queue2.close();
    probe2.disconnect();
    await app.worker.kill('SIGKILL');
    app.worker.start();

    for (const id of ids) {
      const file = await app.waitForStatus(id, token, ['READY', 'FAILED'], 120_000);
      expect({ id, status: file.status, reason: file.failureReason }).toEqual({ id, status: 'READY', reason: null });
    }
    // Processed once: one set of thumbnails per file, whatever ran twice.
    const thumbnails = await app.db.thumbnail.groupBy({ by: ['fileId'], where: { fileId: { in: ids } }, _count: true });
    expect(thumbnails.map((t) => t._count)).toEqual(ids.map(() => app.config.media.thumbnailSizes.length));
    await expectConsistent(app);
  }, 240_000);
});
