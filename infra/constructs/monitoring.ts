import { CloudwatchDashboard } from "@cdktf/provider-aws/lib/cloudwatch-dashboard";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { CloudwatchMetricAlarm, type CloudwatchMetricAlarmConfig } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { Construct } from "constructs";
import type { FleetConfig } from "../../core/fleet-config.ts";
import { METRIC_DIMENSION, METRIC_NAMESPACE, METRICS, resourceNames } from "../../core/names.ts";
import { dashboardBody } from "./dashboard.ts";
import { policyDocument, policyJson } from "./policy-document.ts";
import type { AwsEnv } from "./refs.ts";

/** Period of the operational alarms: five minutes of evidence before anyone is paged. */
const ALARM_PERIOD_SECONDS = 300;

export interface MonitoringProps {
  config: FleetConfig;
  env: AwsEnv;
  /** The API Lambda's function name and the REST API's name and stage, for the dashboard and the API alarm. */
  api: { functionName: string; apiName: string; stage: string };
}

/** The alarms that notify, by name. */
export type AlarmName = "dlq-not-empty" | "oldest-job-age" | "jobs-failed" | "api-errors" | "api-5xx" | "bootstrap-failed" | "worker-crash-loop";

/**
 * What Auto Scaling reports about the group that needs a person: launches that fail (capacity,
 * quota, a bad launch template; Auto Scaling suspends a group after about a day of them),
 * terminations that fail, and instance refreshes that fail.
 */
export const FLEET_EVENT_TYPES = ["EC2 Instance Launch Unsuccessful", "EC2 Instance Terminate Unsuccessful", "EC2 Auto Scaling Instance Refresh Failed"] as const;

/**
 * What tells an operator something is wrong: alarms on a DLQ holding messages, a job waiting
 * longer than the threshold, failed jobs, API errors and 5xx answers, failed boots and crash
 * loops, and Auto Scaling's own failed launches, terminations and refreshes (EventBridge), all
 * notifying an encrypted SNS topic (with an optional email subscription); and a dashboard of
 * backlog, instances, job durations, failures, interruptions, boots and the API.
 */
export class Monitoring extends Construct {
  readonly topic: SnsTopic;
  readonly topicKey: KmsKey;
  readonly alarms: Record<AlarmName, CloudwatchMetricAlarm>;
  readonly dashboard: CloudwatchDashboard;
  readonly dashboardUrl: string;
  readonly emailSubscription?: SnsTopicSubscription;
  readonly topicPolicy: SnsTopicPolicy;
  /** EventBridge rule for the group's failed launches, terminations and refreshes, sent to the topic. */
  readonly fleetEvents: CloudwatchEventRule;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { config, env } = props;
    const names = resourceNames(config.name);

    // CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key (its policy cannot
    // be changed), so the topic gets a key of its own that lets CloudWatch in, for this account only.
    this.topicKey = new KmsKey(this, "topic-key", {
      description: `spotq/${config.name}: encrypts the alarm topic`,
      enableKeyRotation: true,
      deletionWindowInDays: 7,
      policy: policyJson(
        policyDocument(
          {
            Sid: "AccountAdministers",
            Effect: "Allow",
            Principal: { AWS: `arn:${env.partition}:iam::${env.accountId}:root` },
            Action: "kms:*",
            Resource: "*",
          },
          {
            Sid: "CloudWatchAlarmsPublish",
            Effect: "Allow",
            Principal: { Service: "cloudwatch.amazonaws.com" },
            Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
            Resource: "*",
            Condition: { StringEquals: { "aws:SourceAccount": env.accountId } },
          },
          {
            // What AWS documents for an EventBridge target topic under a customer managed key.
            Sid: "EventBridgePublishes",
            Effect: "Allow",
            Principal: { Service: "events.amazonaws.com" },
            Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
            Resource: "*",
          },
        ),
      ),
    });
    new KmsAlias(this, "topic-key-alias", { name: `alias/${config.name}-alarms`, targetKeyId: this.topicKey.keyId });
    this.topic = new SnsTopic(this, "topic", { name: `${config.name}-alarms`, kmsMasterKeyId: this.topicKey.arn });
    if (config.monitoring.alarmEmail)
      this.emailSubscription = new SnsTopicSubscription(this, "email", { topicArn: this.topic.arn, protocol: "email", endpoint: config.monitoring.alarmEmail });

    // Auto Scaling's failures of the group, to the topic as one readable line each.
    this.fleetEvents = new CloudwatchEventRule(this, "fleet-events", {
      name: `${config.name}-fleet-events`,
      description: `spotq/${config.name}: failed launches, terminations and instance refreshes of ${names.group}`,
      eventPattern: JSON.stringify({ source: ["aws.autoscaling"], "detail-type": FLEET_EVENT_TYPES, detail: { AutoScalingGroupName: [names.group] } }),
    });
    new CloudwatchEventTarget(this, "fleet-events-to-topic", {
      rule: this.fleetEvents.name,
      arn: this.topic.arn,
      inputTransformer: {
        inputPaths: { type: "$.detail-type", group: "$.detail.AutoScalingGroupName", instance: "$.detail.EC2InstanceId", status: "$.detail.StatusMessage", cause: "$.detail.Cause" },
        inputTemplate: `"spotq/${config.name}: <type> in <group> (instance <instance>): <status> Cause: <cause>"`,
      },
    });
    // Replaces the default topic policy: the account keeps its rights, CloudWatch alarms of this
    // account and this EventBridge rule may publish, nobody else.
    this.topicPolicy = new SnsTopicPolicy(this, "topic-policy", {
      arn: this.topic.arn,
      policy: policyJson(
        policyDocument(
          {
            Sid: "AccountOwnsTopic",
            Effect: "Allow",
            Principal: { AWS: `arn:${env.partition}:iam::${env.accountId}:root` },
            Action: ["sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:Publish", "sns:DeleteTopic"],
            Resource: this.topic.arn,
          },
          {
            Sid: "CloudWatchAlarmsPublish",
            Effect: "Allow",
            Principal: { Service: "cloudwatch.amazonaws.com" },
            Action: "sns:Publish",
            Resource: this.topic.arn,
            Condition: { StringEquals: { "aws:SourceAccount": env.accountId } },
          },
          {
            Sid: "FleetEventsPublish",
            Effect: "Allow",
            Principal: { Service: "events.amazonaws.com" },
            Action: "sns:Publish",
            Resource: this.topic.arn,
            Condition: { ArnEquals: { "aws:SourceArn": this.fleetEvents.arn } },
          },
        ),
      ),
    });

    const notify = { alarmActions: [this.topic.arn], okActions: [this.topic.arn] };
    const alarm = (key: AlarmName, settings: Omit<CloudwatchMetricAlarmConfig, "alarmName" | "evaluationPeriods" | "period">) =>
      new CloudwatchMetricAlarm(this, key, {
        alarmName: `${config.name}-${key}`,
        period: ALARM_PERIOD_SECONDS,
        evaluationPeriods: 1,
        treatMissingData: "notBreaching",
        ...notify,
        ...settings,
      });
    const sqsMax = (id: string, metricName: string) => ({
      id,
      metric: { namespace: "AWS/SQS", metricName, dimensions: { QueueName: names.dlq }, stat: "Maximum", period: ALARM_PERIOD_SECONDS },
    });
    this.alarms = {
      // Messages waiting or being read (a redrive in progress) both count: the alarm clears only
      // when a datapoint shows the DLQ empty. SQS publishes nothing for an idle queue, so missing
      // data keeps the state it has instead of reading as "empty".
      "dlq-not-empty": new CloudwatchMetricAlarm(this, "dlq-not-empty", {
        alarmName: `${config.name}-dlq-not-empty`,
        alarmDescription: `spotq/${config.name}: jobs are in the dead-letter queue ${names.dlq} (their records say why); clears when it is empty`,
        evaluationPeriods: 1,
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        treatMissingData: "ignore",
        metricQuery: [
          sqsMax("visible", "ApproximateNumberOfMessagesVisible"),
          sqsMax("inflight", "ApproximateNumberOfMessagesNotVisible"),
          { id: "messages", expression: "visible + inflight", label: "messages in the DLQ", returnData: true },
        ],
        ...notify,
      }),
      "oldest-job-age": alarm("oldest-job-age", {
        alarmDescription: `spotq/${config.name}: a job has waited more than ${config.monitoring.oldestMessageAlarmSeconds} s in ${names.queue} (no capacity? workers failing?)`,
        namespace: "AWS/SQS",
        metricName: "ApproximateAgeOfOldestMessage",
        dimensions: { QueueName: names.queue },
        statistic: "Maximum",
        threshold: config.monitoring.oldestMessageAlarmSeconds,
        comparisonOperator: "GreaterThanThreshold",
      }),
      "jobs-failed": alarm("jobs-failed", {
        alarmDescription: `spotq/${config.name}: jobs failed after their last attempt`,
        namespace: METRIC_NAMESPACE,
        metricName: METRICS.jobsFailed,
        dimensions: { [METRIC_DIMENSION]: config.name },
        statistic: "Sum",
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
      }),
      "api-errors": alarm("api-errors", {
        alarmDescription: `spotq/${config.name}: the API Lambda ${props.api.functionName} threw errors`,
        namespace: "AWS/Lambda",
        metricName: "Errors",
        dimensions: { FunctionName: props.api.functionName },
        statistic: "Sum",
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
      }),
      // The handler answers 503 when a dependency fails (Lambda Errors stays 0): API Gateway counts those.
      "api-5xx": alarm("api-5xx", {
        alarmDescription: `spotq/${config.name}: the API ${props.api.apiName} answered 5xx (a dependency failing, or the Lambda itself)`,
        namespace: "AWS/ApiGateway",
        metricName: "5XXError",
        dimensions: { ApiName: props.api.apiName, Stage: props.api.stage },
        statistic: "Sum",
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
      }),
      "bootstrap-failed": alarm("bootstrap-failed", {
        alarmDescription: `spotq/${config.name}: an instance failed to boot and left; its evidence is in ${names.bootLogGroup} (the boot breaker trips after ${config.fleet.bootBreaker.failures} in ${config.fleet.bootBreaker.windowSeconds} s)`,
        namespace: METRIC_NAMESPACE,
        metricName: METRICS.bootstrapFailed,
        dimensions: { [METRIC_DIMENSION]: config.name },
        statistic: "Sum",
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
      }),
      "worker-crash-loop": alarm("worker-crash-loop", {
        alarmDescription: `spotq/${config.name}: a worker crashed more than its service restarts it and its instance left; see ${names.bootLogGroup} (stream <instance>/service)`,
        namespace: METRIC_NAMESPACE,
        metricName: METRICS.workerCrashLoop,
        dimensions: { [METRIC_DIMENSION]: config.name },
        statistic: "Sum",
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
      }),
    };

    const dashboardName = config.name;
    this.dashboard = new CloudwatchDashboard(this, "dashboard", {
      dashboardName,
      dashboardBody: JSON.stringify(
        dashboardBody({
          region: env.region,
          deployment: config.name,
          queueName: names.queue,
          dlqName: names.dlq,
          groupName: names.group,
          apiFunctionName: props.api.functionName,
          apiName: props.api.apiName,
          apiStage: props.api.stage,
          alarmArns: Object.values(this.alarms).map((a) => a.arn),
        }),
      ),
    });
    this.dashboardUrl = `https://${consoleHost(env)}/cloudwatch/home?region=${env.region}#dashboards:name=${dashboardName}`;
  }
}

function consoleHost(env: AwsEnv): string {
  if (env.partition === "aws-cn") return "console.amazonaws.cn";
  if (env.partition === "aws-us-gov") return "console.amazonaws-us-gov.com";
  return `${env.region}.console.aws.amazon.com`;
}
