import assert from "node:assert/strict";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { Scaling } from "../../infra/constructs/scaling.ts";
import { assertHasResource, synthScope, testConfig } from "./support/synth.ts";

function scalingOf(overrides: Parameters<typeof testConfig>[0] = {}) {
  const config = testConfig(overrides);
  let scaling: Scaling | undefined;
  const synth = synthScope((scope) => {
    scaling = new Scaling(scope, "scaling", { config, groupName: "spotq-workers" });
  });
  return { synth, scaling: scaling! };
}

describe("infra/constructs/scaling", () => {
  const { synth } = scalingOf({
    fleet: { bootSeconds: 540 },
    scaling: {
      periodSeconds: 120,
      evaluationPeriods: 2,
      // Out of order on purpose: the policy orders steps by backlog.
      scaleOutSteps: { burst: { backlogAtLeast: 50, addInstances: 20 }, one: { backlogAtLeast: 2, addInstances: 1 }, some: { backlogAtLeast: 10, addInstances: 4 } },
    },
  });
  const alarm = synth.resource("aws_cloudwatch_metric_alarm");
  const policy = synth.resource("aws_autoscaling_policy");

  it("alarms on the jobs queue's visible messages with the configured period and evaluation periods", () => {
    assertHasResource(synth, CloudwatchMetricAlarm, {
      namespace: "AWS/SQS",
      metric_name: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: "spotq-jobs" },
      period: 120,
      evaluation_periods: 2,
      comparison_operator: "GreaterThanOrEqualToThreshold",
      threshold: 2,
      treat_missing_data: "notBreaching",
    });
  });

  it("drives the step-scaling policy of the group", () => {
    assert.deepEqual(alarm.alarm_actions, [synth.ref("aws_autoscaling_policy", "", "arn")]);
    assert.equal(policy.autoscaling_group_name, "spotq-workers");
    assert.equal(policy.policy_type, "StepScaling");
    assert.equal(policy.adjustment_type, "ChangeInCapacity");
  });

  it("warms instances up for the boot time, so a standing alarm does not add them twice", () => {
    assert.equal(policy.estimated_instance_warmup, 540);
  });

  it("turns the config's steps into adjacent intervals above the alarm threshold", () => {
    assert.deepEqual(policy.step_adjustment, [
      { metric_interval_lower_bound: "0", metric_interval_upper_bound: "8", scaling_adjustment: 1 },
      { metric_interval_lower_bound: "8", metric_interval_upper_bound: "48", scaling_adjustment: 4 },
      { metric_interval_lower_bound: "48", scaling_adjustment: 20 },
    ]);
  });

  it("adds what the matching step says for a given backlog", () => {
    // What Auto Scaling does with the alarm's value: find the interval holding (backlog - threshold).
    const addFor = (backlog: number) => {
      const d = backlog - (alarm.threshold as number);
      const step = (policy.step_adjustment as { metric_interval_lower_bound: string; metric_interval_upper_bound?: string; scaling_adjustment: number }[]).find(
        (s) => d >= Number(s.metric_interval_lower_bound) && (s.metric_interval_upper_bound === undefined || d < Number(s.metric_interval_upper_bound)),
      );
      return step?.scaling_adjustment ?? 0;
    };
    assert.deepEqual([1, 2, 9, 10, 49, 50, 500].map(addFor), [0, 1, 1, 4, 4, 20, 20]);
  });

  it("works with a single step", () => {
    const one = scalingOf({ scaling: { scaleOutSteps: { any: { backlogAtLeast: 1, addInstances: 2 } } } }).synth;
    assert.deepEqual(one.resource("aws_autoscaling_policy").step_adjustment, [{ metric_interval_lower_bound: "0", scaling_adjustment: 2 }]);
  });

  it("leaves scale-in to the workers: no alarm or policy removes instances", () => {
    for (const p of Object.values(synth.resources("aws_autoscaling_policy")))
      for (const s of p.step_adjustment as { scaling_adjustment: number }[]) assert.ok(s.scaling_adjustment > 0);
    assert.equal(Object.keys(synth.resources("aws_cloudwatch_metric_alarm")).length, 1);
  });
});
