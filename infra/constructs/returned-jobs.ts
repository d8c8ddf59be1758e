import { existsSync } from "node:fs";
import { join } from "node:path";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { LambdaFunctionEventInvokeConfig } from "@cdktf/provider-aws/lib/lambda-function-event-invoke-config";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { Construct } from "constructs";
import { ValidationError } from "../../core/errors.ts";
import { GROUP_TAG } from "../../core/names.ts";
import { ENV } from "../../core/runtime.ts";
import { BUNDLE_FILES } from "../bundling.ts";
import { AssetType, Fn, TerraformAsset } from "../cdktf.ts";
import { assumeRolePolicy, policyDocument, policyJson, type PolicyDocument, type PolicyStatement } from "./policy-document.ts";
import type { ApiBundleProps, GroupRef, LogGroupRef, QueueRef } from "./refs.ts";
import { apiBundleVariables } from "./api-bundle.ts";

/** The handler the function runs, exported by the API's bundle (api/lambda.ts). */
export const RETURNED_JOBS_HANDLER = "index.returnedJobsHandler";

/** What the rule matches (api/returned-jobs.ts TERMINATE_EVENT, the AWS event reference's names). */
export function terminateEventPattern(groupNames: readonly string[]): Record<string, unknown> {
  return {
    source: ["aws.autoscaling"],
    "detail-type": ["EC2 Instance Terminate Successful"],
    detail: { AutoScalingGroupName: [...groupNames] },
  };
}

/** The function runs the API's bundle under another handler and its own role; it composes the API's ports from these names (no call is made on them). */
export interface ReturnedJobsProps extends ApiBundleProps {
  /** The On-Demand fallback's group (`scaling.onDemandFallback`); its queue is `queues.onDemand`. */
  onDemandGroup?: GroupRef;
}

/**
 * Capacity for returned jobs on AWS (docs/scaling.md): an EventBridge rule on "EC2 Instance
 * Terminate Successful" of the deployment's group(s) invokes `<name>-returned-jobs` (the API's
 * bundle, handler `index.returnedJobsHandler`), which runs the coalesced fast path for the backlog
 * of the group an instance left, so a lost worker's job gets an instance without waiting for the
 * deficit alarm. Built only with `scaling.fastPath` on. Its role may read the queues' depth, read
 * the groups and raise their desired capacity, and write its logs; nothing else.
 */
export class ReturnedJobs extends Construct {
  readonly function: LambdaFunction;
  readonly role: IamRole;
  readonly rolePolicy: IamRolePolicy;
  readonly logGroup: CloudwatchLogGroup;
  readonly rule: CloudwatchEventRule;
  readonly target: CloudwatchEventTarget;
  readonly permission: LambdaPermission;
  readonly functionName: string;

  constructor(scope: Construct, id: string, props: ReturnedJobsProps) {
    super(scope, id);
    const { config, env } = props;
    if (!config.scaling.fastPath) throw new Error("ReturnedJobs is the fast path's: build it only with scaling.fastPath on");
    const onDemand = props.onDemandGroup && props.queues.onDemand ? { group: props.onDemandGroup, queue: props.queues.onDemand } : undefined;
    if (props.onDemandGroup && !props.queues.onDemand) throw new Error("ReturnedJobs was given the On-Demand group without its queue (queues.onDemand)");
    const bundleFile = join(props.lambdaBundleDir, BUNDLE_FILES.lambda);
    if (!existsSync(bundleFile))
      throw new ValidationError("cannot package the returned-jobs Lambda", [{ field: "lambdaBundleDir", reason: `${props.lambdaBundleDir} holds no ${BUNDLE_FILES.lambda}` }]);
    this.functionName = `${config.name}-returned-jobs`;
    const groups = [props.group, ...(onDemand ? [onDemand.group] : [])];

    this.logGroup = new CloudwatchLogGroup(this, "logs", { name: `/aws/lambda/${this.functionName}`, retentionInDays: config.monitoring.logRetentionDays });
    this.role = new IamRole(this, "role", {
      name: this.functionName,
      description: `spotq/${config.name}: capacity for returned jobs (raise only)`,
      assumeRolePolicy: policyJson(assumeRolePolicy("lambda.amazonaws.com", env.accountId)),
    });
    this.rolePolicy = new IamRolePolicy(this, "role-policy", {
      name: "spotq-returned-jobs",
      role: this.role.id,
      policy: policyJson(
        returnedJobsPolicy({
          group: props.group,
          queues: [props.queues.jobs, ...(props.queues.high ? [props.queues.high] : [])],
          ...(onDemand ? { onDemand } : {}),
          logGroup: { name: this.logGroup.name, arn: this.logGroup.arn },
        }),
      ),
    });
    const code = new TerraformAsset(this, "code", { path: props.lambdaBundleDir, type: AssetType.ARCHIVE });
    this.function = new LambdaFunction(this, "function", {
      functionName: this.functionName,
      description: `spotq/${config.name}: raises ${groups.map((g) => g.name).join(" / ")} to its backlog when an instance leaves`,
      role: this.role.arn,
      runtime: config.api.lambdaRuntime,
      architectures: ["arm64"],
      handler: RETURNED_JOBS_HANDLER,
      filename: code.path,
      sourceCodeHash: Fn.filebase64sha256(code.path),
      memorySize: 256,
      // A coalesced round waits up to a second, then SQS and Auto Scaling (its call is bounded at 10 s).
      timeout: 30,
      environment: {
        variables: {
          ...apiBundleVariables(props), // no tenant's key value in a function
          [ENV.group]: props.group.name,
          ...(onDemand ? { [ENV.onDemandGroup]: onDemand.group.name, [ENV.onDemandQueueUrl]: onDemand.queue.url } : {}),
        },
      },
      loggingConfig: { logFormat: "Text", logGroup: this.logGroup.name },
      dependsOn: [this.logGroup, this.rolePolicy],
    });
    // The handler resolves whatever Auto Scaling answers (the deficit alarm is the fallback): only a
    // broken deployment fails, and retrying that helps no one. A late event still does no harm.
    new LambdaFunctionEventInvokeConfig(this, "invoke-config", { functionName: this.function.functionName, maximumRetryAttempts: 0, maximumEventAgeInSeconds: 900 });

    this.rule = new CloudwatchEventRule(this, "rule", {
      name: this.functionName,
      description: `spotq/${config.name}: an instance of ${groups.map((g) => g.name).join(" or ")} was terminated`,
      eventPattern: JSON.stringify(terminateEventPattern(groups.map((g) => g.name))),
    });
    this.target = new CloudwatchEventTarget(this, "target", {
      rule: this.rule.name,
      targetId: "returned-jobs",
      arn: this.function.arn,
      retryPolicy: { maximumEventAgeInSeconds: 900, maximumRetryAttempts: 3 },
    });
    // Only this rule of this account may invoke it.
    this.permission = new LambdaPermission(this, "rule-invoke", {
      statementId: "AllowReturnedJobsRule",
      action: "lambda:InvokeFunction",
      functionName: this.function.functionName,
      principal: "events.amazonaws.com",
      sourceArn: this.rule.arn,
      sourceAccount: env.accountId,
    });
  }
}

/** What the returned-jobs role is scoped to. */
export interface ReturnedJobsPolicyScope {
  /** The Spot group. */
  group: GroupRef;
  /** The queues the Spot group serves (jobs, high). */
  queues: QueueRef[];
  /** The On-Demand group and its queue. */
  onDemand?: { group: GroupRef; queue: QueueRef };
  logGroup: LogGroupRef;
}

/**
 * The returned-jobs function's rights: read the depth of the queues its groups serve, read the
 * groups, raise the desired capacity of each (on that group alone, by ARN and by its `spotq:group`
 * tag, as the API's fast path), write its logs.
 */
export function returnedJobsPolicy(s: ReturnedJobsPolicyScope): PolicyDocument {
  const raise = (sid: string, g: GroupRef): PolicyStatement => ({
    Sid: sid,
    Effect: "Allow",
    Action: "autoscaling:SetDesiredCapacity",
    Resource: g.arn,
    Condition: { StringEquals: { [`autoscaling:ResourceTag/${GROUP_TAG}`]: g.name } },
  });
  const queues = [...s.queues, ...(s.onDemand ? [s.onDemand.queue] : [])].map((q) => q.arn);
  return policyDocument(
    { Sid: "ReadBacklog", Effect: "Allow", Action: "sqs:GetQueueAttributes", Resource: queues.length === 1 ? queues[0]! : queues },
    raise("RaiseSpotCapacity", s.group),
    ...(s.onDemand ? [raise("RaiseOnDemandCapacity", s.onDemand.group)] : []),
    // Describe calls of Auto Scaling cannot be scoped to a resource.
    { Sid: "ReadCapacity", Effect: "Allow", Action: "autoscaling:DescribeAutoScalingGroups", Resource: "*" },
    { Sid: "WriteReturnedJobsLogs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${s.logGroup.arn}:*` },
  );
}
