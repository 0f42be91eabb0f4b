import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { downloadBench, uploadBench } from './bench/transfer';
import { metadataBench } from './bench/metadata';
import { signaturesBench } from './bench/signatures';
import { thumbnailsBench } from './bench/thumbnails';
import { memoryBench } from './bench/memory';
import { startupBench } from './bench/startup';
import { formatMarkdown, formatTable, type BenchResult } from './bench/report';
import type { SuiteOptions } from './bench/support';

// The benchmark suite: every figure is filehub beside a baseline measured in the same run, as a ratio.
//
//   npm run build && eval "$(bash scripts/services.sh env)" && npm run bench [-- <name> ...] [--quick] [--out <dir>]
//
// Names: upload, download, metadata, signatures, thumbnails, memory, startup (default: all, in that order).
// Without the full-profile variables, the MinIO/PostgreSQL cases are skipped and say so. See docs/benchmarks.md.

const BENCHES: Record<string, (options: SuiteOptions) => Promise<BenchResult>> = {
  upload: uploadBench,
  download: downloadBench,
  metadata: metadataBench,
  signatures: signaturesBench,
  thumbnails: thumbnailsBench,
  memory: memoryBench,
  startup: startupBench,
};

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
      out: { type: 'string', default: 'bench-results' },
      tmp: { type: 'string', default: process.env.BENCH_TMP ?? tmpdir() },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`Usage: npm run bench -- [${Object.keys(BENCHES).join('|')} ...] [--quick] [--out <dir>] [--tmp <dir>]\n`);
    return;
  }
  const unknown = positionals.filter((name) => !(name in BENCHES));
  if (unknown.length) throw new Error(`Unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  const names = positionals.length ? positionals : Object.keys(BENCHES);
  const out = resolve(values.out!);
  mkdirSync(out, { recursive: true });
  const options: SuiteOptions = { quick: values.quick!, tmp: resolve(values.tmp!), log: (line) => process.stderr.write(`${line}\n`) };
  // The load average says how much else ran on the machine: the ratios are the figures to trust when it is high.
  const load = () => loadavg().map((n) => Math.round(n * 100) / 100);
  const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform} ${process.arch}`, loadAtStart: load() };
  const args = [...(positionals.length ? names : []), ...(options.quick ? ['--quick'] : [])];
  const command = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;

  const results: BenchResult[] = [];
  const failures: { name: string; error: string }[] = [];
  for (const name of names) {
    options.log(`\n== ${name}${options.quick ? ' (quick)' : ''} ==`);
    try {
      const result = await BENCHES[name]!(options);
      results.push(result);
      writeFileSync(resolve(out, `${name}.json`), `${JSON.stringify({ ...result, quick: options.quick, machine, date: new Date().toISOString() }, null, 2)}\n`);
      process.stdout.write(`\n${result.title}\nbaseline: ${result.baseline}\n${formatTable([result])}\n`);
      for (const note of result.skipped) process.stdout.write(`skipped: ${note}\n`);
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      failures.push({ name, error: message });
      process.stderr.write(`${name} failed: ${message}\n`);
    }
  }

  const summary = { date: new Date().toISOString(), command, quick: options.quick, machine: { ...machine, loadAtEnd: load() }, results, failures };
  writeFileSync(resolve(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(resolve(out, 'summary.md'), `${formatMarkdown(results)}\n`);
  process.stdout.write(
    `\n== summary: ${command}; ${machine.nproc} × ${machine.cpu}, node ${machine.node}, load average ${machine.loadAtStart.join(' ')} → ${summary.machine.loadAtEnd.join(' ')} ==\n${formatTable(results)}\n` +
      `${results.flatMap((r) => r.skipped.map((s) => `skipped (${r.name}): ${s}\n`)).join('')}` +
      `${failures.map((f) => `FAILED: ${f.name}\n`).join('')}JSON in ${out}/\n`,
  );
  if (failures.length) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
