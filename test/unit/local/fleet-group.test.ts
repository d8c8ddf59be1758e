import assert from "node:assert/strict";
import { AutoScalingError, LIFECYCLE, LocalAutoScalingGroup } from "../../../scripts/local/fleet-group.ts";

describe("local fleet: the Auto Scaling group's rules", () => {
  function groupOf(instances: { id: string; state?: "Pending" | "InService"; protect?: boolean; at: number }[]) {
    const g = new LocalAutoScalingGroup({ name: "g", minSize: 0, maxSize: 10, desiredCapacity: instances.length });
    for (const i of instances) {
      g.addInstance(i.id, i.at);
      if ((i.state ?? "InService") === "InService") g.setLifecycleState(i.id, LIFECYCLE.inService);
      g.setInstanceProtection([i.id], i.protect ?? false);
    }
    return g;
  }

  describe("choosing instances for scale-in", () => {
    it("never chooses a protected instance, even when that leaves the group above desired", () => {
      const g = groupOf([
        { id: "i-busy", protect: true, at: 1 },
        { id: "i-idle", at: 2 },
        { id: "i-busy2", protect: true, at: 3 },
      ]);
      assert.deepEqual(
        g.chooseForScaleIn(3).map((i) => i.instanceId),
        ["i-idle"],
      );
    });

    it("chooses none when every instance is protected (the group waits)", () => {
      const g = groupOf([
        { id: "i-a", protect: true, at: 1 },
        { id: "i-b", protect: true, at: 2 },
      ]);
      assert.deepEqual(g.chooseForScaleIn(1), []);
    });

    it("takes an instance still booting first, then the oldest", () => {
      const g = groupOf([
        { id: "i-old", at: 1 },
        { id: "i-new", at: 5 },
        { id: "i-booting", state: "Pending", at: 9 },
      ]);
      assert.deepEqual(
        g.chooseForScaleIn(2).map((i) => i.instanceId),
        ["i-booting", "i-old"],
      );
    });

    it("does not choose an instance already Terminating", () => {
      const g = groupOf([
        { id: "i-a", at: 1 },
        { id: "i-b", at: 2 },
      ]);
      g.terminateInstance("i-a", false);
      assert.deepEqual(
        g.chooseForScaleIn(2).map((i) => i.instanceId),
        ["i-b"],
      );
      assert.deepEqual(
        g.activeInstances().map((i) => i.instanceId),
        ["i-b"],
      );
    });
  });

  it("protects new instances only when the group says so", () => {
    const g = new LocalAutoScalingGroup({ name: "g", minSize: 0, maxSize: 2, newInstancesProtectedFromScaleIn: false });
    assert.equal(g.addInstance("i-x").protectedFromScaleIn, false);
    g.newInstancesProtectedFromScaleIn = true;
    assert.equal(g.addInstance("i-y").protectedFromScaleIn, true);
  });

  it("starts at min when no desired capacity is given, and refuses sizes that do not fit", () => {
    assert.equal(new LocalAutoScalingGroup({ name: "g", minSize: 2, maxSize: 4 }).desiredCapacity, 2);
    assert.throws(() => new LocalAutoScalingGroup({ name: "g", minSize: 3, maxSize: 2 }), /maxSize \(2\) is below minSize \(3\)/);
    assert.throws(() => new LocalAutoScalingGroup({ name: "g", minSize: 0, maxSize: 2, desiredCapacity: 3 }), /desiredCapacity \(3\)/);
  });

  it("emits desired_changed only when the value changes", () => {
    const g = new LocalAutoScalingGroup({ name: "g", minSize: 0, maxSize: 4, desiredCapacity: 1 });
    const seen: unknown[] = [];
    g.on("desired_changed", (e) => seen.push(e));
    g.setDesiredCapacity(1, "control");
    g.setDesiredCapacity(3, "alarm");
    assert.deepEqual(seen, [{ before: 1, after: 3, reason: "alarm" }]);
  });

  it("refuses a fractional desired capacity", () => {
    const g = new LocalAutoScalingGroup({ name: "g", minSize: 0, maxSize: 4 });
    assert.throws(() => g.setDesiredCapacity(1.5), (e: Error) => e instanceof AutoScalingError && e.code === "ValidationError");
  });
});
