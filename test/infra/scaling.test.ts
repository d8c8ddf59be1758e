import assert from "node:assert/strict";
import { AutoscalingSchedule } from "@cdktf/provider-aws/lib/autoscaling-schedule";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { scalingSpec } from "../../core/scaling/model.ts";
import { signalValue, stepFor, type MetricSample } from "../../core/scaling/policy.ts";
import { Scaling } from "../../infra/constructs/scaling.ts";
import { assertHasResource, synthScope, testConfig } from "./support/synth.ts";

function scalingOf(overrides: Parameters<typeof testConfig>[0] = {}) {
  const config = testConfig(overrides);
  let scaling: Scaling | undefined;
  const synth = synthScope((scope) => {
    scaling = new Scaling(scope, "scaling", { config, groupName: "spotq-workers" });
  });
  return { synth, scaling: scaling!, config };
}

type Query = { id: string; expression?: string; return_data?: boolean; metric?: { namespace: string; metric_name: string; dimensions: Record<string, string>; stat: string; period: number } };
type StepAdjustment = { metric_interval_lower_bound: string; metric_interval_upper_bound?: string; scaling_adjustment: number };

/**
 * CloudWatch metric math, enough of it to evaluate what infra synthesizes: numbers, ids, + - * /,
 * comparisons, FILL(m, v) and IF(c, a, b), with a missing metric as undefined.
 */
function evaluateMetricMath(expression: string, values: Record<string, number | undefined>): number | undefined {
  const tokens = expression.match(/\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*|[-+*/(),<>]/g) ?? [];
  let i = 0;
  const peek = () => tokens[i];
  const take = (t?: string) => {
    const got = tokens[i++];
    if (t !== undefined && got !== t) throw new Error(`expected ${t}, got ${got} in ${expression}`);
    return got!;
  };
  type V = number | undefined;
  const bin = (a: V, b: V, f: (x: number, y: number) => number): V => (a === undefined || b === undefined ? undefined : f(a, b));
  const primary = (): V => {
    const t = take();
    if (t === "(") {
      const v = comparison();
      take(")");
      return v;
    }
    if (/^\d/.test(t)) return Number(t);
    if (t === "FILL") {
      take("(");
      const v = comparison();
      take(",");
      const fill = comparison();
      take(")");
      return v ?? fill;
    }
    if (t === "IF") {
      take("(");
      const c = comparison();
      take(",");
      const a = comparison();
      take(",");
      const b = comparison();
      take(")");
      return c ? a : b;
    }
    if (!(t in values)) throw new Error(`unknown id ${t} in ${expression}`);
    return values[t];
  };
  const term = (): V => {
    let v = primary();
    while (peek() === "*" || peek() === "/") v = take() === "*" ? bin(v, primary(), (x, y) => x * y) : bin(v, primary(), (x, y) => x / y);
    return v;
  };
  const sum = (): V => {
    let v = term();
    while (peek() === "+" || peek() === "-") v = take() === "+" ? bin(v, term(), (x, y) => x + y) : bin(v, term(), (x, y) => x - y);
    return v;
  };
  const comparison = (): V => {
    const v = sum();
    if (peek() === ">" || peek() === "<") return take() === ">" ? bin(v, sum(), (x, y) => Number(x > y)) : bin(v, sum(), (x, y) => Number(x < y));
    return v;
  };
  const v = comparison();
  if (i !== tokens.length) throw new Error(`trailing ${tokens.slice(i).join(" ")} in ${expression}`);
  return v;
}

const SAMPLES: MetricSample[] = [
  { visible: 10, notVisible: 0, pending: 0, inService: 0 },
  { visible: 3, notVisible: 4, pending: 2, inService: 5 },
  { visible: 0, notVisible: 2, pending: 0, inService: 1 },
  { visible: undefined, notVisible: undefined, pending: 0, inService: 2 },
  { visible: 7, notVisible: undefined, pending: 1, inService: 0 },
];

describe("infra/constructs/scaling: alarms and policies from the scaling model", () => {
  describe('scaling.policy "deficit" (the default)', () => {
    const { synth, config } = scalingOf({ fleet: { bootSeconds: 540, maxSize: 6 }, scaling: { periodSeconds: 120, evaluationPeriods: 2 } });
    const alarm = synth.resource("aws_cloudwatch_metric_alarm");
    const policy = synth.resource("aws_autoscaling_policy");
    const queries = alarm.metric_query as Query[];

    it("alarms through metric math on the queue's visible and in-flight messages and the group's in-service instances", () => {
      assert.deepEqual(
        queries.filter((q) => q.metric).map((q) => [q.id, q.metric!.namespace, q.metric!.metric_name, q.metric!.dimensions, q.metric!.stat, q.metric!.period, q.return_data]),
        [
          ["visible", "AWS/SQS", "ApproximateNumberOfMessagesVisible", { QueueName: "spotq-jobs" }, "Maximum", 120, false],
          ["inflight", "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", { QueueName: "spotq-jobs" }, "Maximum", 120, false],
          ["inservice", "AWS/AutoScaling", "GroupInServiceInstances", { AutoScalingGroupName: "spotq-workers" }, "Minimum", 120, false],
        ],
      );
      assertHasResource(synth, CloudwatchMetricAlarm, {
        alarm_name: "spotq-backlog-deficit",
        evaluation_periods: 2,
        threshold: 1,
        comparison_operator: "GreaterThanOrEqualToThreshold",
        treat_missing_data: "notBreaching",
      });
      assert.equal(alarm.metric_name, undefined, "a metric-math alarm names no single metric");
    });

    it("returns data only from the final expression (CloudWatch's rule for metric-math alarms)", () => {
      assert.deepEqual(
        queries.filter((q) => q.return_data).map((q) => q.id),
        ["deficit"],
      );
      assert.equal(queries[queries.length - 1]!.id, "deficit");
    });

    it("computes what the model computes, for every sample (the expression evaluated, not eyeballed)", () => {
      const expression = queries.find((q) => q.id === "deficit")!.expression!;
      for (const s of SAMPLES)
        assert.equal(evaluateMetricMath(expression, { visible: s.visible, inflight: s.notVisible, inservice: s.inService }), signalValue("deficit", s), JSON.stringify(s));
    });

    it("adds exactly the deficit, one step per value up to max size, warmed up for two periods", () => {
      assert.equal(policy.policy_type, "StepScaling");
      assert.equal(policy.adjustment_type, "ChangeInCapacity");
      assert.equal(policy.estimated_instance_warmup, 240);
      assert.equal(policy.autoscaling_group_name, "spotq-workers");
      assert.deepEqual(alarm.alarm_actions, [synth.ref("aws_autoscaling_policy", "", "arn")]);
      const steps = policy.step_adjustment as StepAdjustment[];
      // What Auto Scaling does with the alarm's value: the interval holding (value - threshold).
      const addFor = (v: number) =>
        steps.find((s) => v - 1 >= Number(s.metric_interval_lower_bound) && (s.metric_interval_upper_bound === undefined || v - 1 < Number(s.metric_interval_upper_bound)))?.scaling_adjustment ?? 0;
      assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 40].map(addFor), [1, 2, 3, 4, 5, 6, 6, 6]);
      // The synthesized steps are the model's.
      const model = scalingSpec(config);
      for (let v = 1; v <= 10; v++) assert.equal(addFor(v), stepFor(model.steps, v)!.addInstances);
    });

    it("stays within 20 step adjustments for a large group", () => {
      const big = scalingOf({ fleet: { maxSize: 500 } }).synth.resource("aws_autoscaling_policy");
      assert.ok((big.step_adjustment as StepAdjustment[]).length <= 20);
    });
  });

  describe('scaling.policy "visible"', () => {
    const { synth } = scalingOf({
      fleet: { bootSeconds: 540 },
      scaling: {
        policy: "visible",
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
        statistic: "Maximum",
        period: 120,
        evaluation_periods: 2,
        comparison_operator: "GreaterThanOrEqualToThreshold",
        threshold: 2,
        treat_missing_data: "notBreaching",
      });
      assert.deepEqual(alarm.alarm_actions, [synth.ref("aws_autoscaling_policy", "", "arn")]);
    });

    it("warms instances up for the boot time and turns the steps into adjacent intervals above the threshold", () => {
      assert.equal(policy.estimated_instance_warmup, 540);
      assert.deepEqual(policy.step_adjustment, [
        { metric_interval_lower_bound: "0", metric_interval_upper_bound: "8", scaling_adjustment: 1 },
        { metric_interval_lower_bound: "8", metric_interval_upper_bound: "48", scaling_adjustment: 4 },
        { metric_interval_lower_bound: "48", scaling_adjustment: 20 },
      ]);
    });

    it("works with a single step", () => {
      const one = scalingOf({ scaling: { policy: "visible", scaleOutSteps: { any: { backlogAtLeast: 1, addInstances: 2 } } } }).synth;
      assert.deepEqual(one.resource("aws_autoscaling_policy").step_adjustment, [{ metric_interval_lower_bound: "0", scaling_adjustment: 2 }]);
    });
  });

  describe('scaling.policy "target-tracking"', () => {
    const { synth } = scalingOf({ fleet: { bootSeconds: 300 }, scaling: { policy: "target-tracking", targetBacklogPerInstance: 0.5 } });
    const policy = synth.resource("aws_autoscaling_policy");
    const tt = policy.target_tracking_configuration;
    const metrics = tt.customized_metric_specification.metrics as { id: string; expression?: string; return_data: boolean; metric_stat?: { stat: string; metric: { namespace: string; metric_name: string; dimensions: { name: string; value: string }[] } } }[];

    it("holds AWS's backlog per instance at the target, with scale-in disabled and no alarm of its own", () => {
      assert.equal(policy.policy_type, "TargetTrackingScaling");
      assert.equal(tt.target_value, 0.5);
      assert.equal(tt.disable_scale_in, true);
      assert.equal(policy.estimated_instance_warmup, 300);
      assert.deepEqual(synth.resources("aws_cloudwatch_metric_alarm"), {});
    });

    it("divides the visible messages by the instances in service; only the final expression returns data", () => {
      assert.deepEqual(
        metrics.filter((m) => m.metric_stat).map((m) => [m.id, m.metric_stat!.metric.metric_name, m.metric_stat!.metric.dimensions, m.return_data]),
        [
          ["visible", "ApproximateNumberOfMessagesVisible", [{ name: "QueueName", value: "spotq-jobs" }], false],
          ["inservice", "GroupInServiceInstances", [{ name: "AutoScalingGroupName", value: "spotq-workers" }], false],
        ],
      );
      assert.deepEqual(
        metrics.filter((m) => m.return_data).map((m) => m.id),
        ["backlog_per_instance"],
      );
      const expression = metrics[metrics.length - 1]!.expression!;
      for (const s of SAMPLES) assert.equal(evaluateMetricMath(expression, { visible: s.visible, inservice: s.inService }), signalValue("target-tracking", s), JSON.stringify(s));
    });
  });

  describe("scaling.schedule", () => {
    const { synth } = scalingOf({
      scaling: {
        schedule: {
          "clinic-open": { recurrence: "30 7 * * MON-FRI", timeZone: "Europe/Berlin", minSize: 2 },
          "clinic-close": { recurrence: "0 19 * * MON-FRI", timeZone: "Europe/Berlin", minSize: 0, desiredCapacity: 0 },
          nights: { recurrence: "0 1 * * *", maxSize: 20 },
        },
      },
    });

    it("becomes one aws_autoscaling_schedule per entry, leaving unset sizes unchanged (-1)", () => {
      assertHasResource(synth, AutoscalingSchedule, {
        scheduled_action_name: "spotq-clinic-open",
        autoscaling_group_name: "spotq-workers",
        recurrence: "30 7 * * MON-FRI",
        time_zone: "Europe/Berlin",
        min_size: 2,
        max_size: -1,
        desired_capacity: -1,
      });
      assertHasResource(synth, AutoscalingSchedule, { scheduled_action_name: "spotq-clinic-close", min_size: 0, max_size: -1, desired_capacity: 0 });
      assertHasResource(synth, AutoscalingSchedule, { scheduled_action_name: "spotq-nights", time_zone: "Etc/UTC", min_size: -1, max_size: 20, desired_capacity: -1 });
      assert.equal(Object.keys(synth.resources("aws_autoscaling_schedule")).length, 3);
    });

    it("raises the deficit steps to the largest max size a schedule sets", () => {
      const steps = synth.resource("aws_autoscaling_policy").step_adjustment as StepAdjustment[];
      assert.equal(steps[steps.length - 1]!.scaling_adjustment, 20);
    });

    it("synthesizes none without a schedule", () => {
      assert.deepEqual(scalingOf().synth.resources("aws_autoscaling_schedule"), {});
    });
  });

  it("leaves scale-in to the workers: no alarm or policy removes instances", () => {
    for (const policy of ["deficit", "visible"] as const) {
      const { synth } = scalingOf({ scaling: { policy } });
      for (const p of Object.values(synth.resources("aws_autoscaling_policy")))
        for (const s of p.step_adjustment as StepAdjustment[]) assert.ok(s.scaling_adjustment > 0);
      assert.equal(Object.keys(synth.resources("aws_cloudwatch_metric_alarm")).length, 1);
    }
  });
});
