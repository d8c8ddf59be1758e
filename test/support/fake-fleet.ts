import type { FleetControl, GroupState } from "../../core/ports.ts";

/**
 * A group of fixed max that records every raiseDesired and applies it as Auto Scaling would
 * (desired never goes down, never above max). `fail` makes every raise throttled, as Auto
 * Scaling does under load.
 */
export class RecordingFleet implements FleetControl {
  readonly asked: number[] = [];
  constructor(
    public desired: number,
    readonly maxSize = 10,
    readonly fail = false,
  ) {}
  async raiseDesired(atLeast: number) {
    this.asked.push(atLeast);
    if (this.fail) throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    const before = this.desired;
    this.desired = Math.max(before, Math.min(atLeast, this.maxSize));
    return { before, after: this.desired };
  }
  async describeGroup(): Promise<GroupState> {
    return { name: "g", minSize: 0, maxSize: this.maxSize, desiredCapacity: this.desired, instances: [] };
  }
  async protect() {}
  async terminate() {}
  async setHealth() {}
  async completeLifecycleAction() {}
  async recordLifecycleHeartbeat() {}
}
