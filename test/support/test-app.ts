import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createApiApp } from '../../apps/api/src/api.factory';
import { createScratchDatabase, freePort } from '../../scripts/support/local-services';

export { freePort };
import { TokenService, type Role } from '@app/auth';
import { loadConfig, type AppConfig } from '@app/config';
import { PRISMA, type Db } from '@app/database';

/** `npm test` runs the embedded profile; `npm run test:full` sets TEST_PROFILE=full. */
export const PROFILE: 'embedded' | 'full' = process.env.TEST_PROFILE === 'full' ? 'full' : 'embedded';

export interface TestAppOptions {
  /** Full profile: start the separate worker process (default true). */
  worker?: boolean;
  /** Full profile: use this database instead of creating one (it is not dropped on close). */
  databaseUrl?: string;
  /** Full profile: share the bucket of another test app. */
  storageFrom?: AppConfig;
  /** Listen on this port instead of a free one (for callers configured with a fixed address, like MinIO's webhook). */
  port?: number;
}

export interface TestApp {
  url: string;
  get<T>(token: unknown): T;
  config: AppConfig;
  db: Db;
  token(claims: { sub: string; org?: string; role?: Role }, expiresInSeconds?: number): string;
  /** How many objects storage holds (to prove nothing was left behind). */
  countObjects(): Promise<number>;
  /** Where the process running the jobs serves its metrics: the API (embedded) or the worker (full). */
  jobMetricsUrl: string;
  /** Full profile: the separate worker process, to kill and start again in fault tests. */
  worker: { kill(signal: NodeJS.Signals): Promise<void>; start(): void; readonly running: boolean };
  /** Polls the file until it reaches one of the statuses; fails after the timeout. */
  waitForStatus(fileId: string, token: string, statuses: string[], timeoutMs?: number): Promise<Record<string, unknown>>;
  close(options?: { keepDatabase?: boolean }): Promise<void>;
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`test:full needs ${name}; see README (scripts/services.sh env)`);
  return value;
}

function s3Client(config: AppConfig): S3Client {
  if (config.storage.driver !== 's3') throw new Error('not s3');
  return new S3Client({
    endpoint: config.storage.endpoint,
    region: config.storage.region,
    forcePathStyle: config.storage.forcePathStyle,
    credentials: { accessKeyId: config.storage.accessKeyId, secretAccessKey: config.storage.secretAccessKey },
  });
}

async function countLocalFiles(dir: string): Promise<number> {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) if (entry.isFile()) n++;
  return n;
}

export async function startTestApp(env: Record<string, string> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const port = options.port ?? (await freePort());
  const dataDir = await mkdtemp(join(tmpdir(), 'filehub-e2e-'));
  const base: Record<string, string> = {
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    DATA_DIR: dataDir,
    AUTH_JWT_SECRET: 'e2e-secret-e2e-secret-e2e-secret',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    OUTBOX_POLL_MS: '200',
  };
  let dropDatabase: (() => Promise<void>) | undefined;
  let worker: ChildProcess | undefined;
  if (PROFILE === 'full') {
    let databaseUrl = options.databaseUrl;
    if (!databaseUrl) {
      const database = await createScratchDatabase(requireEnv('DATABASE_URL'), 'filehub_e2e');
      dropDatabase = database.drop;
      databaseUrl = database.url;
    }
    const sharedBucket = options.storageFrom?.storage.driver === 's3' ? options.storageFrom.storage.bucket : undefined;
    Object.assign(base, {
      WORKER_METRICS_PORT: String(await freePort()),
      DATABASE_URL: databaseUrl,
      REDIS_URL: requireEnv('REDIS_URL'),
      QUEUE_PREFIX: `e2e-${randomBytes(4).toString('hex')}`,
      STORAGE_DRIVER: 's3',
      S3_ENDPOINT: requireEnv('S3_ENDPOINT'),
      S3_REGION: process.env.S3_REGION ?? 'us-east-1',
      // A bucket per test app, so counting objects proves what this app left behind.
      S3_BUCKET: sharedBucket ?? `${requireEnv('S3_BUCKET')}-e2e-${randomBytes(4).toString('hex')}`,
      S3_ACCESS_KEY_ID: requireEnv('S3_ACCESS_KEY_ID'),
      S3_SECRET_ACCESS_KEY: requireEnv('S3_SECRET_ACCESS_KEY'),
      S3_FORCE_PATH_STYLE: process.env.S3_FORCE_PATH_STYLE ?? 'true',
    });
  }
  const fullEnv = { ...base, ...env };
  const config = loadConfig(fullEnv);
  if (config.storage.driver === 's3') {
    await s3Client(config)
      .send(new CreateBucketCommand({ Bucket: config.storage.bucket }))
      .catch((e: { name?: string }) => {
        if (e.name !== 'BucketAlreadyOwnedByYou' && e.name !== 'BucketAlreadyExists') throw e;
      });
  }
  const app: NestExpressApplication = await createApiApp(config);
  await app.listen(port, '127.0.0.1');
  if (PROFILE === 'full' && options.worker !== false) worker = startWorker(fullEnv);
  const db = app.get<Db>(PRISMA);
  const tokens = new TokenService(config);
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    config,
    db,
    get: <T>(token: unknown) => app.get<T>(token as never),
    token: (claims, expiresInSeconds) => tokens.sign(claims, expiresInSeconds),
    jobMetricsUrl: PROFILE === 'full' ? `http://127.0.0.1:${config.metrics.workerPort}/metrics` : `${url}/metrics`,
    worker: {
      async kill(signal) {
        if (!worker || worker.exitCode !== null || worker.signalCode !== null) return;
        const exited = new Promise((r) => worker!.once('exit', r));
        worker.kill(signal);
        await exited;
        worker = undefined;
      },
      start() {
        if (PROFILE !== 'full') throw new Error('The worker is a separate process only in the full profile');
        if (!worker) worker = startWorker(fullEnv);
      },
      get running() {
        return worker !== undefined;
      },
    },
    async countObjects() {
      if (config.storage.driver === 'local') return countLocalFiles(config.storage.root);
      const client = s3Client(config);
      let n = 0;
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: config.storage.bucket, ContinuationToken: token }));
        n += page.KeyCount ?? 0;
        token = page.NextContinuationToken;
      } while (token);
      return n;
    },
    async waitForStatus(fileId, token, statuses, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const res = await fetch(`${url}/files/${fileId}`, { headers: { authorization: `Bearer ${token}` } });
        const body = (await res.json()) as Record<string, unknown>;
        if (statuses.includes(String(body.status))) return body;
        if (Date.now() > deadline) throw new Error(`File ${fileId} stayed ${String(body.status)}; expected ${statuses.join('|')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close(closeOptions = {}) {
      if (worker && worker.exitCode === null && worker.signalCode === null) {
        const exited = new Promise((r) => worker!.once('exit', r));
        worker.kill('SIGTERM');
        await exited;
      }
      await app.close();
      if (!closeOptions.keepDatabase) await dropDatabase?.();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function startWorker(env: Record<string, string>): ChildProcess {
  const entry = join(__dirname, '../../dist/apps/worker/src/main.js');
  if (!existsSync(entry)) throw new Error(`Build first (npm run build): ${entry} is missing`);
  const child = spawn(process.execPath, [entry], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return child;
}
