import { retryDelaySeconds, type FleetConfig } from "./fleet-config.ts";
import type { AttemptRecord, JobRecord } from "./job.ts";
import { BREAKER_TAG } from "./names.ts";
import type { GroupActivity, GroupInstance, GroupState } from "./ports.ts";

/**
 * Why a job that waits or runs is where it is (issue 11 §4), as AWS Batch's `statusReason` says it:
 * a pure function of the job's record, a snapshot of the fleet and the clock. The API derives it on
 * every read (`GET /jobs/{id}`, `GET /jobs`); it is never stored.
 *
 * Reasons speak of capacity and of the job's own instance only, never of other jobs, so they are
 * safe to show to any tenant.
 */

/** Every reason a job can be given. Grouped by the state they are given in. */
export const StatusReasonCode = {
  // QUEUED
  /** A failed attempt's retry waits for its backoff before the queue shows it again. */
  RETRY_BACKOFF: "RETRY_BACKOFF",
  /** The group's Launch process is suspended (the boot breaker, or by hand): no instance can start. */
  LAUNCH_SUSPENDED: "LAUNCH_SUSPENDED",
  /** Recent launches failed for want of (Spot) capacity: InsufficientInstanceCapacity and the like. */
  SPOT_CAPACITY_SHORT: "SPOT_CAPACITY_SHORT",
  /** Recent launches failed on an account quota (vCPU limit, Spot instance count). */
  LAUNCH_QUOTA: "LAUNCH_QUOTA",
  /** Recent launches failed for another reason (the activity's message says which). */
  LAUNCH_FAILING: "LAUNCH_FAILING",
  /** Desired capacity equals the maximum and every instance is busy. */
  FLEET_AT_MAX: "FLEET_AT_MAX",
  /** Every instance is busy and none is on its way: the scaling alarm adds one as the queue's metrics arrive. */
  WAITING_FOR_SCALE_OUT: "WAITING_FOR_SCALE_OUT",
  /** An instance is starting (Pending, Pending:Wait), or Auto Scaling is launching one for desired capacity. */
  INSTANCE_STARTING: "INSTANCE_STARTING",
  /** An instance is idle: its worker takes the job at its next poll. */
  WAITING_FOR_WORKER: "WAITING_FOR_WORKER",
  /** The last attempt's instance was lost or interrupted; the job is back in the queue. */
  RETURNED_TO_QUEUE: "RETURNED_TO_QUEUE",
  /** The fleet could not be read (or the API has no group): the API does not guess. */
  FLEET_UNKNOWN: "FLEET_UNKNOWN",
  // RUNNING
  /** The worker reports (a heartbeat within two beats) and its instance is in service. */
  RUNNING: "RUNNING",
  /** The worker has not written a heartbeat for more than two beats. */
  HEARTBEAT_STALE: "HEARTBEAT_STALE",
  /** The job's instance is no longer in the group. */
  INSTANCE_GONE: "INSTANCE_GONE",
  /** The job's instance is terminating (Terminating, Terminating:Wait, ...). */
  INSTANCE_TERMINATING: "INSTANCE_TERMINATING",
  /** The job's instance is marked Unhealthy: the group replaces it. */
  INSTANCE_UNHEALTHY: "INSTANCE_UNHEALTHY",
  // CANCELLING
  /** A cancel was requested; the worker stops the processor at its next heartbeat. */
  CANCEL_REQUESTED: "CANCEL_REQUESTED",
} as const;
export type StatusReasonCode = (typeof StatusReasonCode)[keyof typeof StatusReasonCode];

/** Why a job is where it is. Derived on each read; never stored. */
export interface StatusReason {
  code: StatusReasonCode;
  /** One or two sentences a user can act on; times are UTC (`10:07:00 UTC`). */
  message: string;
  /** `warning` when something is wrong or blocked (the job may wait far longer than usual), else `info`. */
  level: "info" | "warning";
  /** When the condition began, where known (ISO 8601): the failed attempt, the breaker's trip, the last heartbeat. */
  since?: string;
  /** When it is expected to end, where known (ISO 8601): the retry visible again, the message back in the queue. */
  until?: string;
}

/** A job as the API answers it: the record plus its derived reason. */
export type JobView = JobRecord & { statusReason?: StatusReason };

/** The fleet as one request saw it. */
export interface FleetSnapshot {
  /** When it was read (ms since the epoch). */
  readAt: number;
  /** The Auto Scaling group; absent when it could not be read. */
  group?: GroupState;
  /** Why the group is not known (the error's kind, or that the API has no group); set when `group` is absent. */
  unavailable?: string;
  /** The latest scaling activities, newest first; read only when the group has fewer instances than desired ({@link wantsActivities}). */
  activities?: GroupActivity[];
  /** Why the activities are not known although they were wanted. */
  activitiesUnavailable?: string;
}

/** Failed launches older than this no longer explain a wait. */
export const LAUNCH_FAILURE_WINDOW_MS = 15 * 60_000;

/** A heartbeat older than this many beats is stale. */
export const STALE_AFTER_BEATS = 2;

const PENDING = /^Pending/;
const TERMINATING = /^Terminat/;
const DETACHED = /^Detach/;

/** States a job gets a reason in. */
export function hasStatusReason(state: JobRecord["state"]): boolean {
  return state === "QUEUED" || state === "RUNNING" || state === "CANCELLING";
}

/** Instances that count toward desired capacity: not terminating, not detached. */
function activeInstances(g: GroupState): GroupInstance[] {
  return g.instances.filter((i) => !TERMINATING.test(i.lifecycleState) && !DETACHED.test(i.lifecycleState) && i.lifecycleState !== "Standby");
}

/** Whether the scaling activities matter: the group has fewer instances than it wants (a launch is due, or failing). */
export function wantsActivities(g: GroupState): boolean {
  return activeInstances(g).length < g.desiredCapacity;
}

/**
 * Why a job is where it is, or undefined for a finished job. `fleet` is what the request read
 * (undefined: the API has no group); `now` in ms; the config gives the heartbeat, the visibility
 * timeout, the retry backoff and the scaling period.
 */
export function statusReason(record: JobRecord, fleet: FleetSnapshot | undefined, now: number, config: FleetConfig): StatusReason | undefined {
  const snapshot: FleetSnapshot = fleet ?? { readAt: now, unavailable: "this API has no Auto Scaling group configured" };
  let r: StatusReason | undefined;
  if (record.state === "QUEUED") r = queuedReason(record, snapshot, now, config);
  else if (record.state === "RUNNING") r = runningReason(record, snapshot, now, config);
  else if (record.state === "CANCELLING") r = cancellingReason(record, snapshot, now, config);
  return r && { ...r, message: capitalize(r.message) };
}

// ---------------------------------------------------------------------------------------------
// QUEUED

function queuedReason(record: JobRecord, fleet: FleetSnapshot, now: number, config: FleetConfig): StatusReason {
  const history = record.attemptHistory ?? [];
  const last = [...history].reverse().find((a) => !a.redriven);
  const lastEnd = last ? (time(last.finishedAt) ?? time(record.updatedAt)) : undefined;

  if (last?.outcome === "FAILED" && lastEnd !== undefined) {
    // The worker wrote QUEUED, then released the message with this delay (worker/job-run.ts).
    const delay = retryDelaySeconds(config, countedFailures(history));
    const visibleAt = Math.max(lastEnd, time(record.updatedAt) ?? lastEnd) + delay * 1000;
    if (now < visibleAt)
      return {
        code: StatusReasonCode.RETRY_BACKOFF,
        message: `attempt ${last.attempt} failed${last.error ? ` (${last.error.code})` : ""} at ${clock(lastEnd, now)}; its retry waits out a ${delay} s backoff and is back in the queue at ${clock(visibleAt, now)}`,
        level: "info",
        since: iso(lastEnd),
        until: iso(visibleAt),
      };
  }

  const capacity = capacityReason(fleet, now, config);
  const lost = last && (last.outcome === "LOST" || last.outcome === "INTERRUPTED") && lastEnd !== undefined ? last : undefined;
  const note = lost
    ? `instance ${lost.instanceId ?? "(unknown)"} was ${lost.outcome === "LOST" ? "lost" : "interrupted"} at ${clock(lastEnd!, now)} (attempt ${lost.attempt}${lost.error ? `: ${short(lost.error.message)}` : ""})`
    : last?.outcome === "FAILED"
      ? `attempt ${last.attempt} failed at ${clock(lastEnd!, now)}${last.error ? ` (${last.error.code})` : ""}`
      : undefined;

  if (capacity.blocking || !lost)
    return { code: capacity.code, message: note ? `${capacity.message}; ${note}` : capacity.message, level: capacity.level, ...(capacity.since ? { since: capacity.since } : {}) };
  return {
    code: StatusReasonCode.RETURNED_TO_QUEUE,
    message: `back in the queue: ${note}; ${capacity.message}`,
    level: "info",
    since: iso(lastEnd!),
  };
}

/** Failed and lost attempts that count against `jobs.maxAttempts` (as the worker counts them). */
function countedFailures(history: readonly AttemptRecord[]): number {
  return history.filter((a) => (a.outcome === "FAILED" || a.outcome === "LOST") && !a.redriven).length;
}

interface CapacityReason {
  code: StatusReasonCode;
  message: string;
  level: "info" | "warning";
  since?: string;
  /** The fleet itself holds the job back: this wins over "back in the queue". */
  blocking: boolean;
}

/** Why a queued job has no instance yet, from the fleet alone. */
export function capacityReason(fleet: FleetSnapshot, now: number, config: Pick<FleetConfig, "scaling">): CapacityReason {
  const g = fleet.group;
  if (!g)
    return {
      code: StatusReasonCode.FLEET_UNKNOWN,
      message: `the fleet could not be read (${fleet.unavailable ?? "unknown error"}), so why the job waits is unknown; it stays in the queue until an instance takes it`,
      level: "warning",
      blocking: true,
    };
  const active = activeInstances(g);
  const inService = active.filter((i) => i.lifecycleState === "InService");
  const idle = inService.filter((i) => !i.protectedFromScaleIn && (i.healthStatus ?? "Healthy") === "Healthy");
  const pending = active.filter((i) => PENDING.test(i.lifecycleState));
  const busy = inService.length - idle.length;

  if (idle.length > 0)
    return {
      code: StatusReasonCode.WAITING_FOR_WORKER,
      message:
        idle.length === 1
          ? `instance ${idle[0]!.instanceId} is idle and takes the job at its next poll`
          : `${idle.length} instances are idle (${ids(idle)}); one takes the job at its next poll`,
      level: "info",
      blocking: false,
    };

  if ((g.suspendedProcesses ?? []).includes("Launch")) {
    const trip = breakerTrip(g);
    return {
      code: StatusReasonCode.LAUNCH_SUSPENDED,
      message: trip
        ? `waiting for capacity: the boot breaker suspended launches${trip.trippedAt ? ` at ${clock(Date.parse(trip.trippedAt), now)}` : ""}${
            trip.reason ? ` (${short(trip.reason)})` : trip.failures !== undefined ? ` (${trip.failures} failed boots${trip.windowSeconds ? ` in ${trip.windowSeconds} s` : ""})` : ""
          }, so no instance can start until an operator fixes the cause and resumes them (spotq fleet resume)`
        : `waiting for capacity: the group's Launch process is suspended, so no instance can start until it is resumed (spotq fleet resume)`,
      level: "warning",
      ...(trip?.trippedAt && time(trip.trippedAt) !== undefined ? { since: iso(time(trip.trippedAt)!) } : {}),
      blocking: true,
    };
  }

  const short_ = active.length < g.desiredCapacity;
  const trouble = short_ && fleet.activities ? launchTrouble(fleet.activities, now) : undefined;
  if (trouble) {
    const starting = pending.length ? `; meanwhile ${startingText(pending)}` : "";
    const lastSaid = trouble.text ? `; the last: "${trouble.text}"` : "";
    const count = `${trouble.count} failed launch${trouble.count > 1 ? "es" : ""} since ${clock(trouble.since, now)}`;
    const where = [trouble.instanceType, trouble.zone].filter(Boolean).join(" in ");
    return trouble.kind === "capacity"
      ? {
          code: StatusReasonCode.SPOT_CAPACITY_SHORT,
          message: `waiting for capacity: EC2 is short of Spot capacity${where ? ` for ${where}` : ""} (${count}${lastSaid}); Auto Scaling keeps retrying, in other zones and instance types too${starting}`,
          level: "warning",
          since: iso(trouble.since),
          blocking: true,
        }
      : trouble.kind === "quota"
        ? {
            code: StatusReasonCode.LAUNCH_QUOTA,
            message: `waiting for capacity: launches fail on an account quota (${count}${lastSaid}); raise the quota in Service Quotas (EC2 Spot vCPUs) or lower fleet.maxSize${starting}`,
            level: "warning",
            since: iso(trouble.since),
            blocking: true,
          }
        : {
            code: StatusReasonCode.LAUNCH_FAILING,
            message: `waiting for capacity: launches are failing (${count}${lastSaid})${starting}`,
            level: "warning",
            since: iso(trouble.since),
            blocking: true,
          };
  }

  const atMax = g.desiredCapacity >= g.maxSize;
  if (pending.length > 0 || short_) {
    const unread = short_ && !fleet.activities && fleet.activitiesUnavailable ? `; its launch activity could not be read (${fleet.activitiesUnavailable})` : "";
    return {
      code: StatusReasonCode.INSTANCE_STARTING,
      message:
        (pending.length > 0
          ? startingText(pending)
          : `Auto Scaling is launching an instance (desired capacity ${g.desiredCapacity}, ${active.length} instance${active.length === 1 ? "" : "s"} so far)`) +
        (atMax ? `; the fleet is at its maximum size (${g.maxSize})` : "") +
        unread,
      level: "info",
      blocking: false,
    };
  }

  if (atMax)
    return g.maxSize === 0
      ? {
          code: StatusReasonCode.FLEET_AT_MAX,
          message: "waiting for capacity: the fleet's maximum size is 0, so no instance can start (fleet.maxSize)",
          level: "warning",
          blocking: true,
        }
      : {
          code: StatusReasonCode.FLEET_AT_MAX,
          message: `waiting for capacity: the fleet is at its maximum size (${active.length} of ${g.maxSize} instance${g.maxSize === 1 ? "" : "s"}, all busy); the job starts when one of them finishes`,
          level: "info",
          blocking: true,
        };

  const running = busy > 0 ? `every instance is busy (${busy} of at most ${g.maxSize})` : `no instance is running or starting (desired capacity ${g.desiredCapacity}, at most ${g.maxSize})`;
  if ((g.suspendedProcesses ?? []).includes("AlarmNotification"))
    return {
      code: StatusReasonCode.WAITING_FOR_SCALE_OUT,
      message: `waiting for capacity: ${running}, and the scaling alarms cannot add one: the group's AlarmNotification process is suspended`,
      level: "warning",
      blocking: true,
    };
  return {
    code: StatusReasonCode.WAITING_FOR_SCALE_OUT,
    message: `${running}; the scaling alarm adds one as the queue's metrics arrive (every ${config.scaling.periodSeconds} s, often a few minutes late)`,
    level: "info",
    blocking: false,
  };
}

function startingText(pending: readonly GroupInstance[]): string {
  const list = pending.slice(0, 3).map((i) => `${i.instanceId} (${i.lifecycleState})`).join(", ") + (pending.length > 3 ? ", …" : "");
  return pending.length === 1 ? `an instance is starting: ${list}` : `${pending.length} instances are starting: ${list}`;
}

/** What recent failed launches say, when launches are failing now. */
export interface LaunchTrouble {
  /** `capacity`: EC2 has too little (Spot) capacity; `quota`: an account limit; `other`: anything else. */
  kind: "capacity" | "quota" | "other";
  /** Failed launches since the last one that worked (within {@link LAUNCH_FAILURE_WINDOW_MS}). */
  count: number;
  /** The first of them (ms). */
  since: number;
  /** The last one's reason: EC2's first sentence. */
  text: string;
  instanceType?: string;
  zone?: string;
}

const QUOTA = /vCPU|VcpuLimitExceeded|InstanceLimitExceeded|MaxSpotInstanceCountExceeded|instance limit|quota/i;
const CAPACITY = /InsufficientInstanceCapacity|insufficient capacity|do not have sufficient|no Spot capacity|UnfulfillableCapacity|capacity-not-available|not enough capacity/i;

/**
 * Failed launch activities newer than the last launch that worked and within the window, newest
 * decides the kind. Undefined when launches are not failing now.
 */
export function launchTrouble(activities: readonly GroupActivity[], now: number): LaunchTrouble | undefined {
  const launches = activities.filter((a) => /^Launching/i.test(a.description) && time(a.startTime) !== undefined);
  const failed = (a: GroupActivity) => a.statusCode === "Failed" || a.statusCode === "Cancelled";
  const lastOk = Math.max(-Infinity, ...launches.filter((a) => !failed(a)).map((a) => time(a.startTime)!));
  const failures = launches
    .filter((a) => failed(a) && time(a.startTime)! > lastOk && time(a.startTime)! >= now - LAUNCH_FAILURE_WINDOW_MS)
    .sort((a, b) => time(b.startTime)! - time(a.startTime)!);
  const latest = failures[0];
  if (!latest) return undefined;
  const said = latest.statusMessage ?? latest.description.replace(/^Launching a new EC2 instance\.\s*(Status Reason:\s*)?/i, "");
  const details = parseDetails(latest.details);
  const ice = /sufficient (\S+) capacity in the Availability Zone you requested \(([^)]+)\)/i.exec(said);
  const instanceType = details["Instance Type"] ?? ice?.[1];
  const zone = details["Availability Zone"] ?? ice?.[2];
  return {
    kind: QUOTA.test(said) ? "quota" : CAPACITY.test(said) ? "capacity" : "other",
    count: failures.length,
    since: time(failures.at(-1)!.startTime)!,
    text: firstSentence(said),
    ...(instanceType ? { instanceType } : {}),
    ...(zone ? { zone } : {}),
  };
}

function parseDetails(details: string | undefined): Record<string, string | undefined> {
  if (!details) return {};
  try {
    const v = JSON.parse(details) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (Object.fromEntries(Object.entries(v).filter(([, x]) => typeof x === "string")) as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** The boot breaker's trip, from its tag on the group (`{ trippedAt, failures, windowSeconds, reason }`). */
function breakerTrip(g: GroupState): { trippedAt?: string; failures?: number; windowSeconds?: number; reason?: string } | undefined {
  const tag = g.tags?.[BREAKER_TAG];
  if (tag === undefined) return undefined;
  try {
    const v = JSON.parse(tag) as Record<string, unknown>;
    if (!v || typeof v !== "object") return { reason: tag };
    return {
      ...(typeof v.trippedAt === "string" ? { trippedAt: v.trippedAt } : {}),
      ...(typeof v.failures === "number" ? { failures: v.failures } : {}),
      ...(typeof v.windowSeconds === "number" ? { windowSeconds: v.windowSeconds } : {}),
      ...(typeof v.reason === "string" ? { reason: v.reason } : {}),
    };
  } catch {
    return { reason: tag }; // a tag written by hand
  }
}

// ---------------------------------------------------------------------------------------------
// RUNNING and CANCELLING

/** The job's instance as the group has it: undefined when the group was not read or the record names none. */
type InstanceStanding = { kind: "unchecked" } | { kind: "gone" } | { kind: "terminating"; state: string } | { kind: "unhealthy" } | { kind: "alive" };

function standing(record: JobRecord, fleet: FleetSnapshot): InstanceStanding {
  if (!fleet.group || !record.instanceId) return { kind: "unchecked" };
  const inst = fleet.group.instances.find((i) => i.instanceId === record.instanceId);
  if (!inst || DETACHED.test(inst.lifecycleState)) return { kind: "gone" };
  if (TERMINATING.test(inst.lifecycleState)) return { kind: "terminating", state: inst.lifecycleState };
  if (inst.healthStatus === "Unhealthy") return { kind: "unhealthy" };
  return { kind: "alive" };
}

/** The worker's last sign of life: its last heartbeat or progress write (or the claim). */
function lastBeatOf(record: JobRecord): number | undefined {
  const t = [time(record.updatedAt), time(record.progress?.updatedAt), time(record.startedAt)].filter((x): x is number => x !== undefined);
  return t.length ? Math.max(...t) : undefined;
}

/** "returns to the queue within the visibility timeout (by …)", or that it is due already. */
function returnsText(returnsBy: number, now: number): string {
  return returnsBy > now
    ? `the job returns to the queue within the visibility timeout (by ${clock(returnsBy, now)})`
    : `its message was due back in the queue at ${clock(returnsBy, now)}, and the next worker to receive it takes the job over`;
}

function runningReason(record: JobRecord, fleet: FleetSnapshot, now: number, config: FleetConfig): StatusReason {
  const id = record.instanceId;
  const beat = lastBeatOf(record) ?? now;
  const returnsBy = beat + config.queue.visibilityTimeoutSeconds * 1000;
  const stale = now - beat > STALE_AFTER_BEATS * config.jobs.heartbeatSeconds * 1000;
  const gone = { since: iso(beat), until: iso(returnsBy) };
  const s = standing(record, fleet);
  if (s.kind === "gone")
    return { code: StatusReasonCode.INSTANCE_GONE, message: `instance ${id} is gone from the group; ${returnsText(returnsBy, now)}`, level: "warning", ...gone };
  if (s.kind === "terminating")
    return {
      code: StatusReasonCode.INSTANCE_TERMINATING,
      message: stale
        ? `instance ${id} is terminating (${s.state}) and its worker last reported at ${clock(beat, now)}; ${returnsText(returnsBy, now)}`
        : `instance ${id} is terminating (${s.state}): its worker hands the job back to the queue, or finishes it if the termination leaves time`,
      level: "warning",
      ...(stale ? gone : { since: iso(beat) }),
    };
  if (s.kind === "unhealthy")
    return {
      code: StatusReasonCode.INSTANCE_UNHEALTHY,
      message: `instance ${id} is marked Unhealthy and the group replaces it: ${
        stale ? `its worker last reported at ${clock(beat, now)}, so ${returnsText(returnsBy, now)}` : "its worker hands the job back to the queue"
      }`,
      level: "warning",
      ...(stale ? gone : { since: iso(beat) }),
    };
  const unchecked = s.kind === "unchecked" && id && !fleet.group ? `; the instance was not checked: the fleet could not be read (${fleet.unavailable ?? "unknown error"})` : "";
  if (stale)
    return {
      code: StatusReasonCode.HEARTBEAT_STALE,
      message: `no heartbeat from the worker${id ? ` on ${id}` : ""} since ${clock(beat, now)} (${duration(now - beat)}; one is due every ${config.jobs.heartbeatSeconds} s); if it is gone, ${returnsText(returnsBy, now)}${unchecked}`,
      level: "warning",
      ...gone,
    };
  const started = time(record.startedAt);
  return {
    code: StatusReasonCode.RUNNING,
    message: `running${id ? ` on ${id}` : ""}${started !== undefined ? ` since ${clock(started, now)}` : ""}${record.progress ? ` (${record.progress.phase})` : ""}; last heartbeat at ${clock(beat, now)}${unchecked}`,
    level: "info",
    ...(started !== undefined ? { since: iso(started) } : {}),
  };
}

function cancellingReason(record: JobRecord, fleet: FleetSnapshot, now: number, config: FleetConfig): StatusReason {
  const id = record.instanceId;
  const at = time(record.updatedAt) ?? now;
  const on = id ? ` on ${id}` : "";
  const hb = config.jobs.heartbeatSeconds;
  // The worker extends its message at each beat before it writes the record, and stops at the
  // first beat after the cancel: a dead worker's message is back a visibility timeout after the cancel at most.
  const returnsBy = at + config.queue.visibilityTimeoutSeconds * 1000;
  const closes = returnsBy > now ? `the job is recorded CANCELLED when its message returns to the queue (by ${clock(returnsBy, now)})` : `its message was due back in the queue at ${clock(returnsBy, now)}; the next worker to receive it records the job CANCELLED`;
  const s = standing(record, fleet);
  const requested = `cancel requested at ${clock(at, now)}`;
  if (s.kind === "gone" || s.kind === "terminating" || s.kind === "unhealthy") {
    const what = s.kind === "gone" ? "is gone from the group" : s.kind === "terminating" ? `is terminating (${s.state})` : "is marked Unhealthy";
    return { code: StatusReasonCode.CANCEL_REQUESTED, message: `${requested}; instance ${id} ${what}, so nothing runs the job any more: ${closes}`, level: "warning", since: iso(at), until: iso(returnsBy) };
  }
  if (now - at > STALE_AFTER_BEATS * hb * 1000)
    return {
      code: StatusReasonCode.CANCEL_REQUESTED,
      message: `${requested}; the worker${on} has not confirmed it for ${duration(now - at)} (it checks every ${hb} s); if the worker is gone, ${closes}`,
      level: "warning",
      since: iso(at),
      until: iso(returnsBy),
    };
  const confirmBy = at + hb * 1000;
  return {
    code: StatusReasonCode.CANCEL_REQUESTED,
    message: `${requested}; the worker${on} stops the processor at its next heartbeat (by ${clock(confirmBy, now)})`,
    level: "info",
    since: iso(at),
    until: iso(confirmBy),
  };
}

// ---------------------------------------------------------------------------------------------
// Wording

function ids(instances: readonly GroupInstance[]): string {
  return instances.slice(0, 3).map((i) => i.instanceId).join(", ") + (instances.length > 3 ? ", …" : "");
}

function time(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** `10:07:00 UTC`, with the date when it is not today's (UTC). */
export function clock(ms: number, now: number): string {
  const t = new Date(ms).toISOString();
  const day = t.slice(0, 10) === new Date(now).toISOString().slice(0, 10) ? "" : `${t.slice(0, 10)} `;
  return `${day}${t.slice(11, 19)} UTC`;
}

/** `45 s`, `3 min 10 s`, `2 h 05 min`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** EC2's first sentence (its messages run on with advice), at most 200 characters. */
function firstSentence(s: string): string {
  const m = /^(.{20,}?\.)(\s|$)/s.exec(s.trim());
  return short(m ? m[1]! : s.trim());
}

function short(s: string, max = 200): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
