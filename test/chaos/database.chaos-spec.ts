import { waitForStartupSweeps } from '../support/startup-sweeps';
import { expectConsistent } from '../support/consistency';
import { startTestApp, type TestApp } from '../support/test-app';
import { ChaosMinio, ChaosPostgres, ChaosRedis, chaosEnv, useChaosEnv } from './support/services';
import { TcpProxy } from './support/tcp-proxy';
import { startTraffic, waitForAnswers, type Outcome } from './support/traffic';

// PostgreSQL restarted while clients upload and list: requests fail fast with 503 and Retry-After (never a 500, never
// a hang), the service recovers by itself once the database is back, and no upload is half-recorded.

describe('chaos: PostgreSQL restarted and cut during traffic', () => {
  let pg: ChaosPostgres;
  let redis: ChaosRedis;
  let minio: ChaosMinio;
  let proxy: TcpProxy;
  let app: TestApp;

  beforeAll(async () => {
    [pg, redis, minio] = await Promise.all([ChaosPostgres.start(), ChaosRedis.start(), ChaosMinio.start()]);
    // API and worker reach PostgreSQL through the proxy (the tests here connect directly).
    proxy = await TcpProxy.start(pg.port);
    useChaosEnv(chaosEnv({ pg, redis, s3Endpoint: minio.endpoint }));
    const proxied = new URL(pg.url);
    proxied.port = String(proxy.port);
    // A job whose retries run out while the database is down stays PROCESSING until the stalled sweep queues it
    // again: every 2 s here, after 5 s without progress.
    app = await startTestApp({ LIFECYCLE_SWEEP_INTERVAL_SECONDS: '2', STALLED_PROCESSING_SECONDS: '5' }, { databaseUrl: proxied.toString() });
    await waitForStartupSweeps(app);
  }, 180_000);
  afterAll(async () => {
    await app?.close({ keepDatabase: true });
    await proxy?.close();
    await Promise.all([pg?.close(), redis?.close(), minio?.close()]);
  }, 60_000);

  it('answers 503 with Retry-After while the database is down, recovers by itself, and records every upload whole', async () => {
    const token = app.token({ sub: 'dana', org: 'db-chaos' });
    const traffic = startTraffic(app, token, 4);
    await waitForAnswers(traffic.outcomes, 201, 10, 30_000, 'uploads before the restart');

    await pg.stopServer('fast');
    const downFrom = traffic.outcomes.length;
    // While it is down: every answer is a 503 that says when to come back.
    await waitForAnswers(traffic.outcomes, 503, 8, 30_000, '503 answers while PostgreSQL is down');
    const health = await fetch(`${app.url}/health`);
    expect(health.status).toBe(503);
    await pg.startServer();
    // Back by itself: uploads succeed again with no restart of the API or the worker.
    await waitForAnswers(traffic.outcomes, 201, 10, 60_000, 'uploads after the restart');
    const outcomes = await traffic.stop();

    const during = outcomes.slice(downFrom);
    const unexpected = outcomes.filter((o) => ![200, 201, 503].includes(o.status));
    expect(unexpected).toEqual([]);
    for (const o of during.filter((o) => o.status === 503)) {
      expect({ retryAfter: o.retryAfter, message: o.message }).toEqual({ retryAfter: expect.stringMatching(/^\d+$/), message: expect.stringMatching(/database/i) });
    }
    expect((await fetch(`${app.url}/health`)).status).toBe(200);

    // Every upload answered 201 is a whole file that reaches READY; no record is left halfway (UPLOADING/PROCESSING).
    await expectAllWhole(app, 'dana', outcomes);
  }, 240_000);

  it('connections to PostgreSQL cut under traffic: 503s at most, recovery by itself, every upload whole', async () => {
    const token = app.token({ sub: 'cole', org: 'db-chaos' });
    const traffic = startTraffic(app, token, 4);
    await waitForAnswers(traffic.outcomes, 201, 6, 30_000, 'uploads before the cuts');
    for (let i = 0; i < 4; i++) {
      proxy.cut();
      await new Promise((r) => setTimeout(r, 250));
    }
    await waitForAnswers(traffic.outcomes, 201, 10, 60_000, 'uploads after the cuts');
    const outcomes = await traffic.stop();
    expect(outcomes.filter((o) => ![200, 201, 503].includes(o.status))).toEqual([]);
    for (const o of outcomes.filter((o) => o.status === 503)) expect(o.retryAfter).toMatch(/^\d+$/);
    await expectAllWhole(app, 'cole', outcomes);
  }, 240_000);

  it('PostgreSQL unreachable without a word (a black hole): requests still answer 503 in bounded time, then recover', async () => {
    const token = app.token({ sub: 'hale', org: 'db-chaos' });
    const traffic = startTraffic(app, token, 3);
    await waitForAnswers(traffic.outcomes, 201, 6, 30_000, 'uploads before the black hole');
    proxy.pause();
    await waitForAnswers(traffic.outcomes, 503, 3, 60_000, '503 answers while PostgreSQL does not answer');
    proxy.resume();
    await waitForAnswers(traffic.outcomes, 201, 6, 60_000, 'uploads after the black hole');
    const outcomes = await traffic.stop();
    // status 0: the client gave up after HUNG_MS with no answer at all.
    expect(outcomes.filter((o) => ![200, 201, 503].includes(o.status))).toEqual([]);
    await expectAllWhole(app, 'hale', outcomes);
  }, 240_000);
});

/** Every upload answered 201 reaches READY; no record of the owner is left halfway; storage agrees with the records. */
async function expectAllWhole(app: TestApp, ownerId: string, outcomes: Outcome[]): Promise<void> {
  const token = app.token({ sub: ownerId, org: 'db-chaos' });
  const accepted = outcomes.filter((o) => o.kind === 'upload' && o.status === 201).map((o) => o.id!);
  for (const id of accepted) {
    const file = await app.waitForStatus(id, token, ['READY', 'FAILED'], 90_000);
    expect({ id, status: file.status, reason: file.failureReason }).toEqual({ id, status: 'READY', reason: null });
  }
  // Records of requests that got no 201 (committed, the answer lost with the connection) are whole files too.
  const rows = await app.db.file.findMany({ where: { ownerId }, select: { id: true } });
  expect(rows.length).toBeGreaterThanOrEqual(accepted.length);
  for (const { id } of rows) {
    const file = await app.waitForStatus(id, token, ['READY', 'FAILED'], 90_000);
    expect({ id, status: file.status, reason: file.failureReason }).toEqual({ id, status: 'READY', reason: null });
  }
  await expectConsistent(app);
}
