/**
 * Polls `check` until it holds; fails naming `what` after `timeoutMs`. With `ignoreErrors`, a check that throws
 * (a service still starting, a connection refused) counts as "not yet".
 */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  options: { intervalMs?: number; ignoreErrors?: boolean } = {},
): Promise<void> {
  const { intervalMs = 50, ignoreErrors = false } = options;
  const deadline = Date.now() + timeoutMs;
  while (!(await (ignoreErrors ? check().catch(() => false) : check()))) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
