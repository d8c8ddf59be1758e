import assert from "node:assert/strict";
import { fleetConfig, type FleetConfigInput } from "../../../core/fleet-config.ts";
import { groupMetrics, LocalScaling, scaledClock, type LocalInstanceState } from "../../../scripts/local/fleet-scaling.ts";

/**
 * The local fleet's feed of the scaling model (core/scaling/), on a fake wall clock at time scale
 * 0.01: a 60 s period is 600 wall ms. The rules themselves are core's (test/unit/core/scaling); these
 * check that the local group and queue reach the model as CloudWatch and Auto Scaling present them,
 * on the scaled clock, for each `scaling.policy`.
 */
const SCALE = 0.01;
const PERIOD_WALL = 60_000 * SCALE;
const WALL_START = Date.parse("2025-01-06T00:00:00Z");

function setup(input: FleetConfigInput = {}, options: { metricDelaySeconds?: number; warmupSeconds?: number } = {}) {
  let wall = WALL_START;
  const clock = scaledClock({ timeScale: SCALE, wall: () => wall });
  const config = fleetConfig({ ...input, fleet: { minSize: 0, maxSize: 20, bootSeconds: 300, ...input.fleet } });
  const scaling = new LocalScaling({ config, clock, metricDelaySeconds: options.metricDelaySeconds ?? 60, ...options });
  return {
    scaling,
    clock,
    /** Moves the wall clock on by `periods` alarm periods. */
    advance(periods: number) {
      wall += periods * PERIOD_WALL;
    },
    wallNow: () => wall,
  };
}

const depth = (visible: number, inFlight = 0) => ({ visible, inFlight, delayed: 0 });
const group = (desiredCapacity: number, instances: LocalInstanceState[] = []) => ({ desiredCapacity, minSize: 0, maxSize: 20, instances });
const pending = (n: number): LocalInstanceState[] => Array.from({ length: n }, () => ({ lifecycleState: "Pending" }));
const inService = (n: number, wallAt: number): LocalInstanceState[] => Array.from({ length: n }, () => ({ lifecycleState: "InService", inServiceAt: wallAt }));

describe("local fleet: the scaling model fed from the local group and queue", () => {
  it("runs a scaled clock: wall time over the time scale, from the given origin", () => {
    let wall = 1_000_000;
    const clock = scaledClock({ timeScale: 0.01, origin: Date.parse("2025-01-06T07:00:00Z"), wall: () => wall });
    wall += 600; // 0.6 wall seconds = 60 scaled seconds
    assert.equal(new Date(clock.now()).toISOString(), "2025-01-06T07:01:00.000Z");
    assert.equal(clock.scaled(1_000_000 + 6_000), Date.parse("2025-01-06T07:10:00Z"));
    assert.equal(clock.wallDelayUntil(Date.parse("2025-01-06T08:00:00Z")), 59 * 600);
    assert.equal(clock.wallDelayUntil(Date.parse("2025-01-06T06:00:00Z")), 0);
    assert.throws(() => scaledClock({ timeScale: 0 }), /timeScale must be a number above 0/);
  });

  it("reports the group metrics CloudWatch has: Pending and its hook states pending, InService in service, nothing else", () => {
    const states = ["Pending", "Pending:Wait", "Pending:Proceed", "InService", "InService", "Standby", "Terminating:Wait"];
    assert.deepEqual(groupMetrics(states.map((lifecycleState) => ({ lifecycleState }))), { pending: 3, inService: 2 });
  });

  describe("deficit (the default)", () => {
    it("a burst of 10 from zero: 10 instances at the first evaluation that sees its datapoint, one metric delay later", () => {
      const s = setup();
      s.advance(1);
      const first = s.scaling.runPeriod(depth(10), group(0));
      assert.equal(first.period, 1);
      assert.equal(first.decision.alarm.state, "INSUFFICIENT_DATA", "the datapoint is not published yet");
      assert.deepEqual(first.sample, { visible: 10, notVisible: 0, delayed: 0, pending: 0, inService: 0 });
      s.advance(1);
      const second = s.scaling.runPeriod(depth(10), group(0));
      assert.equal(second.decision.alarm.state, "ALARM");
      assert.equal(second.decision.step?.name, "deficit-10");
      assert.equal(second.decision.after, 10);
    });

    it("counts jobs in flight without an instance in service: a lost worker's job asks for capacity", () => {
      const s = setup();
      s.advance(1);
      s.scaling.runPeriod(depth(0, 1), group(0));
      s.advance(1);
      assert.equal(s.scaling.runPeriod(depth(0, 1), group(0)).decision.after, 1);
    });

    it("warms instances up for two periods on the scaled clock: no second round for a stale datapoint", () => {
      const s = setup();
      // Ten quiet periods first: an InService time left on the wall clock would look long past.
      for (let k = 0; k < 10; k++) {
        s.advance(1);
        s.scaling.runPeriod(depth(0), group(0));
      }
      s.advance(1);
      s.scaling.runPeriod(depth(10), group(10, pending(10)));
      // They come in service now; the datapoint the alarm acts on next still saw them pending.
      const inServiceAt = s.wallNow();
      s.advance(1);
      const stale = s.scaling.runPeriod(depth(10), group(10, inService(10, inServiceAt)));
      assert.equal(stale.decision.alarm.value, 10);
      assert.equal(stale.decision.currentCapacity, 0, "one scaled period in service is inside the two-period warmup");
      assert.equal(stale.decision.after, 10);
      s.advance(1.5);
      assert.equal(s.scaling.runPeriod(depth(10), group(10, inService(10, inServiceAt))).decision.currentCapacity, 10, "2.5 scaled periods: warm");
    });

    it("a warmup given in options replaces the model's", () => {
      const s = setup({}, { warmupSeconds: 0 });
      assert.equal(s.scaling.spec.warmupSeconds, 0);
      s.advance(1);
      s.scaling.runPeriod(depth(10), group(10, pending(10)));
      const at = s.wallNow();
      s.advance(1);
      assert.equal(s.scaling.runPeriod(depth(10), group(10, inService(10, at))).decision.after, 20, "no warmup: the stale datapoint adds 10 more");
    });

    it("sees nothing until the metric delay has passed, counted in scaled seconds", () => {
      const s = setup({}, { metricDelaySeconds: 180 });
      for (let k = 1; k <= 3; k++) {
        s.advance(1);
        assert.equal(s.scaling.runPeriod(depth(5), group(0)).decision.alarm.state, "INSUFFICIENT_DATA", `period ${k}`);
      }
      s.advance(1);
      assert.equal(s.scaling.runPeriod(depth(5), group(0)).decision.after, 5);
    });

    it("records no datapoint for a period whose queue read failed", () => {
      const s = setup({}, { metricDelaySeconds: 0 });
      s.advance(1);
      const r = s.scaling.runPeriod(undefined, group(0));
      assert.equal(r.sample, undefined);
      assert.equal(r.decision.alarm.state, "INSUFFICIENT_DATA");
    });
  });

  it("visible: the config's steps on the visible backlog, +3 for 10 jobs, warmup = the boot time", () => {
    const s = setup({ scaling: { policy: "visible" } });
    assert.equal(s.scaling.spec.warmupSeconds, 300);
    s.advance(1);
    s.scaling.runPeriod(depth(10, 50), group(0));
    s.advance(1);
    const d = s.scaling.runPeriod(depth(10), group(0)).decision;
    assert.deepEqual([d.step?.name, d.alarm.value, d.after], ["medium", 10, 3], "in-flight jobs are not in the visible signal");
  });

  it("target-tracking: a minute's period and three datapoints above the target, on the backlog per instance", () => {
    const s = setup({ scaling: { policy: "target-tracking", periodSeconds: 120 } });
    assert.equal(s.scaling.spec.periodSeconds, 60);
    assert.equal(s.scaling.periodWallMs, PERIOD_WALL);
    const states: string[] = [];
    for (let k = 1; k <= 4; k++) {
      s.advance(1);
      states.push(s.scaling.runPeriod(depth(6), group(0)).decision.alarm.state);
    }
    assert.deepEqual(states, ["INSUFFICIENT_DATA", "INSUFFICIENT_DATA", "INSUFFICIENT_DATA", "ALARM"]);
  });

  it("finds scheduled actions on the scaled clock", () => {
    const s = setup({ scaling: { schedule: { open: { recurrence: "30 7 * * MON-FRI", minSize: 1 }, close: { recurrence: "0 19 * * MON-FRI", minSize: 0 } } } });
    const day = s.scaling.scheduledActions(s.clock.now(), s.clock.now() + 86_400_000);
    assert.deepEqual(
      day.map((a) => [a.entry.name, new Date(a.at).toISOString()]),
      [
        ["open", "2025-01-06T07:30:00.000Z"],
        ["close", "2025-01-06T19:00:00.000Z"],
      ],
    );
    assert.deepEqual(s.scaling.applySchedule({ minSize: 0, maxSize: 20, desiredCapacity: 0 }, day[0]!), { minSize: 1, maxSize: 20, desiredCapacity: 1 });
  });
});
