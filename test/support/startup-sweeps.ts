import { LIFECYCLE_TASKS } from '@app/queue';
import { PROFILE, type TestApp } from './test-app';

/**
 * BullMQ runs a job scheduler's first job as soon as the worker starts, so the housekeeping tasks (the reconciler in
 * repair mode among them) run once right after start-up. Tests that make inconsistencies by hand wait for that
 * first round, so it does not repair them behind the test's back. The embedded profile schedules the first run an
 * interval later: nothing to wait for.
 */
export async function waitForStartupSweeps(app: TestApp, timeoutMs = 60_000): Promise<void> {
  if (PROFILE !== 'full') return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await fetch(app.jobMetricsUrl)
      .then((r) => (r.ok ? r.text() : ''))
      .catch(() => '');
    const runs = [...text.matchAll(/^filehub_jobs_total\{job="lifecycle\.sweep",outcome="[a-z]+"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    if (runs >= LIFECYCLE_TASKS.length) return;
    if (Date.now() > deadline) throw new Error(`The worker ran ${runs} of the ${LIFECYCLE_TASKS.length} start-up lifecycle tasks within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
