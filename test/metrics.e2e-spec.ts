import { classicPdf } from '@app/media/testing/media-fixtures';
import { PROFILE, startTestApp, type TestApp } from './support/test-app';
import { uploadFile } from './support/upload';

// Prometheus metrics: the API's own (HTTP, queue depth, outbox), and the job metrics of whichever process runs the
// jobs (the API in the embedded profile, the worker process in the full stack).

function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const want = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (want) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('GET /metrics', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ METRICS_TOKEN: 'metrics-token-0123456789' });
  });
  afterAll(() => app?.close());

  const scrape = async (url = `${app.url}/metrics`) => {
    const res = await fetch(url, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  it('needs METRICS_TOKEN when one is set (a user token is not enough)', async () => {
    expect((await fetch(`${app.url}/metrics`)).status).toBe(401);
    const user = app.token({ sub: 'u', org: 'o', role: 'admin' });
    expect((await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${user}` } })).status).toBe(401);
  });

  it('counts jobs by outcome with their durations, HTTP requests by route, queue depth and the outbox backlog', async () => {
    const token = app.token({ sub: 'mia', org: 'metrics' });
    const good = await uploadFile(app, token, Buffer.from('%PDF-1.4\n' + 'x'.repeat(100)), 'notes.txt');
    const pdf = await uploadFile(app, token, classicPdf(2), 'two.pdf');
    const corrupt = await uploadFile(app, token, Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(2000, 0x41)]), 'broken.pdf');
    await app.waitForStatus(good, token, ['READY', 'FAILED']);
    await app.waitForStatus(pdf, token, ['READY']);
    expect((await app.waitForStatus(corrupt, token, ['READY', 'FAILED'])).status).toBe('FAILED');

    const jobs = await scrape(app.jobMetricsUrl);
    expect(sample(jobs, 'filehub_jobs_total', { job: 'file.process', outcome: 'succeeded' })).toBeGreaterThanOrEqual(1);
    expect(sample(jobs, 'filehub_jobs_total', { job: 'file.process', outcome: 'failed' })).toBeGreaterThanOrEqual(1);
    expect(sample(jobs, 'filehub_job_duration_seconds_count', { job: 'file.process' })).toBeGreaterThanOrEqual(3);
    expect(jobs).toContain('filehub_process_cpu_seconds_total');

    const api = await scrape();
    expect(sample(api, 'filehub_http_requests_total', { method: 'POST', route: '/files', status: '201' })).toBe(3);
    // Upload bytes: at least the three files' own bytes came in on POST /files.
    expect(sample(api, 'filehub_http_bytes_total', { direction: 'in', method: 'POST', route: '/files' })).toBeGreaterThan(100 + classicPdf(2).length + 2009);
    // Route patterns, never raw ids.
    expect(api).toContain('route="/files/:id"');
    expect(api).not.toContain(good);
    expect(sample(api, 'filehub_queue_jobs', { state: 'waiting' })).toBeGreaterThanOrEqual(0);
    // Nothing is left waiting in the outbox once the work is done (the gauge is read at scrape time).
    const deadline = Date.now() + 10_000;
    let pending = sample(api, 'filehub_outbox_pending_jobs');
    while (pending !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      pending = sample(await scrape(), 'filehub_outbox_pending_jobs');
    }
    expect(pending).toBe(0);
    if (PROFILE === 'full') expect(sample(api, 'filehub_queue_jobs', { state: 'completed' })).toBeGreaterThanOrEqual(3);
  });
});
