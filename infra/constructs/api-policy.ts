import { GROUP_TAG } from "../../core/names.ts";
import { listPrefixCondition, policyDocument, type PolicyDocument, type PolicyStatement } from "./policy-document.ts";
import type { BucketRef, GroupRef, LogGroupRef, QueueRef, TableRef } from "./refs.ts";

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
 * The API's permissions and no more: job records in its table, enqueue on its queue, list the
 * sources in its bucket, raise the desired capacity of its own group (fast path), write its logs.
 */
export function apiPolicy(s: ApiPolicyScope): PolicyDocument {
  const listCondition = listPrefixCondition(s.sourcePrefixes);
  const statements: PolicyStatement[] = [
    {
      Sid: "ManageJobRecords",
      Effect: "Allow",
      Action: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"],
      Resource: [s.table.arn, `${s.table.arn}/index/*`],
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
