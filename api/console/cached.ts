import type { AlarmStates, QueueDepthHistory } from "../../core/console-ports.ts";

/**
 * `read`, answered from the last result for `ttlMs` (per process: a Lambda container keeps it
 * between invocations). Concurrent callers share one call; a failure is not kept.
 */
export function cachedFor<T>(ttlMs: number, read: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const t = now();
    if (last && t - last.at < ttlMs) return last.value;
    const value = read();
    const entry = { at: t, value };
    last = entry;
    value.catch(() => {
      if (last === entry) last = undefined;
    });
    return value;
  };
}

/**
 * CloudWatch's answers for the fleet view, cached so that a console polling every few seconds
 * costs one `GetMetricData` a minute (SQS metrics change once a minute anyway; each request is
 * billed per metric) and one `DescribeAlarms` per `alarmsTtlMs` per container.
 */
export function cachedCloudWatch(o: { alarms: AlarmStates; queueHistory: QueueDepthHistory; alarmsTtlMs?: number; historyTtlMs?: number }): {
  alarms: AlarmStates;
  queueHistory: QueueDepthHistory;
} {
  const alarms = cachedFor(o.alarmsTtlMs ?? 15_000, () => o.alarms.list());
  const history = cachedFor(o.historyTtlMs ?? 60_000, () => o.queueHistory.lastHour());
  return { alarms: { list: alarms }, queueHistory: { lastHour: history } };
}
