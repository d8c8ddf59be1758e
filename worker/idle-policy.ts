import type { GroupState } from "../core/ports.ts";

/** What an idle worker does with its instance. */
export type IdleDecision =
  | { action: "stay"; reason: string }
  | { action: "terminate"; decrement: boolean; reason: string }
  /** The group is already terminating this instance: stop without another call. */
  | { action: "leave"; reason: string };

/** Lifecycle states that count toward desired capacity (AWS's Pending/InService and their hook sub-states). */
function countsTowardDesired(lifecycleState: string): boolean {
  return lifecycleState === "InService" || lifecycleState.startsWith("Pending");
}

/**
 * The idle rule (DESIGN §4), as a pure function of the group:
 * - desired at or below the minimum: stay as a warm standby;
 * - desired already below the instances in the group (a scale-in is under way): terminate without
 *   decrement, or the group would shrink twice;
 * - otherwise: terminate with decrement, so the group does not launch a replacement.
 */
export function decideIdle(group: GroupState, instanceId: string): IdleDecision {
  const self = group.instances.find((i) => i.instanceId === instanceId);
  if (self && /^Terminat/.test(self.lifecycleState)) return { action: "leave", reason: `the group is already terminating ${instanceId} (${self.lifecycleState})` };
  if (group.desiredCapacity <= group.minSize)
    return { action: "stay", reason: `desired capacity ${group.desiredCapacity} is at the minimum ${group.minSize}: staying as a warm standby` };
  const counted = group.instances.filter((i) => countsTowardDesired(i.lifecycleState)).length;
  if (group.desiredCapacity < counted)
    return {
      action: "terminate",
      decrement: false,
      reason: `desired capacity ${group.desiredCapacity} is already below the ${counted} instances: terminating without decrement`,
    };
  return {
    action: "terminate",
    decrement: true,
    reason: `desired capacity ${group.desiredCapacity} above the minimum ${group.minSize}: terminating with decrement`,
  };
}
