import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../support/local-services';
import { median, row, type BenchResult } from './report';
import { API_MAIN, apiEnvironment, spawnChild, waitHealthy, type SuiteOptions } from './support';

// Start-up of the embedded profile (`node dist/apps/api/src/main.js`) to the first 200 on GET /health: with a fresh
// DATA_DIR (PGlite created, migrations applied, categories seeded) and again with that DATA_DIR existing, beside a
// bare `node -e` http server started and polled the same way in the same run.

const POLL_MS = 10;
// A reasonable wait for a self-hosted service to come up, over what node itself needs to start.
const FRESH_TARGET = { maxOver: 5 };
const EXISTING_TARGET = { maxOver: 3 };

const BARE_SERVER = "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')";

async function timeStart(args: string[], env: NodeJS.ProcessEnv, port: number): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawnChild('start-up subject', args, { env });
  try {
    return await waitHealthy(`http://127.0.0.1:${port}`, child, started, 120_000, POLL_MS);
  } finally {
    await child.stop();
  }
}

async function bareStart(): Promise<number> {
  const port = await freePort();
  return timeStart(['-e', BARE_SERVER], { ...process.env, PORT: String(port) }, port);
}

export async function startupBench(options: SuiteOptions): Promise<BenchResult> {
  const started = Date.now();
  const runs = options.quick ? 1 : 5;
  const fresh: number[] = [];
  const existing: number[] = [];
  const bare: number[] = [];
  for (let run = 0; run < runs; run++) {
    const root = await mkdtemp(join(options.tmp, 'filehub-bench-start-'));
    try {
      const dataDir = join(root, 'data');
      const port = await freePort();
      const env = apiEnvironment(port, { dataDir });
      bare.push(await bareStart());
      fresh.push(await timeStart([API_MAIN], env, port));
      existing.push(await timeStart([API_MAIN], env, port));
      bare.push(await bareStart());
      options.log(`  run ${run + 1}/${runs}: fresh ${fresh.at(-1)!.toFixed(2)} s, existing ${existing.at(-1)!.toFixed(2)} s, bare node ${bare.at(-1)!.toFixed(3)} s`);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }
  const baseline = median(bare);
  return {
    name: 'startup',
    title: 'Start-up of the embedded profile to 200 on GET /health',
    baseline: `a bare node -e http server, spawned and polled every ${POLL_MS} ms the same way`,
    rows: [
      row({ case: 'fresh DATA_DIR', metric: 'seconds', filehub: median(fresh), baseline, target: FRESH_TARGET }),
      row({ case: 'existing DATA_DIR', metric: 'seconds', filehub: median(existing), baseline, target: EXISTING_TARGET }),
    ],
    skipped: [],
    seconds: (Date.now() - started) / 1000,
    details: { fresh, existing, bare },
  };
}
