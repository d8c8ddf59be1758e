import assert from "node:assert/strict";
import type { FleetConfigInput } from "../../core/fleet-config.ts";
import { GROUP_TAG } from "../../core/names.ts";
import { deploymentFromEnv, ENV } from "../../core/runtime.ts";
import { SIGNAL_EXPRESSIONS } from "../../core/scaling/policy.ts";
import { Testing } from "../../infra/cdktf.ts";
import { SpotqStack } from "../../infra/stacks/spotq-stack.ts";
import { fillTemplate, type BootVariable } from "../../infra/user-data/template.ts";
import { USER_DATA_LIMIT_BYTES } from "../../infra/user-data/worker-boot.ts";
import { assertAllowed, assertDenied, GROUP_ID, ReferenceResolver, rolePolicies, type Request } from "./support/iam.ts";
import { ACCOUNT, FIXTURE_BUNDLES, Synth, testConfig } from "./support/synth.ts";

/**
 * The On-Demand fallback's infra (issue 9 §8, docs/scaling.md): with `scaling.onDemandFallback`, a
 * second Auto Scaling group `<name>-workers-ondemand` (min 0, max `maxSize`, one instance type, no
 * Spot) whose workers serve `<name>-jobs-ondemand`, scaled by the deficit alarm on that queue; the
 * Spot workers are told of the queue and group, and may raise the group. Without the key, none of it.
 */

const R = `us-east-1:${ACCOUNT}`;
const OD_QUEUE_URL = `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs-ondemand`;
const OD_QUEUE = `arn:aws:sqs:${R}:spotq-jobs-ondemand`;
const groupArn = (name: string) => `arn:aws:autoscaling:${R}:autoScalingGroup:${GROUP_ID}:autoScalingGroupName/${name}`;
const SPOT_GROUP = groupArn("spotq-workers");
const OD_GROUP = groupArn("spotq-workers-ondemand");
const OTHER_GROUP = groupArn("web-servers");
const tagged = (group: string) => ({ [`autoscaling:ResourceTag/${GROUP_TAG}`]: group });
const req = (action: string, resource: string, context?: Request["context"]): Request => ({ action, resource, ...(context ? { context } : {}) });

const FALLBACK = { scaling: { onDemandFallback: { afterInterruptions: 2, maxSize: 3, instanceType: "g5.xlarge" } } } satisfies FleetConfigInput;

function stackOf(overrides: FleetConfigInput) {
  const config = testConfig(overrides);
  const stack = new SpotqStack(Testing.app(), config.name, { config, bundles: FIXTURE_BUNDLES });
  return { stack, synth: new Synth(Testing.synth(stack)) };
}

/** The one resource of a type whose `name` (or another argument) has this value. */
function byArg(synth: Synth, type: string, value: string, arg = "name"): Record<string, any> {
  const found = Object.values(synth.resources(type)).filter((r) => r[arg] === value);
  assert.equal(found.length, 1, `expected one ${type} with ${arg} = ${value}, found ${found.length}`);
  return found[0]!;
}

/**
 * The values a launch template hands `templatefile()`, resolved to what AWS would give them (the
 * artifacts' version ids, known only after upload, become stand-ins).
 */
function templateValues(synth: Synth, lt: Record<string, any>): Record<string, string> {
  const ud = lt.user_data as string;
  const args = /templatefile\("[^"]+", \{(.*)\}\)\)\}$/.exec(ud)?.[1];
  assert.ok(args, `user data is a templatefile() call: ${ud.slice(0, 120)}`);
  const resolver = new ReferenceResolver(synth);
  const values: Record<string, string> = {};
  for (const m of args.matchAll(/"([a-z_]+)" = ("(?:[^"\\]|\\.)*"|[^,]+)/g)) {
    const [, name, raw] = m as unknown as [string, string, string];
    values[name] = raw.startsWith('"') ? JSON.parse(raw) : raw.endsWith(".version_id") ? `v-${name}` : resolver.resolve("${" + raw + "}");
  }
  return values;
}

/** The worker's environment as a Linux instance writes it (the systemd EnvironmentFile lines). */
function linuxWorkerEnv(script: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of script.matchAll(/^(SPOTQ_[A-Z_]+|AWS_[A-Z0-9_]+)="((?:[^"\\]|\\.)*)"$/gm)) env[m[1]!] = m[2]!.replace(/\\(.)/g, "$1");
  return env;
}

describe("infra: the On-Demand fallback (scaling.onDemandFallback)", () => {
  const { stack, synth } = stackOf({ ...FALLBACK, fleet: { maxSize: 7 } });
  const spotGroup = byArg(synth, "aws_autoscaling_group", "spotq-workers");
  const odGroup = byArg(synth, "aws_autoscaling_group", "spotq-workers-ondemand");
  const spotLt = byArg(synth, "aws_launch_template", "spotq-worker");
  const odLt = byArg(synth, "aws_launch_template", "spotq-worker-ondemand");
  const odGroupName = synth.ref("aws_autoscaling_group", "ondemand-group", "name");

  describe("the On-Demand group", () => {
    it("scales from 0 to onDemandFallback.maxSize on one launch template, with no mixed-instances policy (no Spot)", () => {
      assert.equal(odGroup.min_size, 0);
      assert.equal(odGroup.max_size, 3);
      assert.equal(odGroup.desired_capacity, undefined, "desired capacity is left to scaling");
      assert.deepEqual(odGroup.launch_template, { id: synth.ref("aws_launch_template", "ondemand-launch-template", "id"), version: synth.ref("aws_launch_template", "ondemand-launch-template", "latest_version") });
      assert.equal(odGroup.mixed_instances_policy, undefined);
      assert.equal(odGroup.capacity_rebalance, undefined, "capacity rebalance is a Spot matter");
      assert.equal(spotGroup.max_size, 7, "the Spot group keeps fleet.maxSize");
      assert.ok(spotGroup.mixed_instances_policy, "the Spot group keeps its mixed-instances policy");
    });

    it("has the Spot group's subnets, scale-in protection, suspended processes, warmup, health checks, metrics, instance refresh and boot ordering", () => {
      for (const key of ["vpc_zone_identifier", "protect_from_scale_in", "suspended_processes", "default_instance_warmup", "health_check_type", "health_check_grace_period", "enabled_metrics", "metrics_granularity", "wait_for_capacity_timeout", "force_delete", "instance_refresh", "lifecycle", "depends_on"])
        assert.deepEqual(odGroup[key], spotGroup[key], key);
      assert.equal(odGroup.protect_from_scale_in, true);
      assert.ok((odGroup.enabled_metrics as string[]).includes("GroupInServiceInstances"), "the deficit alarm reads it");
    });

    it("carries its own group tag onto its instances (the role's conditions read it)", () => {
      assert.deepEqual(
        (odGroup.tag as { key: string; value: string; propagate_at_launch: boolean }[]).find((t) => t.key === GROUP_TAG),
        { key: GROUP_TAG, value: "spotq-workers-ondemand", propagate_at_launch: true },
      );
      for (const spec of odLt.tag_specifications as { tags: Record<string, string> }[]) assert.equal(spec.tags[GROUP_TAG], "spotq-workers-ondemand");
    });

    it("has the launching (ABANDON) and terminating (CONTINUE) hooks, named as the worker completes them, with the configured timeouts", () => {
      const hooks = Object.values(synth.resources("aws_autoscaling_lifecycle_hook"));
      const of = (group: string) =>
        hooks
          .filter((h) => h.autoscaling_group_name === group)
          .map((h) => [h.name, h.lifecycle_transition, h.default_result, h.heartbeat_timeout])
          .sort();
      assert.deepEqual(of(odGroupName), of(synth.ref("aws_autoscaling_group", "fleet_group", "name")));
      assert.deepEqual(
        of(odGroupName).map(([name, transition, result]) => [name, transition, result]),
        [
          ["spotq-launching", "autoscaling:EC2_INSTANCE_LAUNCHING", "ABANDON"],
          ["spotq-terminating", "autoscaling:EC2_INSTANCE_TERMINATING", "CONTINUE"],
        ],
      );
    });
  });

  describe("its launch template", () => {
    it("launches onDemandFallback.instanceType On-Demand (no market options), with the Spot template's AMI, profile, security group, IMDSv2 and root volume", () => {
      assert.equal(odLt.instance_type, "g5.xlarge");
      assert.equal(odLt.instance_market_options, undefined);
      assert.equal(spotLt.instance_type, undefined, "the Spot group's types come from its overrides");
      for (const key of ["image_id", "iam_instance_profile", "vpc_security_group_ids", "metadata_options", "block_device_mappings", "instance_initiated_shutdown_behavior", "update_default_version"])
        assert.deepEqual(odLt[key], spotLt[key], key);
    });

    it("defaults the instance type to the first of fleet.instanceTypes", () => {
      const { synth: s } = stackOf({ scaling: { onDemandFallback: { afterInterruptions: 1 } }, fleet: { instanceTypes: ["g6.xlarge", "g5.xlarge"] } });
      const lt = byArg(s, "aws_launch_template", "spotq-worker-ondemand");
      assert.equal(lt.instance_type, "g6.xlarge");
      assert.equal(byArg(s, "aws_autoscaling_group", "spotq-workers-ondemand").max_size, 2, "maxSize defaults to 2");
    });

    it("fills the same user data template with the On-Demand queue and group, SPOTQ_GROUP_KIND=on-demand, and no high or On-Demand hand-off queue", () => {
      const spot = templateValues(synth, spotLt);
      const od = templateValues(synth, odLt);
      assert.equal(/templatefile\("([^"]+)"/.exec(odLt.user_data)![1], /templatefile\("([^"]+)"/.exec(spotLt.user_data)![1], "one template file");
      assert.deepEqual(
        { queue_url: od.queue_url, high_queue_url: od.high_queue_url, group: od.group, group_kind: od.group_kind, ondemand_queue_url: od.ondemand_queue_url, ondemand_group: od.ondemand_group },
        { queue_url: OD_QUEUE_URL, high_queue_url: "", group: "spotq-workers-ondemand", group_kind: "on-demand", ondemand_queue_url: "", ondemand_group: "" },
      );
      assert.deepEqual(
        { queue_url: spot.queue_url, group: spot.group, group_kind: spot.group_kind, ondemand_queue_url: spot.ondemand_queue_url, ondemand_group: spot.ondemand_group },
        { queue_url: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs`, group: "spotq-workers", group_kind: "spot", ondemand_queue_url: OD_QUEUE_URL, ondemand_group: "spotq-workers-ondemand" },
      );
      // Everything else (table, DLQ, bucket, artifacts) is the same deployment's.
      for (const k of ["table", "dlq_url", "bucket", "artifacts_bucket", "worker_version", "config_version"]) assert.equal(od[k], spot[k], k);
    });
  });

  describe("the workers' environment, as each group's worker reads it", () => {
    const { stack: linux, synth: linuxSynth } = stackOf({ ...FALLBACK, fleet: { platform: "linux" } });
    const envOf = (ltName: string) => {
      const values = templateValues(linuxSynth, byArg(linuxSynth, "aws_launch_template", ltName));
      const script = fillTemplate(linux.fleet.userDataTemplate, values as Partial<Record<BootVariable, string>>);
      return { script, env: linuxWorkerEnv(script) };
    };

    it("an On-Demand worker serves the On-Demand queue only, as the on-demand kind, in its own group", () => {
      const { env } = envOf("spotq-worker-ondemand");
      assert.equal(env[ENV.groupKind], "on-demand");
      assert.deepEqual(deploymentFromEnv(env), {
        tableName: "spotq-jobs",
        queueUrl: OD_QUEUE_URL,
        dlqUrl: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs-dlq`,
        bucket: `spotq-data-${ACCOUNT}`,
        groupName: "spotq-workers-ondemand",
        groupKind: "on-demand",
      });
    });

    it("a Spot worker knows the On-Demand queue to hand jobs to and the group to raise", () => {
      const d = deploymentFromEnv(envOf("spotq-worker").env);
      assert.equal(d.groupKind, "spot");
      assert.equal(d.queueUrl, `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs`);
      assert.equal(d.highQueueUrl, `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs-high`);
      assert.equal(d.onDemandQueueUrl, OD_QUEUE_URL);
      assert.equal(d.onDemandGroupName, "spotq-workers-ondemand");
      assert.equal(d.groupName, "spotq-workers");
    });

    it("fits EC2's 16 KB user data limit, on both platforms, for both groups", () => {
      for (const [s, st] of [
        [linuxSynth, linux],
        [synth, stack],
      ] as const)
        for (const name of ["spotq-worker", "spotq-worker-ondemand"]) {
          const size = Buffer.byteLength(fillTemplate(st.fleet.userDataTemplate, templateValues(s, byArg(s, "aws_launch_template", name)) as Partial<Record<BootVariable, string>>));
          assert.ok(size < USER_DATA_LIMIT_BYTES - 2000, `${name} (${st.fleet.userDataTemplate.slice(0, 12)}): ${size} bytes`);
        }
    });
  });

  describe("scaling: the deficit alarm and step policy of the On-Demand group, from the scaling model", () => {
    const alarm = byArg(synth, "aws_cloudwatch_metric_alarm", "spotq-ondemand-backlog-deficit", "alarm_name");
    const policy = byArg(synth, "aws_autoscaling_policy", "spotq-ondemand-scale-out-on-backlog-deficit");
    const resolver = new ReferenceResolver(synth);

    it("alarms on the On-Demand queue's visible and in-flight messages minus the On-Demand group's instances in service", () => {
      const queries = alarm.metric_query as { id: string; expression?: string; return_data: boolean; metric?: { metric_name: string; dimensions: Record<string, string> } }[];
      assert.deepEqual(
        queries.filter((q) => q.metric).map((q) => [q.id, q.metric!.metric_name, Object.fromEntries(Object.entries(q.metric!.dimensions).map(([k, v]) => [k, resolver.resolve(v)]))]),
        [
          ["visible", "ApproximateNumberOfMessagesVisible", { QueueName: "spotq-jobs-ondemand" }],
          ["inflight", "ApproximateNumberOfMessagesNotVisible", { QueueName: "spotq-jobs-ondemand" }],
          ["inservice", "GroupInServiceInstances", { AutoScalingGroupName: "spotq-workers-ondemand" }],
        ],
      );
      assert.deepEqual(queries.at(-1), { id: "deficit", expression: SIGNAL_EXPRESSIONS.deficit.expression, label: SIGNAL_EXPRESSIONS.deficit.label, return_data: true });
      assert.equal(alarm.threshold, 1);
      assert.equal(alarm.comparison_operator, "GreaterThanOrEqualToThreshold");
      assert.equal(alarm.treat_missing_data, "notBreaching");
      assert.deepEqual(alarm.alarm_actions, [synth.ref("aws_autoscaling_policy", "ondemand-scaling", "arn")]);
    });

    it("adds exactly the deficit to the On-Demand group, up to its maxSize, with the deficit warmup", () => {
      assert.equal(policy.autoscaling_group_name, odGroupName);
      assert.equal(policy.policy_type, "StepScaling");
      assert.equal(policy.adjustment_type, "ChangeInCapacity");
      assert.equal(policy.estimated_instance_warmup, 2 * 60);
      assert.deepEqual(
        (policy.step_adjustment as { metric_interval_lower_bound: string; metric_interval_upper_bound?: string; scaling_adjustment: number }[]).map((s) => [s.metric_interval_lower_bound, s.metric_interval_upper_bound, s.scaling_adjustment]),
        [
          ["0", "1", 1],
          ["1", "2", 2],
          ["2", undefined, 3],
        ],
      );
    });

    it("is the deficit policy whatever the Spot group's policy, and no schedule touches the On-Demand group", () => {
      const { synth: s } = stackOf({ ...FALLBACK, scaling: { ...FALLBACK.scaling, policy: "visible", schedule: { clinic: { recurrence: "0 7 * * 1-5", minSize: 1 } } } });
      assert.equal(byArg(s, "aws_cloudwatch_metric_alarm", "spotq-ondemand-backlog-deficit", "alarm_name").threshold, 1);
      assert.equal(byArg(s, "aws_cloudwatch_metric_alarm", "spotq-backlog", "alarm_name").alarm_name, "spotq-backlog", "the Spot group keeps its visible policy");
      const schedules = Object.values(s.resources("aws_autoscaling_schedule"));
      assert.equal(schedules.length, 1);
      assert.equal(schedules[0]!.autoscaling_group_name, s.ref("aws_autoscaling_group", "fleet_group", "name"));
    });

    it("leaves the Spot group's alarm on the jobs and high queues", () => {
      const spot = byArg(synth, "aws_cloudwatch_metric_alarm", "spotq-backlog-deficit", "alarm_name");
      const queues = (spot.metric_query as { metric?: { dimensions: Record<string, string> } }[]).flatMap((q) => (q.metric?.dimensions.QueueName ? [q.metric.dimensions.QueueName] : []));
      assert.deepEqual([...new Set(queues)].sort(), ["spotq-jobs", "spotq-jobs-high"]);
    });
  });

  describe("IAM (the workers' role, shared by both groups' instance profile), evaluated with an IAM simulator", () => {
    const worker = rolePolicies(synth, "fleet_role");

    it("both groups' instances share one instance profile", () => {
      assert.deepEqual(odLt.iam_instance_profile, { arn: synth.ref("aws_iam_instance_profile", "", "arn") });
    });

    it("a Spot worker may hand a job to the On-Demand queue and raise the On-Demand group", () =>
      assertAllowed(worker, req("sqs:SendMessage", OD_QUEUE), req("autoscaling:SetDesiredCapacity", OD_GROUP, tagged("spotq-workers-ondemand")), req("autoscaling:DescribeAutoScalingGroups", "*")));

    it("an On-Demand worker works the On-Demand queue and controls its own group's instances and hooks", () =>
      assertAllowed(
        worker,
        ...["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"].map((a) => req(a, OD_QUEUE)),
        ...["autoscaling:SetInstanceProtection", "autoscaling:TerminateInstanceInAutoScalingGroup", "autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:SetInstanceHealth"].map((a) =>
          req(a, OD_GROUP, tagged("spotq-workers-ondemand")),
        ),
      ));

    it("raises no other group (not even its own Spot group), and nothing without the On-Demand group's tag; cannot reshape the group", () =>
      assertDenied(
        worker,
        req("autoscaling:SetDesiredCapacity", SPOT_GROUP, tagged("spotq-workers")),
        req("autoscaling:SetDesiredCapacity", OD_GROUP, tagged("web-servers")),
        req("autoscaling:SetDesiredCapacity", OTHER_GROUP, tagged("web-servers")),
        req("autoscaling:TerminateInstanceInAutoScalingGroup", OTHER_GROUP, tagged("web-servers")),
        req("autoscaling:TerminateInstanceInAutoScalingGroup", OD_GROUP, tagged("web-servers")),
        req("autoscaling:UpdateAutoScalingGroup", OD_GROUP, tagged("spotq-workers-ondemand")),
        req("autoscaling:SuspendProcesses", OD_GROUP, tagged("spotq-workers-ondemand")),
        req("sqs:PurgeQueue", OD_QUEUE),
      ));
  });

  describe("without scaling.onDemandFallback (the default)", () => {
    const { stack: off, synth: offSynth } = stackOf({});

    it("synthesizes no On-Demand queue, group, launch template, hooks, alarm, policy or output", () => {
      assert.deepEqual(offSynth.allResources().filter(([, name]) => name.includes("ondemand")).map(([type, name]) => `${type}.${name}`), []);
      assert.equal(Object.keys(offSynth.resources("aws_autoscaling_group")).length, 1);
      assert.equal(Object.keys(offSynth.resources("aws_launch_template")).length, 1);
      assert.equal(Object.keys(offSynth.resources("aws_autoscaling_lifecycle_hook")).length, 2);
      assert.equal(Object.keys(offSynth.resources("aws_autoscaling_policy")).length, 1);
      // (The Spot group's own on_demand_base_capacity settings are no On-Demand fallback.)
      assert.doesNotMatch(offSynth.json, /ondemand|on_demand_(queue|group)|group_kind/, "no On-Demand fallback name anywhere in the configuration");
      assert.equal(off.fleet.onDemand, undefined);
      assert.equal(off.onDemandScaling, undefined);
    });

    it("leaves the Spot workers' user data without the fallback's variables", () => {
      const values = templateValues(offSynth, byArg(offSynth, "aws_launch_template", "spotq-worker"));
      for (const v of ["group_kind", "ondemand_queue_url", "ondemand_group"]) assert.equal(values[v], undefined, v);
      for (const e of [ENV.groupKind, ENV.onDemandQueueUrl, ENV.onDemandGroup]) assert.ok(!off.fleet.userDataTemplate.includes(e), e);
    });

    it("grants the role nothing on an On-Demand group", async () => {
      const role = rolePolicies(offSynth, "fleet_role");
      await assertDenied(
        role,
        req("autoscaling:SetDesiredCapacity", OD_GROUP, tagged("spotq-workers-ondemand")),
        req("autoscaling:CompleteLifecycleAction", OD_GROUP, tagged("spotq-workers-ondemand")),
        req("autoscaling:SetDesiredCapacity", SPOT_GROUP, tagged("spotq-workers")),
        req("sqs:SendMessage", OD_QUEUE),
      );
    });
  });
});
