import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { median, row, type BenchResult, type BenchRow } from './report';
import {
  ByteSource,
  Child,
  FULL_PROFILE_HINT,
  MiB,
  download,
  jsonRequest,
  multipartFraming,
  postgresUrl,
  s3Configured,
  sendBody,
  sha256Of,
  signToken,
  spawnChild,
  startApi,
  waitProcessed,
  type ApiStack,
  type SuiteOptions,
} from './support';

// Upload and download throughput through the API against a raw node:http server writing to / reading from the same
// destination (the same directory, or the same S3 bucket), both child processes, this process the only client.

const UPLOAD_TARGET = { min: 0.8 };
const DOWNLOAD_TARGET = { min: 0.8 };
// Time to first byte: the API looks the record up and opens the object; that may cost a few ms more than a raw read.
const TTFB_TARGET = { maxOver: 10 };

export interface TransferSizes {
  sizesMiB: number[];
}

export function transferSizes(quick: boolean): number[] {
  const fromEnv = process.env.BENCH_TRANSFER_SIZES_MIB;
  if (fromEnv) return fromEnv.split(',').map(Number).filter((n) => n > 0);
  return quick ? [1, 8] : [1, 64, 1024];
}

/** More repeats for small files, whose timings are short and noisy. */
function repeatsFor(sizeMiB: number, quick: boolean): number {
  if (sizeMiB <= 1) return quick ? 3 : 9;
  if (sizeMiB <= 64) return quick ? 2 : 3;
  return 1;
}

const mbps = (bytes: number, secs: number) => bytes / 1e6 / secs;

// ---------------------------------------------------------------------------------------------------------
// Stacks: the embedded profile with the local driver, and PostgreSQL + MinIO.

interface Stack {
  label: string;
  api: ApiStack;
  /** Where the raw server writes: `dir=…` or `bucket=…`. */
  destination(n: number): string;
  /** A second raw way to the same destination, when the store has one (S3: a multipart upload, as the driver makes). */
  multipartDestination?(n: number): string;
  /** Where the raw server reads the object the API stored for a file of `size` bytes. */
  locate(size: number): Promise<string>;
  /** Removes stored bytes between cases (disk space: 1 GiB files). */
  clear(): Promise<void>;
  stop(): Promise<void>;
}

class BaselineServer {
  private constructor(
    readonly child: Child,
    readonly base: string,
  ) {}

  static async start(): Promise<BaselineServer> {
    const child = spawnChild('baseline server', [join(__dirname, 'baseline-server.js')], { stdio: ['pipe', 'pipe', 'pipe'] });
    const port = await new Promise<number>((ok, fail) => {
      let out = '';
      const timer = setTimeout(() => fail(new Error(`The baseline server did not start${child.tail()}`)), 15_000);
      child.proc.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (!out.includes('\n')) return;
        clearTimeout(timer);
        ok((JSON.parse(out.split('\n')[0]!) as { port: number }).port);
      });
      child.proc.once('exit', (code) => fail(new Error(`The baseline server exited with ${code}${child.tail()}`)));
    });
    return new BaselineServer(child, `http://127.0.0.1:${port}`);
  }
}

export function s3Client(): S3Client {
  return new S3Client({
    endpoint: process.env.S3_ENDPOINT!.replace(/\/+$/, ''),
    region: process.env.S3_REGION,
    forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true',
    credentials: { accessKeyId: process.env.S3_ACCESS_KEY_ID!, secretAccessKey: process.env.S3_SECRET_ACCESS_KEY! },
  });
}

async function emptyBucket(s3: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
    const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) return;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  // Dot dirs hold the driver's temp files and metadata sidecars, not objects.
  return entries.filter((e) => e.isFile() && !e.parentPath.slice(dir.length).split('/').some((p) => p.startsWith('.'))).map((e) => join(e.parentPath, e.name));
}

async function localStack(options: SuiteOptions, maxUploadBytes: number): Promise<Stack> {
  const root = await mkdtemp(join(options.tmp, 'filehub-bench-local-'));
  const dataDir = join(root, 'data');
  const baselineDir = await mkdtemp(join(root, 'baseline-'));
  const objects = join(dataDir, 'objects');
  try {
    const api = await startApi({ dataDir, maxUploadBytes });
    return {
      label: 'local disk',
      api,
      destination: () => `dir=${encodeURIComponent(baselineDir)}&fsync=1`,
      async locate(size) {
        for (const path of await filesUnder(objects)) if ((await stat(path)).size === size) return `path=${encodeURIComponent(path)}`;
        throw new Error(`no stored object of ${size} bytes under ${objects}`);
      },
      async clear() {
        for (const path of await filesUnder(objects)) await unlink(path).catch(() => undefined);
      },
      async stop() {
        await api.stop();
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

async function minioStack(options: SuiteOptions, maxUploadBytes: number): Promise<Stack> {
  const s3 = s3Client();
  const bucket = `filehub-bench-${randomBytes(4).toString('hex')}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const root = await mkdtemp(join(options.tmp, 'filehub-bench-minio-'));
  const dropBucket = async () => {
    await emptyBucket(s3, bucket).catch(() => undefined);
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  };
  try {
    const api = await startApi({ dataDir: root, postgres: postgresUrl(), s3Bucket: bucket, maxUploadBytes });
    return {
      label: 'MinIO',
      api,
      destination: (n) => `bucket=${bucket}&key=baseline/${n}`,
      multipartDestination: (n) => `bucket=${bucket}&key=baseline-parts/${n}&parts=1`,
      async locate(size) {
        const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'objects/' }));
        const found = listed.Contents?.find((o) => o.Size === size);
        if (!found) throw new Error(`no stored object of ${size} bytes in bucket ${bucket}`);
        return `bucket=${bucket}&key=${encodeURIComponent(found.Key!)}`;
      },
      clear: () => emptyBucket(s3, bucket),
      async stop() {
        await api.stop();
        await dropBucket();
      },
    };
  } catch (error) {
    await dropBucket();
    throw error;
  }
}

/** Runs `work` on each available stack; names the ones that cannot run. */
async function eachStack(options: SuiteOptions, maxUploadBytes: number, skipped: string[], work: (stack: Stack) => Promise<void>): Promise<void> {
  const makers: [string, () => Promise<Stack>][] = [['local disk', () => localStack(options, maxUploadBytes)]];
  if (postgresUrl() && s3Configured()) makers.push(['MinIO', () => minioStack(options, maxUploadBytes)]);
  else skipped.push(`MinIO cases: DATABASE_URL and S3_* are not set (${FULL_PROFILE_HINT})`);
  for (const [label, make] of makers) {
    options.log(`  starting the API (${label}) ...`);
    const stack = await make();
    try {
      await work(stack);
    } finally {
      await stack.stop();
    }
  }
}

const TOKEN = () => signToken({ sub: 'bench-user', org: 'bench-org', role: 'user' });

async function uploadMultipart(stack: Stack, token: string, block: Buffer, bytes: number, fields: Record<string, string> = {}): Promise<{ id: string; seconds: number }> {
  const { boundary, prefix, suffix } = multipartFraming(fields);
  const answer = await sendBody('POST', `${stack.api.base}/files`, new ByteSource(block, bytes, { prefix, suffix }), prefix.length + bytes + suffix.length, {
    authorization: `Bearer ${token}`,
    'content-type': `multipart/form-data; boundary=${boundary}`,
  });
  if (answer.status !== 201) throw new Error(`POST /files answered ${answer.status}: ${answer.body}${stack.api.child.tail()}`);
  const file = JSON.parse(answer.body) as { id: string; size: number; sha256: string };
  if (file.size !== bytes) throw new Error(`POST /files recorded ${file.size} bytes, not ${bytes}`);
  if (file.sha256 !== sha256Of(block, bytes)) throw new Error('POST /files recorded another SHA-256 than the bytes sent');
  return { id: file.id, seconds: answer.seconds };
}

async function uploadPresigned(stack: Stack, token: string, fileTypeId: string, block: Buffer, bytes: number): Promise<{ id: string; seconds: number }> {
  const created = await jsonRequest('POST', `${stack.api.base}/api/files`, token, { originalFilename: 'bench.bin', fileTypeId, contentType: 'application/octet-stream' });
  if (created.status !== 201) throw new Error(`POST /api/files answered ${created.status}: ${JSON.stringify(created.json)}`);
  const id = created.json.id as string;
  const target = await jsonRequest('PUT', `${stack.api.base}/api/files/${id}/upload`, token);
  if (target.status !== 200) throw new Error(`PUT /api/files/${id}/upload answered ${target.status}: ${JSON.stringify(target.json)}`);
  const start = process.hrtime.bigint();
  const put = await sendBody('PUT', target.json.uploadUrl, new ByteSource(block, bytes), bytes, { 'content-type': 'application/octet-stream' });
  if (put.status >= 300) throw new Error(`PUT to the pre-signed URL answered ${put.status}: ${put.body}${stack.api.child.tail()}`);
  const done = await jsonRequest('POST', `${stack.api.base}/api/files/${id}/complete`, token);
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  if (done.status !== 200 || done.json.fileSize !== bytes) throw new Error(`POST /api/files/${id}/complete answered ${done.status}: ${JSON.stringify(done.json)}`);
  return { id, seconds: secs };
}

async function defaultFileTypeId(stack: Stack, token: string): Promise<string> {
  const types = await jsonRequest('GET', `${stack.api.base}/api/file-types`, token);
  const found = (types.json as { id: string; key: string }[]).find((t) => t.key === 'default');
  if (!found) throw new Error(`GET /api/file-types has no 'default' type: ${JSON.stringify(types.json)}`);
  return found.id;
}

export async function uploadBench(options: SuiteOptions): Promise<BenchResult> {
  const started = Date.now();
  const sizes = transferSizes(options.quick);
  const rows: BenchRow[] = [];
  const skipped: string[] = [];
  const baseline = await BaselineServer.start();
  try {
    await eachStack(options, Math.max(...sizes) * MiB + MiB, skipped, async (stack) => {
      const token = TOKEN();
      const fileTypeId = await defaultFileTypeId(stack, token);
      for (const sizeMiB of sizes) {
        const bytes = Math.round(sizeMiB * MiB);
        const repeats = repeatsFor(sizeMiB, options.quick);
        const raw: number[] = [];
        const multipart: number[] = [];
        const presigned: number[] = [];
        const rawParts: number[] = [];
        for (let i = 0; i < repeats; i++) {
          // Fresh bytes each time: stored objects are content-addressed, so a repeat must not find its twin.
          const block = randomBytes(MiB);
          // The same bytes through the baseline server to `destination`; it answers the size it stored.
          const rawUpload = async (destination: string, what: string) => {
            const answer = await sendBody('PUT', `${baseline.base}/upload?${destination}`, new ByteSource(block, bytes), bytes, {});
            if (answer.status !== 200 || (JSON.parse(answer.body) as { size: number }).size !== bytes) throw new Error(`${what} answered ${answer.status}: ${answer.body}`);
            return mbps(bytes, answer.seconds);
          };
          const steps = [
            async () => raw.push(await rawUpload(stack.destination(i), 'baseline upload')),
            async () => {
              if (stack.multipartDestination) rawParts.push(await rawUpload(stack.multipartDestination(i), 'baseline multipart upload'));
            },
            async () => {
              const { id, seconds } = await uploadMultipart(stack, token, block, bytes);
              multipart.push(mbps(bytes, seconds));
              await waitProcessed(stack.api.base, token, id);
            },
            async () => {
              const other = randomBytes(MiB);
              const { id, seconds } = await uploadPresigned(stack, token, fileTypeId, other, bytes);
              presigned.push(mbps(bytes, seconds));
              await waitProcessed(stack.api.base, token, id);
            },
          ];
          // Alternate the order, so a machine that slows down over a run favours neither side.
          for (const step of i % 2 === 0 ? steps : [...steps].reverse()) await step();
          await stack.clear();
        }
        options.log(`  ${stack.label} ${sizeMiB} MiB: raw ${median(raw).toFixed(0)} MB/s, multipart ${median(multipart).toFixed(0)} MB/s, pre-signed PUT ${median(presigned).toFixed(0)} MB/s`);
        rows.push(row({ case: `multipart ${sizeMiB} MiB, ${stack.label}`, metric: 'MB/s', filehub: median(multipart), baseline: median(raw), target: UPLOAD_TARGET }));
        if (rawParts.length) {
          // No target: it says how much of the gap is S3's multipart protocol rather than the API.
          rows.push(row({ case: `multipart ${sizeMiB} MiB, ${stack.label}, vs raw S3 multipart upload`, metric: 'MB/s', filehub: median(multipart), baseline: median(rawParts) }));
        }
        rows.push(
          row({ case: `pre-signed PUT ${sizeMiB} MiB, ${stack.label}`, metric: 'MB/s', filehub: median(presigned), baseline: median(raw), target: UPLOAD_TARGET, note: 'PUT plus POST …/complete' }),
        );
      }
    });
  } finally {
    await baseline.child.stop();
  }
  return {
    name: 'upload',
    title: 'Upload throughput through the API',
    baseline: 'raw node:http server streaming the body to the same directory (with fsync, as the local driver) or as one PutObject to the same bucket',
    rows,
    skipped,
    seconds: (Date.now() - started) / 1000,
  };
}

export async function downloadBench(options: SuiteOptions): Promise<BenchResult> {
  const started = Date.now();
  const sizes = transferSizes(options.quick);
  const rows: BenchRow[] = [];
  const skipped: string[] = [];
  const baseline = await BaselineServer.start();
  try {
    await eachStack(options, Math.max(...sizes) * MiB + MiB, skipped, async (stack) => {
      const token = TOKEN();
      for (const sizeMiB of sizes) {
        const bytes = Math.round(sizeMiB * MiB);
        const { id } = await uploadMultipart(stack, token, randomBytes(MiB), bytes, { visibility: 'public' });
        await waitProcessed(stack.api.base, token, id);
        const source = await stack.locate(bytes);
        const half = Math.floor(bytes / 2);
        const cases = [
          { label: 'whole file', headers: {} as Record<string, string>, expect: 200, length: bytes },
          { label: 'byte range (second half)', headers: { range: `bytes=${half}-${bytes - 1}` }, expect: 206, length: bytes - half },
        ];
        for (const c of cases) {
          const repeats = repeatsFor(sizeMiB, options.quick);
          const api = { mbps: [] as number[], ttfb: [] as number[] };
          const raw = { mbps: [] as number[], ttfb: [] as number[] };
          for (let i = 0; i < repeats; i++) {
            const steps = [
              async () => {
                const got = await download(`${stack.api.base}/public/files/${id}`, c.headers);
                if (got.status !== c.expect || got.bytes !== c.length) throw new Error(`GET /public/files/${id} answered ${got.status} with ${got.bytes} bytes`);
                api.mbps.push(mbps(got.bytes, got.seconds));
                api.ttfb.push(got.ttfbSeconds * 1000);
              },
              async () => {
                const got = await download(`${baseline.base}/download?${source}`, c.headers);
                if (got.status !== c.expect || got.bytes !== c.length) throw new Error(`the baseline download answered ${got.status} with ${got.bytes} bytes`);
                raw.mbps.push(mbps(got.bytes, got.seconds));
                raw.ttfb.push(got.ttfbSeconds * 1000);
              },
            ];
            for (const step of i % 2 === 0 ? steps : [...steps].reverse()) await step();
          }
          const name = `${c.label} ${sizeMiB} MiB, ${stack.label}`;
          options.log(`  ${name}: API ${median(api.mbps).toFixed(0)} MB/s, TTFB ${median(api.ttfb).toFixed(1)} ms; raw ${median(raw.mbps).toFixed(0)} MB/s, TTFB ${median(raw.ttfb).toFixed(1)} ms`);
          rows.push(row({ case: name, metric: 'MB/s', filehub: median(api.mbps), baseline: median(raw.mbps), target: DOWNLOAD_TARGET }));
          rows.push(row({ case: name, metric: 'TTFB ms', filehub: median(api.ttfb), baseline: median(raw.ttfb), target: TTFB_TARGET }));
        }
        await stack.clear();
      }
    });
  } finally {
    await baseline.child.stop();
  }
  return {
    name: 'download',
    title: 'Download throughput and time to first byte (GET /public/files/:id)',
    baseline: 'raw node:http server streaming the same stored object from the same directory or bucket (Range passed through)',
    rows,
    skipped,
    seconds: (Date.now() - started) / 1000,
  };
}
