import { GROUP_TAG, METRIC_NAMESPACE } from "../../core/names.ts";
import { writeAnalyticsLinesStatement } from "./analytics.ts";
import { publishJobEventsStatement } from "./events.ts";
import { listPrefixCondition, objectArns, policyDocument, type PolicyDocument, type PolicyStatement } from "./policy-document.ts";
import type { BucketRef, GroupRef, LogGroupRef, QueuesRef, TableRef } from "./refs.ts";

/** What the worker's instance role is scoped to. */
export interface WorkerPolicyScope {
  dataBucket: BucketRef;
  /** Folder prefixes the worker may read sources from; empty means the whole bucket. */
  sourcePrefixes: readonly string[];
  /** Folder prefixes the worker may write results to; empty means the whole bucket. */
  targetPrefixes: readonly string[];
  queues: QueuesRef;
  table: TableRef;
  artifactsBucket: BucketRef;
  group: GroupRef;
  /**
   * The On-Demand group (`scaling.onDemandFallback`), whose instances share this role: they control
   * their own instances like the Spot group's, and the Spot workers raise its desired capacity for
   * the jobs they move to the On-Demand queue.
   */
  onDemandGroup?: GroupRef;
  logGroups: readonly LogGroupRef[];
  /** ARN of the SSM parameter holding the auto-logon password (processor.session "interactive"). */
  autoLogonParameterArn?: string;
  /** fleet.sessionManager: what the SSM agent needs for Session Manager shells. */
  sessionManager?: boolean;
  /** processor.container: the ECR repository the instance pulls its image from (and only that one). */
  containerRepositoryArn?: string;
}

/**
 * Every CloudWatch Logs action the worker may use: create a stream and put events, in its own
 * groups. Anything wider (`logs:*`, reading or deleting logs) fails test/infra/iam.test.ts.
 */
export const WORKER_LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"] as const;

/** What the instance needs of Auto Scaling, on its own group only (CONTRACTS §1, §2, §4). */
export const WORKER_GROUP_ACTIONS = [
  "autoscaling:SetInstanceProtection",
  "autoscaling:TerminateInstanceInAutoScalingGroup",
  "autoscaling:CompleteLifecycleAction",
  "autoscaling:RecordLifecycleActionHeartbeat",
  "autoscaling:SetInstanceHealth",
] as const;

/** The minimum AWS documents for an instance to take Session Manager sessions. */
export const SESSION_MANAGER_ACTIONS = [
  "ssm:UpdateInstanceInformation",
  "ssmmessages:CreateControlChannel",
  "ssmmessages:CreateDataChannel",
  "ssmmessages:OpenControlChannel",
  "ssmmessages:OpenDataChannel",
] as const;

/**
 * What the instance needs to pull from its image repository (Amazon ECR's documented pull
 * permissions), on that repository only.
 */
export const ECR_PULL_ACTIONS = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"] as const;

/**
 * The container profile's statements: pull from one repository, and get the login token.
 * `ecr:GetAuthorizationToken` is account-wide by AWS design (its resource is always `*`): the
 * token lets the role log in to the registry; what it may then read, the pull statement decides.
 */
export function ecrPullStatements(repositoryArn: string): PolicyStatement[] {
  return [
    { Sid: "PullContainerImage", Effect: "Allow", Action: [...ECR_PULL_ACTIONS], Resource: repositoryArn },
    { Sid: "LogInToContainerRegistry", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
  ];
}

/**
 * The worker's permissions, each scoped to this deployment: read the sources and write the
 * targets of the served bucket (and list both), work its own queue (and dead-letter into its DLQ), read and
 * write its own job records, fetch its artifacts (any version: an instance fetches the one its
 * launch template names), write its logs and `spotq` metrics, and protect, terminate, mark
 * unhealthy or complete the lifecycle actions of instances only of the group tagged as its own.
 * Optionally: read the auto-logon password parameter, take Session Manager sessions, and pull the
 * container profile's image from its one repository.
 */
export function workerPolicy(s: WorkerPolicyScope): PolicyDocument {
  // The worker lists a source folder to download it, and a target folder to check its upload.
  const listed = s.sourcePrefixes.length === 0 || s.targetPrefixes.length === 0 ? [] : [...new Set([...s.sourcePrefixes, ...s.targetPrefixes])];
  const listCondition = listPrefixCondition(listed);
  const statements: PolicyStatement[] = [
    {
      Sid: "ReadJobSources",
      Effect: "Allow",
      Action: "s3:GetObject",
      Resource: objectArns(s.dataBucket.arn, s.sourcePrefixes),
    },
    {
      Sid: "ListJobFolders",
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: s.dataBucket.arn,
      ...(listCondition ? { Condition: listCondition } : {}),
    },
    {
      Sid: "WriteJobTargets",
      Effect: "Allow",
      // PutObject covers the create/upload-part/complete calls of a multipart upload.
      Action: ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      Resource: objectArns(s.dataBucket.arn, s.targetPrefixes),
    },
    {
      Sid: "WorkJobsQueue",
      Effect: "Allow",
      // SendMessage: a retry with backoff goes back as a new, delayed message.
      // The high queue is worked like the jobs queue; the On-Demand queue takes hand-backs (and its group's workers work it).
      Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:SendMessage"],
      Resource: s.queues.high || s.queues.onDemand ? [s.queues.jobs.arn, ...[s.queues.high, s.queues.onDemand].filter((q) => q !== undefined).map((q) => q.arn)] : s.queues.jobs.arn,
    },
    {
      Sid: "DeadLetterFailedJobs",
      Effect: "Allow",
      Action: ["sqs:SendMessage", "sqs:GetQueueAttributes"],
      Resource: s.queues.dlq.arn,
    },
    {
      Sid: "RecordJobs",
      Effect: "Allow",
      Action: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
      Resource: [s.table.arn, `${s.table.arn}/index/*`],
    },
    {
      Sid: "FetchWorkerArtifacts",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:GetObjectVersion"],
      Resource: `${s.artifactsBucket.arn}/*`,
    },
    {
      Sid: "WriteWorkerLogs",
      Effect: "Allow",
      Action: [...WORKER_LOG_ACTIONS],
      Resource: s.logGroups.map((g) => `${g.arn}:*`),
    },
    {
      Sid: "PutSpotqMetrics",
      Effect: "Allow",
      Action: "cloudwatch:PutMetricData",
      // PutMetricData has no resource to scope; the namespace condition keeps it to spotq's metrics.
      Resource: "*",
      Condition: { StringEquals: { "cloudwatch:namespace": METRIC_NAMESPACE } },
    },
    {
      Sid: "ControlOwnGroupInstances",
      Effect: "Allow",
      Action: [...WORKER_GROUP_ACTIONS],
      Resource: s.onDemandGroup ? [s.group.arn, s.onDemandGroup.arn] : s.group.arn,
      Condition: { StringEquals: { [`autoscaling:ResourceTag/${GROUP_TAG}`]: s.onDemandGroup ? [s.group.name, s.onDemandGroup.name] : s.group.name } },
    },
    ...(s.onDemandGroup
      ? [
          {
            Sid: "RaiseOnDemandCapacity",
            Effect: "Allow",
            // A Spot worker that moves a job to the On-Demand queue raises that group (never its own: its capacity is the alarm's and the API's).
            Action: "autoscaling:SetDesiredCapacity",
            Resource: s.onDemandGroup.arn,
            Condition: { StringEquals: { [`autoscaling:ResourceTag/${GROUP_TAG}`]: s.onDemandGroup.name } },
          } satisfies PolicyStatement,
        ]
      : []),
    {
      Sid: "DescribeGroups",
      Effect: "Allow",
      // Describe calls of Auto Scaling cannot be scoped to a resource.
      Action: ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances"],
      Resource: "*",
    },
  ];
  if (s.autoLogonParameterArn)
    statements.push({
      Sid: "ReadAutoLogonPassword",
      Effect: "Allow",
      // Get-SSMParameterValue calls GetParameters; a SecureString under the AWS-managed key aws/ssm needs no KMS grant.
      Action: ["ssm:GetParameter", "ssm:GetParameters"],
      Resource: s.autoLogonParameterArn,
    });
  if (s.containerRepositoryArn) statements.push(...ecrPullStatements(s.containerRepositoryArn));
  if (s.sessionManager)
    statements.push({
      Sid: "SessionManagerShell",
      Effect: "Allow",
      Action: [...SESSION_MANAGER_ACTIONS],
      // Session Manager's instance-side calls have no resource to scope.
      Resource: "*",
    });
  return policyDocument(...statements);
}

/**
 * The worker's part in job events and analytics (issue 10): publish the state changes of its runs
 * on the bus, and write analytics lines (the result file goes into the job's target, which it may
 * already write). A separate inline policy of the instance role, or undefined when both are off.
 */
export function workerOutputsPolicy(s: { busArn?: string; analytics?: { dataBucket: BucketRef; prefix: string } }): PolicyDocument | undefined {
  const statements: PolicyStatement[] = [];
  if (s.busArn) statements.push(publishJobEventsStatement(s.busArn));
  if (s.analytics) statements.push(writeAnalyticsLinesStatement(s.analytics.dataBucket, s.analytics.prefix));
  return statements.length ? policyDocument(...statements) : undefined;
}
