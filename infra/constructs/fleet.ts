import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { DataAwsAmi } from "@cdktf/provider-aws/lib/data-aws-ami";
import { DataAwsSubnet } from "@cdktf/provider-aws/lib/data-aws-subnet";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { S3Object } from "@cdktf/provider-aws/lib/s3-object";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule";
import { Construct } from "constructs";
import { ValidationError } from "../../core/errors.ts";
import type { FleetConfig } from "../../core/fleet-config.ts";
import { GROUP_TAG, resourceNames } from "../../core/names.ts";
import { BUNDLE_FILES } from "../bundling.ts";
import { AssetType, Fn, TerraformAsset } from "../cdktf.ts";
import { renderBootTemplate } from "../user-data/boot-template.ts";
import { BOOT_VARIABLES, type BootVariable } from "../user-data/template.ts";
import { USER_DATA_LIMIT_BYTES, type WorkerBoot } from "../user-data/worker-boot.ts";
import { assumeRolePolicy, policyJson } from "./policy-document.ts";
import { groupArnPattern, type AwsEnv, type BucketRef, type GroupRef, type LogGroupRef, type QueuesRef, type TableRef } from "./refs.ts";
import { terraformLiteral } from "./terraform-string.ts";
import { workerPolicy } from "./worker-policy.ts";

/** The group metrics the dashboard and operators read, published every minute. */
export const GROUP_METRICS = [
  "GroupMinSize",
  "GroupMaxSize",
  "GroupDesiredCapacity",
  "GroupInServiceInstances",
  "GroupPendingInstances",
  "GroupTerminatingInstances",
  "GroupTotalInstances",
] as const;

/** An upper bound of any resolved name or URL the user data template receives (for the size check). */
const RESOLVED_VALUE_ALLOWANCE = 160;

export interface FleetProps {
  config: FleetConfig;
  env: AwsEnv;
  /** Folder holding the esbuild bundle `worker.mjs`; uploaded to the artifacts bucket. */
  workerBundleDir: string;
  dataBucket: BucketRef;
  artifactsBucket: BucketRef;
  queues: QueuesRef;
  table: TableRef;
}

/**
 * The GPU Spot fleet: the worker's artifacts, role and log groups, a security group without any
 * ingress, a launch template (the config's AMI, IMDSv2 only, encrypted gp3 root volume, user data
 * that installs the worker as a service), and the Auto Scaling group (min from the config, 0 by
 * default; mixed instances with price-capacity-optimized Spot and capacity rebalance; new
 * instances protected from scale-in).
 */
export class Fleet extends Construct {
  readonly group: AutoscalingGroup;
  /** The group's name and an ARN that matches it (usable in policies before the group exists). */
  readonly ref: GroupRef;
  readonly launchTemplate: LaunchTemplate;
  readonly securityGroup: SecurityGroup;
  readonly role: IamRole;
  readonly rolePolicy: IamRolePolicy;
  readonly instanceProfile: IamInstanceProfile;
  readonly jobLogGroup: CloudwatchLogGroup;
  readonly workerLogGroup: CloudwatchLogGroup;
  readonly workerBundle: S3Object;
  readonly workerConfig: S3Object;
  /** The user data as a Terraform template (`${queue_url}` and the like filled at apply time). */
  readonly userDataTemplate: string;

  constructor(scope: Construct, id: string, props: FleetProps) {
    super(scope, id);
    const { config, env } = props;
    const names = resourceNames(config.name);
    const f = config.fleet;
    if (!f.amiId) throw new ValidationError("cannot build the fleet", [{ field: "fleet.amiId", reason: "is required to deploy" }]);
    if (f.subnetIds.length === 0) throw new ValidationError("cannot build the fleet", [{ field: "fleet.subnetIds", reason: "is required to deploy" }]);
    const bundleFile = join(props.workerBundleDir, BUNDLE_FILES.worker);
    if (!existsSync(bundleFile))
      throw new ValidationError("cannot package the worker", [
        { field: "workerBundleDir", reason: `${props.workerBundleDir} holds no ${BUNDLE_FILES.worker}: bundle worker/main.ts first (infra/bundling.ts)` },
      ]);

    // Logs: a stream per job attempt, and one per instance for the daemon itself.
    this.jobLogGroup = new CloudwatchLogGroup(this, "job-logs", { name: names.jobLogGroup, retentionInDays: config.monitoring.logRetentionDays });
    this.workerLogGroup = new CloudwatchLogGroup(this, "worker-logs", { name: names.workerLogGroup, retentionInDays: config.monitoring.logRetentionDays });

    // Artifacts under content-addressed keys: a new bundle or config is a new launch template version.
    const workerKey = `worker/${sha256(readFileSync(bundleFile)).slice(0, 16)}/${BUNDLE_FILES.worker}`;
    const configJson = JSON.stringify(config, null, 2);
    const configKey = `config/${sha256(configJson).slice(0, 16)}.json`;
    const bundleAsset = new TerraformAsset(this, "worker-bundle-file", { path: bundleFile, type: AssetType.FILE });
    this.workerBundle = new S3Object(this, "worker-bundle", {
      bucket: props.artifactsBucket.name,
      key: workerKey,
      source: bundleAsset.path,
      contentType: "text/javascript",
    });
    this.workerConfig = new S3Object(this, "worker-config", {
      bucket: props.artifactsBucket.name,
      key: configKey,
      content: terraformLiteral(configJson),
      contentType: "application/json",
    });

    this.ref = { name: names.group, arn: groupArnPattern(env, names.group) };
    this.role = new IamRole(this, "role", {
      name: `${config.name}-worker`,
      description: `spotq/${config.name}: the GPU workers`,
      assumeRolePolicy: policyJson(assumeRolePolicy("ec2.amazonaws.com")),
    });
    this.rolePolicy = new IamRolePolicy(this, "role-policy", {
      name: "spotq-worker",
      role: this.role.id,
      policy: policyJson(
        workerPolicy({
          dataBucket: props.dataBucket,
          sourcePrefixes: config.storage.sourcePrefixes,
          targetPrefixes: config.storage.targetPrefixes,
          queues: props.queues,
          table: props.table,
          artifactsBucket: props.artifactsBucket,
          group: this.ref,
          logGroups: [logRef(this.jobLogGroup), logRef(this.workerLogGroup)],
        }),
      ),
    });
    this.instanceProfile = new IamInstanceProfile(this, "instance-profile", { name: `${config.name}-worker`, role: this.role.name });

    const subnet = new DataAwsSubnet(this, "first-subnet", { id: f.subnetIds[0] });
    this.securityGroup = new SecurityGroup(this, "security-group", {
      name: `${config.name}-workers`,
      description: `spotq/${config.name}: workers, no inbound traffic; outbound HTTPS only`,
      vpcId: subnet.vpcId,
    });
    // Terraform removes the default allow-all egress rule of a new group; the worker needs only HTTPS
    // (AWS APIs, S3, nodejs.org). IMDS, DNS and NTP are link-local and not filtered by groups.
    for (const [key, cidr] of [
      ["https-ipv4", { cidrIpv4: "0.0.0.0/0" }],
      ["https-ipv6", { cidrIpv6: "::/0" }],
    ] as const)
      new VpcSecurityGroupEgressRule(this, `egress-${key}`, {
        securityGroupId: this.securityGroup.id,
        ipProtocol: "tcp",
        fromPort: 443,
        toPort: 443,
        description: "HTTPS to AWS APIs and nodejs.org",
        ...cidr,
      });

    const ami = new DataAwsAmi(this, "ami", {
      filter: [{ name: "image-id", values: [f.amiId] }],
      // A deprecated AMI still launches; the lookup must not fail the plan for it.
      includeDeprecated: true,
      lifecycle: {
        postcondition: [
          f.platform === "windows"
            ? { condition: '${self.platform == "windows"}', errorMessage: `fleet.platform is "windows" but ${f.amiId} is not a Windows AMI` }
            : { condition: '${self.platform != "windows"}', errorMessage: `fleet.platform is "linux" but ${f.amiId} is a Windows AMI` },
        ],
      },
    });

    const boot: WorkerBoot = {
      platform: f.platform,
      region: env.region,
      nodeMajor: f.nodeMajor,
      workerKey,
      configKey,
      ...(f.workRoot ? { workRoot: f.workRoot } : {}),
    };
    this.userDataTemplate = renderBootTemplate(boot);
    const worstCase = Buffer.byteLength(this.userDataTemplate) + Object.keys(BOOT_VARIABLES).length * RESOLVED_VALUE_ALLOWANCE;
    if (worstCase > USER_DATA_LIMIT_BYTES)
      throw new ValidationError("the worker user data is too large", [
        { field: "fleet.workRoot", reason: `user data would reach ${worstCase} bytes; EC2 accepts ${USER_DATA_LIMIT_BYTES}` },
      ]);
    // The template is a file for Terraform's templatefile(); cdktf copies it into the stack's assets.
    const templateDir = join(tmpdir(), "spotq-user-data", sha256(this.userDataTemplate).slice(0, 16));
    const templateFile = join(templateDir, f.platform === "windows" ? "user-data.ps1.tpl" : "user-data.sh.tpl");
    mkdirSync(templateDir, { recursive: true });
    writeFileSync(templateFile, this.userDataTemplate);
    const userDataAsset = new TerraformAsset(this, "user-data-template", { path: templateFile, type: AssetType.FILE });
    const userDataValues: Record<BootVariable, string> = {
      artifacts_bucket: props.artifactsBucket.name,
      table: props.table.name,
      queue_url: props.queues.jobs.url,
      dlq_url: props.queues.dlq.url,
      bucket: props.dataBucket.name,
      // The literal name: the group's own attribute would make the template depend on the group.
      group: names.group,
    };

    const tags = { Name: `${config.name}-worker`, [GROUP_TAG]: names.group };
    this.launchTemplate = new LaunchTemplate(this, "launch-template", {
      name: `${config.name}-worker`,
      description: `spotq/${config.name}: GPU worker`,
      imageId: f.amiId,
      updateDefaultVersion: true,
      iamInstanceProfile: { arn: this.instanceProfile.arn },
      vpcSecurityGroupIds: [this.securityGroup.id],
      metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
      blockDeviceMappings: [
        {
          deviceName: ami.rootDeviceName,
          ebs: { volumeSize: f.rootVolumeGiB, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" },
        },
      ],
      // The bootstrap's last resort when it cannot terminate itself through Auto Scaling.
      instanceInitiatedShutdownBehavior: "terminate",
      userData: Fn.base64encode(Fn.templatefile(userDataAsset.path, userDataValues)),
      tagSpecifications: [
        { resourceType: "instance", tags },
        { resourceType: "volume", tags },
      ],
      tags,
    });

    this.group = new AutoscalingGroup(this, "group", {
      name: names.group,
      minSize: f.minSize,
      maxSize: f.maxSize,
      vpcZoneIdentifier: f.subnetIds,
      capacityRebalance: f.capacityRebalance,
      // A booting or busy instance is never picked for scale-in; the worker lifts it only while idle.
      protectFromScaleIn: true,
      defaultInstanceWarmup: f.bootSeconds,
      healthCheckType: "EC2",
      healthCheckGracePeriod: f.bootSeconds,
      enabledMetrics: [...GROUP_METRICS],
      metricsGranularity: "1Minute",
      waitForCapacityTimeout: "0",
      // `cdktf destroy` must end protected instances too.
      forceDelete: true,
      mixedInstancesPolicy: {
        instancesDistribution: {
          onDemandBaseCapacity: f.onDemandBaseCapacity,
          onDemandPercentageAboveBaseCapacity: f.onDemandPercentageAboveBase,
          spotAllocationStrategy: f.spotAllocationStrategy,
        },
        launchTemplate: {
          launchTemplateSpecification: { launchTemplateId: this.launchTemplate.id, version: "$Latest" },
          override: f.instanceTypes.map((instanceType) => ({ instanceType })),
        },
      },
      tag: Object.entries(tags).map(([key, value]) => ({ key, value, propagateAtLaunch: true })),
      // Desired capacity belongs to the scaling policies, the API's fast path and idle workers.
      lifecycle: { ignoreChanges: ["desired_capacity"] },
      // Instances must not boot before their permissions exist.
      dependsOn: [this.rolePolicy],
    });
  }
}

function logRef(g: CloudwatchLogGroup): LogGroupRef {
  return { name: g.name, arn: g.arn };
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
