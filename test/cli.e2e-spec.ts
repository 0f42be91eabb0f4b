import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classicPdf } from '@app/media/testing/media-fixtures';
import { CLI, runCli } from './support/cli';
import { startTestApp, type TestApp } from './support/test-app';

// The CLI (apps/cli), run as users run it: the built binary, under a pseudo-terminal (util-linux `script`) where
// it draws progress bars, and through pipes where it prints JSON.

const MB = 1024 * 1024;

describe('filehub CLI', () => {
  let app: TestApp;
  let dir: string;
  let env: Record<string, string>;
  let big: string;
  let bigSha: string;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`Build first (npm run build): ${CLI} is missing`);
    app = await startTestApp({ MAX_UPLOAD_BYTES: String(256 * MB) });
    dir = await mkdtemp(join(tmpdir(), 'filehub-cli-'));
    env = { FILEHUB_URL: app.url, FILEHUB_TOKEN: app.token({ sub: 'cli-user', org: 'cli' }) };
    // 200 MB written in 1 MB blocks of fresh random bytes (no dedup of identical blocks to hide behind).
    big = join(dir, 'big.bin');
    const hash = createHash('sha256');
    const stream = createWriteStream(big);
    for (let i = 0; i < 200; i++) {
      const block = randomBytes(MB);
      hash.update(block);
      if (!stream.write(block)) await new Promise<void>((r) => stream.once('drain', () => r()));
    }
    await new Promise<void>((resolve, reject) => {
      stream.once('error', reject);
      stream.end(() => resolve());
    });
    bigSha = hash.digest('hex');
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('uploads a 200 MB file under a terminal with a progress bar that moves, then prints a summary table', async () => {
    const small = join(dir, 'notes.txt');
    await writeFile(small, 'a small file\n');
    const run = await runCli(['upload', big, small], env, { tty: true });
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    // The bar block is redrawn in place (cursor up + clear line), with the big file's percentage climbing to 100.
    expect(run.stdout).toContain('\x1b[2K');
    expect(run.stdout).toMatch(/\x1b\[\d+A/);
    const percents = [...run.stdout.matchAll(/big\.bin\s+\[[#-]{30}\]\s+(\d+)%/g)].map((m) => Number(m[1]));
    expect(new Set(percents).size).toBeGreaterThanOrEqual(4);
    expect(Math.max(...percents)).toBe(100);
    expect(percents.some((p) => p > 0 && p < 100)).toBe(true);
    for (let i = 1; i < percents.length; i++) expect(percents[i]!).toBeGreaterThanOrEqual(percents[i - 1]!);
    // The summary table.
    expect(run.stdout).toMatch(/name\s+id\s+size\s+status\s+visibility\s+sha256/);
    expect(run.stdout).toMatch(new RegExp(`big\\.bin\\s+[0-9a-f-]{36}\\s+209\\.7 MB\\s+(PROCESSING|READY)\\s+private\\s+${bigSha.slice(0, 12)}`));
    expect(run.stdout).toMatch(/notes\.txt\s+[0-9a-f-]{36}\s+13 B/);
  }, 180_000);

  it('speaks JSON for scripts: upload, ls, get -o, share, rm', async () => {
    const pdf = join(dir, 'report.pdf');
    await writeFile(pdf, classicPdf(3));
    const up = await runCli(['--json', 'upload', '--public', pdf], env);
    expect(up.code).toBe(0);
    const { uploaded } = JSON.parse(up.stdout) as { uploaded: { id: string; name: string; visibility: string; sha256: string }[] };
    expect(uploaded).toHaveLength(1);
    expect(uploaded[0]).toMatchObject({ name: 'report.pdf', visibility: 'public', sha256: createHash('sha256').update(classicPdf(3)).digest('hex') });
    const id = uploaded[0]!.id;
    await app.waitForStatus(id, env.FILEHUB_TOKEN!, ['READY']);

    const ls = await runCli(['--json', 'ls', '--type', 'application/pdf'], env);
    expect(ls.code).toBe(0);
    expect((JSON.parse(ls.stdout) as { data: { id: string }[] }).data.map((f) => f.id)).toEqual([id]);
    const human = await runCli(['ls', '--search', 'report'], env);
    expect(human.stdout).toMatch(/report\.pdf/);
    expect(human.stdout).toMatch(/1 of 1 file\(s\)/);

    const info = await runCli(['get', id], env);
    expect(info.stdout).toMatch(/pages\s+3/);
    const target = join(dir, 'copy.pdf');
    const got = await runCli(['get', id, '-o', target], env);
    expect(got.code).toBe(0);
    expect((await readFile(target)).equals(classicPdf(3))).toBe(true);

    const shared = await runCli(['share', id], env);
    expect(shared.code).toBe(0);
    const link = shared.stdout.trim();
    const res = await fetch(link);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(classicPdf(3))).toBe(true);

    expect((await runCli(['rm', id], env)).code).toBe(0);
    const gone = await runCli(['get', id], env);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/404/);
  }, 60_000);

  it('exits with codes that mean something', async () => {
    const pdf = join(dir, 'ok.pdf');
    const txt = join(dir, 'not-a.txt');
    await writeFile(pdf, classicPdf(1));
    await writeFile(txt, 'plain text');
    // Usage: no token, a missing file, an unknown command.
    expect((await runCli(['ls'], { FILEHUB_URL: app.url, FILEHUB_TOKEN: '' })).code).toBe(1);
    expect((await runCli(['upload', join(dir, 'missing.bin')], env)).code).toBe(1);
    expect((await runCli(['frobnicate'], env)).code).toBe(1);
    // Refused by the service (an expired token): 2.
    const refused = await runCli(['ls'], { ...env, FILEHUB_TOKEN: app.token({ sub: 'cli-user', org: 'cli' }, -10) });
    expect(refused.code).toBe(2);
    // Unreachable: 3.
    expect((await runCli(['ls'], { ...env, FILEHUB_URL: 'http://127.0.0.1:9' })).code).toBe(3);
    // Some of several files refused (the pdf category takes no text): 4, and the PDF is there.
    const partial = await runCli(['--json', 'upload', '--category', 'pdf', pdf, txt], env);
    expect(partial.code).toBe(4);
    const result = JSON.parse(partial.stdout) as { uploaded: { name: string }[]; failed: { path: string; error: string }[] };
    expect(result.uploaded.map((f) => f.name)).toEqual(['ok.pdf']);
    expect(result.failed).toEqual([{ path: txt, error: expect.stringMatching(/415/) }]);
    // The token command signs with this machine's secret.
    const minted = await runCli(['token', '--sub', 'someone', '--org', 'cli'], { AUTH_JWT_SECRET: app.config.auth.jwtSecret });
    expect(minted.code).toBe(0);
    expect((await fetch(`${app.url}/files`, { headers: { authorization: `Bearer ${minted.stdout.trim()}` } })).status).toBe(200);
  }, 60_000);
});
