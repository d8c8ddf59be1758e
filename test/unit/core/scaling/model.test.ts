import assert from "node:assert/strict";
import { fleetConfig, type FleetConfigInput } from "../../../../core/fleet-config.ts";
import { ScalingModel, scalingSpec, type ScalingInstance } from "../../../../core/scaling/model.ts";
import type { PolicyKind } from "../../../../core/scaling/policy.ts";

const P = 60_000;

function model(policy: PolicyKind, input: FleetConfigInput = {}) {
  const config = fleetConfig({ fleet: { minSize: 0, maxSize: 10, bootSeconds: 300 }, ...input });
  return new ScalingModel(scalingSpec(config, { policy }));
}

/** A fake clock: each period the model gets that period's metrics, published one period later (AWS's cadence). */
function tick(m: ScalingModel, t: number, s: { visible: number; notVisible?: number; pending?: number; inService?: number }) {
  m.recordSample(t, { visible: s.visible, notVisible: s.notVisible ?? 0, pending: s.pending ?? 0, inService: s.inService ?? 0 }, t + P);
}

const pending = (n: number): ScalingInstance[] => Array.from({ length: n }, () => ({ lifecycleState: "Pending" }));
const inService = (n: number, since: number): ScalingInstance[] => Array.from({ length: n }, () => ({ lifecycleState: "InService", inServiceAt: since }));

describe("core/scaling: the scaling model", () => {
  it("derives one spec from the config: the deficit policy warms up for two periods, the visible one for the boot time", () => {
    const config = fleetConfig({ fleet: { bootSeconds: 420 }, scaling: { periodSeconds: 120 } });
    assert.equal(scalingSpec(config).policy, "deficit");
    assert.equal(scalingSpec(config).warmupSeconds, 240);
    assert.equal(scalingSpec(config, { policy: "visible" }).warmupSeconds, 420);
    assert.equal(scalingSpec(config, { policy: "visible" }).threshold, 1);
    const tt = scalingSpec(config, { policy: "target-tracking" });
    assert.deepEqual([tt.periodSeconds, tt.evaluationPeriods, tt.comparison], [60, 3, ">"]);
  });

  it("deficit: a burst of 10 from zero gets 10 instances in one evaluation, alarms alone", () => {
    const m = model("deficit");
    tick(m, P, { visible: 10 });
    const d = m.evaluate(2 * P, { desiredCapacity: 0, minSize: 0, maxSize: 10, instances: [] });
    assert.equal(d.alarm.state, "ALARM");
    assert.equal(d.after, 10);
  });

  it("visible steps: the same burst gets +3, then nothing more while those 3 boot and warm up (the issue's 40 minutes)", () => {
    const m = model("visible");
    tick(m, P, { visible: 10 });
    const first = m.evaluate(2 * P, { desiredCapacity: 0, minSize: 0, maxSize: 10, instances: [] });
    assert.equal(first.after, 3);
    tick(m, 2 * P, { visible: 10, pending: 3 });
    const second = m.evaluate(3 * P, { desiredCapacity: 3, minSize: 0, maxSize: 10, instances: pending(3) });
    assert.equal(second.alarm.state, "ALARM");
    assert.equal(second.after, 3, "warm capacity 0 + 3 is not above desired 3");
  });

  it("deficit: a standing alarm does not add twice for instances on their way", () => {
    const m = model("deficit");
    // 10 jobs, 10 instances pending: the deficit (10 + 0 - 0) still reads 10, but desired already holds them.
    tick(m, P, { visible: 10, pending: 10 });
    const d = m.evaluate(2 * P, { desiredCapacity: 10, minSize: 0, maxSize: 10, instances: pending(10) });
    assert.equal(d.alarm.state, "ALARM");
    assert.equal(d.after, 10);
  });

  it("deficit: more jobs while instances boot get exactly the extra instances", () => {
    const m = model("deficit", { fleet: { maxSize: 20 } });
    tick(m, P, { visible: 14, pending: 10 });
    const d = m.evaluate(2 * P, { desiredCapacity: 10, minSize: 0, maxSize: 20, instances: pending(10) });
    assert.equal(d.after, 14);
  });

  it("deficit: instances that came in service after the datapoint was sampled are not counted twice (warmup of two periods)", () => {
    const m = model("deficit", { fleet: { maxSize: 20 } });
    // Sampled at 10P: 5 jobs queued, 5 pending. By 11P the 5 are in service and took the jobs.
    tick(m, 10 * P, { visible: 5, pending: 5 });
    const group = { desiredCapacity: 5, minSize: 0, maxSize: 20, instances: inService(5, 10.5 * P) };
    const d = m.evaluate(11 * P, group);
    assert.equal(d.currentCapacity, 0, "in service for half a period: still warming up");
    assert.equal(d.after, 5, "no overshoot to 10 from the stale datapoint");
  });

  it("never raises above max size", () => {
    const m = model("deficit");
    tick(m, P, { visible: 40 });
    assert.equal(m.evaluate(2 * P, { desiredCapacity: 0, minSize: 0, maxSize: 10, instances: [] }).after, 10);
  });

  it("target tracking waits for three datapoints above the target", () => {
    const m = model("target-tracking");
    for (const t of [1, 2]) tick(m, t * P, { visible: 6 });
    assert.notEqual(m.evaluate(3 * P, { desiredCapacity: 0, minSize: 0, maxSize: 10, instances: [] }).alarm.state, "ALARM");
    tick(m, 3 * P, { visible: 6 });
    assert.equal(m.evaluate(4 * P, { desiredCapacity: 0, minSize: 0, maxSize: 10, instances: [] }).after, 6);
  });

  describe("the fast path", () => {
    const m = model("deficit");
    it("wants every job queued, running or delayed, and at least the one just submitted", () => {
      assert.equal(m.fastPathWanted({ visible: 2, inFlight: 3, delayed: 1 }), 6);
      assert.equal(m.fastPathWanted({ visible: 0, inFlight: 0, delayed: 0 }, { submitted: true }), 1);
      assert.equal(m.fastPathWanted({ visible: 0, inFlight: 0, delayed: 0 }), 0);
    });

    it("raises desired capacity to that, capped at max, and never lowers it", () => {
      assert.equal(m.fastPathDesired({ visible: 4, inFlight: 0, delayed: 0 }, { desiredCapacity: 1, maxSize: 10 }), 4);
      assert.equal(m.fastPathDesired({ visible: 40, inFlight: 0, delayed: 0 }, { desiredCapacity: 1, maxSize: 10 }), 10);
      assert.equal(m.fastPathDesired({ visible: 1, inFlight: 0, delayed: 0 }, { desiredCapacity: 6, maxSize: 10 }), 6);
    });
  });

  it("applies the idle rule the worker applies (one copy, re-exported by worker/idle-policy.ts)", () => {
    const m = model("deficit");
    const group = (desired: number, min: number, n: number) => ({
      name: "g",
      minSize: min,
      maxSize: 10,
      desiredCapacity: desired,
      instances: Array.from({ length: n }, (_, i) => ({ instanceId: `i-${i}`, lifecycleState: "InService", protectedFromScaleIn: false })),
    });
    assert.equal(m.idleDecision(group(1, 1, 1), "i-0").action, "stay");
    assert.deepEqual(m.idleDecision(group(2, 0, 2), "i-0"), { action: "terminate", decrement: true, reason: "desired capacity 2 above the minimum 0: terminating with decrement" });
    assert.equal((m.idleDecision(group(1, 0, 2), "i-0") as { decrement: boolean }).decrement, false);
  });

  it("lists and applies the config's scheduled actions", () => {
    const config = fleetConfig({
      fleet: { minSize: 0, maxSize: 10 },
      scaling: {
        schedule: {
          open: { recurrence: "0 8 * * MON-FRI", timeZone: "Europe/Berlin", minSize: 2 },
          close: { recurrence: "0 18 * * MON-FRI", timeZone: "Europe/Berlin", minSize: 0 },
        },
      },
    });
    const m = new ScalingModel(scalingSpec(config));
    const monday = Date.parse("2025-01-06T00:00:00Z");
    const actions = m.scheduledActions(monday, monday + 86_400_000);
    assert.deepEqual(
      actions.map((a) => [new Date(a.at).toISOString(), a.entry.name]),
      [
        ["2025-01-06T07:00:00.000Z", "open"],
        ["2025-01-06T17:00:00.000Z", "close"],
      ],
    );
    assert.deepEqual(m.applySchedule({ minSize: 0, maxSize: 10, desiredCapacity: 0 }, actions[0]!), { minSize: 2, maxSize: 10, desiredCapacity: 2 });
    assert.deepEqual(m.applySchedule({ minSize: 2, maxSize: 10, desiredCapacity: 3 }, actions[1]!), { minSize: 0, maxSize: 10, desiredCapacity: 3 });
  });
});
