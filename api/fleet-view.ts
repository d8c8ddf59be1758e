import type { AlarmState, QueueDepthSeries } from "../core/console-ports.ts";
import { JobState } from "../core/job-state.ts";
import { BREAKER_TAG } from "../core/names.ts";
import type { GroupState, QueueDepth } from "../core/ports.ts";
import type { ApiDeps } from "./deps.ts";
import { mayAccess, type Caller } from "./tenancy.ts";
import type { ApiLog } from "./log.ts";

/** One instance of the group, with the job it works on. */
export interface FleetInstanceView {
  instanceId: string;
  /** Auto Scaling's lifecycle state: Pending, Pending:Wait, InService, Terminating, ... */
  lifecycleState: string;
  /** Healthy or Unhealthy. */
  healthStatus: string;
  protectedFromScaleIn: boolean;
  availabilityZone?: string;
  instanceType?: string;
  launchTemplateVersion?: string;
  /** The job a RUNNING (or CANCELLING) record says runs there. */
  jobId?: string;
}

/** The boot breaker (DESIGN §5): launches suspended after a boot loop, and why. */
export interface BreakerView {
  /** True when the breaker tripped: its tag is on the group, or Launch is suspended. */
  open: boolean;
  /** The group's Launch process is suspended (by the breaker, or by hand). */
  launchSuspended: boolean;
  trippedAt?: string;
  failures?: number;
  windowSeconds?: number;
  reason?: string;
}

/** A part of the fleet view that could not be read; the rest is still answered. */
export interface UnavailablePart {
  part: "group" | "alarms" | "queueDepth" | "queueHistory" | "jobs";
  reason: string;
}

/** The answer to `GET /fleet`. */
export interface FleetAnswer {
  /** When this view was taken (ISO 8601). */
  at: string;
  group?: {
    name: string;
    minSize: number;
    maxSize: number;
    desiredCapacity: number;
    launchTemplateVersion?: string;
    suspendedProcesses: string[];
  };
  instances: FleetInstanceView[];
  breaker?: BreakerView;
  alarms?: AlarmState[];
  queue: { depth?: QueueDepth; history?: QueueDepthSeries };
  unavailable: UnavailablePart[];
}

/** The failures already logged, per API (its deps). */
const loggedFailures = new WeakMap<ApiDeps, Set<string>>();

/**
 * `GET /fleet`: the Auto Scaling group (sizes, instances with state, health and protection,
 * suspended processes, the boot breaker from its `BREAKER_TAG` tag), which job runs on each
 * instance (the jobs table), the deployment's alarms, and the queue's depth now and over the
 * last hour. Each part is read at once and on its own: one that fails is listed in `unavailable`
 * (and logged, once per reason) while the others are answered. Never throws.
 */
export async function fleetView(deps: ApiDeps, log: ApiLog, caller: Caller = {}): Promise<FleetAnswer> {
  const c = deps.console ?? {};
  const groupPort = c.group ?? deps.fleet;
  const notConfigured = (what: string) => Promise.reject(new Error(`${what} is not configured for this API`));
  const [group, alarms, depth, history, running] = await Promise.allSettled([
    groupPort ? groupPort.describeGroup() : notConfigured("the Auto Scaling group"),
    c.alarms ? c.alarms.list() : notConfigured("alarm states"),
    deps.queue.depth(),
    c.queueHistory ? c.queueHistory.lastHour() : notConfigured("queue depth history"),
    jobsOnInstances(deps, caller),
  ]);
  const unavailable: UnavailablePart[] = [];
  const value = <T>(part: UnavailablePart["part"], r: PromiseSettledResult<T>): T | undefined => {
    if (r.status === "fulfilled") return r.value;
    const err = r.reason as Error;
    // The error's kind, not the SDK's full text (it carries ARNs and request ids, which go to the log).
    const reason = err.name && err.name !== "Error" ? err.name : err.message;
    unavailable.push({ part, reason });
    // Logged once per part and reason: the console asks every few seconds.
    const logged = loggedFailures.get(deps) ?? new Set<string>();
    loggedFailures.set(deps, logged);
    if (!logged.has(`${part}\n${reason}`)) {
      logged.add(`${part}\n${reason}`);
      log.warn("fleet view part unavailable", { part, error: err });
    }
    return undefined;
  };
  const g = value("group", group);
  const jobs = value("jobs", running) ?? new Map<string, string>();
  const answer: FleetAnswer = {
    at: new Date().toISOString(),
    instances: (g?.instances ?? []).map((i) => {
      const jobId = jobs.get(i.instanceId);
      return {
        instanceId: i.instanceId,
        lifecycleState: i.lifecycleState,
        healthStatus: i.healthStatus ?? "Healthy",
        protectedFromScaleIn: i.protectedFromScaleIn,
        ...(i.availabilityZone ? { availabilityZone: i.availabilityZone } : {}),
        ...(i.instanceType ? { instanceType: i.instanceType } : {}),
        ...(i.launchTemplateVersion ? { launchTemplateVersion: i.launchTemplateVersion } : {}),
        ...(jobId ? { jobId } : {}),
      };
    }),
    queue: {},
    unavailable,
  };
  if (g) {
    answer.group = {
      name: g.name,
      minSize: g.minSize,
      maxSize: g.maxSize,
      desiredCapacity: g.desiredCapacity,
      ...(g.launchTemplateVersion ? { launchTemplateVersion: g.launchTemplateVersion } : {}),
      suspendedProcesses: g.suspendedProcesses ?? [],
    };
    answer.breaker = breakerOf(g);
  }
  const a = value("alarms", alarms);
  if (a) answer.alarms = a;
  const d = value("queueDepth", depth);
  if (d) answer.queue.depth = d;
  const h = value("queueHistory", history);
  if (h) answer.queue.history = h;
  return answer;
}

/** The breaker's state from the group: its tag's JSON (`{ trippedAt, failures, windowSeconds, reason }`) and Launch's suspension. */
export function breakerOf(g: Pick<GroupState, "suspendedProcesses" | "tags">): BreakerView {
  const launchSuspended = (g.suspendedProcesses ?? []).includes("Launch");
  const tag = g.tags?.[BREAKER_TAG];
  if (tag === undefined) return { open: false, launchSuspended };
  let trip: Record<string, unknown>;
  try {
    const parsed = JSON.parse(tag) as unknown;
    trip = parsed && typeof parsed === "object" ? (parsed as Record<string, unknown>) : { reason: tag };
  } catch {
    trip = { reason: tag }; // a tag written by hand
  }
  return {
    open: true,
    launchSuspended,
    ...(typeof trip.trippedAt === "string" ? { trippedAt: trip.trippedAt } : {}),
    ...(typeof trip.failures === "number" ? { failures: trip.failures } : {}),
    ...(typeof trip.windowSeconds === "number" ? { windowSeconds: trip.windowSeconds } : {}),
    ...(typeof trip.reason === "string" ? { reason: trip.reason } : {}),
  };
}

/**
 * instanceId → jobId of every job a worker holds now (RUNNING or CANCELLING), newest first. A
 * tenant sees the ids of its own jobs only (api/tenancy.ts `mayAccess`); the instances themselves
 * are the deployment's and shown to all.
 */
async function jobsOnInstances(deps: ApiDeps, caller: Caller): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const state of [JobState.CANCELLING, JobState.RUNNING]) {
    const page = await deps.store.list({ state, limit: 100 });
    for (const job of page.items) if (job.instanceId && !out.has(job.instanceId) && mayAccess(caller, job)) out.set(job.instanceId, job.jobId);
  }
  return out;
}
