import assert from "node:assert/strict";
import { fleetConfig, orderedSteps } from "../../../core/fleet-config.ts";
import { QueueDepthAlarm, stepScalingDesired } from "../../../scripts/local/fleet-scaling.ts";

/** The default fleet config's steps: small ≥1 → +1, medium ≥5 → +3, large ≥20 → +10. */
const STEPS = orderedSteps(fleetConfig({}));
const PERIOD = 60_000;

describe("local fleet: the queue-depth alarm and step-scaling policy", () => {
  describe("alarm state", () => {
    it("has insufficient data until evaluationPeriods datapoints are out", () => {
      const alarm = new QueueDepthAlarm({ steps: STEPS, evaluationPeriods: 3 });
      alarm.record(1 * PERIOD, 9);
      alarm.record(2 * PERIOD, 9);
      assert.equal(alarm.evaluate(2 * PERIOD).state, "INSUFFICIENT_DATA");
      alarm.record(3 * PERIOD, 9);
      assert.equal(alarm.evaluate(3 * PERIOD).state, "ALARM");
    });

    it("goes to ALARM only when every one of the last evaluationPeriods datapoints reaches the lowest step", () => {
      const alarm = new QueueDepthAlarm({ steps: STEPS, evaluationPeriods: 2 });
      alarm.record(1 * PERIOD, 7);
      alarm.record(2 * PERIOD, 0);
      assert.equal(alarm.evaluate(2 * PERIOD).state, "OK", "a dip resets the count");
      alarm.record(3 * PERIOD, 1);
      assert.equal(alarm.evaluate(3 * PERIOD).state, "OK", "one breaching period of two is not enough");
      alarm.record(4 * PERIOD, 1);
      const e = alarm.evaluate(4 * PERIOD);
      assert.equal(e.state, "ALARM");
      assert.deepEqual(e.datapoints, [1, 1]);
    });

    it("applies the highest step the latest datapoint reaches", () => {
      const cases: [number, string][] = [
        [1, "small"],
        [4, "small"],
        [5, "medium"],
        [19, "medium"],
        [20, "large"],
        [500, "large"],
      ];
      for (const [backlog, step] of cases) {
        const alarm = new QueueDepthAlarm({ steps: STEPS, evaluationPeriods: 1 });
        alarm.record(PERIOD, backlog);
        const e = alarm.evaluate(PERIOD);
        assert.equal(e.step?.name, step, `backlog ${backlog}`);
        assert.equal(e.value, backlog);
      }
    });

    it("sees a datapoint only once CloudWatch's delay has passed", () => {
      const alarm = new QueueDepthAlarm({ steps: STEPS, evaluationPeriods: 1, metricDelayMs: 2 * PERIOD });
      alarm.record(1 * PERIOD, 30);
      assert.equal(alarm.evaluate(1 * PERIOD).state, "INSUFFICIENT_DATA");
      alarm.record(2 * PERIOD, 0);
      assert.equal(alarm.evaluate(3 * PERIOD - 1).state, "INSUFFICIENT_DATA");
      alarm.record(3 * PERIOD, 0);
      const late = alarm.evaluate(3 * PERIOD);
      assert.equal(late.state, "ALARM", "the alarm acts on the backlog of two periods ago");
      assert.equal(late.step?.name, "large");
      alarm.record(4 * PERIOD, 0);
      assert.equal(alarm.evaluate(4 * PERIOD).state, "OK", "and sees the queue emptied two periods late");
    });

    it("orders steps given in any order and refuses an empty policy or zero periods", () => {
      const alarm = new QueueDepthAlarm({
        steps: [
          { name: "b", backlogAtLeast: 10, addInstances: 2 },
          { name: "a", backlogAtLeast: 3, addInstances: 1 },
        ],
        evaluationPeriods: 1,
      });
      assert.equal(alarm.threshold, 3);
      assert.equal(alarm.stepFor(2), undefined);
      assert.throws(() => new QueueDepthAlarm({ steps: [], evaluationPeriods: 1 }), /at least one step/);
      assert.throws(() => new QueueDepthAlarm({ steps: STEPS, evaluationPeriods: 0 }), /evaluationPeriods/);
    });
  });

  describe("the adjustment, with instance warmup", () => {
    it("adds the step's instances to the current capacity", () => {
      assert.equal(stepScalingDesired({ desired: 0, maxSize: 10, currentCapacity: 0, add: 3 }), 3);
      assert.equal(stepScalingDesired({ desired: 2, maxSize: 10, currentCapacity: 2, add: 3 }), 5);
    });

    it("does not add twice for a standing alarm while the added instances warm up (AWS's example)", () => {
      // Desired 11 with 10 warm instances: the same +1 step again changes nothing ...
      assert.equal(stepScalingDesired({ desired: 11, maxSize: 20, currentCapacity: 10, add: 1 }), 11);
      // ... while a larger step adds only the difference: 10 + 3 = 13.
      assert.equal(stepScalingDesired({ desired: 11, maxSize: 20, currentCapacity: 10, add: 3 }), 13);
    });

    it("caps at max size and never lowers desired capacity", () => {
      assert.equal(stepScalingDesired({ desired: 0, maxSize: 4, currentCapacity: 0, add: 10 }), 4);
      assert.equal(stepScalingDesired({ desired: 6, maxSize: 10, currentCapacity: 1, add: 1 }), 6);
    });
  });
});
