/**
 * What constructs hand each other: names and ARNs, as strings. In a stack they are Terraform
 * references (tokens); in a construct test they can be plain literals, so each construct can be
 * synthesized alone.
 */

import type { FleetConfig } from "../../core/fleet-config.ts";

/** An S3 bucket. */
export interface BucketRef {
  name: string;
  arn: string;
}

/** An SQS queue. */
export interface QueueRef {
  name: string;
  arn: string;
  url: string;
}

/** The jobs queue and its dead-letter queue, and the high-priority and On-Demand queues when the config has them. */
export interface QueuesRef {
  jobs: QueueRef;
  dlq: QueueRef;
  /** `<name>-jobs-high` (`queue.highPriority.enabled`). */
  high?: QueueRef;
  /** `<name>-jobs-ondemand` (`scaling.onDemandFallback`). */
  onDemand?: QueueRef;
}

/** A DynamoDB table. */
export interface TableRef {
  name: string;
  arn: string;
}

/** The Auto Scaling group of workers. */
export interface GroupRef {
  name: string;
  arn: string;
}

/** A CloudWatch Logs group. */
export interface LogGroupRef {
  name: string;
  arn: string;
}

/** Where the stack runs: account id (usually a token), region and partition. */
export interface AwsEnv {
  accountId: string;
  region: string;
  /** `aws`, `aws-cn` or `aws-us-gov`. */
  partition: string;
}

/**
 * What every function that runs the API's bundle gets (the API, the triggers, returned jobs): the
 * bundle, and the names its module init composes the API's ports from.
 */
export interface ApiBundleProps {
  config: FleetConfig;
  env: AwsEnv;
  /** Folder holding the esbuild bundle `index.mjs` of api/lambda.ts; zipped as the function's code. */
  lambdaBundleDir: string;
  table: TableRef;
  queues: QueuesRef;
  dataBucket: BucketRef;
  /** The Spot group of workers. */
  group: GroupRef;
}

/** The ARN partition of a region. */
export function partitionOf(region: string): string {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

/**
 * The ARN of an Auto Scaling group by its name, whatever its id: policies can name the group
 * before it exists, so instances never boot ahead of their permissions.
 */
export function groupArnPattern(env: AwsEnv, groupName: string): string {
  return `arn:${env.partition}:autoscaling:${env.region}:${env.accountId}:autoScalingGroup:*:autoScalingGroupName/${groupName}`;
}
