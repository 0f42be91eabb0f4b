import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { median, row, type BenchResult } from './report';
import { FULL_PROFILE_HINT, postgresUrl, s3Configured, type SuiteOptions } from './support';

// The thumbnail pipeline benchmark lives in scripts/bench-thumbnails.ts (its own flags and pinning); the suite runs
// it as a child with --json and takes its figures.

interface ThumbnailsJson {
  profile: string;
  images: number;
  width: number;
  results: { pipelinePerSecond: number; perThumbnailPerSecond: number; baselinePerSecond: number }[];
  target: number;
}

export async function thumbnailsBench(options: SuiteOptions): Promise<BenchResult> {
  const started = Date.now();
  const full = Boolean(postgresUrl() && s3Configured() && process.env.REDIS_URL);
  const args = [join(__dirname, '..', 'bench-thumbnails.js'), '--json', '--profile', full ? 'full' : 'embedded'];
  if (options.quick) args.push('--images', '4', '--runs', '1', '--width', '1200');
  const out = await new Promise<string>((ok, fail) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => (code === 0 ? ok(stdout) : fail(new Error(`bench-thumbnails exited with ${code}: ${stderr.trim().slice(-2000)}`))));
  });
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as ThumbnailsJson;
  const pipeline = median(result.results.map((r) => r.pipelinePerSecond));
  const label = `${result.images} JPEGs ${result.width} px, ${result.profile} profile`;
  return {
    name: 'thumbnails',
    title: 'Thumbnails per second per worker core (upload → READY with 3 WebP sizes)',
    baseline: 'raw sharp on the same images, pinned to the same core: one call per thumbnail, and the pipeline’s own decode-once method',
    rows: [
      row({ case: `${label}, vs raw sharp per thumbnail`, metric: 'images/s', filehub: pipeline, baseline: median(result.results.map((r) => r.perThumbnailPerSecond)), target: { min: result.target } }),
      row({ case: `${label}, vs sharp decoding once`, metric: 'images/s', filehub: pipeline, baseline: median(result.results.map((r) => r.baselinePerSecond)) }),
    ],
    skipped: full ? [] : [`full profile (worker process): DATABASE_URL, REDIS_URL and S3_* are not set (${FULL_PROFILE_HINT}); ran embedded`],
    seconds: (Date.now() - started) / 1000,
    details: { runs: result.results },
  };
}
