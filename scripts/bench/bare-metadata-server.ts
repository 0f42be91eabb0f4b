import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'pg';

// The bare baseline of the metadata benchmark: plain node:http and a pg Pool of the API's size, running the very
// statements the API's repository sends for each endpoint (captured from Prisma's query events, with their
// parameters), and answering their rows as JSON. No framework, no auth, no mapping. Run as its own process with the
// statements as JSON on stdin: {"url": "...", "routes": {"/name": [{"query": "...", "params": [...]}]}}. Prints
// {"port": n} once listening.

interface Statement {
  query: string;
  params: unknown[];
}

async function main(): Promise<void> {
  let input = '';
  for await (const chunk of process.stdin) input += (chunk as Buffer).toString();
  const { url, routes, poolSize } = JSON.parse(input) as { url: string; routes: Record<string, Statement[]>; poolSize: number };
  const pool = new Pool({ connectionString: url, max: poolSize });
  // Prisma reports a batch transaction's COMMIT but not its BEGIN: open it as Prisma did.
  for (const statements of Object.values(routes)) {
    if (statements.some((s) => /^\s*COMMIT/i.test(s.query)) && !statements.some((s) => /^\s*BEGIN/i.test(s.query))) statements.unshift({ query: 'BEGIN', params: [] });
  }
  const server = http.createServer((req, res) => {
    const statements = routes[new URL(req.url ?? '/', 'http://bare').pathname];
    if (!statements) {
      res.writeHead(404).end();
      return;
    }
    req.resume();
    void (async () => {
      const client = await pool.connect();
      try {
        const results: unknown[] = [];
        for (const s of statements) results.push((await client.query(s.query, s.params)).rows);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(results));
      } finally {
        client.release();
      }
    })().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: String(error) }));
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
