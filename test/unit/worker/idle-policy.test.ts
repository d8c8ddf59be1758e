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
});
