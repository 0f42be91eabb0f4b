import 'reflect-metadata';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Client } from 'pg';
import type { Principal } from '@app/auth';
import { createPrismaClient } from '@app/database';
import { FilesRepository, type FileListFilter, type FileListPage } from '@app/files';
import { row, type BenchResult, type BenchRow } from './report';
import { Child, FULL_PROFILE_HINT, postgresUrl, signToken, spawnChild, startApi, type SuiteOptions } from './support';

// Metadata reads at scale: GraphQL file(fileId), GraphQL files(filter) and Chainsite GET /v1/upload?page, on a
// PostgreSQL scratch database seeded with BENCH_METADATA_ROWS files (1 million; 50 000 with --quick) spread over
// 4 organizations and 40 users, each file linked to one of 5 000 `unit` records. autocannon drives 50 connections
// at the API, then at a bare node:http + pg server that runs the same statements (captured from the repository,
// parameters included). Latency p50/p99 and requests/s, side by side.

const CONNECTIONS = 50;
const ORGS = 4;
const USERS = 40;
const UNITS = 5000;
// The framework (Nest, Apollo, auth, mapping, signing URLs) may cost a third of the bare throughput.
const RPS_TARGET = { min: 0.66 };
const P99_TARGET = { max: 3 };
// The API's pool (libs/database: 10 connections outside the embedded profile).
const POOL_SIZE = 10;

const PRINCIPAL: Principal = { userId: 'user-1', orgId: 'org-1', role: 'user' };
const UNIT = 'U-41';

/** Files, associations: generated in the database itself (one INSERT … SELECT generate_series each). */
export async function seed(url: string, rows: number, log: (line: string) => void): Promise<void> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    const started = Date.now();
    const category = await db.query<{ id: string }>(`SELECT id FROM "FileCategory" WHERE key = 'default'`);
    if (!category.rows[0]) throw new Error('no default category: the API did not migrate the database');
    // The owner decides the organization (user-k is in org-(k mod 4)), so tenancy filters split the table.
    await db.query(
      `INSERT INTO "File" (id, "ownerId", "organizationId", "originalFilename", "storageKey", "declaredMime", "sniffedMime", size, sha256,
         status, visibility, "categoryId", tags, purposes, "uploadedAt", "processedAt", "createdAt", "updatedAt")
       SELECT gen_random_uuid()::text, 'user-' || (i % ${USERS}), 'org-' || (i % ${USERS} % ${ORGS}), 'report-' || i || '.pdf',
         'objects/seed/' || i, 'application/pdf', 'application/pdf', 1000 + i % 100000, md5(i::text) || md5((i + 1)::text),
         'READY', 'PRIVATE', $1, '{}', '{}', now(), now(), now() - i * interval '1 second', now()
       FROM generate_series(1, $2::int) AS i`,
      [category.rows[0].id, rows],
    );
    await db.query(
      `INSERT INTO "FileAssociation" (id, "fileId", "organizationId", "entityName", "entityReference", "createdBy")
       SELECT gen_random_uuid()::text, f.id, f."organizationId", 'unit', 'U-' || (substring(f."storageKey" from 14)::int % ${UNITS}), f."ownerId"
       FROM "File" f WHERE f."storageKey" LIKE 'objects/seed/%'`,
    );
    // A table that has been in use a while is vacuumed (autovacuum): visibility map set, statistics current.
    await db.query('VACUUM ANALYZE');
    log(`  seeded ${rows} files and as many associations in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await db.end();
  }
}

interface Statement {
  query: string;
  params: unknown[];
}

/** The statements the repository sends for one call, as Prisma's query events report them. */
async function captureStatements(url: string, call: (repo: FilesRepository) => Promise<unknown>): Promise<Statement[]> {
  const prisma = createPrismaClient(url, 1, { emitQueryEvents: true });
  const statements: Statement[] = [];
  (prisma as unknown as { $on(event: 'query', cb: (e: { query: string; params: string }) => void): void }).$on('query', (e) => {
    statements.push({ query: e.query, params: JSON.parse(e.params) as unknown[] });
  });
  try {
    await call(new FilesRepository(prisma as never));
  } finally {
    await prisma.$disconnect();
  }
  return statements;
}

async function explain(url: string, statements: Statement[]): Promise<string[]> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    const plans: string[] = [];
    for (const s of statements) {
      if (!/^\s*SELECT/i.test(s.query)) continue;
      const plan = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${s.query}`, s.params);
      plans.push(plan.rows.map((r) => r['QUERY PLAN']).join('\n'));
    }
    return plans;
  } finally {
    await db.end();
  }
}

async function startBare(url: string, routes: Record<string, Statement[]>): Promise<{ child: Child; base: string }> {
  const child = spawnChild('bare metadata server', [join(__dirname, 'bare-metadata-server.js')], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.proc.stdin!.end(JSON.stringify({ url, routes, poolSize: POOL_SIZE }));
  const port = await new Promise<number>((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`the bare server did not start${child.tail()}`)), 15_000);
    child.proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      ok((JSON.parse(out.split('\n')[0]!) as { port: number }).port);
    });
    child.proc.once('exit', (code) => fail(new Error(`the bare server exited with ${code}${child.tail()}`)));
  });
  return { child, base: `http://127.0.0.1:${port}` };
}

interface Load {
  p50: number;
  p99: number;
  rps: number;
  non2xx: number;
  errors: number;
}

async function load(request: { url: string; method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string }, durationSeconds: number): Promise<Load> {
  const result = await autocannon({ ...request, connections: CONNECTIONS, duration: durationSeconds });
  return { p50: result.latency.p50, p99: result.latency.p99, rps: result.requests.average, non2xx: result.non2xx, errors: result.errors };
}

export async function metadataBench(options: SuiteOptions): Promise<BenchResult> {
  const started = Date.now();
  const server = postgresUrl();
  const result: BenchResult = {
    name: 'metadata',
    title: `Metadata reads, ${CONNECTIONS} concurrent connections (autocannon), PostgreSQL`,
    baseline: `bare node:http + pg (pool of ${POOL_SIZE}, as the API) running the same SQL statements the repository sends`,
    rows: [],
    skipped: [],
    seconds: 0,
  };
  if (!server) {
    result.skipped.push(`all cases: DATABASE_URL is not set (${FULL_PROFILE_HINT})`);
    return result;
  }
  const rowsToSeed = Number(process.env.BENCH_METADATA_ROWS ?? (options.quick ? 50_000 : 1_000_000));
  const duration = Number(process.env.BENCH_METADATA_SECONDS ?? (options.quick ? 3 : 15));
  const dataDir = await mkdtemp(join(options.tmp, 'filehub-bench-metadata-'));
  const api = await startApi({ dataDir, postgres: server });
  let bare: { child: Child; base: string } | undefined;
  try {
    const url = api.databaseUrl!;
    await seed(url, rowsToSeed, options.log);
    const db = new Client({ connectionString: url });
    await db.connect();
    const fileId = (await db.query<{ id: string }>(`SELECT id FROM "File" WHERE "ownerId" = 'user-1' ORDER BY "createdAt" DESC OFFSET 100 LIMIT 1`)).rows[0]!.id;
    await db.end();

    const listPage: FileListPage = { limit: 20, offset: 0, orderBy: 'createdAt', direction: 'desc' };
    const unitFilter: FileListFilter = { entityName: 'unit', entityReferences: [UNIT] };
    const endpoints = [
      {
        name: 'GraphQL file(fileId)',
        path: '/file',
        capture: (repo: FilesRepository) => repo.findReadableWithRelations(PRINCIPAL, fileId),
        request: { path: '/graphql', method: 'POST' as const, body: { query: 'query($id: ID!) { file(fileId: $id) { id name url isPublic } }', variables: { id: fileId } } },
        check: (json: any) => json?.data?.file?.id === fileId,
      },
      {
        name: 'GraphQL files(filter)',
        path: '/files',
        capture: (repo: FilesRepository) => repo.list(PRINCIPAL, unitFilter, listPage),
        request: {
          path: '/graphql',
          method: 'POST' as const,
          body: { query: `{ files(filter: { entityName: { equalTo: "unit" }, entityIdentifiers: { equalTo: "${UNIT}" } }) { data { id name contentType url isPublic } } }` },
        },
        // U-41 links the files i ≡ 41 (mod 5000), all of user-1 in org-1: a full page once there are 20.
        check: (json: any) => json?.data?.files?.data?.length === Math.min(20, Math.floor((rowsToSeed - 41) / UNITS) + 1),
      },
      {
        name: 'Chainsite GET /v1/upload?page=2',
        path: '/upload',
        capture: (repo: FilesRepository) =>
          repo.list(PRINCIPAL, { ownerId: 'user-1', status: ['PROCESSING', 'READY', 'FAILED'] }, { limit: 10, offset: 10, orderBy: 'createdAt', direction: 'desc' }),
        request: { path: '/v1/upload?page=2', method: 'GET' as const, body: undefined },
        check: (json: any) => json?.status === 'success' && json?.data?.data?.length === 10,
      },
    ];

    const routes: Record<string, Statement[]> = {};
    const plans: Record<string, string[]> = {};
    for (const e of endpoints) {
      routes[e.path] = await captureStatements(url, e.capture);
      plans[e.name] = await explain(url, routes[e.path]!);
    }
    result.details = { rows: rowsToSeed, durationSeconds: duration, statements: routes, plans };
    for (const [name, list] of Object.entries(plans)) {
      const seqScans = list.filter((p) => /Seq Scan on "(File|FileAssociation)"/.test(p)).length;
      const ms = list.map((p) => /Execution Time: ([\d.]+) ms/.exec(p)?.[1]).join(' + ');
      options.log(`  EXPLAIN ${name}: ${list.length} SELECTs, ${ms} ms${seqScans ? `, ${seqScans} with a sequential scan of File/FileAssociation` : ''}`);
    }
    bare = await startBare(url, routes);

    const token = signToken({ sub: PRINCIPAL.userId, org: PRINCIPAL.orgId, role: 'user' });
    const rows: BenchRow[] = [];
    for (const e of endpoints) {
      const apiRequest = {
        url: `${api.base}${e.request.path}`,
        method: e.request.method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: e.request.body ? JSON.stringify(e.request.body) : undefined,
      };
      const bareRequest = { url: `${bare.base}${e.path}`, method: 'GET' as const };
      // Correct answers first: a fast error is no result.
      const probe = await fetch(apiRequest.url, { method: apiRequest.method, headers: apiRequest.headers, body: apiRequest.body });
      const json: unknown = await probe.json();
      if (probe.status !== 200 || !e.check(json)) throw new Error(`${e.name} answered ${probe.status}: ${JSON.stringify(json).slice(0, 500)}${api.child.tail()}`);
      const bareProbe = await fetch(bareRequest.url);
      if (bareProbe.status !== 200) throw new Error(`the bare ${e.path} answered ${bareProbe.status}: ${await bareProbe.text()}`);
      await bareProbe.arrayBuffer();
      // Warm-up of both (JIT, pools, caches), then the measured runs, alternating which goes first per endpoint.
      const warmUp = options.quick ? 1 : 3;
      await load(apiRequest, warmUp);
      await load(bareRequest, warmUp);
      let a: Load;
      let b: Load;
      if (endpoints.indexOf(e) % 2 === 0) {
        a = await load(apiRequest, duration);
        b = await load(bareRequest, duration);
      } else {
        b = await load(bareRequest, duration);
        a = await load(apiRequest, duration);
      }
      if (a.non2xx || a.errors || b.non2xx || b.errors) {
        throw new Error(`${e.name}: ${a.non2xx} non-2xx and ${a.errors} errors from the API, ${b.non2xx} and ${b.errors} from the bare server${api.child.tail()}`);
      }
      options.log(`  ${e.name}: API ${a.rps.toFixed(0)} req/s p50 ${a.p50} p99 ${a.p99} ms; bare ${b.rps.toFixed(0)} req/s p50 ${b.p50} p99 ${b.p99} ms`);
      const label = `${e.name}, ${rowsToSeed.toLocaleString('en')} rows`;
      rows.push(row({ case: label, metric: 'req/s', filehub: a.rps, baseline: b.rps, target: RPS_TARGET }));
      rows.push(row({ case: label, metric: 'p50 ms', filehub: a.p50, baseline: b.p50 }));
      rows.push(row({ case: label, metric: 'p99 ms', filehub: a.p99, baseline: b.p99, target: P99_TARGET }));
    }
    result.rows = rows;
  } finally {
    await bare?.child.stop();
    await api.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  result.seconds = (Date.now() - started) / 1000;
  return result;
}
