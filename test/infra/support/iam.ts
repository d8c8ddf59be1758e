import assert from "node:assert/strict";
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { ACCOUNT, REGION, type Synth } from "./synth.ts";

/** The id KMS gives a key, which Terraform only learns at apply time. */
export const KMS_KEY_ID = "0b1d2c3e-aaaa-bbbb-cccc-0123456789ab";

/** The id Auto Scaling gives a group, which Terraform only learns at apply time. */
export const GROUP_ID = "5f0c3a2e-1b4d-4c6e-9a8f-0123456789ab";

/**
 * Resolves the Terraform references (`${aws_sqs_queue.x.arn}`, `${data.aws_caller_identity.y.account_id}`)
 * in synthesized text to the concrete values AWS would give them, from the referenced resource's
 * own arguments: what a policy means once applied, so it can be evaluated.
 */
export class ReferenceResolver {
  readonly #synth: Synth;
  readonly #region: string;

  constructor(synth: Synth) {
    this.#synth = synth;
    const provider = synth.tf.provider?.aws?.[0] as { region?: string } | undefined;
    this.#region = provider?.region ?? REGION;
  }

  resolve(text: string): string {
    return text.replace(/\$\{([^}]+)\}/g, (_m, expr: string) => this.#value(expr.trim()));
  }

  #value(expr: string): string {
    const parts = expr.split(".");
    const isData = parts[0] === "data";
    const [type, name, attr] = isData ? parts.slice(1) : parts;
    assert.ok(type && name && attr, `cannot resolve reference \${${expr}}`);
    const body = (isData ? this.#synth.data(type) : this.#synth.resources(type))[name];
    assert.ok(body, `reference \${${expr}} names no ${isData ? "data source" : "resource"} in the configuration`);
    const arg = (key: string) => {
      const v = body[key];
      assert.equal(typeof v, "string", `\${${expr}}: ${type}.${name} has no string argument ${key}`);
      return this.resolve(v as string);
    };
    const r = this.#region;
    switch (`${isData ? "data." : ""}${type}.${attr}`) {
      case "data.aws_caller_identity.account_id":
        return ACCOUNT;
      case "aws_s3_bucket.bucket":
      case "aws_s3_bucket.id":
      case "data.aws_s3_bucket.bucket":
      case "data.aws_s3_bucket.id":
        return arg("bucket");
      case "aws_s3_bucket_versioning.bucket":
        return arg("bucket");
      case "aws_s3_bucket.arn":
      case "data.aws_s3_bucket.arn":
        return `arn:aws:s3:::${arg("bucket")}`;
      case "aws_sqs_queue.name":
        return arg("name");
      case "aws_sqs_queue.arn":
        return `arn:aws:sqs:${r}:${ACCOUNT}:${arg("name")}`;
      case "aws_sqs_queue.url":
      case "aws_sqs_queue.id":
        return `https://sqs.${r}.amazonaws.com/${ACCOUNT}/${arg("name")}`;
      case "aws_dynamodb_table.name":
        return arg("name");
      case "aws_dynamodb_table.arn":
        return `arn:aws:dynamodb:${r}:${ACCOUNT}:table/${arg("name")}`;
      case "aws_cloudwatch_log_group.name":
        return arg("name");
      case "aws_cloudwatch_log_group.arn":
        return `arn:aws:logs:${r}:${ACCOUNT}:log-group:${arg("name")}`;
      case "aws_autoscaling_group.name":
        return arg("name");
      case "aws_autoscaling_group.arn":
        return `arn:aws:autoscaling:${r}:${ACCOUNT}:autoScalingGroup:${GROUP_ID}:autoScalingGroupName/${arg("name")}`;
      case "aws_iam_role.name":
      case "aws_iam_role.id":
        return arg("name");
      case "aws_iam_role.arn":
        return `arn:aws:iam::${ACCOUNT}:role/${arg("name")}`;
      case "aws_sns_topic.arn":
        return `arn:aws:sns:${r}:${ACCOUNT}:${arg("name")}`;
      case "aws_sns_topic.id":
        return `arn:aws:sns:${r}:${ACCOUNT}:${arg("name")}`;
      case "aws_kms_key.arn":
        return `arn:aws:kms:${r}:${ACCOUNT}:key/${KMS_KEY_ID}`;
      case "aws_cloudwatch_metric_alarm.arn":
        return `arn:aws:cloudwatch:${r}:${ACCOUNT}:alarm:${arg("alarm_name")}`;
      case "aws_lambda_function.arn":
        return `arn:aws:lambda:${r}:${ACCOUNT}:function:${arg("function_name")}`;
      case "aws_lambda_function.function_name":
        return arg("function_name");
      case "aws_ecr_repository.name":
        return arg("name");
      case "aws_ecr_repository.arn":
        return `arn:aws:ecr:${r}:${ACCOUNT}:repository/${arg("name")}`;
      case "aws_ecr_repository.repository_url":
        return `${ACCOUNT}.dkr.ecr.${r}.amazonaws.com/${arg("name")}`;
      case "aws_cloudwatch_event_rule.arn":
        return `arn:aws:events:${r}:${ACCOUNT}:rule/${arg("name")}`;
      default:
        assert.fail(`the test resolver does not know \${${expr}}`);
    }
  }
}

/** A policy as the simulator takes it. */
export type Policy = { Version: string; Statement: unknown[] };

/** The inline policies of a role, resolved to concrete ARNs. */
export function rolePolicies(synth: Synth, roleNameHint: string): Policy[] {
  const resolver = new ReferenceResolver(synth);
  const roleRef = synth.ref("aws_iam_role", roleNameHint, "id");
  const policies = Object.values(synth.resources("aws_iam_role_policy"))
    .filter((p) => p.role === roleRef)
    .map((p) => JSON.parse(resolver.resolve(p.policy as string)) as Policy);
  assert.ok(policies.length > 0, `role ${roleNameHint} has no inline policy`);
  const managed = Object.values(synth.resources("aws_iam_role_policy_attachment")).filter((a) => a.role === roleRef);
  assert.equal(managed.length, 0, `role ${roleNameHint} must not have managed policies attached`);
  return policies;
}

/**
 * The function's resource policy Lambda builds from an `aws_lambda_permission` with a source ARN
 * and account, resolved, and the function's ARN: to evaluate who may invoke it.
 */
export function lambdaPermissionPolicy(synth: Synth, permission: Record<string, unknown>, functionHint: string): { policy: Policy; functionArn: string } {
  const resolver = new ReferenceResolver(synth);
  const functionArn = resolver.resolve(synth.ref("aws_lambda_function", functionHint, "arn"));
  const statement = {
    Effect: "Allow",
    Principal: { Service: permission.principal },
    Action: permission.action,
    Resource: functionArn,
    Condition: {
      StringEquals: { "AWS:SourceAccount": resolver.resolve(String(permission.source_account)) },
      ArnLike: { "AWS:SourceArn": resolver.resolve(String(permission.source_arn)) },
    },
  };
  return { policy: { Version: "2012-10-17", Statement: [statement] }, functionArn };
}

export interface Request {
  /** @default a role of the account under test */
  principal?: string;
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
}

/** What IAM decides for a request by a principal holding these identity policies (and a resource policy). */
export async function decide(identityPolicies: Policy[], request: Request, resourcePolicy?: Policy): Promise<string> {
  const result = await runSimulation(
    {
      identityPolicies: identityPolicies.map((policy, i) => ({ name: `policy-${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resourcePolicy ? { resourcePolicy } : {}),
      request: {
        principal: request.principal ?? `arn:aws:iam::${ACCOUNT}:role/spotq-under-test`,
        action: request.action,
        resource: { resource: request.resource, accountId: ACCOUNT },
        contextVariables: { "aws:SecureTransport": "true", ...request.context },
      },
    },
    {},
  );
  if (result.resultType === "error") assert.fail(`the simulator refused ${request.action} on ${request.resource}: ${JSON.stringify(result.errors)}`);
  return result.overallResult;
}

/** Asserts each request is allowed. */
export async function assertAllowed(policies: Policy[], ...requests: Request[]): Promise<void> {
  for (const r of requests) assert.equal(await decide(policies, r), "Allowed", `${r.action} on ${r.resource} ${JSON.stringify(r.context ?? {})} should be allowed`);
}

/** Asserts each request is denied (implicitly: no statement allows it). */
export async function assertDenied(policies: Policy[], ...requests: Request[]): Promise<void> {
  for (const r of requests) assert.notEqual(await decide(policies, r), "Allowed", `${r.action} on ${r.resource} ${JSON.stringify(r.context ?? {})} should be denied`);
}
