import { AutoscalingPolicy, type AutoscalingPolicyStepAdjustment } from "@cdktf/provider-aws/lib/autoscaling-policy";
import { AutoscalingSchedule } from "@cdktf/provider-aws/lib/autoscaling-schedule";
import { CloudwatchMetricAlarm, type CloudwatchMetricAlarmMetricQuery } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { Construct } from "constructs";
import type { FleetConfig } from "../../core/fleet-config.ts";
import { resourceNames } from "../../core/names.ts";
import type { GroupKind } from "../../core/runtime.ts";
import { onDemandScalingSpec, scalingSpec, type ScalingSpec } from "../../core/scaling/model.ts";
import { queuesSignal, SIGNAL_METRICS, type SignalQuery } from "../../core/scaling/policy.ts";

export interface ScalingProps {
  config: FleetConfig;
  /** The Auto Scaling group's name (a reference, so the policy follows the group). */
  groupName: string;
  /**
   * Which group: `spot` (default) scales on the jobs queue (and the high queue) with the config's
   * policy and schedule; `on-demand` (`scaling.onDemandFallback`) on the On-Demand queue alone, with
   * the deficit policy up to the fallback's `maxSize` and no schedule (`onDemandScalingSpec`).
   */
  kind?: GroupKind;
}

/** One step of the scale-out policy, as the policy sees it: an interval of the alarm's value. */
export interface ScaleOutStep {
  name: string;
  /** Inclusive lower bound of the alarm's value. */
  backlogAtLeast: number;
  /** Exclusive upper bound; absent for the last step. */
  backlogBelow?: number;
  addInstances: number;
}

/**
 * Scale-out as the scaling model (core/scaling/model.ts) decides it: everything below comes from
 * `scalingSpec(config)`, the spec the local fleet and `spotq simulate` run on.
 *
 * - `scaling.policy = "deficit"` (default): a metric-math alarm on the jobs queued or running
 *   without an instance in service (SQS visible + not visible − the group's GroupInServiceInstances;
 *   the group metrics are enabled by the fleet construct) drives a step policy whose steps add
 *   exactly that many instances, with a warmup of two periods.
 * - `"visible"`: an alarm on the queue's visible messages drives the config's steps, warmup = boot.
 * - `"target-tracking"`: AWS's backlog per instance held at `scaling.targetBacklogPerInstance`,
 *   scale-in disabled.
 *
 * No alarm or policy removes instances: scale-in is the workers' own business (idle timeout).
 * `scaling.schedule` becomes one `aws_autoscaling_schedule` per entry.
 */
export class Scaling extends Construct {
  readonly spec: ScalingSpec;
  readonly policy: AutoscalingPolicy;
  /** The alarm of a step policy (target tracking creates and owns its alarms). */
  readonly alarm: CloudwatchMetricAlarm | undefined;
  readonly steps: ScaleOutStep[];
  readonly schedules: AutoscalingSchedule[];

  constructor(scope: Construct, id: string, props: ScalingProps) {
    super(scope, id);
    const { config, groupName } = props;
    const onDemand = props.kind === "on-demand";
    const odSpec = onDemand ? onDemandScalingSpec(config) : undefined;
    if (onDemand && !odSpec) throw new Error("the On-Demand group's scaling needs scaling.onDemandFallback");
    const spec = odSpec ?? scalingSpec(config);
    this.spec = spec;
    const names = resourceNames(config.name);
    // The Spot group serves the jobs queue and, with queue.highPriority, the high queue: every signal
    // sums both. The On-Demand group serves the On-Demand queue alone.
    const queueNames = onDemand ? [names.onDemandQueue] : [names.queue, ...(config.queue.highPriority.enabled ? [names.highQueue] : [])];
    // Names of the On-Demand group's alarm and policy: `<name>-ondemand-...`.
    const prefix = onDemand ? `${config.name}-ondemand` : config.name;
    const dimensionValue = (q: SignalQuery) => (q.queue !== undefined ? queueNames[q.queue]! : groupName);

    this.steps = spec.steps.map((s, i) => {
      const next = spec.steps[i + 1];
      return { name: s.name, backlogAtLeast: s.backlogAtLeast, ...(next ? { backlogBelow: next.backlogAtLeast } : {}), addInstances: s.addInstances };
    });

    if (spec.policy === "target-tracking") {
      const e = queuesSignal("target-tracking", queueNames.length);
      this.policy = new AutoscalingPolicy(this, "scale-out", {
        name: `${prefix}-scale-out-on-backlog-per-instance`,
        autoscalingGroupName: groupName,
        policyType: "TargetTrackingScaling",
        estimatedInstanceWarmup: spec.warmupSeconds,
        targetTrackingConfiguration: {
          targetValue: spec.targetBacklogPerInstance,
          // Workers leave by themselves when idle: the policy only adds.
          disableScaleIn: true,
          customizedMetricSpecification: {
            metrics: [
              ...e.queries.map((q) => ({
                id: q.id,
                returnData: false,
                metricStat: {
                  metric: { namespace: SIGNAL_METRICS[q.metric].namespace, metricName: SIGNAL_METRICS[q.metric].metricName, dimensions: [{ name: SIGNAL_METRICS[q.metric].dimension, value: dimensionValue(q) }] },
                  stat: SIGNAL_METRICS[q.metric].stat,
                },
              })),
              // Only the final expression returns data.
              { id: "backlog_per_instance", expression: e.expression, label: e.label, returnData: true },
            ],
          },
        },
      });
      this.alarm = undefined;
    } else {
      const threshold = spec.threshold;
      this.policy = new AutoscalingPolicy(this, "scale-out", {
        name: `${prefix}-scale-out-on-${spec.policy === "deficit" ? "backlog-deficit" : "backlog"}`,
        autoscalingGroupName: groupName,
        policyType: "StepScaling",
        adjustmentType: "ChangeInCapacity",
        metricAggregationType: "Maximum",
        estimatedInstanceWarmup: spec.warmupSeconds,
        stepAdjustment: this.steps.map((s): AutoscalingPolicyStepAdjustment => ({
          // Bounds are relative to the alarm threshold; the lower bound is inclusive, the upper exclusive.
          metricIntervalLowerBound: String(s.backlogAtLeast - threshold),
          ...(s.backlogBelow !== undefined ? { metricIntervalUpperBound: String(s.backlogBelow - threshold) } : {}),
          scalingAdjustment: s.addInstances,
        })),
      });
      const common = {
        period: spec.periodSeconds,
        evaluationPeriods: spec.evaluationPeriods,
        threshold,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        // An idle queue may publish nothing: that is no backlog.
        treatMissingData: "notBreaching",
        alarmActions: [this.policy.arn],
      };
      if (spec.policy === "deficit") {
        const queries = metricMath(queuesSignal("deficit", queueNames.length), "deficit", dimensionValue, spec.periodSeconds);
        this.alarm = new CloudwatchMetricAlarm(this, "backlog", {
          alarmName: `${prefix}-backlog-deficit`,
          alarmDescription: `spotq/${config.name}: jobs${onDemand ? " on the On-Demand queue" : ""} are queued or running without an instance in service; the step policy adds that many${onDemand ? " On-Demand instances" : ""} (up to ${spec.maxSize})`,
          evaluationPeriods: common.evaluationPeriods,
          threshold: common.threshold,
          comparisonOperator: common.comparisonOperator,
          treatMissingData: common.treatMissingData,
          alarmActions: common.alarmActions,
          metricQuery: queries,
        });
      } else {
        const steps = this.steps.map((s) => `${s.name}: backlog >= ${s.backlogAtLeast} adds ${s.addInstances}`).join("; ");
        const description = `spotq/${config.name}: jobs are waiting; scales the workers out (${steps})`;
        this.alarm =
          queueNames.length === 1
            ? new CloudwatchMetricAlarm(this, "backlog", {
                alarmName: `${config.name}-backlog`,
                alarmDescription: description,
                namespace: "AWS/SQS",
                metricName: "ApproximateNumberOfMessagesVisible",
                dimensions: { QueueName: names.queue },
                statistic: "Maximum",
                ...common,
              })
            : new CloudwatchMetricAlarm(this, "backlog", {
                alarmName: `${config.name}-backlog`,
                alarmDescription: description,
                evaluationPeriods: common.evaluationPeriods,
                threshold: common.threshold,
                comparisonOperator: common.comparisonOperator,
                treatMissingData: common.treatMissingData,
                alarmActions: common.alarmActions,
                metricQuery: metricMath(queuesSignal("visible", queueNames.length), "backlog", dimensionValue, spec.periodSeconds),
              });
      }
    }

    // -1 leaves a size unchanged (aws_autoscaling_schedule's own convention).
    this.schedules = spec.schedule.map(
      (e) =>
        new AutoscalingSchedule(this, `schedule-${e.name}`, {
          scheduledActionName: `${config.name}-${e.name}`,
          autoscalingGroupName: groupName,
          recurrence: e.recurrence,
          timeZone: e.timeZone ?? "Etc/UTC",
          minSize: e.minSize ?? -1,
          maxSize: e.maxSize ?? -1,
          desiredCapacity: e.desiredCapacity ?? -1,
        }),
    );
  }
}

/** A metric-math alarm's queries: each metric, then the expression (in such an alarm only the final expression returns data). */
function metricMath(
  e: { queries: SignalQuery[]; expression: string; label: string },
  id: string,
  dimensionValue: (q: SignalQuery) => string,
  periodSeconds: number,
): CloudwatchMetricAlarmMetricQuery[] {
  return [
    ...e.queries.map((q) => ({
      id: q.id,
      returnData: false,
      metric: {
        namespace: SIGNAL_METRICS[q.metric].namespace,
        metricName: SIGNAL_METRICS[q.metric].metricName,
        dimensions: { [SIGNAL_METRICS[q.metric].dimension]: dimensionValue(q) },
        stat: SIGNAL_METRICS[q.metric].stat,
        period: periodSeconds,
      },
    })),
    { id, expression: e.expression, label: e.label, returnData: true },
  ];
}
