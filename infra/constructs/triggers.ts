import { existsSync } from "node:fs";
import { join } from "node:path";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaEventSourceMapping, type LambdaEventSourceMappingSourceAccessConfiguration } from "@cdktf/provider-aws/lib/lambda-event-source-mapping";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { LambdaFunctionEventInvokeConfig } from "@cdktf/provider-aws/lib/lambda-function-event-invoke-config";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { S3BucketNotification } from "@cdktf/provider-aws/lib/s3-bucket-notification";
import { Construct } from "constructs";
import { ValidationError } from "../../core/errors.ts";
import { markerNotificationFilters } from "../../core/intake.ts";
import { ENV } from "../../core/runtime.ts";
import { BUNDLE_FILES } from "../bundling.ts";
import { AssetType, Fn, TerraformAsset } from "../cdktf.ts";
import { assumeRolePolicy, policyJson } from "./policy-document.ts";
import type { ApiBundleProps } from "./refs.ts";
import { apiBundleVariables } from "./api-bundle.ts";
import { kafkaAccessStatements, triggerPolicy } from "./trigger-policy.ts";

/** The handlers the trigger functions run, exported by the API's bundle (api/lambda.ts). */
export const TRIGGER_HANDLERS = { s3: "index.s3TriggerHandler", kafka: "index.kafkaTriggerHandler" } as const;

/** The triggers run the API's bundle under other handlers and other roles. */
export interface TriggersProps extends ApiBundleProps {
  /** Whether the data bucket is this stack's: its notification configuration is then ours to write. */
  bucketCreatedHere: boolean;
  /** The job events bus; absent when events are off. */
  busArn?: string;
}

/** One trigger function: its code, role, log group. */
export interface TriggerFunction {
  function: LambdaFunction;
  role: IamRole;
  rolePolicy: IamRolePolicy;
  logGroup: CloudwatchLogGroup;
}

/**
 * Jobs that start without the API (issue 10), each through a small Lambda of its own whose role
 * may only submit:
 * - S3: the data bucket notifies `<name>-s3-trigger` of each `spotq.json` created under a trigger
 *   prefix (one filter per prefix: the prefix and the suffix `spotq.json`); asynchronous invoke,
 *   retried twice by Lambda.
 * - Kafka: an event source mapping feeds `<name>-kafka-trigger` batches from an MSK or
 *   self-managed cluster, with partial batch responses (provisioned pollers).
 */
export class Triggers extends Construct {
  readonly s3?: TriggerFunction & { permission: LambdaPermission; notification: S3BucketNotification };
  readonly kafka?: TriggerFunction & { mapping: LambdaEventSourceMapping };

  constructor(scope: Construct, id: string, props: TriggersProps) {
    super(scope, id);
    const { config } = props;
    const bundleFile = join(props.lambdaBundleDir, BUNDLE_FILES.lambda);
    if (!existsSync(bundleFile))
      throw new ValidationError("cannot package the trigger Lambdas", [{ field: "lambdaBundleDir", reason: `${props.lambdaBundleDir} holds no ${BUNDLE_FILES.lambda}` }]);
    const code = new TerraformAsset(this, "code", { path: props.lambdaBundleDir, type: AssetType.ARCHIVE });
    const fastPathGroup = config.scaling.fastPath ? props.group : undefined;

    const triggerFunction = (kind: "s3" | "kafka", timeout: number, extraStatements: ReturnType<typeof kafkaAccessStatements> = []): TriggerFunction => {
      const functionName = `${config.name}-${kind}-trigger`;
      const logGroup = new CloudwatchLogGroup(this, `${kind}-logs`, { name: `/aws/lambda/${functionName}`, retentionInDays: config.monitoring.logRetentionDays });
      const role = new IamRole(this, `${kind}-role`, {
        name: functionName,
        description: `spotq/${config.name}: the ${kind === "s3" ? "S3 upload" : "Kafka"} trigger (submit only)`,
        assumeRolePolicy: policyJson(assumeRolePolicy("lambda.amazonaws.com", props.env.accountId)),
      });
      const policy = triggerPolicy({
        table: props.table,
        jobsQueue: props.queues.jobs,
        ...(props.queues.high ? { highQueue: props.queues.high } : {}),
        dataBucket: props.dataBucket,
        sourcePrefixes: config.storage.sourcePrefixes,
        ...(kind === "s3" ? { markerPrefixes: config.triggers.s3.prefixes } : {}),
        ...(fastPathGroup ? { group: fastPathGroup } : {}),
        ...(props.busArn ? { busArn: props.busArn } : {}),
        logGroup: { name: logGroup.name, arn: logGroup.arn },
      });
      policy.Statement.push(...extraStatements);
      const rolePolicy = new IamRolePolicy(this, `${kind}-role-policy`, { name: `spotq-${kind}-trigger`, role: role.id, policy: policyJson(policy) });
      const fn = new LambdaFunction(this, `${kind}-function`, {
        functionName,
        description: `spotq/${config.name}: submits jobs from ${kind === "s3" ? "uploaded spotq.json markers" : `Kafka topic ${config.triggers.kafka?.topic}`}`,
        role: role.arn,
        runtime: config.api.lambdaRuntime,
        architectures: ["arm64"],
        handler: TRIGGER_HANDLERS[kind],
        filename: code.path,
        sourceCodeHash: Fn.filebase64sha256(code.path),
        memorySize: 256,
        timeout,
        environment: {
          variables: {
            ...apiBundleVariables(props), // no tenant's key value in a function
            ...(fastPathGroup ? { [ENV.group]: fastPathGroup.name } : {}),
          },
        },
        loggingConfig: { logFormat: "Text", logGroup: logGroup.name },
        dependsOn: [logGroup, rolePolicy],
      });
      return { function: fn, role, rolePolicy, logGroup };
    };

    if (config.triggers.s3.enabled) {
      if (!props.bucketCreatedHere)
        throw new ValidationError("triggers.s3 cannot be deployed on this bucket", [
          {
            field: "triggers.s3.enabled",
            reason: `storage.createBucket is false: S3 keeps one notification configuration per bucket, and the trigger's would replace the owner's of ${config.storage.bucketName}; serve a bucket this stack creates, or add the notification to that bucket yourself (docs/intake-and-outputs.md)`,
          },
        ]);
      const f = triggerFunction("s3", 60);
      const permission = new LambdaPermission(this, "s3-invoke-permission", {
        statementId: "AllowDataBucketNotifications",
        action: "lambda:InvokeFunction",
        functionName: f.function.functionName,
        principal: "s3.amazonaws.com",
        sourceArn: props.dataBucket.arn,
        sourceAccount: props.env.accountId,
      });
      // S3 invokes asynchronously: Lambda retries a failed event twice; the trigger is idempotent per key and ETag.
      new LambdaFunctionEventInvokeConfig(this, "s3-invoke-config", { functionName: f.function.functionName, maximumRetryAttempts: 2, maximumEventAgeInSeconds: 6 * 3600 });
      const notification = new S3BucketNotification(this, "s3-notification", {
        bucket: props.dataBucket.name,
        lambdaFunction: markerNotificationFilters(config.triggers.s3.prefixes).map((filter, i) => ({
          id: `spotq-s3-trigger-${i + 1}`,
          lambdaFunctionArn: f.function.arn,
          events: ["s3:ObjectCreated:*"],
          filterPrefix: filter.prefix,
          filterSuffix: filter.suffix,
        })),
        // S3 checks it may invoke the function when the configuration is written.
        dependsOn: [permission],
      });
      this.s3 = { ...f, permission, notification };
    }

    const k = config.triggers.kafka;
    if (k) {
      const consumerGroupId = k.consumerGroupId ?? `${config.name}-jobs`;
      const f = triggerFunction(
        "kafka",
        300,
        kafkaAccessStatements({
          ...(k.mskClusterArn ? { mskClusterArn: k.mskClusterArn } : {}),
          topic: k.topic,
          consumerGroupId,
          iamAuth: k.auth === "iam",
          ...(k.secretArn ? { secretArn: k.secretArn } : {}),
          vpc: Boolean(k.mskClusterArn || k.vpc),
        }),
      );
      const access: LambdaEventSourceMappingSourceAccessConfiguration[] = [];
      const secretType = { "sasl-scram-512": "SASL_SCRAM_512_AUTH", "sasl-scram-256": "SASL_SCRAM_256_AUTH", "sasl-plain": "BASIC_AUTH", mtls: "CLIENT_CERTIFICATE_TLS_AUTH" } as const;
      if (k.secretArn && k.auth in secretType) access.push({ type: secretType[k.auth as keyof typeof secretType], uri: k.secretArn });
      for (const subnet of k.vpc?.subnetIds ?? []) access.push({ type: "VPC_SUBNET", uri: `subnet:${subnet}` });
      for (const sg of k.vpc?.securityGroupIds ?? []) access.push({ type: "VPC_SECURITY_GROUP", uri: `security_group:${sg}` });
      const mapping = new LambdaEventSourceMapping(this, "kafka-mapping", {
        functionName: f.function.arn,
        topics: [k.topic],
        startingPosition: k.startingPosition,
        batchSize: k.batchSize,
        // A record that met a failing dependency is retried on its own; a bad record never fails the batch.
        functionResponseTypes: ["ReportBatchItemFailures"],
        provisionedPollerConfig: { minimumPollers: k.minimumPollers, maximumPollers: k.maximumPollers },
        ...(k.mskClusterArn
          ? { eventSourceArn: k.mskClusterArn, amazonManagedKafkaEventSourceConfig: { consumerGroupId } }
          : { selfManagedEventSource: { endpoints: { KAFKA_BOOTSTRAP_SERVERS: (k.bootstrapServers ?? []).join(",") } }, selfManagedKafkaEventSourceConfig: { consumerGroupId } }),
        ...(access.length ? { sourceAccessConfiguration: access } : {}),
        dependsOn: [f.rolePolicy],
      });
      this.kafka = { ...f, mapping };
    }
  }
}
