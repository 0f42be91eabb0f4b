import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import sharp from 'sharp';
import { expectConsistent } from './support/consistency';
import { waitFor } from './support/wait';
import { freePort, PROFILE, startTestApp, type TestApp } from './support/test-app';

// Faults of the full stack (separate worker process, Redis): nothing is lost when a worker dies mid-job or Redis is
// down while files arrive. The embedded profile has neither, so these run in `npm run test:full` only.
const fullOnly = PROFILE === 'full' ? describe : describe.skip;

async function uploadFile(app: TestApp, token: string, bytes: Buffer, name: string, type: string): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([bytes], { type }), name);
  const res = await fetch(`${app.url}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  const body = (await res.json()) as { id: string; message?: string };
  if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${body.message}`);
  return body.id;
}

fullOnly('faults: a worker killed mid-job', () => {
  let app: TestApp;
  let redis: Redis;
  let queue: Queue;

  beforeAll(async () => {
    // A short lock, so the stalled check hands the dead worker's job on within seconds instead of 30.
    app = await startTestApp({ QUEUE_LOCK_DURATION_MS: '2000', QUEUE_CONCURRENCY: '1' });
    redis = new Redis(app.config.queue.redisUrl!, { maxRetriesPerRequest: null });
    queue = new Queue('jobs', { connection: redis, prefix: app.config.queue.prefix });
  });
  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
    await app?.close();
  });

  it('picks the job up again after SIGKILL and a restart: every file reaches READY with one set of thumbnails', async () => {
    const token = app.token({ sub: 'ops', org: 'acme' });
    // Large noisy photos: decoding and three thumbnails keep each job busy long enough to be caught running.
    const photo = await sharp({ create: { width: 6000, height: 4000, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
      .jpeg({ quality: 90 })
      .toBuffer();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await uploadFile(app, token, photo, `photo-${i}.jpg`, 'image/jpeg'));

    // Kill the worker while a job runs. A job can finish between "seen running" and the kill; then the kill did
    // not interrupt it, so start the worker again and catch the next one.
    let running: Awaited<ReturnType<Queue['getActive']>>[number] | undefined;
    const tries: string[] = [];
    for (let attempt = 0; attempt < 8 && !running; attempt++) {
      // Housekeeping jobs (the sweeps a worker runs at start) are active too; the one to catch is a file's.
      const fileJob = async () => (await queue.getActive()).find((job) => job.name === 'file.process');
      await waitFor(async () => (await fileJob()) !== undefined, 30_000, 'a file.process job to be running', { intervalMs: 20 });
      const active = await fileJob();
      await app.worker.kill('SIGKILL');
      const row = active ? await app.db.file.findUnique({ where: { id: (active.data as { fileId: string }).fileId } }) : null;
      tries.push(`${active?.name ?? 'none'}:${row?.status ?? 'no row'}`);
      if (active && row?.status === 'PROCESSING') running = active;
      else app.worker.start();
    }
    expect({ caught: running?.name, tries }).toEqual({ caught: 'file.process', tries: expect.any(Array) });

    app.worker.start();
    for (const id of ids) {
      const file = await app.waitForStatus(id, token, ['READY', 'FAILED'], 60_000);
      expect({ id, status: file.status }).toEqual({ id, status: 'READY' });
    }
    const thumbnails = await app.db.thumbnail.findMany({ where: { fileId: { in: ids } } });
    expect(thumbnails).toHaveLength(ids.length * app.config.media.thumbnailSizes.length);
    // The killed job was the one that finished after the restart (it was not simply lost and replaced).
    const job = await queue.getJob(running!.id!);
    await waitFor(async () => (await job!.getState()) === 'completed', 10_000, `job ${running!.id} to be recorded completed`, { intervalMs: 20 });
    await expectConsistent(app);
  });
});

fullOnly('faults: Redis down while files arrive', () => {
  let app: TestApp;
  let redisProcess: ChildProcess | undefined;
  let port: number;

  const startRedis = async () => {
    redisProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    await waitFor(
      async () => {
        try {
          await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      },
      10_000,
      'redis-server to start',
      { intervalMs: 20 },
    );
    probe.disconnect();
  };
  const stopRedis = async () => {
    if (!redisProcess) return;
    const exited = new Promise((r) => redisProcess!.once('exit', r));
    redisProcess.kill('SIGKILL');
    await exited;
    redisProcess = undefined;
  };

  beforeAll(async () => {
    // A Redis of our own, so stopping it disturbs no other test.
    port = await freePort();
    await startRedis();
    app = await startTestApp({ REDIS_URL: `redis://127.0.0.1:${port}` });
  });
  afterAll(async () => {
    await app?.close();
    await stopRedis();
  });

  it('accepts 20 uploads while Redis is stopped; once it is back, all 20 reach READY with no manual step', async () => {
    const token = app.token({ sub: 'ops', org: 'acme' });
    await stopRedis();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await uploadFile(app, token, randomBytes(4096), `while-down-${i}.bin`, 'application/octet-stream'));
    // The jobs wait in the outbox, in the database, for Redis.
    const pending = await app.db.outboxJob.count({ where: { status: 'PENDING', name: 'file.process' } });
    expect(pending).toBeGreaterThanOrEqual(20);
    const health = await fetch(`${app.url}/health`);
    expect(health.status).toBe(503);

    await startRedis();
    for (const id of ids) {
      const file = await app.waitForStatus(id, token, ['READY', 'FAILED'], 90_000);
      expect({ id, status: file.status }).toEqual({ id, status: 'READY' });
    }
    expect(await app.db.outboxJob.count({ where: { status: 'PENDING', name: 'file.process' } })).toBe(0);
    await expectConsistent(app);
  });
});
