import type { GroupState } from "../ports.ts";

/** What an idle worker does with its instance. */
export type IdleDecision =
  | { action: "stay"; reason: string }
  | { action: "terminate"; decrement: boolean; reason: string }
  /** The group is already terminating this instance: stop without another call. */
  | { action: "leave"; reason: string };

/** Lifecycle states that count toward desired capacity (AWS's Pending/InService and their hook sub-states). */
export function countsTowardDesired(lifecycleState: string): boolean {
  return lifecycleState === "InService" || lifecycleState.startsWith("Pending");
}

/**
 * The idle rule (DESIGN §4) on counts, for callers that keep counts rather than a described group
 * (the simulator): see {@link decideIdle}.
 */
export function decideIdleFromCounts(g: {
  desiredCapacity: number;
  minSize: number;
  /** Instances of the group that count toward desired capacity (Pending*, InService). */
  counted: number;
  /** This instance's lifecycle state, when the group lists it. */
  selfState?: string;
  instanceId: string;
}): IdleDecision {
  if (g.selfState && /^Terminat/.test(g.selfState)) return { action: "leave", reason: `the group is already terminating ${g.instanceId} (${g.selfState})` };
  if (g.desiredCapacity <= g.minSize)
    return { action: "stay", reason: `desired capacity ${g.desiredCapacity} is at the minimum ${g.minSize}: staying as a warm standby` };
  if (g.desiredCapacity < g.counted)
    return {
      action: "terminate",
      decrement: false,
      reason: `desired capacity ${g.desiredCapacity} is already below the ${g.counted} instances: terminating without decrement`,
    };
  return {
    action: "terminate",
    decrement: true,
    reason: `desired capacity ${g.desiredCapacity} above the minimum ${g.minSize}: terminating with decrement`,
  };
}

/**
 * The idle rule (DESIGN §4), as a pure function of the group:
 * - desired at or below the minimum: stay as a warm standby;
 * - desired already below the instances in the group (a scale-in is under way): terminate without
 *   decrement, or the group would shrink twice;
 * - otherwise: terminate with decrement, so the group does not launch a replacement.
 * The worker applies it once idle for `fleet.idleTimeoutSeconds`; "stay" restarts that wait.
 */
export function decideIdle(group: GroupState, instanceId: string): IdleDecision {
  const self = group.instances.find((i) => i.instanceId === instanceId);
  return decideIdleFromCounts({
    desiredCapacity: group.desiredCapacity,
    minSize: group.minSize,
    counted: group.instances.filter((i) => countsTowardDesired(i.lifecycleState)).length,
    ...(self ? { selfState: self.lifecycleState } : {}),
    instanceId,
  });
}
