import { CloudwatchDashboard } from "@cdktf/provider-aws/lib/cloudwatch-dashboard";
import { CloudwatchMetricAlarm, type CloudwatchMetricAlarmConfig } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
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
export type AlarmName = "dlq-not-empty" | "oldest-job-age" | "jobs-failed" | "api-errors";

/**
 * What tells an operator something is wrong: alarms on a non-empty DLQ, a job waiting longer than
 * the threshold, failed jobs and API errors, all notifying an encrypted SNS topic (with an
 * optional email subscription); and a dashboard of backlog, instances, job durations, failures,
 * interruptions and the API.
 */
export class Monitoring extends Construct {
  readonly topic: SnsTopic;
  readonly topicKey: KmsKey;
  readonly alarms: Record<AlarmName, CloudwatchMetricAlarm>;
  readonly dashboard: CloudwatchDashboard;
  readonly dashboardUrl: string;
  readonly emailSubscription?: SnsTopicSubscription;

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
        ),
      ),
    });
    new KmsAlias(this, "topic-key-alias", { name: `alias/${config.name}-alarms`, targetKeyId: this.topicKey.keyId });
    this.topic = new SnsTopic(this, "topic", { name: `${config.name}-alarms`, kmsMasterKeyId: this.topicKey.arn });
    if (config.monitoring.alarmEmail)
      this.emailSubscription = new SnsTopicSubscription(this, "email", { topicArn: this.topic.arn, protocol: "email", endpoint: config.monitoring.alarmEmail });

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
    this.alarms = {
      "dlq-not-empty": alarm("dlq-not-empty", {
        alarmDescription: `spotq/${config.name}: jobs reached the dead-letter queue ${names.dlq} (their records say why)`,
        namespace: "AWS/SQS",
        metricName: "ApproximateNumberOfMessagesVisible",
        dimensions: { QueueName: names.dlq },
        statistic: "Maximum",
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
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
