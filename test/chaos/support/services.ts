import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { Client } from 'pg';
import { freePort } from '../../support/test-app';
import { waitFor } from '../../support/wait';

// Backing services of one chaos suite, its own: stopping them disturbs nobody else's tests. Each lives in a temp
// directory on a free port and is stopped (and its directory removed) by close().

const run = promisify(execFile);

/** SIGKILL, as a crash would: nothing is flushed. Waits until the process is gone (no-op when it already is). */
async function killProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

function postgresBin(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const path = join(root, version, 'bin', name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${name} not found under ${root}: install PostgreSQL (Debian: apt-get install -y postgresql)`);
}

/** PostgreSQL refuses to run as root: then it runs as the `postgres` user, which must own its directory. */
const asRoot = userInfo().uid === 0;

async function asPostgresUser(file: string, args: string[]): Promise<{ stdout: string }> {
  return asRoot ? run('runuser', ['-u', 'postgres', '--', file, ...args]) : run(file, args);
}

export class ChaosPostgres {
  private constructor(
    private readonly dir: string,
    readonly port: number,
  ) {}

  /** A server URL (database `postgres`, trust auth). */
  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async start(): Promise<ChaosPostgres> {
    const dir = await mkdtemp(join(tmpdir(), 'filehub-chaos-pg-'));
    if (asRoot) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    await chmod(dir, 0o700);
    const data = join(dir, 'data');
    await asPostgresUser(postgresBin('initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
    const pg = new ChaosPostgres(dir, await freePort());
    await pg.startServer();
    return pg;
  }

  async startServer(): Promise<void> {
    const options = [`-p ${this.port}`, `-k ${this.dir}`, '-h 127.0.0.1', '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=200'].join(' ');
    await asPostgresUser(postgresBin('pg_ctl'), ['-D', join(this.dir, 'data'), '-l', join(this.dir, 'log'), '-o', options, '-w', '-t', '60', 'start']);
    await waitFor(
      async () => {
        const client = new Client({ connectionString: this.url });
        await client.connect();
        await client.end();
        return true;
      },
      30_000,
      'PostgreSQL to accept connections',
      { intervalMs: 100, ignoreErrors: true },
    );
  }

  /** `fast`: clients are disconnected and open transactions rolled back, as on a restart by an operator. */
  async stopServer(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await asPostgresUser(postgresBin('pg_ctl'), ['-D', join(this.dir, 'data'), '-m', mode, '-w', 'stop']);
  }

  async close(): Promise<void> {
    await this.stopServer('immediate').catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

export class ChaosRedis {
  private process?: ChildProcess;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<ChaosRedis> {
    const redis = new ChaosRedis(await freePort());
    await redis.startServer();
    return redis;
  }

  async startServer(): Promise<void> {
    this.process = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitFor(
      async () => {
        const probe = new Redis(this.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          return (await probe.ping()) === 'PONG';
        } finally {
          probe.disconnect();
        }
      },
      10_000,
      'redis-server to start',
      { intervalMs: 100, ignoreErrors: true },
    );
  }

  /** Killed: whatever it held in memory (queued jobs included) is gone, as after a crash without persistence. */
  async stopServer(): Promise<void> {
    await killProcess(this.process);
    this.process = undefined;
  }

  async close(): Promise<void> {
    await this.stopServer();
  }
}

export const MINIO_USER = 'chaosadmin';
export const MINIO_PASSWORD = 'chaosadmin-secret';

export function minioBinary(): string {
  const path = process.env.MINIO_BINARY ?? join(homedir(), 'go', 'bin', 'minio');
  if (!existsSync(path)) throw new Error(`MinIO not found at ${path}: build it with scripts/services.sh up (or set MINIO_BINARY)`);
  return path;
}

export class ChaosMinio {
  private process?: ChildProcess;

  private constructor(
    private readonly dir: string,
    readonly port: number,
    private readonly consolePort: number,
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<ChaosMinio> {
    const dir = await mkdtemp(join(tmpdir(), 'filehub-chaos-minio-'));
    const minio = new ChaosMinio(dir, await freePort(), await freePort());
    await minio.startServer();
    return minio;
  }

  async startServer(): Promise<void> {
    this.process = spawn(minioBinary(), ['server', this.dir, '--address', `127.0.0.1:${this.port}`, '--console-address', `127.0.0.1:${this.consolePort}`, '--quiet'], {
      env: { ...process.env, MINIO_ROOT_USER: MINIO_USER, MINIO_ROOT_PASSWORD: MINIO_PASSWORD, MINIO_BROWSER: 'off' },
      stdio: 'ignore',
    });
    await waitFor(async () => (await fetch(`${this.endpoint}/minio/health/live`)).ok, 60_000, 'MinIO to start', { intervalMs: 100, ignoreErrors: true });
  }

  async stopServer(): Promise<void> {
    await killProcess(this.process);
    this.process = undefined;
  }

  async close(): Promise<void> {
    await this.stopServer();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * The environment of a test app on these services (startTestApp reads the full profile's variables from
 * process.env; these point it at the suite's own services instead).
 */
export function chaosEnv(services: { pg: ChaosPostgres; redis: ChaosRedis; s3Endpoint: string }): Record<string, string> {
  return {
    DATABASE_URL: services.pg.url,
    REDIS_URL: services.redis.url,
    S3_ENDPOINT: services.s3Endpoint,
    S3_REGION: 'us-east-1',
    S3_BUCKET: 'chaos',
    S3_ACCESS_KEY_ID: MINIO_USER,
    S3_SECRET_ACCESS_KEY: MINIO_PASSWORD,
    S3_FORCE_PATH_STYLE: 'true',
  };
}

/** Points the process's full-profile variables at the suite's services (startTestApp and its worker read them). */
export function useChaosEnv(env: Record<string, string>): void {
  Object.assign(process.env, env);
}
