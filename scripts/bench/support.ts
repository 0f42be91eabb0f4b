import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { createScratchDatabase, freePort } from '../support/local-services';

// What the benchmarks share: the API as a child process, a byte source, HTTP helpers, memory readings, the
// full-profile services. MB is 10^6 bytes throughout; MiB sizes are file sizes.

export const MiB = 1024 * 1024;
export const DIST_ROOT = resolve(__dirname, '..', '..');
export const API_MAIN = resolve(DIST_ROOT, 'apps', 'api', 'src', 'main.js');
export const JWT_SECRET = 'bench-suite-secret-0123456789abcdef';
export const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));
export const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

export interface SuiteOptions {
  quick: boolean;
  /** Where temp dirs go (data dirs, baseline files). */
  tmp: string;
  log: (line: string) => void;
}

/** A child whose last output is kept for error messages, stopped by SIGTERM (then SIGKILL). */
export class Child {
  private output = '';
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.exited = new Promise((ok) => {
      if (proc.exitCode !== null || proc.signalCode !== null) ok();
      else proc.once('exit', () => ok());
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  tail(): string {
    return this.output.trim() ? `\n--- last output of ${this.name} ---\n${this.output.trim()}\n---` : '';
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export function spawnChild(name: string, args: string[], options: SpawnOptions = {}): Child {
  return new Child(name, spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options }));
}

/** Polls GET <base>/health until 200; answers the seconds from `since`. */
export async function waitHealthy(base: string, child: Child, since = process.hrtime.bigint(), timeoutMs = 90_000, pollMs = 200): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!child.running) throw new Error(`${child.name} exited during start-up (code ${child.proc.exitCode})${child.tail()}`);
    const status = await statusOf(`${base}/health`);
    if (status === 200) return seconds(since);
    if (Date.now() > deadline) throw new Error(`${child.name} did not answer GET /health with 200 within ${timeoutMs / 1000} s${child.tail()}`);
    await sleep(pollMs);
  }
}

/** The status of a GET, or 0 when nothing answers. */
export function statusOf(url: string): Promise<number> {
  return new Promise((ok) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => ok(res.statusCode ?? 0));
      res.on('error', () => ok(0));
    });
    req.setTimeout(5000, () => req.destroy());
    req.on('error', () => ok(0));
  });
}

export function signToken(claims: Record<string, unknown>, secret = JWT_SECRET): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ exp: Math.floor(Date.now() / 1000) + 24 * 3600, ...claims })}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

// ---------------------------------------------------------------------------------------------------------
// The full-profile services, from the environment (`eval "$(bash scripts/services.sh env)"`).

export const S3_VARIABLES = ['S3_ENDPOINT', 'S3_REGION', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const;

export function postgresUrl(): string | undefined {
  return process.env.DATABASE_URL || undefined;
}

export function s3Configured(): boolean {
  return S3_VARIABLES.every((name) => process.env[name]);
}

export const FULL_PROFILE_HINT = 'eval "$(bash scripts/services.sh env)" before npm run bench';

// ---------------------------------------------------------------------------------------------------------
// The API as a child process.

export interface ApiStackOptions {
  dataDir: string;
  /** A PostgreSQL server URL: the API gets a scratch database on it, dropped at stop. Unset: embedded PGlite. */
  postgres?: string;
  /** An S3 bucket (on the S3_* server of the environment) instead of the local driver. */
  s3Bucket?: string;
  maxUploadBytes?: number;
  env?: Record<string, string>;
  nodeArgs?: string[];
}

export interface ApiStack {
  child: Child;
  base: string;
  databaseUrl?: string;
  startSeconds: number;
  stop(): Promise<void>;
}

export function apiEnvironment(port: number, options: ApiStackOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Only what this stack asks for: nothing of the caller's shell leaks into the profile.
  for (const name of Object.keys(env)) {
    if (/^(DATABASE_URL|REDIS_URL|STORAGE_DRIVER|S3_|AUTH_JWKS_URL|STORAGE_SIGNING_SECRET|QUEUE_|FILE_CLIENTS|OTEL_)/.test(name)) delete env[name];
  }
  Object.assign(env, {
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    DATA_DIR: options.dataDir,
    MAX_UPLOAD_BYTES: String(options.maxUploadBytes ?? 100 * MiB),
    AUTH_JWT_SECRET: JWT_SECRET,
    LOG_LEVEL: 'warn',
    // The limits protect a deployment from one noisy caller; a benchmark is that caller on purpose.
    RATE_LIMIT_PER_USER: '0',
    RATE_LIMIT_PER_CLIENT: '0',
    RATE_LIMIT_PER_IP: '0',
  });
  if (options.s3Bucket) {
    for (const name of [...S3_VARIABLES, 'S3_FORCE_PATH_STYLE']) if (process.env[name]) env[name] = process.env[name];
    env.STORAGE_DRIVER = 's3';
    env.S3_BUCKET = options.s3Bucket;
  }
  Object.assign(env, options.env ?? {});
  return env;
}

export async function startApi(options: ApiStackOptions): Promise<ApiStack> {
  if (!existsSync(API_MAIN)) throw new Error(`${API_MAIN} is missing: run npm run build first`);
  const port = await freePort();
  const env = apiEnvironment(port, options);
  const database = options.postgres ? await createScratchDatabase(options.postgres, 'filehub_bench') : undefined;
  if (database) env.DATABASE_URL = database.url;
  const started = process.hrtime.bigint();
  const child = spawnChild('API', [...(options.nodeArgs ?? []), API_MAIN], { env });
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await child.stop();
    await database?.drop().catch(() => undefined);
  };
  try {
    const startSeconds = await waitHealthy(base, child, started);
    return { child, base, databaseUrl: database?.url, startSeconds, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Bytes.

/** `total` bytes as slices of one pre-made random block, with optional framing (multipart). */
export class ByteSource extends Readable {
  private remaining: number;
  private prefix?: Buffer;
  firstReadAt?: bigint;

  constructor(
    private readonly block: Buffer,
    total: number,
    private readonly framing: { prefix?: Buffer; suffix?: Buffer } = {},
  ) {
    super({ highWaterMark: block.length });
    this.remaining = total;
    this.prefix = framing.prefix;
  }

  override _read(): void {
    this.firstReadAt ??= process.hrtime.bigint();
    if (this.prefix) {
      const prefix = this.prefix;
      this.prefix = undefined;
      if (!this.push(prefix)) return;
    }
    while (this.remaining > 0) {
      const n = Math.min(this.remaining, this.block.length);
      this.remaining -= n;
      if (!this.push(n === this.block.length ? this.block : this.block.subarray(0, n))) return;
    }
    if (this.framing.suffix) this.push(this.framing.suffix);
    this.push(null);
  }
}

export function sha256Of(block: Buffer, total: number): string {
  const hash = createHash('sha256');
  for (let left = total; left > 0; left -= block.length) hash.update(left >= block.length ? block : block.subarray(0, left));
  return hash.digest('hex');
}

export function multipartFraming(fields: Record<string, string> = {}): { boundary: string; prefix: Buffer; suffix: Buffer } {
  const boundary = `----filehub-bench-${randomBytes(12).toString('hex')}`;
  const text = Object.entries(fields)
    .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
    .join('');
  const prefix = Buffer.from(
    `${text}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  return { boundary, prefix, suffix: Buffer.from(`\r\n--${boundary}--\r\n`) };
}

export interface Answer {
  status: number;
  body: string;
  seconds: number;
}

/** Streams a ByteSource as a request body; timed from the first byte handed over to the end of the response. */
export function sendBody(method: string, url: string, source: ByteSource, contentLength: number, headers: Record<string, string>): Promise<Answer> {
  return new Promise<Answer>((ok, fail) => {
    const req = http.request(url, { method, agent: false, headers: { ...headers, 'Content-Length': String(contentLength) } });
    // Inactivity only: a stalled server fails the run instead of hanging it.
    req.setTimeout(120_000, () => req.destroy(new Error(`${method} ${url} got no progress for 120 s`)));
    req.on('error', fail);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('error', fail);
      res.on('end', () => {
        const end = process.hrtime.bigint();
        ok({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), seconds: Number(end - (source.firstReadAt ?? end)) / 1e9 });
      });
    });
    source.on('error', (error) => req.destroy(error));
    source.pipe(req);
  });
}

/** A small JSON request. */
export async function jsonRequest(method: string, url: string, token: string | undefined, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, json };
}

export interface Download {
  status: number;
  bytes: number;
  /** Request sent → response headers. */
  ttfbSeconds: number;
  seconds: number;
}

/** Reads a response body to the end, counting (not keeping) the bytes. */
export function download(url: string, headers: Record<string, string> = {}): Promise<Download> {
  return new Promise((ok, fail) => {
    const start = process.hrtime.bigint();
    const req = http.get(url, { agent: false, headers }, (res) => {
      const ttfbSeconds = seconds(start);
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('error', fail);
      res.on('end', () => ok({ status: res.statusCode ?? 0, bytes, ttfbSeconds, seconds: seconds(start) }));
    });
    req.setTimeout(120_000, () => req.destroy(new Error(`GET ${url} got no progress for 120 s`)));
    req.on('error', fail);
  });
}

/** Polls a file until the post-upload work is over, so its background reads do not land in the next timing. */
export async function waitProcessed(base: string, token: string, id: string, timeoutMs = 600_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, json } = await jsonRequest('GET', `${base}/files/${id}`, token);
    const state = (json as { status?: string }).status;
    if (status === 200 && state !== 'PROCESSING' && state !== 'UPLOADING') return state ?? 'unknown';
    if (Date.now() > deadline) throw new Error(`file ${id} still ${state} after ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Memory of a child, from /proc (Linux).

export function procStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}
