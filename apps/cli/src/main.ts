#!/usr/bin/env node
import 'reflect-metadata';
import { createWriteStream, openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ROLES, TokenService, type Role } from '@app/auth';
import { ConfigError, loadConfig } from '@app/config';
import { FilehubClient, FilesApiError, type FileRecord, type ReconcileReport } from '@app/files-client';
import { ProgressBoard, formatBytes, table } from './terminal';

// filehub: the command line of the service, built on the SDK (@filehub/files-client's FilehubClient).
//
// Exit codes: 0 done; 1 bad usage; 2 the service refused (4xx: the message says why); 3 the service could not be
// reached or failed (5xx, network); 4 some of several files failed (the others were done); 5 `reconcile` found
// inconsistencies it did not repair (a dry run that found any, or a repair that left some).
export const EXIT = { ok: 0, usage: 1, refused: 2, unavailable: 3, partial: 4, inconsistent: 5 } as const;

class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof FilesApiError) return new CliError(error.status >= 400 && error.status < 500 ? EXIT.refused : EXIT.unavailable, error.message);
  if (error instanceof ConfigError) return new CliError(EXIT.usage, error.message);
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code === 'ECONNREFUSED' || cause?.code === 'ENOTFOUND') return new CliError(EXIT.unavailable, `Cannot reach the service: ${cause.message}`);
  return new CliError(EXIT.unavailable, (error as Error)?.message ?? String(error));
}

interface GlobalOptions {
  url: string;
  token?: string;
  json?: boolean;
}

function clientOf(options: GlobalOptions): FilehubClient {
  if (!options.token) throw new CliError(EXIT.usage, 'No token: pass --token or set FILEHUB_TOKEN (filehub token --sub <you> prints a development one)');
  return new FilehubClient({ serverUrl: options.url, token: options.token });
}

const out = (text: string) => process.stdout.write(`${text}\n`);

// The declared type of common files (the service sniffs the bytes anyway; a category may check the declaration).
const TYPES: Record<string, string> = {
  pdf: 'application/pdf',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  txt: 'text/plain',
  csv: 'text/csv',
  json: 'application/json',
  zip: 'application/zip',
};

function mimeOf(path: string): string {
  return TYPES[path.split('.').pop()?.toLowerCase() ?? ''] ?? 'application/octet-stream';
}

function summaryRows(files: FileRecord[]): string[][] {
  return files.map((f) => [f.name, f.id, formatBytes(f.size), f.status, f.visibility, f.sha256 ? f.sha256.slice(0, 12) : '–']);
}
const SUMMARY_HEAD = ['name', 'id', 'size', 'status', 'visibility', 'sha256'];

async function upload(paths: string[], options: GlobalOptions & { public?: boolean; category?: string }): Promise<number> {
  const client = clientOf(options);
  const files = await Promise.all(
    paths.map(async (path) => {
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) throw new CliError(EXIT.usage, `${path}: not a readable file`);
      return { path, size: info.size };
    }),
  );
  const board = new ProgressBoard(process.stderr, files.map((f) => ({ label: basename(f.path), total: f.size })));
  const results: FileRecord[] = [];
  const failures: { path: string; error: CliError }[] = [];
  // One at a time: each file gets the whole connection, and the bars fill in order.
  for (const [index, file] of files.entries()) {
    try {
      // A file-backed Blob: read from disk as it is sent, never held whole in memory.
      const blob = await openAsBlob(file.path, { type: mimeOf(file.path) });
      const record = await client.upload(Object.assign(blob, { name: basename(file.path) }), {
        filename: basename(file.path),
        visibility: options.public ? 'public' : undefined,
        category: options.category,
        // The multipart framing adds a few hundred bytes; the bar counts the file's own bytes.
        onProgress: ({ loaded }) => board.update(index, Math.min(loaded, file.size)),
      });
      board.finish(index, 'done');
      results.push(record);
    } catch (error) {
      const cliError = toCliError(error);
      board.finish(index, `failed: ${cliError.message}`);
      failures.push({ path: file.path, error: cliError });
    }
  }
  board.close();
  if (options.json) out(JSON.stringify({ uploaded: results, failed: failures.map((f) => ({ path: f.path, error: f.error.message })) }, null, 2));
  else {
    if (results.length) out(table(SUMMARY_HEAD, summaryRows(results)));
    for (const f of failures) process.stderr.write(`${f.path}: ${f.error.message}\n`);
  }
  if (failures.length === 0) return EXIT.ok;
  return results.length ? EXIT.partial : failures[0]!.error.exitCode;
}

async function list(options: GlobalOptions & { status?: string; type?: string; tag?: string; search?: string; limit?: string }): Promise<number> {
  const page = await clientOf(options).list({
    status: options.status as FileRecord['status'] | undefined,
    type: options.type,
    tag: options.tag,
    q: options.search,
    limit: options.limit ? Number(options.limit) : undefined,
  });
  if (options.json) out(JSON.stringify(page, null, 2));
  else {
    out(table(['name', 'id', 'size', 'status', 'visibility', 'created'], page.data.map((f) => [f.name, f.id, formatBytes(f.size), f.status, f.visibility, f.createdAt.slice(0, 19).replace('T', ' ')])));
    out(`${page.data.length} of ${page.total} file(s)`);
  }
  return EXIT.ok;
}

async function get(id: string, options: GlobalOptions & { output?: string }): Promise<number> {
  const client = clientOf(options);
  const file = await client.get(id);
  if (!options.output) {
    if (options.json) out(JSON.stringify(file, null, 2));
    else {
      const rows: [string, string][] = [
        ['name', file.name],
        ['id', file.id],
        ['status', file.status + (file.failureReason ? ` (${file.failureReason})` : '')],
        ['type', file.contentType],
        ['size', formatBytes(file.size)],
        ['sha256', file.sha256 ?? '–'],
        ['visibility', file.visibility],
        ['owner', `${file.ownerId}${file.organizationId ? ` (${file.organizationId})` : ''}`],
        ['created', file.createdAt],
      ];
      if (file.pageCount !== null) rows.push(['pages', String(file.pageCount)]);
      if (file.width !== null) rows.push(['dimensions', `${file.width}x${file.height}`]);
      out(table(['field', 'value'], rows));
    }
    return EXIT.ok;
  }
  const { url } = await client.downloadUrl(id);
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new CliError(EXIT.unavailable, `Download failed: ${res.status}`);
  const board = new ProgressBoard(process.stderr, [{ label: file.name, total: file.size ?? Number(res.headers.get('content-length') ?? 0) }]);
  let loaded = 0;
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  body.on('data', (chunk: Buffer) => board.update(0, (loaded += chunk.length)));
  await pipeline(body, createWriteStream(options.output));
  board.finish(0, 'done');
  board.close();
  if (options.json) out(JSON.stringify({ id, path: options.output, bytes: loaded }));
  return EXIT.ok;
}

async function share(id: string, options: GlobalOptions): Promise<number> {
  const link = await clientOf(options).shareLink(id);
  out(options.json ? JSON.stringify({ id, link }) : link);
  return EXIT.ok;
}

async function remove(ids: string[], options: GlobalOptions): Promise<number> {
  const client = clientOf(options);
  let failed = 0;
  let lastError: CliError | undefined;
  for (const id of ids) {
    try {
      await client.remove(id);
      if (!options.json) out(`deleted ${id}`);
    } catch (error) {
      failed++;
      lastError = toCliError(error);
      process.stderr.write(`${id}: ${lastError.message}\n`);
    }
  }
  if (options.json) out(JSON.stringify({ deleted: ids.length - failed, failed }));
  if (!failed) return EXIT.ok;
  return failed < ids.length ? EXIT.partial : lastError!.exitCode;
}

const RECONCILE_LABELS: Record<keyof ReconcileReport['findings'], string> = {
  orphanObjects: 'objects with no record',
  orphanDerived: 'derived objects with no file',
  missingObjects: 'records with no object',
  missingDerived: 'thumbnails with no object',
  staleUploads: 'stale upload intents',
  incompleteUploads: 'incomplete uploads',
};

async function reconcile(options: GlobalOptions & { repair?: boolean }): Promise<number> {
  const report = await clientOf(options).reconcile({ repair: options.repair ?? false });
  const categories = Object.keys(RECONCILE_LABELS) as (keyof ReconcileReport['findings'])[];
  const left = categories.reduce((sum, c) => sum + report.findings[c].count - report.findings[c].repaired, 0);
  if (options.json) out(JSON.stringify(report, null, 2));
  else {
    out(
      table(
        ['finding', 'found', 'repaired', 'deferred', 'sample'],
        categories.map((c) => {
          const f = report.findings[c];
          return [RECONCILE_LABELS[c], String(f.count), String(f.repaired), String(f.deferred), f.sample[0] ?? '–'];
        }),
      ),
    );
    out(`${report.examined.objects} object(s) and ${report.examined.incompleteUploads} incomplete upload(s) examined${report.complete ? '' : ' (partial walk)'}`);
    out(
      report.total === 0
        ? 'consistent: no object without a record, no record without an object'
        : report.repair
          ? `${report.total} inconsistenc${report.total === 1 ? 'y' : 'ies'} found, ${report.total - left} repaired`
          : `${report.total} inconsistenc${report.total === 1 ? 'y' : 'ies'} found (dry run: run with --repair to fix)`,
    );
  }
  return left > 0 ? EXIT.inconsistent : EXIT.ok;
}

function token(options: { sub: string; org?: string; role: string; expires: string }): number {
  if (!ROLES.includes(options.role as Role)) throw new CliError(EXIT.usage, `--role must be one of ${ROLES.join(', ')}`);
  const expires = Number(options.expires);
  if (!Number.isInteger(expires) || expires <= 0) throw new CliError(EXIT.usage, '--expires must be a positive number of seconds');
  out(new TokenService(loadConfig()).sign({ sub: options.sub, org: options.org, role: options.role as Role }, expires));
  return EXIT.ok;
}

function positiveInt(value: string): string {
  if (!/^[1-9]\d{0,3}$/.test(value)) throw new InvalidArgumentError('must be a whole number from 1 to 9999');
  return value;
}

export function program(): Command {
  const cli = new Command('filehub')
    .description('Upload, list, fetch, share and delete files on a filehub service')
    .addOption(new Option('--url <url>', 'service base URL').env('FILEHUB_URL').default('http://localhost:3000'))
    .addOption(new Option('--token <jwt>', 'bearer token').env('FILEHUB_TOKEN'))
    .option('--json', 'machine-readable output on stdout')
    .showHelpAfterError()
    .exitOverride();
  let exitCode: number = EXIT.ok;
  const run = (action: (...args: never[]) => Promise<number> | number) =>
    async (...args: unknown[]) => {
      exitCode = await action(...(args as never[]));
    };
  const globals = () => cli.opts<GlobalOptions>();
  cli
    .command('upload')
    .description('upload files, with a progress bar per file and a summary table')
    .argument('<files...>')
    .option('--public', 'make the files public')
    .option('--category <key>', 'file category (default: default)')
    .action(run((files: string[], o: { public?: boolean; category?: string }) => upload(files, { ...globals(), ...o })));
  cli
    .command('ls')
    .description('list files you can read')
    .option('--status <status>', 'UPLOADING, PROCESSING, READY, FAILED or QUARANTINED')
    .option('--type <mime>', 'MIME type or its first part: image, application/pdf…')
    .option('--tag <tag>')
    .option('--search <text>', 'part of the name')
    .option('--limit <n>', 'at most this many (1–200)', positiveInt)
    .action(run((o: { status?: string; type?: string; tag?: string; search?: string; limit?: string }) => list({ ...globals(), ...o })));
  cli
    .command('get')
    .description("show a file's metadata, or download it with -o")
    .argument('<id>')
    .option('-o, --output <path>', 'write the bytes here')
    .action(run((id: string, o: { output?: string }) => get(id, { ...globals(), ...o })));
  cli
    .command('share')
    .description('print a public link to the file (no credentials needed to open it)')
    .argument('<id>')
    .action(run((id: string) => share(id, globals())));
  cli
    .command('rm')
    .description('delete files (soft: the bytes go after the retention)')
    .argument('<ids...>')
    .action(run((ids: string[]) => remove(ids, globals())));
  cli
    .command('reconcile')
    .description('admin: compare storage with the records and report what disagrees; --repair fixes it')
    .option('--repair', 'delete orphaned bytes, abort stale uploads, mark records whose bytes are gone FAILED')
    .action(run((o: { repair?: boolean }) => reconcile({ ...globals(), ...o })));
  cli
    .command('token')
    .description('print a development token signed with this machine\'s AUTH_JWT_SECRET')
    .option('--sub <user>', 'user id', 'dev-user')
    .option('--org <organization>')
    .option('--role <role>', 'user, service or admin', 'user')
    .option('--expires <seconds>', 'lifetime', '86400')
    .action(run((o: { sub: string; org?: string; role: string; expires: string }) => token(o)));
  Object.defineProperty(cli, 'filehubExitCode', { get: () => exitCode });
  return cli;
}

export async function main(argv = process.argv): Promise<number> {
  const cli = program();
  try {
    await cli.parseAsync(argv);
    return (cli as unknown as { filehubExitCode: number }).filehubExitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const cliError = toCliError(error);
    process.stderr.write(`filehub: ${cliError.message}\n`);
    return cliError.exitCode;
  }
}

if (require.main === module) {
  void main().then((code) => {
    process.exitCode = code;
  });
}
