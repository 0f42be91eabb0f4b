import { randomBytes } from 'node:crypto';
import type { TestApp } from '../../support/test-app';

export interface Outcome {
  kind: 'upload' | 'list';
  /** HTTP status, or 0 when the request failed without an answer (connection error, client time-out). */
  status: number;
  retryAfter: string | null;
  id?: string;
  message?: string;
}

// A request that takes longer than this counts as hung: the service must answer (even if only 503) before. (A
// database black hole costs a query time-out of 10 s, and a transaction's rollback another.)
export const HUNG_MS = 30_000;

async function uploadOnce(app: TestApp, token: string, name: string): Promise<Outcome> {
  const form = new FormData();
  form.append('file', new Blob([randomBytes(8 * 1024)]), name);
  try {
    const res = await fetch(`${app.url}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form, signal: AbortSignal.timeout(HUNG_MS) });
    const body = (await res.json().catch(() => ({}))) as { id?: string; message?: string };
    return { kind: 'upload', status: res.status, retryAfter: res.headers.get('retry-after'), id: body.id, message: body.message };
  } catch (error) {
    return { kind: 'upload', status: 0, retryAfter: null, message: (error as Error).message };
  }
}

async function listOnce(app: TestApp, token: string): Promise<Outcome> {
  try {
    const res = await fetch(`${app.url}/files?limit=5`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(HUNG_MS) });
    const body = (await res.json().catch(() => ({}))) as { message?: string };
    return { kind: 'list', status: res.status, retryAfter: res.headers.get('retry-after'), message: body.message };
  } catch (error) {
    return { kind: 'list', status: 0, retryAfter: null, message: (error as Error).message };
  }
}

/** Clients uploading small files and listing, each in a loop, until stop(); every answer is kept. */
export function startTraffic(app: TestApp, token: string, clients = 4): { outcomes: Outcome[]; stop(): Promise<Outcome[]> } {
  const outcomes: Outcome[] = [];
  let running = true;
  let n = 0;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      outcomes.push(await uploadOnce(app, token, `traffic-${n++}.bin`));
      outcomes.push(await listOnce(app, token));
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

/** Waits until `count` more answers with `status` arrived (traffic flows again). */
export async function waitForAnswers(outcomes: Outcome[], status: number, count: number, timeoutMs: number, what: string): Promise<void> {
  const start = outcomes.length;
  const deadline = Date.now() + timeoutMs;
  while (outcomes.slice(start).filter((o) => o.status === status).length < count) {
    if (Date.now() > deadline) {
      const seen = outcomes.slice(start).map((o) => `${o.kind} ${o.status} ${o.message ?? ''}`);
      throw new Error(`Timed out waiting for ${what}; answers meanwhile: ${JSON.stringify(seen.slice(-10))}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
