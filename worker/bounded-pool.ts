/**
 * Runs `work` for every item with at most `limit` running at once, in the items' order.
 * The first failure (or an abort) stops new items from starting, waits for the running ones to
 * settle, and rejects with that first error, so no task is left writing in the background.
 */
export async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency must be a positive integer, got ${limit}`);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (!failure && next < items.length) {
      if (signal?.aborted) {
        failure ??= { error: signal.reason ?? new Error("aborted") };
        return;
      }
      const i = next++;
      try {
        await work(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure) throw failure.error;
  if (signal?.aborted) throw signal.reason ?? new Error("aborted");
}
