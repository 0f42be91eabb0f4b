import { PROFILE, startTestApp, type TestApp } from './support/test-app';

// Bull Board at /admin/queues: the BullMQ dashboard, for admin tokens only.
describe('queue dashboard (/admin/queues)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({}, { worker: false });
  });
  afterAll(() => app?.close());

  (PROFILE === 'embedded' ? it : it.skip)('says it needs the full stack in the embedded profile', async () => {
    const res = await fetch(`${app.url}/admin/queues`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { message: string }).message).toMatch(/REDIS_URL/);
  });

  (PROFILE === 'full' ? it : it.skip)('serves the dashboard and its API to admins only; a link with ?token= becomes a cookie', async () => {
    const anonymous = await fetch(`${app.url}/admin/queues`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { message: string }).message).toMatch(/admin token/);
    const user = app.token({ sub: 'u', org: 'o', role: 'service' });
    expect((await fetch(`${app.url}/admin/queues`, { headers: { authorization: `Bearer ${user}` } })).status).toBe(403);
    expect((await fetch(`${app.url}/admin/queues`, { headers: { authorization: 'Bearer forged.token.here' } })).status).toBe(401);

    const admin = app.token({ sub: 'root', org: 'o', role: 'admin' }, 600);
    const page = await fetch(`${app.url}/admin/queues`, { headers: { authorization: `Bearer ${admin}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');

    const link = await fetch(`${app.url}/admin/queues?token=${admin}`, { redirect: 'manual' });
    expect(link.status).toBe(303);
    expect(link.headers.get('location')).toBe('/admin/queues');
    const cookie = link.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/admin\/queues/);
    const session = cookie.split(';')[0]!;
    const queues = await fetch(`${app.url}/admin/queues/api/queues`, { headers: { cookie: session } });
    expect(queues.status).toBe(200);
    const body = (await queues.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name)).toContain('jobs');
  });
});
