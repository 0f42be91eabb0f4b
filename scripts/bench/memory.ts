import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { row, type BenchResult } from './report';
import { ByteSource, MiB, sleep, multipartFraming, procStatusKiB, sendBody, signToken, startApi, waitProcessed, type SuiteOptions } from './support';

// Peak RSS (VmHWM, the kernel's high-water mark, so no sample can miss a spike) of the API process while 20 clients
// upload at once, beside the RSS of the same process idle. The embedded profile's start (PGlite) sets a high mark
// of its own, so the mark is reset (`5` to /proc/<pid>/clear_refs) before each round. Two rounds, a quarter of the
// size then the full size: if uploads stream, four times the bytes in flight leave the peak where it was.

const CLIENTS = 20;
const IDLE_TARGET = { max: 3 };
const GROWTH_TARGET = { max: 1.25 };

const mb = (kib: number | null) => (kib === null ? Number.NaN : (kib * 1024) / 1e6);

/** Resets the process's VmHWM to its current RSS (Linux 4.0+). */
async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}

/** The peak RSS of one round of uploads. */
async function peakOf(pid: number, work: () => Promise<void>): Promise<number | null> {
  await resetPeak(pid);
  await work();
  return procStatusKiB(pid, 'VmHWM');
}

async function round(base: string, token: string, bytes: number): Promise<void> {
  const uploads = Array.from({ length: CLIENTS }, async () => {
    const block = randomBytes(MiB);
    const { boundary, prefix, suffix } = multipartFraming();
    const answer = await sendBody('POST', `${base}/files`, new ByteSource(block, bytes, { prefix, suffix }), prefix.length + bytes + suffix.length, {
      authorization: `Bearer ${token}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
    });
    if (answer.status !== 201) throw new Error(`POST /files answered ${answer.status}: ${answer.body}`);
    return (JSON.parse(answer.body) as { id: string }).id;
  });
  const ids = await Promise.all(uploads);
  // The post-upload work reads every object back: part of what the process does for these uploads.
  for (const id of ids) await waitProcessed(base, token, id);
}

export async function memoryBench(options: SuiteOptions): Promise<BenchResult> {
  const started = Date.now();
  const sizeMiB = Number(process.env.BENCH_MEMORY_MIB ?? (options.quick ? 8 : 256));
  const bytes = sizeMiB * MiB;
  const root = await mkdtemp(join(options.tmp, 'filehub-bench-memory-'));
  const objects = join(root, 'objects');
  const api = await startApi({ dataDir: root, maxUploadBytes: bytes + MiB });
  const clear = async () => {
    const entries = await readdir(objects, { withFileTypes: true, recursive: true }).catch(() => []);
    for (const e of entries) if (e.isFile()) await unlink(join(e.parentPath, e.name)).catch(() => undefined);
  };
  try {
    const token = signToken({ sub: 'bench-user', org: 'bench-org' });
    const pid = api.child.pid;
    // Idle: after one small upload has gone through every step, so lazily loaded code counts as idle.
    await round(api.base, token, MiB / 4).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}${api.child.tail()}`);
    });
    await clear();
    await sleep(1000);
    const idle = procStatusKiB(pid, 'VmRSS');
    const quarter = await peakOf(pid, () => round(api.base, token, bytes / 4));
    await clear();
    const full = await peakOf(pid, () => round(api.base, token, bytes));
    await clear();
    options.log(`  RSS idle ${mb(idle).toFixed(0)} MB; peak during ${CLIENTS} × ${sizeMiB / 4} MiB ${mb(quarter).toFixed(0)} MB, during ${CLIENTS} × ${sizeMiB} MiB ${mb(full).toFixed(0)} MB`);
    return {
      name: 'memory',
      title: `Memory: peak RSS (VmHWM) of the API while ${CLIENTS} clients upload at once (embedded profile)`,
      baseline: 'the RSS of the same API process idle (after one small upload), then the peak of the quarter-size round',
      rows: [
        row({ case: `${CLIENTS} × ${sizeMiB} MiB at once vs idle`, metric: 'peak RSS MB', filehub: mb(full), baseline: mb(idle), target: IDLE_TARGET }),
        row({ case: `${CLIENTS} × ${sizeMiB} MiB vs ${CLIENTS} × ${sizeMiB / 4} MiB`, metric: 'peak RSS MB', filehub: mb(full), baseline: mb(quarter), target: GROWTH_TARGET }),
      ],
      skipped: [],
      seconds: (Date.now() - started) / 1000,
      details: { clients: CLIENTS, sizeMiB, idleKiB: idle, quarterKiB: quarter, fullKiB: full, uploadedMB: (CLIENTS * bytes) / 1e6 },
    };
  } finally {
    await api.stop();
    await rm(root, { recursive: true, force: true });
  }
}
