import { existsSync } from "node:fs";
import { join } from "node:path";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { Construct } from "constructs";
import { ValidationError } from "../../core/errors.ts";
import type { FleetConfig } from "../../core/fleet-config.ts";
import { BREAKER_TAG, GROUP_TAG, METRIC_DIMENSION, METRIC_NAMESPACE, METRICS, resourceNames } from "../../core/names.ts";
import { BUNDLE_FILES, LAMBDA_HANDLER } from "../bundling.ts";
import { AssetType, Fn, TerraformAsset } from "../cdktf.ts";
import { BREAKER_ENV } from "./boot-breaker-env.ts";
import { assumeRolePolicy, policyDocument, policyJson, type PolicyDocument } from "./policy-document.ts";
import type { AwsEnv, GroupRef, LogGroupRef } from "./refs.ts";

export interface BootBreakerProps {
  config: FleetConfig;
  env: AwsEnv;
  group: GroupRef;
  /** The alarm topic the breaker publishes to, and the KMS key that encrypts it. */
  topic: { arn: string };
  topicKeyArn: string;
  /** Folder holding the esbuild bundle of boot-breaker-handler.ts (`index.mjs`). */
  bundleDir: string;
}

/**
 * The boot breaker (CONTRACTS §6, DESIGN §5): a CloudWatch alarm on the fleet's `BootstrapFailed`
 * metric (Sum >= fleet.bootBreaker.failures over one period of windowSeconds) whose action invokes
 * a small Lambda that suspends the group's Launch process, tags the group with why, and publishes
 * to the alarm topic. A boot that fails then stops the fleet instead of relaunching forever.
 *
 * The period is clock-aligned (a tumbling window, as CloudWatch periods are), so failures that
 * straddle two periods can reach 2 × (failures − 1) before it trips; the local fleet's BootBreaker
 * uses a sliding window. Either way the loop is bounded.
 */
export class BootBreaker extends Construct {
  readonly alarm: CloudwatchMetricAlarm;
  readonly function: LambdaFunction;
  readonly role: IamRole;
  readonly rolePolicy: IamRolePolicy;
  readonly logGroup: CloudwatchLogGroup;
  readonly functionName: string;

  constructor(scope: Construct, id: string, props: BootBreakerProps) {
    super(scope, id);
    const { config, env } = props;
    const names = resourceNames(config.name);
    const b = config.fleet.bootBreaker;
    this.functionName = names.bootBreakerFunction;
    if (!existsSync(join(props.bundleDir, BUNDLE_FILES.breaker)))
      throw new ValidationError("cannot package the boot breaker", [
        { field: "breakerBundleDir", reason: `${props.bundleDir} holds no ${BUNDLE_FILES.breaker}: bundle infra/constructs/boot-breaker-handler.ts first (infra/bundling.ts)` },
      ]);

    this.logGroup = new CloudwatchLogGroup(this, "logs", { name: `/aws/lambda/${this.functionName}`, retentionInDays: config.monitoring.logRetentionDays });
    this.role = new IamRole(this, "role", {
      name: this.functionName,
      description: `spotq/${config.name}: the boot breaker Lambda`,
      assumeRolePolicy: policyJson(assumeRolePolicy("lambda.amazonaws.com", env.accountId)),
    });
    this.rolePolicy = new IamRolePolicy(this, "role-policy", {
      name: "spotq-boot-breaker",
      role: this.role.id,
      policy: policyJson(
        bootBreakerPolicy({ group: props.group, topicArn: props.topic.arn, topicKeyArn: props.topicKeyArn, logGroup: { name: this.logGroup.name, arn: this.logGroup.arn } }),
      ),
    });
    const code = new TerraformAsset(this, "code", { path: props.bundleDir, type: AssetType.ARCHIVE });
    this.function = new LambdaFunction(this, "function", {
      functionName: this.functionName,
      description: `spotq/${config.name}: stops launching workers after ${b.failures} failed boots in ${b.windowSeconds} s`,
      role: this.role.arn,
      runtime: config.api.lambdaRuntime,
      architectures: ["arm64"],
      handler: LAMBDA_HANDLER,
      filename: code.path,
      sourceCodeHash: Fn.filebase64sha256(code.path),
      memorySize: 256,
      timeout: 60,
      environment: {
        variables: {
          [BREAKER_ENV.group]: props.group.name,
          [BREAKER_ENV.deployment]: config.name,
          [BREAKER_ENV.topicArn]: props.topic.arn,
          [BREAKER_ENV.failures]: String(b.failures),
          [BREAKER_ENV.windowSeconds]: String(b.windowSeconds),
        },
      },
      loggingConfig: { logFormat: "Text", logGroup: this.logGroup.name },
      dependsOn: [this.logGroup, this.rolePolicy],
    });

    this.alarm = new CloudwatchMetricAlarm(this, "alarm", {
      alarmName: `${config.name}-boot-breaker`,
      alarmDescription: `spotq/${config.name}: ${b.failures} or more failed boots within ${b.windowSeconds} s; invokes ${this.functionName}, which suspends launches of ${props.group.name}`,
      namespace: METRIC_NAMESPACE,
      metricName: METRICS.bootstrapFailed,
      dimensions: { [METRIC_DIMENSION]: config.name },
      statistic: "Sum",
      period: b.windowSeconds,
      evaluationPeriods: 1,
      threshold: b.failures,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
      // No failed boots publish no data: that is no reason to trip.
      treatMissingData: "notBreaching",
      alarmActions: [this.function.arn],
    });
    // CloudWatch alarms invoke Lambda as lambda.alarms.cloudwatch.amazonaws.com; only this alarm may.
    new LambdaPermission(this, "alarm-invoke", {
      statementId: "AllowBootBreakerAlarm",
      action: "lambda:InvokeFunction",
      functionName: this.function.functionName,
      principal: "lambda.alarms.cloudwatch.amazonaws.com",
      sourceArn: this.alarm.arn,
      sourceAccount: env.accountId,
    });
  }
}

/** What the breaker Lambda may do: suspend and tag its own group (the breaker tag only), read it, publish to the alarm topic, write its logs. */
export function bootBreakerPolicy(s: { group: GroupRef; topicArn: string; topicKeyArn: string; logGroup: LogGroupRef }): PolicyDocument {
  const ownGroup = { [`autoscaling:ResourceTag/${GROUP_TAG}`]: s.group.name };
  return policyDocument(
    {
      Sid: "SuspendOwnGroupLaunches",
      Effect: "Allow",
      Action: "autoscaling:SuspendProcesses",
      Resource: s.group.arn,
      Condition: { StringEquals: ownGroup },
    },
    {
      Sid: "TagOwnGroupWithTheBreaker",
      Effect: "Allow",
      Action: "autoscaling:CreateOrUpdateTags",
      Resource: s.group.arn,
      // Only the breaker's own tag: rewriting spotq:group would move the group out of every role's reach.
      Condition: { StringEquals: ownGroup, "ForAllValues:StringEquals": { "aws:TagKeys": [BREAKER_TAG] } },
    },
    {
      Sid: "DescribeGroups",
      Effect: "Allow",
      // Describe calls of Auto Scaling cannot be scoped to a resource.
      Action: "autoscaling:DescribeAutoScalingGroups",
      Resource: "*",
    },
    {
      Sid: "NotifyAlarmTopic",
      Effect: "Allow",
      Action: "sns:Publish",
      Resource: s.topicArn,
    },
    {
      Sid: "EncryptForAlarmTopic",
      Effect: "Allow",
      // Publishing to a topic encrypted with a customer managed key needs these on the key.
      Action: ["kms:GenerateDataKey", "kms:Decrypt"],
      Resource: s.topicKeyArn,
    },
    {
      Sid: "WriteBreakerLogs",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: `${s.logGroup.arn}:*`,
    },
  );
}
