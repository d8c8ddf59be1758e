import type { FleetControl } from "../core/ports.ts";
import { wantsActivities, type FleetSnapshot } from "../core/status-reason.ts";
import type { ApiLog } from "./log.ts";

/** How long one read of the fleet serves the job reads of this process. @default 5000 */
export const FLEET_SNAPSHOT_TTL_MS = 5_000;

/** Scaling activities read when launches are due: enough to see a streak of failures. */
const ACTIVITIES = 20;

/** A read of the group that takes longer than this answers "no answer" instead of holding the job read. @default 2000 */
export const FLEET_SNAPSHOT_TIMEOUT_MS = 2_000;

export interface FleetSnapshotOptions {
  /** @default {@link FLEET_SNAPSHOT_TTL_MS} */
  ttlMs?: number;
  /** @default {@link FLEET_SNAPSHOT_TIMEOUT_MS} */
  timeoutMs?: number;
  /** @default Date.now */
  now?: () => number;
  log?: ApiLog;
}

/**
 * The fleet as the job reads see it (core/status-reason.ts `FleetSnapshot`), read at most once
 * per `ttlMs` per process (a Lambda container keeps it between invocations): a console polling
 * every 2 s, or `spotq wait` every second, costs one `DescribeAutoScalingGroups` per 5 s, not one
 * per request. Concurrent callers share one read, which waits at most `timeoutMs` for each call. `DescribeScalingActivities` is called only
 * when the group has fewer instances than desired (a launch is due: is it failing?).
 *
 * Never rejects: a group that cannot be read gives a snapshot that says why (the error's kind, not
 * the SDK's text, which carries account ids), kept for the same `ttlMs` so a failing endpoint is
 * not hammered either, and logged once per reason. Without a port, the snapshot says the API has
 * no group.
 */
export function fleetSnapshotReader(port: FleetControl | undefined, o: FleetSnapshotOptions = {}): () => Promise<FleetSnapshot> {
  const ttl = o.ttlMs ?? FLEET_SNAPSHOT_TTL_MS;
  const now = o.now ?? Date.now;
  const timeoutMs = o.timeoutMs ?? FLEET_SNAPSHOT_TIMEOUT_MS;
  const logged = new Set<string>();
  const warn = (what: string, err: unknown) => {
    const reason = errorKind(err);
    if (logged.has(`${what}\n${reason}`)) return reason;
    logged.add(`${what}\n${reason}`);
    o.log?.warn(`job status: ${what} could not be read; reasons say so`, { error: err as Error });
    return reason;
  };
  let last: { at: number; value: Promise<FleetSnapshot> } | undefined;

  const read = async (): Promise<FleetSnapshot> => {
    const readAt = now();
    if (!port) return { readAt, unavailable: "this API has no Auto Scaling group configured" };
    let group;
    try {
      group = await withTimeout(port.describeGroup(), timeoutMs);
    } catch (err) {
      return { readAt, unavailable: warn("the Auto Scaling group", err) };
    }
    if (!wantsActivities(group)) return { readAt, group };
    if (!port.describeScalingActivities) return { readAt, group, activitiesUnavailable: "not supported by this API's group port" };
    try {
      return { readAt, group, activities: await withTimeout(port.describeScalingActivities({ maxRecords: ACTIVITIES }), timeoutMs) };
    } catch (err) {
      return { readAt, group, activitiesUnavailable: warn("the group's scaling activities", err) };
    }
  };

  return () => {
    const t = now();
    if (last && t - last.at < ttl) return last.value;
    last = { at: t, value: read() };
    return last.value;
  };
}

/** The promise, or a rejection naming the wait once `ms` pass (the call itself goes on and is ignored). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref?.();
  });
  p.catch(() => undefined);
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** An error's kind for a reason a user reads: `AccessDenied`, `Throttling`, or a spotq message. */
function errorKind(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return e?.name && e.name !== "Error" && e.name !== "SpotqError" ? e.name : (e?.message ?? String(err));
}
