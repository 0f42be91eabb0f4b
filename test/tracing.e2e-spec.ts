import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenService } from '@app/auth';
import { loadConfig } from '@app/config';
import { freePort, PROFILE } from './support/test-app';

// OpenTelemetry: with OTEL_EXPORTER_OTLP_ENDPOINT set, the built API sends its spans (HTTP server, Express route,
// database queries) over OTLP/HTTP. A local collector stands in for the real one.

interface Span {
  name: string;
  kind: number;
  attributes?: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}

(PROFILE === 'embedded' ? describe : describe.skip)('tracing (OTLP)', () => {
  let collector: Server;
  let api: ChildProcess;
  let dataDir: string;
  const batches: { service: string; spans: Span[] }[] = [];

  beforeAll(async () => {
    collector = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url === '/v1/traces') {
          const parsed = JSON.parse(body) as {
            resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: Span[] }[] }[];
          };
          for (const rs of parsed.resourceSpans) {
            const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
            batches.push({ service, spans: rs.scopeSpans.flatMap((s) => s.spans) });
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    if (api && api.exitCode === null) {
      const exited = new Promise((r) => api.once('exit', r));
      api.kill('SIGTERM');
      await exited;
    }
    await new Promise((r) => collector?.close(r));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('exports spans of requests and their database queries, named by route', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'filehub-otel-'));
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'test',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      AUTH_JWT_SECRET: 'tracing-secret-0123456789abcdef',
      LOG_LEVEL: 'silent',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'STORAGE_DRIVER', 'S3_ENDPOINT']) delete env[name];
    api = spawn(process.execPath, [join(__dirname, '..', 'dist', 'apps', 'api', 'src', 'main.js')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    while (!(await fetch(`${base}/health`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new Error('The API did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
    const token = new TokenService(loadConfig({ AUTH_JWT_SECRET: env.AUTH_JWT_SECRET })).sign({ sub: 'tracer', org: 'otel' });
    const form = new FormData();
    form.append('file', new Blob(['traced bytes']), 'traced.txt');
    const res = await fetch(`${base}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
    expect(res.status).toBe(201);

    const until = Date.now() + 15_000;
    const spans = () => batches.filter((b) => b.service === 'filehub-api').flatMap((b) => b.spans);
    while (!spans().some((s) => s.name === 'POST /files') || !spans().some((s) => /^(pg\.query|INSERT|SELECT)/.test(s.name))) {
      if (Date.now() > until) throw new Error(`Spans seen: ${[...new Set(spans().map((s) => s.name))].join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const server = spans().find((s) => s.name === 'POST /files')!;
    expect(server.kind).toBe(2); // SERVER
    // Health checks are not traced.
    expect(spans().some((s) => s.name.includes('/health'))).toBe(false);
  }, 60_000);
});
