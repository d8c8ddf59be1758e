import type { GroupInstance, GroupState } from "../ports.ts";

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
 * - desired at or below the minimum: stay as a warm standby, unless this instance was launched from
 *   an older launch template version than the group's now (a rollout): then retire without
 *   decrement, so a fresh instance replaces it. One stale standby retires at a time (the first by
 *   id among the idle, in-service stale ones, and only while no instance is launching), so the warm
 *   capacity never drops by more than one during a rollout;
 * - desired already below the instances in the group (a scale-in is under way): terminate without
 *   decrement, or the group would shrink twice;
 * - otherwise: terminate with decrement, so the group does not launch a replacement.
 * The worker applies it once idle for `fleet.idleTimeoutSeconds`; "stay" restarts that wait.
 */
export function decideIdle(group: GroupState, instanceId: string): IdleDecision {
  const self = group.instances.find((i) => i.instanceId === instanceId);
  const counted = decideIdleFromCounts({
    desiredCapacity: group.desiredCapacity,
    minSize: group.minSize,
    counted: group.instances.filter((i) => countsTowardDesired(i.lifecycleState)).length,
    ...(self ? { selfState: self.lifecycleState } : {}),
    instanceId,
  });
  if (counted.action !== "stay" || !self) return counted;
  const stale = (i: GroupInstance) =>
    group.launchTemplateVersion !== undefined && i.launchTemplateVersion !== undefined && i.launchTemplateVersion !== group.launchTemplateVersion;
  if (!stale(self)) return counted;
  const launching = group.instances.filter((i) => i.lifecycleState.startsWith("Pending"));
  if (launching.length > 0)
    return { action: "stay", reason: `${counted.reason}; its launch template version ${self.launchTemplateVersion} is stale, but ${launching[0]!.instanceId} is still launching` };
  const first = group.instances
    .filter((i) => stale(i) && i.lifecycleState === "InService" && !i.protectedFromScaleIn)
    .map((i) => i.instanceId)
    .sort()[0];
  if (first !== undefined && first !== instanceId)
    return { action: "stay", reason: `${counted.reason}; its launch template version ${self.launchTemplateVersion} is stale, and ${first} retires first` };
  return {
    action: "terminate",
    decrement: false,
    reason: `warm standby launched from launch template version ${self.launchTemplateVersion}, but the group launches version ${group.launchTemplateVersion}: retiring without decrement so a fresh instance replaces it`,
  };
}
