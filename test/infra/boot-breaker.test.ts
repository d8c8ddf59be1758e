import assert from "node:assert/strict";
import { BREAKER_TAG } from "../../core/names.ts";
import { BootBreaker } from "../../infra/constructs/boot-breaker.ts";
import { BREAKER_ENV } from "../../infra/constructs/boot-breaker-env.ts";
import { breakerTagValue, parseBreakerTag } from "../../core/boot-breaker.ts";
import {
  AutoScalingBreakerFleet,
  handler,
  SnsBreakerNotifier,
  tripBootBreaker,
  type AlarmEvent,
  type BreakerFleet,
  type BreakerNotifier,
} from "../../infra/constructs/boot-breaker-handler.ts";
import { assertAllowed, assertDenied, decide, GROUP_ID, KMS_KEY_ID, lambdaPermissionPolicy, ReferenceResolver, rolePolicies, type Policy, type Request } from "./support/iam.ts";
import { ACCOUNT, FIXTURE_BUNDLES, synthScope, synthStack, TEST_ENV, testConfig, type Synth } from "./support/synth.ts";

const R = `us-east-1:${ACCOUNT}`;
const GROUP = `arn:aws:autoscaling:${R}:autoScalingGroup:${GROUP_ID}:autoScalingGroupName/spotq-workers`;
const OTHER_GROUP = `arn:aws:autoscaling:${R}:autoScalingGroup:0a1b2c3d-0000-4000-8000-000000000000:autoScalingGroupName/web-servers`;
const TOPIC = `arn:aws:sns:${R}:spotq-alarms`;
const ownGroup = { "autoscaling:ResourceTag/spotq:group": "spotq-workers" };
const req = (action: string, resource: string, context?: Request["context"]): Request => ({ action, resource, ...(context ? { context } : {}) });

const alarmEvent = (value: string, reason = "Threshold Crossed: 1 datapoint [3.0] was greater than or equal to the threshold (3.0)."): AlarmEvent => ({
  alarmArn: `arn:aws:cloudwatch:${R}:alarm:spotq-boot-breaker`,
  time: "2026-01-01T00:00:00.000Z",
  alarmData: { alarmName: "spotq-boot-breaker", state: { value, reason, timestamp: "2026-01-01T00:00:00.000+0000" } },
});

/** A group and a topic that remember what was done to them. */
function fakes(options: { suspended?: string[]; tags?: Record<string, string>; tagFails?: boolean; publishFails?: boolean } = {}) {
  const calls: string[] = [];
  const group = { suspended: [...(options.suspended ?? [])], tags: { ...(options.tags ?? {}) } };
  const published: { subject: string; message: string }[] = [];
  const fleet: BreakerFleet = {
    async describe() {
      calls.push("describe");
      return { suspendedProcesses: [...group.suspended], tags: { ...group.tags } };
    },
    async suspendLaunch() {
      calls.push("suspendLaunch");
      if (!group.suspended.includes("Launch")) group.suspended.push("Launch");
    },
    async tagGroup(key, value) {
      calls.push("tagGroup");
      if (options.tagFails) throw new Error("AccessDenied");
      group.tags[key] = value;
    },
  };
  const notifier: BreakerNotifier = {
    async publish(subject, message) {
      calls.push("publish");
      if (options.publishFails) throw new Error("KMS.AccessDeniedException");
      published.push({ subject, message });
    },
  };
  return { calls, group, published, fleet, notifier };
}

const settings = { deployment: "spotq", group: "spotq-workers", failures: 3, windowSeconds: 3600 };
const NOW = new Date("2026-01-01T00:00:30.000Z");

describe("infra/constructs/boot-breaker", () => {
  describe("the Lambda's logic (against a fake group and topic)", () => {
    it("on ALARM suspends Launch first, tags the group with why, and tells the alarm topic", async () => {
      const f = fakes({ suspended: ["AZRebalance"] });
      const outcome = await tripBootBreaker(alarmEvent("ALARM"), settings, f.fleet, f.notifier, NOW);
      assert.equal(outcome.tripped, true);
      assert.deepEqual(f.calls, ["describe", "suspendLaunch", "tagGroup", "publish"]);
      assert.deepEqual(f.group.suspended, ["AZRebalance", "Launch"]);
      const tag = JSON.parse(f.group.tags[BREAKER_TAG]!);
      assert.deepEqual(Object.keys(tag), ["trippedAt", "failures", "windowSeconds", "reason"], "the shape core/names.ts documents");
      assert.equal(tag.trippedAt, NOW.toISOString());
      assert.equal(tag.failures, 3);
      assert.equal(tag.windowSeconds, 3600);
      assert.match(tag.reason, /^3 or more failed boots within 3600 s \(spotq-boot-breaker: Threshold Crossed/);
      const [notice] = f.published;
      assert.match(notice!.subject, /^spotq spotq: boot breaker tripped/);
      assert.match(notice!.message, /suspended launches of group spotq-workers/);
      assert.match(notice!.message, /\/spotq\/spotq\/boot/, "says where the evidence is");
      assert.match(notice!.message, /spotq fleet resume/, "says how to resume");
    });

    it("does nothing when the alarm returns to OK, or is tripped already (a retry, a second alarm)", async () => {
      const f = fakes();
      assert.deepEqual(await tripBootBreaker(alarmEvent("OK"), settings, f.fleet, f.notifier, NOW), { tripped: false, why: "the alarm is OK, not ALARM" });
      assert.deepEqual(f.calls, []);
      const tripped = fakes({ suspended: ["Launch"], tags: { [BREAKER_TAG]: "{}" } });
      const again = await tripBootBreaker(alarmEvent("ALARM"), settings, tripped.fleet, tripped.notifier, NOW);
      assert.equal(again.tripped, false);
      assert.deepEqual(tripped.calls, ["describe"], "no second notice");
    });

    it("still suspends and notifies when tagging fails, and reports it so Lambda retries", async () => {
      const f = fakes({ tagFails: true });
      const outcome = await tripBootBreaker(alarmEvent("ALARM"), settings, f.fleet, f.notifier, NOW);
      assert.ok(outcome.tripped && outcome.problems.length === 1 && /tag the group: AccessDenied/.test(outcome.problems[0]!));
      assert.deepEqual(f.group.suspended, ["Launch"]);
      assert.equal(f.published.length, 1);
      const quiet = fakes({ publishFails: true });
      const o2 = await tripBootBreaker(alarmEvent("ALARM"), settings, quiet.fleet, quiet.notifier, NOW);
      assert.ok(o2.tripped && /notify: KMS/.test(o2.problems[0]!));
      assert.ok(quiet.group.tags[BREAKER_TAG], "tagged although the notice failed");
    });

    it("fits its record in a tag value (256 characters), whatever the alarm's reason", () => {
      const value = breakerTagValue({ trippedAt: NOW.toISOString(), failures: 3, windowSeconds: 3600, reason: "x".repeat(1000) });
      assert.ok(value.length <= 256, String(value.length));
      assert.equal(JSON.parse(value).failures, 3);
      // The format the local fleet writes and `spotq fleet` reads.
      assert.equal(parseBreakerTag(value)?.windowSeconds, 3600);
      assert.match(parseBreakerTag(value)!.reason, /x…$/);
    });

    it("speaks to Auto Scaling and SNS with the calls CONTRACTS §1 lists", async () => {
      const sent: { name: string; input: Record<string, unknown> }[] = [];
      const client = {
        send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
          sent.push({ name: command.constructor.name, input: command.input });
          return { AutoScalingGroups: [{ AutoScalingGroupName: "spotq-workers", SuspendedProcesses: [{ ProcessName: "AZRebalance" }], Tags: [{ Key: "spotq:group", Value: "spotq-workers" }] }] };
        },
      };
      const fleet = new AutoScalingBreakerFleet(client as never, "spotq-workers");
      assert.deepEqual(await fleet.describe(), { suspendedProcesses: ["AZRebalance"], tags: { "spotq:group": "spotq-workers" } });
      await fleet.suspendLaunch();
      await fleet.tagGroup(BREAKER_TAG, "{}");
      await new SnsBreakerNotifier(client as never, TOPIC).publish("s".repeat(150), "message");
      assert.deepEqual(
        sent.map((c) => [c.name, c.input]),
        [
          ["DescribeAutoScalingGroupsCommand", { AutoScalingGroupNames: ["spotq-workers"] }],
          ["SuspendProcessesCommand", { AutoScalingGroupName: "spotq-workers", ScalingProcesses: ["Launch"] }],
          ["CreateOrUpdateTagsCommand", { Tags: [{ ResourceId: "spotq-workers", ResourceType: "auto-scaling-group", Key: BREAKER_TAG, Value: "{}", PropagateAtLaunch: false }] }],
          ["PublishCommand", { TopicArn: TOPIC, Subject: "s".repeat(100), Message: "message" }],
        ],
      );
    });

    it("the entry names a missing setting and ignores an OK event without calling AWS", async () => {
      const saved = { ...process.env };
      try {
        for (const v of Object.values(BREAKER_ENV)) delete process.env[v];
        await assert.rejects(handler(alarmEvent("OK")), /environment variable SPOTQ_GROUP is required/);
        Object.assign(process.env, { SPOTQ_GROUP: "g", SPOTQ_DEPLOYMENT: "d", SPOTQ_ALARM_TOPIC_ARN: TOPIC, SPOTQ_BREAKER_FAILURES: "3", SPOTQ_BREAKER_WINDOW_SECONDS: "3600" });
        assert.deepEqual(await handler(alarmEvent("OK")), { tripped: false, why: "the alarm is OK, not ALARM" });
      } finally {
        for (const v of Object.values(BREAKER_ENV)) delete process.env[v];
        Object.assign(process.env, saved);
      }
    });
  });

  describe("resources", () => {
    const config = testConfig({ fleet: { bootBreaker: { failures: 4, windowSeconds: 1800 } } });
    let breaker: BootBreaker | undefined;
    const synth: Synth = synthScope((scope) => {
      breaker = new BootBreaker(scope, "boot-breaker", {
        config,
        env: TEST_ENV,
        group: { name: "spotq-workers", arn: `arn:aws:autoscaling:us-east-1:${ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/spotq-workers` },
        topic: { arn: TOPIC },
        topicKeyArn: `arn:aws:kms:us-east-1:${ACCOUNT}:key/${KMS_KEY_ID}`,
        bundleDir: FIXTURE_BUNDLES.breakerDir,
      });
    });
    const alarm = synth.resource("aws_cloudwatch_metric_alarm");
    const fn = synth.resource("aws_lambda_function");

    it("alarms on BootstrapFailed: Sum >= fleet.bootBreaker.failures over one period of windowSeconds, and invokes the Lambda", () => {
      assert.deepEqual(
        [alarm.namespace, alarm.metric_name, alarm.dimensions, alarm.statistic, alarm.period, alarm.evaluation_periods, alarm.threshold, alarm.comparison_operator, alarm.treat_missing_data],
        ["spotq", "BootstrapFailed", { Deployment: "spotq" }, "Sum", 1800, 1, 4, "GreaterThanOrEqualToThreshold", "notBreaching"],
      );
      assert.deepEqual(alarm.alarm_actions, [synth.ref("aws_lambda_function", "", "arn")]);
      assert.equal(alarm.ok_actions, undefined, "closing the breaker is a person's decision");
      assert.equal(breaker!.functionName, "spotq-boot-breaker");
    });

    it("runs the bundled handler with the group, topic and thresholds, logging to a group with retention", () => {
      assert.equal(fn.handler, "index.handler");
      assert.equal(fn.runtime, "nodejs24.x");
      assert.deepEqual(fn.environment.variables, {
        [BREAKER_ENV.group]: "spotq-workers",
        [BREAKER_ENV.deployment]: "spotq",
        [BREAKER_ENV.topicArn]: TOPIC,
        [BREAKER_ENV.failures]: "4",
        [BREAKER_ENV.windowSeconds]: "1800",
      });
      assert.deepEqual(synth.resource("aws_cloudwatch_log_group").name, "/aws/lambda/spotq-boot-breaker");
      assert.equal(synth.resource("aws_cloudwatch_log_group").retention_in_days, 30);
    });

    it("lets only its alarm of this account invoke it", async () => {
      const p = synth.resource("aws_lambda_permission");
      assert.deepEqual([p.principal, p.action, p.function_name, p.source_arn, p.source_account], [
        "lambda.alarms.cloudwatch.amazonaws.com",
        "lambda:InvokeFunction",
        synth.ref("aws_lambda_function", "", "function_name"),
        synth.ref("aws_cloudwatch_metric_alarm", "", "arn"),
        ACCOUNT,
      ]);
      // The function policy Lambda builds from this permission, evaluated.
      const { policy, functionArn: fnArn } = lambdaPermissionPolicy(synth, p, "");
      const invoke = (alarmName: string, account = ACCOUNT) =>
        decide([], { principal: "lambda.alarms.cloudwatch.amazonaws.com", action: "lambda:InvokeFunction", resource: fnArn, context: { "aws:SourceArn": `arn:aws:cloudwatch:${R.replace(ACCOUNT, account)}:alarm:${alarmName}`, "aws:SourceAccount": account } }, policy);
      assert.equal(await invoke("spotq-boot-breaker"), "Allowed");
      assert.notEqual(await invoke("someone-elses-alarm"), "Allowed");
      assert.notEqual(await invoke("spotq-boot-breaker", "999988887777"), "Allowed");
    });
  });

  describe("its role, evaluated with an IAM simulator (whole stack)", () => {
    const stack = synthStack(testConfig());
    let role: Policy[];
    before(() => {
      role = rolePolicies(stack, "boot-breaker_role");
    });

    it("may be assumed by Lambda of this account only", () => {
      const trust = JSON.parse(new ReferenceResolver(stack).resolve(stack.resource("aws_iam_role", "boot-breaker_role").assume_role_policy));
      assert.deepEqual(trust.Statement[0].Principal, { Service: "lambda.amazonaws.com" });
      assert.deepEqual(trust.Statement[0].Condition, { StringEquals: { "aws:SourceAccount": ACCOUNT } });
    });

    it("suspends launches of its own group, tags it with the breaker tag, reads it and notifies the encrypted topic", () =>
      assertAllowed(
        role,
        req("autoscaling:SuspendProcesses", GROUP, ownGroup),
        req("autoscaling:CreateOrUpdateTags", GROUP, { ...ownGroup, "aws:TagKeys": [BREAKER_TAG] }),
        req("autoscaling:DescribeAutoScalingGroups", "*"),
        req("sns:Publish", TOPIC),
        req("logs:PutLogEvents", `arn:aws:logs:${R}:log-group:/aws/lambda/spotq-boot-breaker:log-stream:x`),
      ));

    it("may use the topic's key, as the key policy and its own policy together decide", async () => {
      const keyPolicy = JSON.parse(new ReferenceResolver(stack).resolve(stack.resource("aws_kms_key").policy)) as Policy;
      const principal = `arn:aws:iam::${ACCOUNT}:role/spotq-boot-breaker`;
      for (const action of ["kms:GenerateDataKey", "kms:Decrypt"])
        assert.equal(await decide(role, { principal, action, resource: `arn:aws:kms:${R}:key/${KMS_KEY_ID}` }, keyPolicy), "Allowed", action);
      assert.notEqual(await decide(role, { principal, action: "kms:ScheduleKeyDeletion", resource: `arn:aws:kms:${R}:key/${KMS_KEY_ID}` }, keyPolicy), "Allowed");
    });

    it("cannot touch another group, rewrite the group tag, resume, resize or notify anyone else", () =>
      assertDenied(
        role,
        req("autoscaling:SuspendProcesses", OTHER_GROUP, { "autoscaling:ResourceTag/spotq:group": "web-servers" }),
        req("autoscaling:CreateOrUpdateTags", GROUP, { ...ownGroup, "aws:TagKeys": ["spotq:group"] }),
        req("autoscaling:CreateOrUpdateTags", GROUP, { ...ownGroup, "aws:TagKeys": [BREAKER_TAG, "spotq:group"] }),
        req("autoscaling:DeleteTags", GROUP, ownGroup),
        req("autoscaling:ResumeProcesses", GROUP, ownGroup),
        req("autoscaling:SetDesiredCapacity", GROUP, ownGroup),
        req("autoscaling:UpdateAutoScalingGroup", GROUP, ownGroup),
        req("autoscaling:TerminateInstanceInAutoScalingGroup", GROUP, ownGroup),
        req("sns:Publish", `arn:aws:sns:${R}:billing-alerts`),
        req("kms:Decrypt", `arn:aws:kms:${R}:key/11111111-2222-3333-4444-555555555555`),
      ));

    it("is wired to the stack's group, topic and alarm", () => {
      const fnEnv = stack.resource("aws_lambda_function", "boot-breaker").environment.variables;
      assert.equal(fnEnv[BREAKER_ENV.topicArn], stack.ref("aws_sns_topic", "", "arn"));
      assert.equal(fnEnv[BREAKER_ENV.group], "spotq-workers");
      assert.deepEqual(stack.resource("aws_cloudwatch_metric_alarm", "boot-breaker").alarm_actions, [stack.ref("aws_lambda_function", "boot-breaker", "arn")]);
    });
  });
});
