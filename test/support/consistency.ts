import { RECONCILE_CATEGORIES, Reconciler, type ReconcileReport } from '@app/files';
import type { TestApp } from './test-app';

function findings(report: ReconcileReport): Record<string, unknown> {
  return Object.fromEntries(
    RECONCILE_CATEGORIES.filter((c) => report.findings[c].count + report.findings[c].deferred > 0).map((c) => [c, report.findings[c]]),
  );
}

/**
 * The invariant every fault test ends with: no object without a record, no record without an object. The reconciler
 * runs in report mode (it repairs nothing) until it finds nothing at all, deferred candidates included (bytes a
 * job is still cleaning up are "deferred": they must be gone once things settle). Fails with the last report.
 */
export async function expectConsistent(app: TestApp, timeoutMs = 60_000): Promise<ReconcileReport> {
  const reconciler = app.get<Reconciler>(Reconciler);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = await reconciler.run({ repair: false });
    const left = findings(report);
    if (Object.keys(left).length === 0) return report;
    if (Date.now() > deadline) {
      throw new Error(`Storage and records disagree after the scenario settled: ${JSON.stringify(left, null, 2)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
