import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import type { FleetConfigInput } from "../../core/fleet-config.ts";
import { GROUP_TAG } from "../../core/names.ts";
import { Fleet, GROUP_METRICS } from "../../infra/constructs/fleet.ts";
import type { QueuesRef } from "../../infra/constructs/refs.ts";
import { BOOT_VARIABLES } from "../../infra/user-data/template.ts";
import { ACCOUNT, assertHasResource, FIXTURE_BUNDLES, synthScope, TEST_ENV, testConfig, unsafeTestConfig, type Synth } from "./support/synth.ts";

const queues: QueuesRef = {
  jobs: { name: "spotq-jobs", arn: `arn:aws:sqs:us-east-1:${ACCOUNT}:spotq-jobs`, url: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs` },
  dlq: { name: "spotq-jobs-dlq", arn: `arn:aws:sqs:us-east-1:${ACCOUNT}:spotq-jobs-dlq`, url: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs-dlq` },
};

function fleetOf(overrides: FleetConfigInput = {}, workerBundleDir = FIXTURE_BUNDLES.workerDir, makeConfig = testConfig): { synth: Synth; fleet: Fleet } {
  const config = makeConfig(overrides);
  let fleet: Fleet | undefined;
  const synth = synthScope((scope) => {
    fleet = new Fleet(scope, "fleet", {
      config,
      env: TEST_ENV,
      workerBundleDir,
      dataBucket: { name: "spotq-data", arn: "arn:aws:s3:::spotq-data" },
      artifactsBucket: { name: "spotq-artifacts", arn: "arn:aws:s3:::spotq-artifacts" },
      queues,
      table: { name: "spotq-jobs", arn: `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/spotq-jobs` },
    });
  });
  return { synth, fleet: fleet! };
}

describe("infra/constructs/fleet", () => {
  const { synth, fleet } = fleetOf({ fleet: { maxSize: 7, rootVolumeGiB: 300, bootSeconds: 480, onDemandBaseCapacity: 1 } });
  const group = synth.resource("aws_autoscaling_group");
  const lt = synth.resource("aws_launch_template");

  describe("launch template", () => {
    it("boots the config's AMI with IMDSv2 required", () => {
      assertHasResource(synth, LaunchTemplate, {
        image_id: "ami-0123456789abcdef0",
        metadata_options: { http_endpoint: "enabled", http_tokens: "required", http_put_response_hop_limit: 1 },
      });
    });

    it("has an encrypted gp3 root volume of the configured size on the AMI's root device", () => {
      assert.deepEqual(lt.block_device_mappings, [
        {
          device_name: synth.dataRef("aws_ami", "root_device_name"),
          ebs: { volume_size: 300, volume_type: "gp3", encrypted: "true", delete_on_termination: "true" },
        },
      ]);
    });

    it("runs with the worker's instance profile and the fleet's security group", () => {
      assert.equal(lt.iam_instance_profile.arn, synth.ref("aws_iam_instance_profile", "", "arn"));
      assert.deepEqual(lt.vpc_security_group_ids, [synth.ref("aws_security_group", "", "id")]);
      const profile = synth.resource("aws_iam_instance_profile");
      assert.equal(profile.role, synth.ref("aws_iam_role", "role", "name"));
      const trust = JSON.parse(synth.resource("aws_iam_role").assume_role_policy);
      assert.deepEqual(trust.Statement.map((s: { Principal: unknown; Action: string }) => [s.Principal, s.Action]), [[{ Service: "ec2.amazonaws.com" }, "sts:AssumeRole"]]);
    });

    it("renders the user data from a template with the deployment's names", () => {
      const ud = lt.user_data as string;
      assert.match(ud, /^\$\{base64encode\(templatefile\("assets\/[^"]+\/user-data\.ps1\.tpl", \{/);
      for (const name of Object.values(BOOT_VARIABLES)) assert.match(ud, new RegExp(`"${name}" = `), `user data variable ${name}`);
      assert.match(ud, /"queue_url" = "https:\/\/sqs\.us-east-1\.amazonaws\.com\/111122223333\/spotq-jobs"/);
      assert.match(ud, /"group" = "spotq-workers"/);
      assert.match(fleet.userDataTemplate, /^<powershell>/);
    });

    it("uses bash user data and checks the AMI is not Windows for a Linux fleet", () => {
      const linux = fleetOf({ fleet: { platform: "linux" } });
      assert.match(linux.synth.resource("aws_launch_template").user_data, /user-data\.sh\.tpl/);
      assert.match(linux.fleet.userDataTemplate, /^#!\/bin\/bash/);
      const ami = Object.values(linux.synth.data("aws_ami"))[0]!;
      assert.equal(ami.lifecycle.postcondition[0].condition, '${self.platform != "windows"}');
      const win = Object.values(synth.data("aws_ami"))[0]!;
      assert.equal(win.lifecycle.postcondition[0].condition, '${self.platform == "windows"}');
      assert.deepEqual(win.filter, [{ name: "image-id", values: ["ami-0123456789abcdef0"] }]);
      assert.equal(win.include_deprecated, true, "a deprecated AMI still launches: the lookup must not fail the plan");
    });

    it("terminates an instance that shuts itself down and tags what it launches with the group", () => {
      assert.equal(lt.instance_initiated_shutdown_behavior, "terminate");
      for (const spec of lt.tag_specifications as { tags: Record<string, string> }[]) assert.equal(spec.tags[GROUP_TAG], "spotq-workers");
    });
  });

  describe("Auto Scaling group", () => {
    it("scales from zero to the configured max over the configured subnets", () => {
      assertHasResource(synth, AutoscalingGroup, { name: "spotq-workers", min_size: 0, max_size: 7 });
      assert.deepEqual(group.vpc_zone_identifier, ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]);
      assert.equal(group.desired_capacity, undefined, "desired capacity is left to scaling");
      assert.deepEqual(group.lifecycle.ignore_changes, ["desired_capacity"]);
    });

    it("mixes GPU Spot types with price-capacity-optimized allocation, an optional on-demand base and capacity rebalance", () => {
      const mip = group.mixed_instances_policy;
      assert.equal(mip.instances_distribution.spot_allocation_strategy, "price-capacity-optimized");
      assert.equal(mip.instances_distribution.on_demand_base_capacity, 1);
      assert.equal(mip.instances_distribution.on_demand_percentage_above_base_capacity, 0);
      assert.deepEqual(
        mip.launch_template.override.map((o: { instance_type: string }) => o.instance_type),
        ["g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge", "g5.2xlarge"],
      );
      assert.deepEqual(mip.launch_template.launch_template_specification, { launch_template_id: synth.ref("aws_launch_template", "", "id"), version: "$Latest" });
      assert.equal(group.capacity_rebalance, true);
    });

    it("protects new instances from scale-in, warms them up for the boot time and publishes group metrics", () => {
      assert.equal(group.protect_from_scale_in, true);
      assert.equal(group.default_instance_warmup, 480);
      assert.deepEqual(group.enabled_metrics, [...GROUP_METRICS]);
      assert.equal(group.metrics_granularity, "1Minute");
    });

    it("carries the tag the IAM conditions rely on, onto its instances", () => {
      assert.deepEqual(group.tag.find((t: { key: string }) => t.key === GROUP_TAG), { key: GROUP_TAG, value: "spotq-workers", propagate_at_launch: true });
    });

    it("launches nothing before the worker's permissions exist", () => {
      assert.deepEqual(group.depends_on, [`aws_iam_role_policy.${synth.nameOf("aws_iam_role_policy")}`]);
    });
  });

  describe("network", () => {
    it("lets nothing in, and only HTTPS out", () => {
      const sg = synth.resource("aws_security_group");
      assert.equal(sg.ingress, undefined);
      assert.deepEqual(Object.keys(synth.resources("aws_vpc_security_group_ingress_rule")), []);
      assert.deepEqual(Object.keys(synth.resources("aws_security_group_rule")), []);
      const egress = Object.values(synth.resources("aws_vpc_security_group_egress_rule"));
      assert.equal(egress.length, 2);
      for (const rule of egress) {
        assert.equal(rule.security_group_id, synth.ref("aws_security_group", "", "id"));
        assert.deepEqual([rule.ip_protocol, rule.from_port, rule.to_port], ["tcp", 443, 443]);
      }
      assert.equal(sg.vpc_id, synth.dataRef("aws_subnet", "vpc_id"));
      assert.equal(Object.values(synth.data("aws_subnet"))[0]!.id, "subnet-0123456789abcdef0");
    });
  });

  describe("artifacts and logs", () => {
    it("uploads the worker bundle and the fleet config under content-addressed keys", () => {
      const bundle = synth.resource("aws_s3_object", "bundle");
      assert.match(bundle.key, /^worker\/[0-9a-f]{16}\/worker\.mjs$/);
      assert.equal(bundle.bucket, "spotq-artifacts");
      assert.match(bundle.source, /^assets\/.*\/worker\.mjs$/);
      const config = synth.resource("aws_s3_object", "config");
      assert.match(config.key, /^config\/[0-9a-f]{16}\.json$/);
      assert.equal(JSON.parse(config.content).fleet.maxSize, 7);
      const other = fleetOf({ fleet: { maxSize: 8 } }).synth.resource("aws_s3_object", "config");
      assert.notEqual(other.key, config.key, "a changed config is a new object, so instances pick it up");
    });

    it("creates the job and worker log groups with retention", () => {
      const groups = Object.values(synth.resources("aws_cloudwatch_log_group")).map((g) => [g.name, g.retention_in_days]);
      assert.deepEqual(groups.sort(), [
        ["/spotq/spotq/jobs", 30],
        ["/spotq/spotq/workers", 30],
      ]);
    });

    it("escapes Terraform template sequences a user's config may contain (synth refuses them; this is the second line of defence)", () => {
      const { synth: s } = fleetOf({ processor: { env: { LICENSE: "${NOT_TERRAFORM}", X: "%{ if }" } } }, FIXTURE_BUNDLES.workerDir, unsafeTestConfig);
      const content = s.resource("aws_s3_object", "config").content as string;
      assert.ok(content.includes('"$${NOT_TERRAFORM}"') && content.includes('"%%{ if }"'), content);
    });

    it("names the missing worker bundle", () => {
      const empty = mkdtempSync(join(tmpdir(), "spotq-nobundle-"));
      assert.throws(() => fleetOf({}, empty), /workerBundleDir: .* holds no worker\.mjs: bundle worker\/main\.ts first/);
    });
  });
});
