import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';

// A fresh PGlite data directory costs an `initdb` inside WASM: 4–8 s on 2 cores, most of a first `npm start`
// (and of every embedded test app). `npm run build` runs it once and keeps the result as a tarball
// (PGlite's `dumpDataDir`) in dist/, and a copy in node_modules/.cache, since every build empties dist/; a new DATA_DIR is then unpacked from it (`loadDataDir`, about 1 s). The seed holds an
// empty cluster only: migrations still run at start, so an old seed can never hold an old schema. It is keyed by
// the PGlite version, so an upgrade without a rebuild falls back to `initdb` instead of loading a foreign cluster.

/** The nearest folder at or above `dir` holding a package.json. */
function packageDir(dir: string): string {
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** The installed PGlite's version (its package.json is not exported, so it is found next to the entry point). */
async function pgliteVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(packageDir(dirname(require.resolve('@electric-sql/pglite'))), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Where the seed for the installed PGlite is kept: under dist/ (which the build makes and git ignores), and its copy. */
async function seedPaths(): Promise<{ dist: string; cache: string }> {
  // The project's root, from src/ and from dist/ alike.
  const root = packageDir(__dirname);
  const name = `pglite-${await pgliteVersion()}.tar.gz`;
  return { dist: join(root, 'dist', 'pglite-seed', name), cache: join(root, 'node_modules', '.cache', 'filehub', name) };
}

/** The seed's bytes, or undefined when the build did not make one for the installed PGlite. */
export async function readPgliteSeed(): Promise<Blob | undefined> {
  const path = (await seedPaths()).dist;
  if (!existsSync(path)) return undefined;
  return new Blob([await readFile(path)]);
}

/** Writes `bytes` to `path` whole or not at all: a half-written seed is never read. */
async function writeAtomically(path: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  await writeFile(partial, bytes);
  await rename(partial, path);
}

/**
 * Puts the seed for the installed PGlite in dist/: from node_modules/.cache when an earlier build made it (the build
 * empties dist/ each time), else by running `initdb` once.
 */
export async function buildPgliteSeed(): Promise<{ path: string; source: 'dist' | 'cache' | 'initdb' }> {
  const { dist: path, cache: cached } = await seedPaths();
  if (existsSync(path)) return { path, source: 'dist' };
  if (existsSync(cached)) {
    await writeAtomically(path, await readFile(cached));
    return { path, source: 'cache' };
  }
  const scratch = await mkdtemp(join(tmpdir(), 'filehub-pglite-seed-'));
  try {
    const db = await PGlite.create(join(scratch, 'pgdata'));
    const dump = Buffer.from(await (await db.dumpDataDir('gzip')).arrayBuffer());
    await db.close();
    await writeAtomically(cached, dump);
    await writeAtomically(path, dump);
    return { path, source: 'initdb' };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
