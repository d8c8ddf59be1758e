import assert from "node:assert/strict";
import {
  deficitSteps,
  MAX_STEP_ADJUSTMENTS,
  signalValue,
  stepFor,
  stepScalingDesired,
  targetTrackingDesired,
} from "../../../../core/scaling/policy.ts";

describe("core/scaling: the scale-out policies", () => {
  describe("signals, as the synthesized metric math computes them", () => {
    const sample = { visible: 7, notVisible: 3, pending: 4, inService: 5 };
    it("visible: the queue's visible messages; missing when SQS published nothing", () => {
      assert.equal(signalValue("visible", sample), 7);
      assert.equal(signalValue("visible", { ...sample, visible: undefined }), undefined);
    });

    it("deficit: jobs queued or running minus instances in service (pending ones are already in desired)", () => {
      assert.equal(signalValue("deficit", sample), 7 + 3 - 5);
      // A lost worker's job is still in flight with no instance: it counts, so it gets capacity.
      assert.equal(signalValue("deficit", { visible: 0, notVisible: 2, pending: 0, inService: 1 }), 1);
      // FILL(…, 0): no SQS data means no jobs, not no value.
      assert.equal(signalValue("deficit", { visible: undefined, notVisible: undefined, pending: 0, inService: 2 }), -2);
    });

    it("target tracking: visible per instance in service; from zero instances the backlog itself", () => {
      assert.equal(signalValue("target-tracking", sample), 7 / 5);
      assert.equal(signalValue("target-tracking", { ...sample, inService: 0 }), 7);
    });
  });

  describe("the deficit policy's steps", () => {
    it("add exactly the deficit, one step per value up to max size", () => {
      const steps = deficitSteps(10);
      assert.equal(steps.length, 10);
      for (let d = 1; d <= 10; d++) assert.equal(stepFor(steps, d)?.addInstances, d);
      assert.equal(stepFor(steps, 0), undefined);
      assert.equal(stepFor(steps, 37)?.addInstances, 10);
    });

    it("stay within Auto Scaling's 20 step adjustments for a large group, ascending, reaching max size", () => {
      for (const max of [21, 50, 200, 1000]) {
        const steps = deficitSteps(max);
        assert.ok(steps.length <= MAX_STEP_ADJUSTMENTS, `max ${max}: ${steps.length} steps`);
        for (let i = 1; i < steps.length; i++) assert.ok(steps[i]!.backlogAtLeast > steps[i - 1]!.backlogAtLeast);
        assert.equal(steps[steps.length - 1]!.backlogAtLeast, max);
        // Each step adds its lower bound: never more than the deficit.
        for (let d = 1; d <= max; d++) assert.ok(stepFor(steps, d)!.addInstances <= d);
      }
    });
  });

  describe("Auto Scaling's rules", () => {
    it("a step adds to the warm capacity, only above desired, capped at max (AWS's warmup example)", () => {
      assert.equal(stepScalingDesired({ desired: 0, maxSize: 10, currentCapacity: 0, add: 3 }), 3);
      assert.equal(stepScalingDesired({ desired: 11, maxSize: 20, currentCapacity: 10, add: 1 }), 11);
      assert.equal(stepScalingDesired({ desired: 11, maxSize: 20, currentCapacity: 10, add: 3 }), 13);
      assert.equal(stepScalingDesired({ desired: 0, maxSize: 4, currentCapacity: 0, add: 10 }), 4);
    });

    it("target tracking scales capacity × metric / target, never below desired", () => {
      assert.equal(targetTrackingDesired({ desired: 2, maxSize: 10, currentCapacity: 2, metric: 3, target: 1 }), 6);
      assert.equal(targetTrackingDesired({ desired: 5, maxSize: 10, currentCapacity: 2, metric: 1.2, target: 1 }), 5);
      assert.equal(targetTrackingDesired({ desired: 0, maxSize: 10, currentCapacity: 0, metric: 4, target: 2 }), 2);
    });
  });
});
