import { JOB_LIST_INDEXES } from "../../core/job.ts";
import { GROUP_TAG, resourceNames } from "../../core/names.ts";
import { writeAnalyticsLinesStatement } from "./analytics.ts";
import { publishJobEventsStatement } from "./events.ts";
import { listPrefixCondition, policyDocument, type PolicyDocument, type PolicyStatement } from "./policy-document.ts";
import type { AwsEnv, BucketRef, GroupRef, LogGroupRef, QueueRef, TableRef } from "./refs.ts";

/** What the API Lambda's role is scoped to. */
export interface ApiPolicyScope {
  table: TableRef;
  jobsQueue: QueueRef;
  dataBucket: BucketRef;
  /** Folder prefixes a job's source may be in; the API lists them to check a source is not empty. */
  sourcePrefixes: readonly string[];
  /** The group whose desired capacity the fast path raises; absent when the fast path is off. */
  group?: GroupRef;
  logGroup: LogGroupRef;
}

/**
 * The API's permissions and no more: job records in its table (and its listing indexes), enqueue on its queue, list the
 * sources in its bucket, raise the desired capacity of its own group (fast path), write its logs.
 */
export function apiPolicy(s: ApiPolicyScope): PolicyDocument {
  const listCondition = listPrefixCondition(s.sourcePrefixes);
  const statements: PolicyStatement[] = [
    {
      Sid: "ManageJobRecords",
      Effect: "Allow",
      // BatchGetItem: a listing page's records, read after their ids came from an index.
      Action: ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
      Resource: s.table.arn,
    },
    {
      Sid: "ListJobs",
      Effect: "Allow",
      // The listing indexes only: the API never queries the table itself.
      Action: "dynamodb:Query",
      Resource: JOB_LIST_INDEXES.map((g) => `${s.table.arn}/index/${g.name}`),
    },
    {
      Sid: "EnqueueJobs",
      Effect: "Allow",
      Action: ["sqs:SendMessage", "sqs:GetQueueAttributes"],
      Resource: s.jobsQueue.arn,
    },
    {
      Sid: "CheckJobSources",
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: s.dataBucket.arn,
      ...(listCondition ? { Condition: listCondition } : {}),
    },
    {
      Sid: "WriteApiLogs",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: `${s.logGroup.arn}:*`,
    },
  ];
  if (s.group)
    statements.push(
      {
        Sid: "FastPathRaiseCapacity",
        Effect: "Allow",
        Action: "autoscaling:SetDesiredCapacity",
        Resource: s.group.arn,
        Condition: { StringEquals: { [`autoscaling:ResourceTag/${GROUP_TAG}`]: s.group.name } },
      },
      {
        Sid: "FastPathReadCapacity",
        Effect: "Allow",
        // Describe calls of Auto Scaling cannot be scoped to a resource.
        Action: "autoscaling:DescribeAutoScalingGroups",
        Resource: "*",
      },
    );
  return policyDocument(...statements);
}

/** What the API publishes and writes besides its own work (issue 10); absent parts are off. */
export interface ApiOutputsScope {
  /** The job events bus. */
  busArn?: string;
  /** The analytics lines: the data bucket and `analytics.prefix`. */
  analytics?: { dataBucket: BucketRef; prefix: string };
}

/**
 * The API's part in job events and analytics: publish its state changes (a submit's QUEUED, a
 * queued job's CANCELLED) on the bus, and write the analytics line of a job it finished. A
 * separate inline policy of the API role, or undefined when there is nothing to grant.
 */
export function apiOutputsPolicy(s: ApiOutputsScope): PolicyDocument | undefined {
  const statements: PolicyStatement[] = [];
  if (s.busArn) statements.push(publishJobEventsStatement(s.busArn));
  if (s.analytics) statements.push(writeAnalyticsLinesStatement(s.analytics.dataBucket, s.analytics.prefix));
  return statements.length ? policyDocument(...statements) : undefined;
}

/** What the web console's reads are scoped to: the deployment's own log group, alarms and group. */
export interface ApiConsoleScope {
  env: AwsEnv;
  /** The deployment's name (`config.name`): its job log group and alarm names derive from it. */
  deployment: string;
}

/**
 * The API's reads for the web console (api/console/compose.ts), a policy of their own: a job
 * attempt's log (`GetLogEvents` on the streams of the job log group only), the deployment's alarm
 * states (`DescribeAlarms` on alarms named `<name>-*`), the queue-depth chart (`GetMetricData`,
 * which has no resource type and needs `*`), and the group for the fleet view
 * (`DescribeAutoScalingGroups`, likewise unscopable, also when the fast path is off).
 * Resource types per the Service Authorization Reference (CloudWatch Logs: GetLogEvents →
 * log-stream; CloudWatch: DescribeAlarms → alarm, GetMetricData → none).
 */
export function apiConsolePolicy(s: ApiConsoleScope): PolicyDocument {
  const { partition, region, accountId } = s.env;
  const names = resourceNames(s.deployment);
  return policyDocument(
    {
      Sid: "ConsoleReadJobLogs",
      Effect: "Allow",
      Action: "logs:GetLogEvents",
      Resource: `arn:${partition}:logs:${region}:${accountId}:log-group:${names.jobLogGroup}:log-stream:*`,
    },
    {
      Sid: "ConsoleReadAlarms",
      Effect: "Allow",
      Action: "cloudwatch:DescribeAlarms",
      Resource: `arn:${partition}:cloudwatch:${region}:${accountId}:alarm:${s.deployment}-*`,
    },
    {
      Sid: "ConsoleReadQueueMetrics",
      Effect: "Allow",
      // GetMetricData cannot be scoped to a resource.
      Action: "cloudwatch:GetMetricData",
      Resource: "*",
    },
    {
      Sid: "ConsoleReadFleet",
      Effect: "Allow",
      // Describe calls of Auto Scaling cannot be scoped to a resource.
      Action: "autoscaling:DescribeAutoScalingGroups",
      Resource: "*",
    },
  );
}
