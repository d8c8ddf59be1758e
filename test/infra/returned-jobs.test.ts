import assert from "node:assert/strict";
import { apiDepsFromEnv } from "../../api/compose.ts";
import { silentLog } from "../../api/log.ts";
import { returnedJobsDepsFromEnv, TERMINATE_EVENT } from "../../api/returned-jobs.ts";
import { GROUP_TAG } from "../../core/names.ts";
import { ENV } from "../../core/runtime.ts";
import { RETURNED_JOBS_HANDLER } from "../../infra/constructs/returned-jobs.ts";
import { assertAllowed, assertDenied, decide, GROUP_ID, lambdaPermissionPolicy, ReferenceResolver, rolePolicies, type Policy, type Request } from "./support/iam.ts";
import { ACCOUNT, synthStack, testConfig, type Synth } from "./support/synth.ts";

const R = `us-east-1:${ACCOUNT}`;
const groupArn = (name: string) => `arn:aws:autoscaling:${R}:autoScalingGroup:${GROUP_ID}:autoScalingGroupName/${name}`;
const SPOT_GROUP = groupArn("spotq-workers");
const OD_GROUP = groupArn("spotq-workers-ondemand");
const OTHER_GROUP = groupArn("web-servers");
const queueArn = (name: string) => `arn:aws:sqs:${R}:${name}`;
const tagged = (group: string) => ({ [`autoscaling:ResourceTag/${GROUP_TAG}`]: group });
const req = (action: string, resource: string, context?: Request["context"]): Request => ({ action, resource, ...(context ? { context } : {}) });
const FALLBACK = { scaling: { onDemandFallback: { afterInterruptions: 2, maxSize: 3 } } };

/** The returned-jobs resources of a synthesized stack (named `returned-jobs_…`). */
const ours = (synth: Synth, type: string) => Object.entries(synth.resources(type)).filter(([n]) => n.startsWith("returned-jobs_"));

describe("infra: capacity for returned jobs (EventBridge rule → Lambda, scaling.fastPath)", () => {
  describe("the Spot group alone (defaults: fastPath on, high queue on)", () => {
    const synth = synthStack(testConfig());
    let role: Policy[];
    before(() => {
      role = rolePolicies(synth, "returned-jobs_role");
    });

    it("matches 'EC2 Instance Terminate Successful' of aws.autoscaling for the deployment's group only, on the default bus", () => {
      const rule = synth.resource("aws_cloudwatch_event_rule", "returned-jobs");
      assert.equal(rule.name, "spotq-returned-jobs");
      assert.equal(rule.event_bus_name, undefined, "Auto Scaling sends its events to the default bus");
      assert.deepEqual(JSON.parse(rule.event_pattern), { source: ["aws.autoscaling"], "detail-type": ["EC2 Instance Terminate Successful"], detail: { AutoScalingGroupName: ["spotq-workers"] } });
      // The handler checks the same source and detail type.
      assert.deepEqual([TERMINATE_EVENT.source, TERMINATE_EVENT.detailType], ["aws.autoscaling", "EC2 Instance Terminate Successful"]);
    });

    it("targets the function, which runs the API's bundle under the returned-jobs handler", () => {
      const target = synth.resource("aws_cloudwatch_event_target", "returned-jobs");
      assert.equal(target.rule, synth.ref("aws_cloudwatch_event_rule", "returned-jobs", "name"));
      assert.equal(target.arn, synth.ref("aws_lambda_function", "returned-jobs", "arn"));
      assert.deepEqual(target.retry_policy, { maximum_event_age_in_seconds: 900, maximum_retry_attempts: 3 });
      const fn = synth.resource("aws_lambda_function", "returned-jobs");
      assert.deepEqual([fn.function_name, fn.handler, fn.role], ["spotq-returned-jobs", RETURNED_JOBS_HANDLER, synth.ref("aws_iam_role", "returned-jobs_role", "arn")]);
      const contentHash = (f: Record<string, any>) => String(f.filename).split("/").at(-2); // assets/<asset>/<content hash>/archive.zip
      assert.equal(contentHash(fn), contentHash(synth.resource("aws_lambda_function", "api_")), "the same bundle as the API");
      const invoke = synth.resource("aws_lambda_function_event_invoke_config", "returned-jobs");
      assert.equal(invoke.maximum_retry_attempts, 0, "the handler resolves on a failed call; a broken deployment is not retried");
    });

    it("lets only its rule of this account invoke the function", async () => {
      const p = synth.resource("aws_lambda_permission", "returned-jobs");
      assert.deepEqual([p.principal, p.action, p.function_name, p.source_arn, p.source_account], [
        "events.amazonaws.com",
        "lambda:InvokeFunction",
        synth.ref("aws_lambda_function", "returned-jobs", "function_name"),
        synth.ref("aws_cloudwatch_event_rule", "returned-jobs", "arn"),
        synth.dataRef("aws_caller_identity", "account_id"),
      ]);
      // The function policy Lambda builds from this permission, evaluated.
      const { policy, functionArn: fnArn } = lambdaPermissionPolicy(synth, p, "returned-jobs");
      const invoke = (rule: string, account = ACCOUNT) =>
        decide([], { principal: "events.amazonaws.com", action: "lambda:InvokeFunction", resource: fnArn, context: { "aws:SourceArn": `arn:aws:events:us-east-1:${account}:rule/${rule}`, "aws:SourceAccount": account } }, policy);
      assert.equal(await invoke("spotq-returned-jobs"), "Allowed");
      assert.notEqual(await invoke("spotq-fleet-events"), "Allowed");
      assert.notEqual(await invoke("spotq-returned-jobs", "999988887777"), "Allowed");
    });

    it("has a role of its own that reads the backlog and the group and raises this group's capacity", () =>
      assertAllowed(
        role,
        req("autoscaling:SetDesiredCapacity", SPOT_GROUP, tagged("spotq-workers")),
        req("autoscaling:DescribeAutoScalingGroups", "*"),
        req("sqs:GetQueueAttributes", queueArn("spotq-jobs")),
        req("sqs:GetQueueAttributes", queueArn("spotq-jobs-high")),
        req("logs:PutLogEvents", `arn:aws:logs:${R}:log-group:/aws/lambda/spotq-returned-jobs:log-stream:2026/01/01/[$LATEST]abc`),
      ));

    it("may not touch another group, terminate, resize bounds, or read jobs", () =>
      assertDenied(
        role,
        req("autoscaling:SetDesiredCapacity", OTHER_GROUP, tagged("web-servers")),
        req("autoscaling:SetDesiredCapacity", OTHER_GROUP, tagged("spotq-workers")),
        req("autoscaling:SetDesiredCapacity", SPOT_GROUP, tagged("web-servers")),
        req("autoscaling:TerminateInstanceInAutoScalingGroup", SPOT_GROUP, tagged("spotq-workers")),
        req("autoscaling:UpdateAutoScalingGroup", SPOT_GROUP, tagged("spotq-workers")),
        req("autoscaling:SuspendProcesses", SPOT_GROUP, tagged("spotq-workers")),
        req("sqs:ReceiveMessage", queueArn("spotq-jobs")),
        req("sqs:SendMessage", queueArn("spotq-jobs")),
        req("sqs:GetQueueAttributes", queueArn("someone-elses-queue")),
        req("dynamodb:GetItem", `arn:aws:dynamodb:${R}:table/spotq-jobs`),
        req("s3:GetObject", "arn:aws:s3:::spotq-data-111122223333/inbox/a.dcm"),
        req("logs:PutLogEvents", `arn:aws:logs:${R}:log-group:/aws/lambda/spotq-api:log-stream:x`),
      ));

    it("may be assumed by Lambda of this account only, and has no managed policy", () => {
      const trust = JSON.parse(new ReferenceResolver(synth).resolve(synth.resource("aws_iam_role", "returned-jobs_role").assume_role_policy));
      assert.deepEqual(trust.Statement[0].Principal, { Service: "lambda.amazonaws.com" });
      assert.deepEqual(trust.Statement[0].Condition, { StringEquals: { "aws:SourceAccount": ACCOUNT } });
    });

    it("logs to a group of its own with the deployment's retention", () => {
      const logs = synth.resource("aws_cloudwatch_log_group", "returned-jobs");
      assert.deepEqual([logs.name, logs.retention_in_days], ["/aws/lambda/spotq-returned-jobs", 30]);
      assert.equal(synth.resource("aws_lambda_function", "returned-jobs").logging_config.log_group, synth.ref("aws_cloudwatch_log_group", "returned-jobs", "name"));
    });
  });

  describe("with the On-Demand fallback", () => {
    const synth = synthStack(testConfig(FALLBACK));
    let role: Policy[];
    before(() => {
      role = rolePolicies(synth, "returned-jobs_role");
    });

    it("matches both groups' terminations and tells the function the On-Demand group and its queue", () => {
      const rule = synth.resource("aws_cloudwatch_event_rule", "returned-jobs");
      assert.deepEqual(JSON.parse(rule.event_pattern).detail, { AutoScalingGroupName: ["spotq-workers", "spotq-workers-ondemand"] });
      const vars = synth.resource("aws_lambda_function", "returned-jobs").environment.variables;
      assert.equal(vars[ENV.onDemandGroup], "spotq-workers-ondemand");
      assert.equal(vars[ENV.onDemandQueueUrl], synth.ref("aws_sqs_queue", "ondemand", "url"));
      assert.equal(vars[ENV.group], "spotq-workers");
    });

    it("raises each of the two groups and reads the On-Demand queue, still no other group", async () => {
      await assertAllowed(
        role,
        req("autoscaling:SetDesiredCapacity", SPOT_GROUP, tagged("spotq-workers")),
        req("autoscaling:SetDesiredCapacity", OD_GROUP, tagged("spotq-workers-ondemand")),
        req("sqs:GetQueueAttributes", queueArn("spotq-jobs-ondemand")),
      );
      await assertDenied(
        role,
        req("autoscaling:SetDesiredCapacity", OTHER_GROUP, tagged("web-servers")),
        req("autoscaling:SetDesiredCapacity", OD_GROUP, tagged("spotq-workers")),
        req("autoscaling:TerminateInstanceInAutoScalingGroup", OD_GROUP, tagged("spotq-workers-ondemand")),
      );
    });
  });

  it("composes on Lambda from the environment infra gives it, tenants with API keys included", () => {
    // The bundle's module init composes the API's ports (api/lambda.ts) before any handler runs.
    const tenants = [{ name: "lab-a", apiKey: "labAkey0123456789abcdefXYZ", prefixes: ["labs/a/"] }];
    const synth = synthStack(testConfig({ ...FALLBACK, api: { tenants } }));
    const resolver = new ReferenceResolver(synth);
    const vars = synth.resource("aws_lambda_function", "returned-jobs").environment.variables as Record<string, string>;
    const env = { ...Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, k === ENV.configJson ? v : resolver.resolve(v)])), AWS_LAMBDA_FUNCTION_NAME: "spotq-returned-jobs", AWS_REGION: "us-east-1" };
    assert.ok(!JSON.stringify(vars).includes("labAkey0123456789abcdef"), "no key value in the function");
    // The map of API key ids is the HTTP API's alone: this function serves no request and is not given it.
    assert.equal(vars[ENV.tenantKeyIds], undefined);
    assert.throws(() => apiDepsFromEnv(env, undefined, silentLog, "api"), /SPOTQ_TENANT_KEY_IDS is required/);
    const deps = returnedJobsDepsFromEnv(env);
    assert.deepEqual([deps.spot?.name, deps.onDemand?.name, deps.config.scaling.fastPath], ["spotq-workers", "spotq-workers-ondemand", true]);
  });

  it("is not built with scaling.fastPath off (the alarms only)", () => {
    const off = synthStack(testConfig({ scaling: { fastPath: false } }));
    for (const type of ["aws_cloudwatch_event_rule", "aws_cloudwatch_event_target", "aws_lambda_function", "aws_lambda_permission", "aws_iam_role", "aws_iam_role_policy", "aws_cloudwatch_log_group", "aws_lambda_function_event_invoke_config"])
      assert.deepEqual(ours(off, type).map(([n]) => n), [], type);
    assert.ok(!JSON.stringify(off.tf).includes(RETURNED_JOBS_HANDLER));
  });
});
