import { GROUP_TAG } from "../../core/names.ts";
import { MARKER_FILE } from "../../core/intake.ts";
import { publishJobEventsStatement } from "./events.ts";
import { listPrefixCondition, policyDocument, type PolicyDocument, type PolicyStatement } from "./policy-document.ts";
import type { BucketRef, GroupRef, LogGroupRef, QueueRef, TableRef } from "./refs.ts";

/** What a trigger's role is scoped to: the submit path, and nothing else. */
export interface TriggerPolicyScope {
  table: TableRef;
  jobsQueue: QueueRef;
  dataBucket: BucketRef;
  /** Folder prefixes a job's source may be in (the submit lists the source); empty: the whole bucket. */
  sourcePrefixes: readonly string[];
  /** S3 trigger: the watched prefixes; it may read `spotq.json` there and no other object. */
  markerPrefixes?: readonly string[];
  /** The group the fast path raises; absent when it is off. */
  group?: GroupRef;
  /** The bus job events go to; absent when events are off. */
  busArn?: string;
  logGroup: LogGroupRef;
}

/**
 * A trigger may only submit (issue 10): read the marker (`<prefix>…spotq.json`) and list the
 * source, write job records (create, and take back a record whose enqueue failed), send to the
 * jobs queue (and read its depth for the fast path), raise the group's capacity, publish job
 * events, and write its logs. It cannot read job data, list jobs, cancel, or touch results.
 */
export function triggerPolicy(s: TriggerPolicyScope): PolicyDocument {
  const listCondition = listPrefixCondition(s.sourcePrefixes);
  const statements: PolicyStatement[] = [];
  if (s.markerPrefixes?.length)
    statements.push({ Sid: "ReadMarkers", Effect: "Allow", Action: "s3:GetObject", Resource: s.markerPrefixes.map((p) => `${s.dataBucket.arn}/${p}*${MARKER_FILE}`) });
  statements.push(
    { Sid: "CheckJobSources", Effect: "Allow", Action: "s3:ListBucket", Resource: s.dataBucket.arn, ...(listCondition ? { Condition: listCondition } : {}) },
    {
      Sid: "RecordSubmittedJobs",
      Effect: "Allow",
      // Put: the record and its idempotency key; Get: a replayed key's job; Delete/Update: undo a job whose enqueue failed.
      Action: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
      Resource: s.table.arn,
    },
    { Sid: "EnqueueJobs", Effect: "Allow", Action: ["sqs:SendMessage", "sqs:GetQueueAttributes"], Resource: s.jobsQueue.arn },
    { Sid: "WriteTriggerLogs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${s.logGroup.arn}:*` },
  );
  if (s.busArn) statements.push(publishJobEventsStatement(s.busArn));
  if (s.group)
    statements.push(
      {
        Sid: "FastPathRaiseCapacity",
        Effect: "Allow",
        Action: "autoscaling:SetDesiredCapacity",
        Resource: s.group.arn,
        Condition: { StringEquals: { [`autoscaling:ResourceTag/${GROUP_TAG}`]: s.group.name } },
      },
      // Describe calls of Auto Scaling cannot be scoped to a resource.
      { Sid: "FastPathReadCapacity", Effect: "Allow", Action: "autoscaling:DescribeAutoScalingGroups", Resource: "*" },
    );
  return policyDocument(...statements);
}

/** How the Kafka trigger reaches its cluster. */
export interface KafkaAccessScope {
  /** An MSK cluster (`arn:…:kafka:…:cluster/<name>/<uuid>`). */
  mskClusterArn?: string;
  topic: string;
  consumerGroupId: string;
  /** IAM auth on MSK: the event poller reads with the function's role. */
  iamAuth: boolean;
  /** SASL/SCRAM credentials or the mTLS client certificate. */
  secretArn?: string;
  /** Lambda's pollers need network interfaces in the cluster's VPC (MSK always, self-managed with `vpc`). */
  vpc: boolean;
}

/**
 * What Lambda's Kafka event poller needs, on the Kafka trigger's role only (the permissions of the
 * AWS managed policy AWSLambdaMSKExecutionRole, scoped where IAM allows).
 */
export function kafkaAccessStatements(k: KafkaAccessScope): PolicyStatement[] {
  const out: PolicyStatement[] = [];
  if (k.mskClusterArn) {
    out.push({ Sid: "DescribeMskCluster", Effect: "Allow", Action: ["kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"], Resource: k.mskClusterArn });
    if (k.iamAuth) {
      // cluster/<name>/<uuid> → topic/<name>/<uuid>/<topic>, group/<name>/<uuid>/<group>
      const base = k.mskClusterArn.replace(":cluster/", ":");
      const [prefix, rest] = [base.slice(0, base.lastIndexOf(":") + 1), base.slice(base.lastIndexOf(":") + 1)];
      out.push(
        { Sid: "ConnectToMsk", Effect: "Allow", Action: ["kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration"], Resource: k.mskClusterArn },
        { Sid: "ReadJobTopic", Effect: "Allow", Action: ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"], Resource: `${prefix}topic/${rest}/${k.topic}` },
        { Sid: "UseConsumerGroup", Effect: "Allow", Action: ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"], Resource: `${prefix}group/${rest}/${k.consumerGroupId}` },
      );
    }
  }
  if (k.secretArn) out.push({ Sid: "ReadKafkaCredentials", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: k.secretArn });
  if (k.vpc)
    out.push({
      Sid: "PollerNetworkInterfaces",
      Effect: "Allow",
      // EC2's describe calls and Lambda's interface management cannot be scoped to a resource.
      Action: [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
      ],
      Resource: "*",
    });
  return out;
}
