import { AutoscalingPolicy, type AutoscalingPolicyStepAdjustment } from "@cdktf/provider-aws/lib/autoscaling-policy";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { Construct } from "constructs";
import { orderedSteps, type FleetConfig } from "../../core/fleet-config.ts";
import { resourceNames } from "../../core/names.ts";

export interface ScalingProps {
  config: FleetConfig;
  /** The Auto Scaling group's name (a reference, so the policy follows the group). */
  groupName: string;
}

/** One step of the scale-out policy, as the policy sees it: an interval of backlog above the alarm threshold. */
export interface ScaleOutStep {
  name: string;
  /** Inclusive lower bound of the backlog (visible messages). */
  backlogAtLeast: number;
  /** Exclusive upper bound; absent for the last step. */
  backlogBelow?: number;
  addInstances: number;
}

/**
 * Scale-out on the queue backlog, as in the AWS spot-worker pattern: a CloudWatch alarm on the
 * jobs queue's visible messages (at the lowest step's threshold, over the configured period and
 * evaluation periods) drives a step-scaling policy whose steps come from the config. Its
 * estimated warmup is the instance boot time, so a standing alarm does not count instances still
 * booting as missing and add them twice. Scale-in is the workers' own business (idle timeout).
 */
export class Scaling extends Construct {
  readonly policy: AutoscalingPolicy;
  readonly alarm: CloudwatchMetricAlarm;
  readonly steps: ScaleOutStep[];

  constructor(scope: Construct, id: string, props: ScalingProps) {
    super(scope, id);
    const { config } = props;
    const ordered = orderedSteps(config);
    this.steps = ordered.map((s, i) => {
      const next = ordered[i + 1];
      return { name: s.name, backlogAtLeast: s.backlogAtLeast, ...(next ? { backlogBelow: next.backlogAtLeast } : {}), addInstances: s.addInstances };
    });
    const threshold = ordered[0]!.backlogAtLeast;
    this.policy = new AutoscalingPolicy(this, "scale-out", {
      name: `${config.name}-scale-out-on-backlog`,
      autoscalingGroupName: props.groupName,
      policyType: "StepScaling",
      adjustmentType: "ChangeInCapacity",
      metricAggregationType: "Maximum",
      estimatedInstanceWarmup: config.fleet.bootSeconds,
      stepAdjustment: this.steps.map((s): AutoscalingPolicyStepAdjustment => ({
        // Bounds are relative to the alarm threshold; the lower bound is inclusive, the upper exclusive.
        metricIntervalLowerBound: String(s.backlogAtLeast - threshold),
        ...(s.backlogBelow !== undefined ? { metricIntervalUpperBound: String(s.backlogBelow - threshold) } : {}),
        scalingAdjustment: s.addInstances,
      })),
    });
    const steps = this.steps.map((s) => `${s.name}: backlog >= ${s.backlogAtLeast} adds ${s.addInstances}`).join("; ");
    this.alarm = new CloudwatchMetricAlarm(this, "backlog", {
      alarmName: `${config.name}-backlog`,
      alarmDescription: `spotq/${config.name}: jobs are waiting; scales the workers out (${steps})`,
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: resourceNames(config.name).queue },
      statistic: "Maximum",
      period: config.scaling.periodSeconds,
      evaluationPeriods: config.scaling.evaluationPeriods,
      threshold,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
      // An idle queue may publish nothing: that is no backlog.
      treatMissingData: "notBreaching",
      alarmActions: [this.policy.arn],
    });
  }
}
