import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import type { FleetConfigInput } from "../../core/fleet-config.ts";
import { deployConfig } from "../../infra/deploy-config.ts";
import { GROUP_TAG } from "../../core/names.ts";
import { ARTIFACT_KEYS, Fleet, GROUP_METRICS } from "../../infra/constructs/fleet.ts";
import type { QueuesRef } from "../../infra/constructs/refs.ts";
import { NAME_VARIABLES } from "../../infra/user-data/template.ts";
import { ACCOUNT, assertHasResource, FIXTURE_BUNDLES, synthScope, synthStack, TEST_ENV, testConfig, unsafeTestConfig, type Synth } from "./support/synth.ts";

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

const queues: QueuesRef = {
  jobs: { name: "spotq-jobs", arn: `arn:aws:sqs:us-east-1:${ACCOUNT}:spotq-jobs`, url: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs` },
  dlq: { name: "spotq-jobs-dlq", arn: `arn:aws:sqs:us-east-1:${ACCOUNT}:spotq-jobs-dlq`, url: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs-dlq` },
};

function fleetOf(overrides: FleetConfigInput = {}, workerBundleDir = FIXTURE_BUNDLES.workerDir, makeConfig = testConfig, configDir?: string): { synth: Synth; fleet: Fleet } {
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
      ...(configDir ? { configDir } : {}),
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

    it("renders the user data from a template with the deployment's names and the artifacts' version ids", () => {
      const ud = lt.user_data as string;
      assert.match(ud, /^\$\{base64encode\(templatefile\("assets\/[^"]+\/user-data\.ps1\.tpl", \{/);
      for (const name of NAME_VARIABLES) assert.match(ud, new RegExp(`"${name}" = `), `user data variable ${name}`);
      for (const [name, object] of [["worker_version", "bundle"], ["config_version", "config"], ["service_version", "service-wrapper"]] as const)
        assert.ok(ud.includes(`"${name}" = ${synth.ref("aws_s3_object", object, "version_id").slice(2, -1)}`), `${name} is the ${object} object's version id`);
      assert.doesNotMatch(ud, /"node_version"/, "no Node.js artifact unless one is pinned");
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
      assert.deepEqual(mip.launch_template.launch_template_specification, {
        launch_template_id: synth.ref("aws_launch_template", "", "id"),
        version: synth.ref("aws_launch_template", "", "latest_version"),
      });
      assert.doesNotMatch(JSON.stringify(group), /\$Latest|\$Default/, "a concrete version, never $Latest");
      assert.equal(group.capacity_rebalance, true);
    });

    it("protects new instances from scale-in, warms them up for the boot time and publishes group metrics", () => {
      assert.equal(group.protect_from_scale_in, true);
      assert.equal(group.default_instance_warmup, 480);
      assert.deepEqual(group.enabled_metrics, [...GROUP_METRICS]);
      assert.equal(group.metrics_granularity, "1Minute");
    });

    it("keeps AZRebalance suspended (workers terminate themselves with decrement), and only that: a deploy resumes a tripped breaker's Launch", () => {
      assert.deepEqual(group.suspended_processes, ["AZRebalance"]);
      assert.deepEqual(group.lifecycle.ignore_changes, ["desired_capacity"], "Terraform owns suspended_processes and tags");
    });

    it("rolls a new launch template version out with an instance refresh that never kills a busy (protected) worker", () => {
      assert.deepEqual(group.instance_refresh, {
        strategy: "Rolling",
        preferences: {
          min_healthy_percentage: 100,
          max_healthy_percentage: 200,
          skip_matching: true,
          scale_in_protected_instances: "Ignore",
          standby_instances: "Ignore",
        },
      });
      const waiting = fleetOf({ fleet: { instanceRefresh: { scaleInProtectedInstances: "Wait", minHealthyPercentage: 90, maxHealthyPercentage: 100 } } }).synth.resource("aws_autoscaling_group");
      assert.equal(waiting.instance_refresh.preferences.scale_in_protected_instances, "Wait");
      assert.equal(waiting.instance_refresh.preferences.min_healthy_percentage, 90);
      const off = fleetOf({ fleet: { instanceRefresh: { enabled: false } } }).synth.resource("aws_autoscaling_group");
      assert.equal(off.instance_refresh, undefined);
    });

    it("has a launching hook (ABANDON when the worker never says it booted) and a terminating hook (CONTINUE), with the configured timeouts", () => {
      const hooks = Object.values(synth.resources("aws_autoscaling_lifecycle_hook"));
      assert.deepEqual(
        hooks.map((h) => [h.name, h.lifecycle_transition, h.default_result, h.heartbeat_timeout, h.autoscaling_group_name]).sort(),
        [
          ["spotq-launching", "autoscaling:EC2_INSTANCE_LAUNCHING", "ABANDON", 1800, synth.ref("aws_autoscaling_group", "", "name")],
          ["spotq-terminating", "autoscaling:EC2_INSTANCE_TERMINATING", "CONTINUE", 900, synth.ref("aws_autoscaling_group", "", "name")],
        ],
      );
      const custom = fleetOf({ fleet: { lifecycleHooks: { launchTimeoutSeconds: 2400, terminateTimeoutSeconds: 300 } } }).synth;
      assert.deepEqual(Object.values(custom.resources("aws_autoscaling_lifecycle_hook")).map((h) => h.heartbeat_timeout).sort(), [2400, 300]);
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
    it("uploads the worker bundle, the fleet config and the service wrapper under fixed keys, which a deploy updates in place and never deletes", () => {
      const bundle = synth.resource("aws_s3_object", "bundle");
      assert.equal(bundle.key, ARTIFACT_KEYS.worker);
      assert.equal(bundle.bucket, "spotq-artifacts");
      assert.match(bundle.source, /^assets\/.*\/worker\.mjs$/);
      assert.equal(bundle.source_hash, sha256(readFileSync(join(FIXTURE_BUNDLES.workerDir, "worker.mjs"))), "a changed file is uploaded again");
      const config = synth.resource("aws_s3_object", "config");
      assert.equal(config.key, ARTIFACT_KEYS.config);
      assert.equal(JSON.parse(config.content).fleet.maxSize, 7);
      const wrapper = synth.resource("aws_s3_object", "service-wrapper");
      assert.equal(wrapper.key, ARTIFACT_KEYS.service);
      assert.match(wrapper.content, /public class SpotqWorkerService : ServiceBase/);
      assert.equal(Object.keys(fleetOf({ fleet: { platform: "linux", bootSeconds: 90 } }).synth.resources("aws_s3_object")).length, 2, "no service wrapper for Linux");

      // Another bundle and config: the same resources and keys (Terraform replaces an object only when its bucket or key changes,
      // and a replacement would delete every version), with new content and a new user data naming the new SHA-256.
      const otherDir = mkdtempSync(join(tmpdir(), "spotq-bundle-"));
      writeFileSync(join(otherDir, "worker.mjs"), "export const release = 2;\n");
      const other = fleetOf({ fleet: { maxSize: 8 } }, otherDir);
      const objects = (x: Synth) => Object.fromEntries(Object.entries(x.resources("aws_s3_object")).map(([name, o]) => [name, [o.bucket, o.key]]));
      assert.deepEqual(objects(other.synth), objects(synth));
      assert.notEqual(other.synth.resource("aws_s3_object", "bundle").source_hash, bundle.source_hash);
      assert.notEqual(other.synth.resource("aws_s3_object", "config").content, config.content);
      assert.notEqual(other.fleet.userDataTemplate, fleet.userDataTemplate, "a new launch template version, which the instance refresh rolls out");
      assert.ok(other.fleet.userDataTemplate.includes(sha256("export const release = 2;\n")));
    });

    it("creates the job, worker and boot log groups with retention", () => {
      const groups = Object.values(synth.resources("aws_cloudwatch_log_group")).map((g) => [g.name, g.retention_in_days]);
      assert.deepEqual(groups.sort(), [
        ["/spotq/spotq/boot", 30],
        ["/spotq/spotq/jobs", 30],
        ["/spotq/spotq/workers", 30],
      ]);
    });

    describe("a pinned Node.js release (fleet.artifacts.node)", () => {
      const dir = mkdtempSync(join(tmpdir(), "spotq-config-"));
      const archive = Buffer.from("a small fake Node.js archive");
      mkdirSync(join(dir, "vendor", "node"), { recursive: true });
      writeFileSync(join(dir, "vendor", "node", "node-v24.11.1-win-x64.zip"), archive);
      const pinned = (node: Record<string, string>) => fleetOf({ fleet: { artifacts: { node: { version: "24.11.1", sha256: sha256(archive), ...node } } } }, FIXTURE_BUNDLES.workerDir, testConfig, dir);

      it("is checked against its SHA-256 at synth and shipped through the artifacts bucket", () => {
        const { synth: s, fleet: f } = pinned({});
        const node = s.resource("aws_s3_object", "node-archive");
        assert.equal(node.key, ARTIFACT_KEYS.nodeWindows);
        assert.equal(node.source_hash, sha256(archive));
        assert.match(node.source, /^assets\/.*\/node-v24\.11\.1-win-x64\.zip$/);
        assert.ok(s.resource("aws_launch_template").user_data.includes(`"node_version" = ${s.ref("aws_s3_object", "node-archive", "version_id").slice(2, -1)}`));
        assert.match(f.userDataTemplate, new RegExp(`node = @\\{ Key = 'worker/node\\.zip'; Version = '\\$\\{node_version\\}'; Sha256 = '${sha256(archive)}' \\}`));
      });

      it("refuses an archive that is not the pinned one, or none at all, naming the key", () => {
        assert.throws(() => pinned({ sha256: "0".repeat(64) }), /fleet\.artifacts\.node: .*node-v24\.11\.1-win-x64\.zip has SHA-256 [0-9a-f]{64}, not the pinned 0{64}/);
        assert.throws(() => pinned({ archive: "elsewhere/node.zip" }), /fleet\.artifacts\.node: .*elsewhere\/node\.zip does not exist: run `npm run fetch:node`/);
      });
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

  describe("the container profile (processor.container)", () => {
    const CONTAINER: FleetConfigInput = {
      fleet: { platform: "linux", bootSeconds: 240 },
      processor: { container: { image: "medit-iscan:v3", gpus: "all" } },
    };

    it("creates the ECR repository of an image given by name: scanned, encrypted, kept on destroy, with a lifecycle that never expires the fleet's tag", () => {
      const { synth: s, fleet: f } = fleetOf(CONTAINER);
      const repo = s.resource("aws_ecr_repository");
      assert.equal(repo.name, "medit-iscan");
      assert.deepEqual(repo.image_scanning_configuration, { scan_on_push: true });
      assert.deepEqual(repo.encryption_configuration, [{ encryption_type: "AES256" }]);
      assert.equal(repo.force_delete, false, "a destroy does not delete the images");
      assert.equal(repo.image_tag_mutability, "MUTABLE");
      const lifecycle = s.resource("aws_ecr_lifecycle_policy");
      assert.equal(lifecycle.repository, s.ref("aws_ecr_repository", "", "name"));
      const rules = JSON.parse(lifecycle.policy).rules;
      assert.deepEqual(
        rules.map((r: { rulePriority: number; selection: Record<string, unknown> }) => [r.rulePriority, r.selection]),
        [
          [1, { tagStatus: "tagged", tagPatternList: ["v3"], countType: "imageCountMoreThan", countNumber: 9999 }],
          [2, { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: 7 }],
          [3, { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 30 }],
        ],
      );
      assert.ok(f.registry?.repository, "the construct exposes the repository it created");
      const stack = synthStack(testConfig(CONTAINER));
      assert.deepEqual(stack.tf.output?.container_repository_url?.value, stack.ref("aws_ecr_repository", "", "repository_url"), "the stack says where to push");
      const keep = JSON.parse(fleetOf({ ...CONTAINER, processor: { container: { image: "medit-iscan", keepImages: 5 } } }).synth.resource("aws_ecr_lifecycle_policy").policy);
      assert.equal(keep.rules.at(-1).selection.countNumber, 5);
      assert.deepEqual(keep.rules[0].selection.tagPatternList, ["latest"], "the default tag is protected too");
    });

    it("references an existing repository given by URI, creating nothing, and grants pull on that repository", () => {
      const { synth: s } = fleetOf({ ...CONTAINER, processor: { container: { image: "444455556666.dkr.ecr.eu-west-1.amazonaws.com/lab/medit@sha256:" + "b".repeat(64) } } });
      assert.deepEqual(Object.keys(s.resources("aws_ecr_repository")), []);
      assert.deepEqual(Object.keys(s.resources("aws_ecr_lifecycle_policy")), []);
      const policy = JSON.parse(s.resource("aws_iam_role_policy").policy);
      const pull = policy.Statement.find((st: { Sid: string }) => st.Sid === "PullContainerImage");
      assert.equal(pull.Resource, "arn:aws:ecr:eu-west-1:444455556666:repository/lab/medit");
    });

    it("boots the ECS GPU-optimised AMI from its SSM parameter without fleet.amiId, and the configured AMI with it", () => {
      const dir = mkdtempSync(join(tmpdir(), "spotq-config-"));
      const archive = Buffer.from("a small fake Node.js archive for linux");
      mkdirSync(join(dir, "vendor", "node"), { recursive: true });
      writeFileSync(join(dir, "vendor", "node", "node-v24.11.1-linux-x64.tar.gz"), archive);
      const noAmi = (config: FleetConfigInput = {}) => unsafeTestConfig({ ...config, fleet: { ...config.fleet, amiId: undefined as never } });
      const pinned: FleetConfigInput = { ...CONTAINER, fleet: { ...CONTAINER.fleet, artifacts: { node: { version: "24.11.1", sha256: sha256(archive) } } } };
      const { synth: s } = fleetOf(pinned, FIXTURE_BUNDLES.workerDir, noAmi, dir);
      const parameter = Object.values(s.data("aws_ssm_parameter"));
      assert.deepEqual(parameter.map((p) => p.name), ["/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"]);
      const imageId = s.dataRef("aws_ssm_parameter", "insecure_value");
      assert.equal(s.resource("aws_launch_template").image_id, imageId);
      const ami = Object.values(s.data("aws_ami"))[0]!;
      assert.deepEqual(ami.filter, [{ name: "image-id", values: [imageId] }]);
      assert.match(ami.lifecycle.postcondition[0].error_message, /the ECS GPU-optimised AMI \(\/aws\/service\/ecs\/optimized-ami\/amazon-linux-2023\/gpu\/recommended\/image_id\) is a Windows AMI/);

      const own = fleetOf(CONTAINER).synth;
      assert.deepEqual(Object.keys(own.data("aws_ssm_parameter")), [], "fleet.amiId wins");
      assert.equal(own.resource("aws_launch_template").image_id, "ami-0123456789abcdef0");
      assert.deepEqual(Object.keys(fleetOf({ fleet: { platform: "linux", bootSeconds: 240 } }).synth.data("aws_ssm_parameter")), [], "no container, no ECS AMI");
    });

    it("refuses the default AMI without a pinned Node.js (it has none), naming the key, at synth and in the construct", () => {
      assert.throws(
        () => testConfig({ ...CONTAINER, fleet: { ...CONTAINER.fleet, amiId: undefined as never } }),
        /fleet\.artifacts\.node: is required when processor\.container runs on the default ECS GPU-optimised AMI/,
      );
      assert.throws(
        () => fleetOf(CONTAINER, FIXTURE_BUNDLES.workerDir, (c: FleetConfigInput = {}) => unsafeTestConfig({ ...c, fleet: { ...c.fleet, amiId: undefined as never } })),
        /fleet\.artifacts\.node: is required when processor\.container runs on the default ECS GPU-optimised AMI/,
      );
      assert.throws(() => testConfig({ fleet: { platform: "linux", amiId: undefined as never } }), /fleet\.amiId: is required to deploy/, "without a container the AMI is still required");
    });

    it("the container example config (spotq.config.container.example.json) is deployable once its Node.js is fetched", () => {
      const example = JSON.parse(readFileSync(new URL("../../spotq.config.container.example.json", import.meta.url), "utf8"));
      const config = deployConfig(example, "spotq.config.container.example.json");
      assert.equal(config.fleet.amiId, undefined, "it boots the ECS GPU AMI");
      assert.equal(config.processor.container?.image, "scan-inference:v1");
    });

    it("starts Docker in the user data before the worker, and ships the container block in the worker's config", () => {
      const { synth: s, fleet: f } = fleetOf(CONTAINER);
      assert.match(f.userDataTemplate, /# 2b\. Docker for processor\.container/);
      assert.match(f.userDataTemplate, /^After=network-online\.target docker\.service$/m);
      assert.deepEqual(JSON.parse(s.resource("aws_s3_object", "config").content).processor.container, {
        image: "medit-iscan:v3",
        gpus: "all",
        stopTimeoutSeconds: 10,
        pullTimeoutSeconds: 900,
      });
      assert.doesNotMatch(fleetOf({ fleet: { platform: "linux", bootSeconds: 240 } }).fleet.userDataTemplate, /docker/);
    });
  });
});
