import { buildPgliteSeed } from '@app/database/pglite-seed';

// `npm run build` step: the initialised PGlite cluster new embedded data directories start from
// (libs/database/src/pglite-seed.ts). Runs initdb only when no earlier build left the seed in node_modules/.cache.
async function main(): Promise<void> {
  const started = Date.now();
  const { path, source } = await buildPgliteSeed();
  const how = { dist: 'already there', cache: 'copied from node_modules/.cache', initdb: 'made by initdb' }[source];
  process.stdout.write(`pglite seed: ${path} (${how}, ${Date.now() - started} ms)\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`pglite seed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
