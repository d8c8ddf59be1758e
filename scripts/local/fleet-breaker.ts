import { BootBreaker, parseBreakerTag, type BreakerTrip } from "../../core/boot-breaker.ts";
import { BREAKER_TAG } from "../../core/names.ts";
import type { LocalAutoScalingGroup } from "./fleet-group.ts";

export interface LocalBootBreaker {
  readonly breaker: BootBreaker;
  /** The trip recorded on the group (its BREAKER_TAG), while the tag is there. */
  trip(): BreakerTrip | undefined;
  failuresInWindow(): number;
  detach(): void;
}

/**
 * The local half of the boot breaker (CONTRACTS §6): every failed boot of the group goes into a
 * {@link BootBreaker}; when it trips, Launch is suspended on the group and the group is tagged
 * `BREAKER_TAG` with the reason, as the infra breaker Lambda does in AWS; `onTrip` plays the alarm
 * topic. Resuming Launch (spotq fleet resume) starts a fresh count.
 */
export function attachBootBreaker(
  group: LocalAutoScalingGroup,
  options: { failures: number; windowSeconds: number; timeScale?: number; onTrip?: (trip: BreakerTrip) => void },
): LocalBootBreaker {
  // The window is on the group's (scaled) clock: 3600 s at timeScale 0.01 passes in 36 s of wall time.
  // The breaker counts on the deployment's clock, which runs 1/timeScale as fast from the start.
  const scale = options.timeScale ?? 1;
  const origin = group.now();
  const deploymentTime = (wall: number) => origin + (wall - origin) / scale;
  const breaker = new BootBreaker({ failures: options.failures, windowSeconds: options.windowSeconds });
  const onFailed = (e: { instanceId: string; cause: string }) => {
    const now = group.now();
    const counted = breaker.record({ at: deploymentTime(now), instanceId: e.instanceId, cause: e.cause });
    if (!counted) return;
    const trip: BreakerTrip = { ...counted, trippedAt: new Date(now).toISOString() };
    group.setTags([{ key: BREAKER_TAG, value: JSON.stringify(trip) }]);
    group.suspendProcesses(["Launch"]);
    options.onTrip?.(trip);
  };
  const onResumed = (e: { processes: string[] }) => {
    if (e.processes.includes("Launch")) breaker.reset();
  };
  group.on("boot_failed", onFailed);
  group.on("processes_resumed", onResumed);
  return {
    breaker,
    trip: () => parseBreakerTag(group.tags()[BREAKER_TAG]),
    failuresInWindow: () => breaker.failuresInWindow(deploymentTime(group.now())),
    detach() {
      group.off("boot_failed", onFailed);
      group.off("processes_resumed", onResumed);
    },
  };
}
