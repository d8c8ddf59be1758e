/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `check` until it returns a value other than undefined or false, and returns it. The
 * deadline is a generous upper bound that only fails a hung run; `what` names the awaited
 * condition and `describe` (called on timeout) the state it was in.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  options: { pollMs?: number; describe?: () => Promise<string> | string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs / 1000} s${options.describe ? `; ${await options.describe()}` : ""}`);
    await sleep(options.pollMs ?? 250);
  }
}
