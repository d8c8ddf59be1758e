import assert from "node:assert/strict";
import type { GroupState } from "../../../core/ports.ts";
import { decideIdle } from "../../../worker/idle-policy.ts";

function group(minSize: number, desiredCapacity: number, states: string[]): GroupState {
  return {
    name: "g",
    minSize,
    maxSize: 10,
    desiredCapacity,
    instances: states.map((lifecycleState, i) => ({ instanceId: `i-${i}`, lifecycleState, protectedFromScaleIn: false })),
  };
}

describe("worker/idle-policy", () => {
  it("stays as a warm standby when desired is at the minimum", () => {
    assert.equal(decideIdle(group(1, 1, ["InService"]), "i-0").action, "stay");
    assert.equal(decideIdle(group(0, 0, ["InService"]), "i-0").action, "stay");
  });

  it("terminates with decrement when desired is above the minimum and matches the instances", () => {
    assert.deepEqual(decideIdle(group(0, 2, ["InService", "InService"]), "i-0"), {
      action: "terminate",
      decrement: true,
      reason: "desired capacity 2 above the minimum 0: terminating with decrement",
    });
  });

  it("terminates without decrement when desired is already below the instances in service or launching", () => {
    const d = decideIdle(group(0, 1, ["InService", "Pending", "InService"]), "i-0");
    assert.equal(d.action, "terminate");
    assert.equal(d.action === "terminate" && d.decrement, false);
  });

  it("does not count instances already terminating (their capacity is gone)", () => {
    const d = decideIdle(group(0, 1, ["InService", "Terminating", "Terminating:Wait"]), "i-0");
    assert.equal(d.action === "terminate" && d.decrement, true);
  });

  it("leaves without a call when the group is already terminating this instance", () => {
    assert.equal(decideIdle(group(0, 1, ["Terminating"]), "i-0").action, "leave");
  });

  describe("rollouts: a warm standby launched from an older launch template version", () => {
    /** Instances `[lifecycleState, launchTemplateVersion, protected?]`; the group launches version "7". */
    function rollout(minSize: number, desired: number, instances: [string, string, boolean?][]): GroupState {
      return {
        name: "g",
        minSize,
        maxSize: 10,
        desiredCapacity: desired,
        launchTemplateVersion: "7",
        instances: instances.map(([lifecycleState, launchTemplateVersion, prot], i) => ({
          instanceId: `i-${i}`,
          lifecycleState,
          launchTemplateVersion,
          protectedFromScaleIn: prot ?? false,
        })),
      };
    }

    it("retires without decrement, so a fresh instance replaces it", () => {
      const d = decideIdle(rollout(1, 1, [["InService", "6"]]), "i-0");
      assert.deepEqual(d, {
        action: "terminate",
        decrement: false,
        reason: "warm standby launched from launch template version 6, but the group launches version 7: retiring without decrement so a fresh instance replaces it",
      });
    });

    it("stays when its version is the group's, or when either version is unknown", () => {
      assert.equal(decideIdle(rollout(1, 1, [["InService", "7"]]), "i-0").action, "stay");
      const unknown = rollout(1, 1, [["InService", "6"]]);
      delete unknown.launchTemplateVersion;
      assert.equal(decideIdle(unknown, "i-0").action, "stay");
    });

    it("retires one at a time: the first idle stale standby by id, and none while a replacement is launching", () => {
      const g = rollout(3, 3, [["InService", "6"], ["InService", "6"], ["InService", "6", true]]);
      assert.equal(decideIdle(g, "i-0").action, "terminate");
      const second = decideIdle(g, "i-1");
      assert.equal(second.action, "stay");
      assert.match(second.reason, /i-0 retires first/);
      const launching = rollout(3, 3, [["Terminating", "6"], ["InService", "6"], ["Pending:Wait", "7"]]);
      const waiting = decideIdle(launching, "i-1");
      assert.equal(waiting.action, "stay");
      assert.match(waiting.reason, /i-2 is still launching/);
    });

    it("a stale instance above the minimum follows the normal idle rule (with decrement)", () => {
      const d = decideIdle(rollout(0, 1, [["InService", "6"]]), "i-0");
      assert.ok(d.action === "terminate" && d.decrement);
    });
  });
});
