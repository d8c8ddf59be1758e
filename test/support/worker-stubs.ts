import type { FleetControl, InstanceMetadata, JobQueue, JobStore, LifecycleActionResult } from "../../core/ports.ts";

/**
 * Stand-ins around the real ports, for what the local endpoints of this branch cannot do or be
 * told to fail at (lifecycle hooks, SetInstanceHealth, target lifecycle state, AccessDenied ...).
 * Each wraps a real adapter: everything not overridden goes to the emulators.
 */

/** An AWS-shaped error (the SDK's `name`, optionally an HTTP status). */
export function awsError(name: string, message: string, httpStatusCode?: number): Error {
  return Object.assign(new Error(message), { name, ...(httpStatusCode ? { $metadata: { httpStatusCode } } : {}) });
}

/** One call a recording fleet saw, in order. */
export type FleetCall =
  | { call: "complete"; hook: string; result: LifecycleActionResult }
  | { call: "heartbeat"; hook: string }
  | { call: "setHealth"; status: string }
  | { call: "terminate"; decrement: boolean }
  | { call: "protect"; value: boolean };

/**
 * A fleet that records the worker's calls; lifecycle calls and SetInstanceHealth succeed unless
 * overridden (the group has its hooks), the rest go to `inner`.
 */
export function recordingFleet(inner: FleetControl, overrides: Partial<FleetControl> = {}): FleetControl & { calls: FleetCall[] } {
  const calls: FleetCall[] = [];
  return {
    calls,
    protect: async (id, value) => {
      calls.push({ call: "protect", value });
      return (overrides.protect ?? inner.protect.bind(inner))(id, value);
    },
    terminate: async (id, decrement) => {
      calls.push({ call: "terminate", decrement });
      return (overrides.terminate ?? inner.terminate.bind(inner))(id, decrement);
    },
    describeGroup: () => (overrides.describeGroup ?? inner.describeGroup.bind(inner))(),
    raiseDesired: (n) => inner.raiseDesired(n),
    setHealth: async (id, status) => {
      calls.push({ call: "setHealth", status });
      if (overrides.setHealth) return overrides.setHealth(id, status);
    },
    completeLifecycleAction: async (hook, id, result) => {
      calls.push({ call: "complete", hook, result });
      if (overrides.completeLifecycleAction) return overrides.completeLifecycleAction(hook, id, result);
    },
    recordLifecycleHeartbeat: async (hook, id) => {
      calls.push({ call: "heartbeat", hook });
      if (overrides.recordLifecycleHeartbeat) return overrides.recordLifecycleHeartbeat(hook, id);
    },
  };
}

/** IMDS with a target lifecycle state the test sets (the local IMDS of this branch answers 404 for it). */
export function lifecycleMetadata(inner: InstanceMetadata, initial = "InService"): InstanceMetadata & { target: string | undefined } {
  const m = {
    target: initial as string | undefined,
    instanceId: () => inner.instanceId(),
    spotInterruption: () => inner.spotInterruption(),
    rebalanceRecommendation: () => inner.rebalanceRecommendation(),
    targetLifecycleState: async () => m.target,
  };
  return m;
}

/** A queue whose calls can be intercepted one by one (a failed delete, a crash before a send ...). */
export function interceptQueue(inner: JobQueue, overrides: Partial<JobQueue>): JobQueue {
  return {
    send: overrides.send ?? ((m, o) => inner.send(m, o)),
    receive: overrides.receive ?? ((o) => inner.receive(o)),
    extend: overrides.extend ?? ((r, s) => inner.extend(r, s)),
    release: overrides.release ?? ((r, d) => inner.release(r, d)),
    delete: overrides.delete ?? ((r) => inner.delete(r)),
    deadLetter: overrides.deadLetter ?? ((r, why) => inner.deadLetter(r, why)),
    depth: () => inner.depth(),
  };
}

/** A store whose calls can be intercepted (a takeover just before a write, a slow write ...). */
export function interceptStore(inner: JobStore, overrides: Partial<JobStore>): JobStore {
  return {
    create: (r) => inner.create(r),
    get: overrides.get ?? ((id) => inner.get(id)),
    transition: overrides.transition ?? ((id, e, to, p) => inner.transition(id, e, to, p)),
    update: overrides.update ?? ((id, e, p) => inner.update(id, e, p)),
    list: (q) => inner.list(q),
    remove: (id) => inner.remove(id),
  };
}
