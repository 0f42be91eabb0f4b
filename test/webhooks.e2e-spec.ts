import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestApp, type TestApp } from './support/test-app';

// Webhooks: an organization subscribes a URL to file events; deliveries are signed, retried, logged and
// re-deliverable. A local receiver plays the customer's endpoint.

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What a receiver does with the signature header: recompute it, compare in constant time, refuse stale ones. */
function verify(secret: string, header: string | undefined, body: string): boolean {
  const parts = Object.fromEntries((header ?? '').split(',').map((p) => p.split('=') as [string, string]));
  const t = Number(parts.t);
  if (!parts.v1 || !Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return parts.v1.length === expected.length && timingSafeEqual(Buffer.from(parts.v1), Buffer.from(expected));
}

describe('webhooks', () => {
  let app: TestApp;
  let receiver: Server;
  let base: string;
  const received: Received[] = [];
  let flakyFailuresLeft = 2;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, body });
        if (req.url === '/flaky' && flakyFailuresLeft > 0) {
          flakyFailuresLeft--;
          res.writeHead(500).end('not now');
          return;
        }
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    app = await startTestApp({ WEBHOOK_ALLOW_HOSTS: '127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
    await new Promise((r) => receiver?.close(r));
  });

  const service = () => app.token({ sub: 'ops', org: 'hooks', role: 'service' });
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${app.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: res.status === 204 ? undefined : ((await res.json()) as any) };
  };
  const upload = async (token: string, name: string) => {
    const form = new FormData();
    form.append('file', new Blob([`bytes of ${name}`]), name);
    const res = await fetch(`${app.url}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const waitFor = async <T>(what: string, find: () => T | undefined, timeoutMs = 20_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}; received: ${received.map((r) => `${r.path} ${r.headers['x-filehub-event']}`).join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('delivers signed events of the organization: uploaded, ready, deleted', async () => {
    const created = await call('POST', '/webhooks', service(), { url: `${base}/hooks`, events: ['*'] });
    expect(created.status).toBe(201);
    const secret = created.body.secret as string;
    expect(secret).toMatch(/^whsec_/);
    expect((await call('GET', '/webhooks', service())).body.data).toEqual([expect.objectContaining({ id: created.body.id, url: `${base}/hooks`, events: ['*'] })]);

    const user = app.token({ sub: 'uma', org: 'hooks' });
    const id = await upload(user, 'report.txt');
    const ready = await waitFor('file.ready', () => received.find((r) => r.headers['x-filehub-event'] === 'file.ready' && r.body.includes(id)));
    const uploaded = received.find((r) => r.headers['x-filehub-event'] === 'file.uploaded' && r.body.includes(id))!;
    for (const delivery of [uploaded, ready]) {
      expect(delivery.path).toBe('/hooks');
      expect(delivery.headers['content-type']).toBe('application/json');
      expect(verify(secret, delivery.headers['x-filehub-signature'] as string, delivery.body)).toBe(true);
      expect(verify('wrong-secret-wrong-secret', delivery.headers['x-filehub-signature'] as string, delivery.body)).toBe(false);
      const body = JSON.parse(delivery.body) as { id: string; event: string; organizationId: string; data: { file: { id: string; name: string } } };
      expect(body).toMatchObject({ id: delivery.headers['x-filehub-delivery'], organizationId: 'hooks', data: { file: { id, name: 'report.txt' } } });
    }
    expect(JSON.parse(ready.body).data.file.status).toBe('READY');

    // Another organization's files are not this organization's business.
    const other = await upload(app.token({ sub: 'olga', org: 'elsewhere' }), 'theirs.txt');
    await app.waitForStatus(other, app.token({ sub: 'olga', org: 'elsewhere' }), ['READY']);

    const deleted = await fetch(`${app.url}/files/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${user}` } });
    expect(deleted.status).toBe(204);
    await waitFor('file.deleted', () => received.find((r) => r.headers['x-filehub-event'] === 'file.deleted' && r.body.includes(id)));
    expect(received.some((r) => r.body.includes(other))).toBe(false);

    const log = await call('GET', `/webhooks/${created.body.id}/deliveries`, service());
    expect(log.body.data.map((d: { event: string }) => d.event).sort()).toEqual(['file.deleted', 'file.ready', 'file.uploaded']);
    expect(log.body.data.every((d: { status: string; lastStatusCode: number }) => d.status === 'SUCCEEDED' && d.lastStatusCode === 204)).toBe(true);
    expect((await call('DELETE', `/webhooks/${created.body.id}`, service())).status).toBe(204);
  });

  it('retries a failing endpoint with backoff until it answers, keeps each outcome, and re-delivers on request', async () => {
    const created = await call('POST', '/webhooks', service(), { url: `${base}/flaky`, events: ['file.ready'] });
    const ping = await call('POST', `/webhooks/${created.body.id}/ping`, service());
    expect(ping.status).toBe(202);
    const arrivals = () => received.filter((r) => r.path === '/flaky' && r.headers['x-filehub-delivery'] === ping.body.id);
    await waitFor('three attempts', () => (arrivals().length >= 3 ? true : undefined));
    const deadline = Date.now() + 10_000;
    let delivery: { status: string; attempts: number; lastStatusCode: number } | undefined;
    while (Date.now() < deadline) {
      delivery = (await call('GET', `/webhooks/${created.body.id}/deliveries`, service())).body.data.find((d: { id: string }) => d.id === ping.body.id);
      if (delivery?.status === 'SUCCEEDED') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(delivery).toMatchObject({ status: 'SUCCEEDED', attempts: 3, lastStatusCode: 204 });
    // Every attempt carried the same delivery id and a valid signature.
    expect(arrivals().every((a) => verify(created.body.secret, a.headers['x-filehub-signature'] as string, a.body))).toBe(true);

    const again = await call('POST', `/webhooks/${created.body.id}/deliveries/${ping.body.id}/redeliver`, service());
    expect(again.status).toBe(202);
    expect(again.body.id).not.toBe(ping.body.id);
    const redelivered = await waitFor('the re-delivery', () => received.find((r) => r.headers['x-filehub-delivery'] === again.body.id));
    expect(JSON.parse(redelivered.body)).toMatchObject({ id: again.body.id, event: 'ping' });
    // Only the subscribed events arrive: this webhook takes file.ready only.
    const id = await upload(app.token({ sub: 'uma', org: 'hooks' }), 'ready-only.txt');
    await waitFor('file.ready on /flaky', () => received.find((r) => r.path === '/flaky' && r.headers['x-filehub-event'] === 'file.ready' && r.body.includes(id)));
    expect(received.some((r) => r.path === '/flaky' && r.headers['x-filehub-event'] === 'file.uploaded')).toBe(false);
  });

  it('refuses users, private addresses and unknown events, each with a message', async () => {
    const user = app.token({ sub: 'uma', org: 'hooks' });
    expect((await call('POST', '/webhooks', user, { url: `${base}/x`, events: ['*'] })).status).toBe(403);
    for (const url of ['http://10.0.0.1/hook', 'http://169.254.169.254/latest', 'file:///etc/passwd', 'http://localhost/x']) {
      const res = await call('POST', '/webhooks', service(), { url, events: ['*'] });
      expect({ url, status: res.status }).toEqual({ url, status: 400 });
      expect(res.body.message).toMatch(/^url: /);
    }
    const unknown = await call('POST', '/webhooks', service(), { url: `${base}/x`, events: ['file.exploded'] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/file\.exploded/);
    expect((await call('GET', '/webhooks/00000000-0000-4000-8000-000000000000/deliveries', service())).status).toBe(404);
  });
});
