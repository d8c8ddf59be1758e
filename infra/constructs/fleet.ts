import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group";
import { AutoscalingLifecycleHook } from "@cdktf/provider-aws/lib/autoscaling-lifecycle-hook";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { DataAwsAmi } from "@cdktf/provider-aws/lib/data-aws-ami";
import { DataAwsSsmParameter } from "@cdktf/provider-aws/lib/data-aws-ssm-parameter";
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
import { ECS_GPU_AMI_PARAMETER, withoutApiKeys, type FleetConfig } from "../../core/fleet-config.ts";
import { GROUP_TAG, resourceNames } from "../../core/names.ts";
import { BUNDLE_FILES } from "../bundling.ts";
import { ECS_AMI_NODE_REASON } from "../deploy-config.ts";
import { AssetType, Fn, TerraformAsset, Token } from "../cdktf.ts";
import { nodeArchivePath, nodeArchiveProblem } from "../node-archive.ts";
import { renderBootTemplate } from "../user-data/boot-template.ts";
import { BOOT_VARIABLES, type BootVariable } from "../user-data/template.ts";
import { SERVICE_WRAPPER_SOURCE } from "../user-data/windows-service.ts";
import { USER_DATA_LIMIT_BYTES, bootVariables, type WorkerBoot } from "../user-data/worker-boot.ts";
import { ContainerRegistry } from "./container-registry.ts";
import { assumeRolePolicy, policyJson } from "./policy-document.ts";
import { groupArnPattern, type AwsEnv, type BucketRef, type GroupRef, type LogGroupRef, type QueuesRef, type TableRef } from "./refs.ts";
import type { GroupKind } from "../../core/runtime.ts";
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

/**
 * One fixed key per artifact. A deploy overwrites it in place (Terraform updates an object whose
 * content changed; it deletes one whose key changed, with all its versions), the versioned bucket
 * keeps the previous versions, and each launch template version names the version id and the
 * SHA-256 its instances fetch: a deploy never deletes what a booting instance still fetches.
 */
export const ARTIFACT_KEYS = {
  worker: "worker/worker.mjs",
  config: "worker/spotq.config.json",
  /** C# source of the Windows service wrapper (infra/user-data/windows-service.ts). */
  service: "worker/spotq-worker-service.cs",
  /** The pinned Node.js release (fleet.artifacts.node): a zip for Windows, a tar.gz for Linux. */
  nodeWindows: "worker/node.zip",
  nodeLinux: "worker/node.tar.gz",
} as const;

/** The Auto Scaling processes the fleet keeps suspended: workers terminate themselves with decrement, and AZ rebalancing would then kill busy ones. */
export const SUSPENDED_PROCESSES = ["AZRebalance"] as const;

export interface FleetProps {
  config: FleetConfig;
  env: AwsEnv;
  /** Folder holding the esbuild bundle `worker.mjs`; uploaded to the artifacts bucket. */
  workerBundleDir: string;
  dataBucket: BucketRef;
  artifactsBucket: BucketRef;
  queues: QueuesRef;
  table: TableRef;
  /** Folder that relative paths in the config (the pinned Node.js archive) are resolved against: the config file's. @default process.cwd() */
  configDir?: string;
}

/**
 * The GPU Spot fleet: the worker's artifacts, role and log groups, a security group without any
 * ingress, a launch template (the config's AMI, IMDSv2 only, encrypted gp3 root volume, user data
 * that installs the worker as a service), and the Auto Scaling group (min from the config, 0 by
 * default; mixed instances with price-capacity-optimized Spot and capacity rebalance; new
 * instances protected from scale-in; a concrete launch template version rolled out by instance
 * refresh; AZRebalance suspended) with its launch and terminate lifecycle hooks.
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
  /** Each instance's boot evidence: the bootstrap transcript and the worker service's output. */
  readonly bootLogGroup: CloudwatchLogGroup;
  readonly workerBundle: S3Object;
  readonly workerConfig: S3Object;
  /** The Windows service wrapper's source (Windows fleets). */
  readonly serviceWrapper?: S3Object;
  /** The pinned Node.js archive (fleet.artifacts.node). */
  readonly nodeArchive?: S3Object;
  /** Pending:Wait until the worker's preflight passed (CONTINUE) or its boot failed (ABANDON, the default on timeout). */
  readonly launchHook: AutoscalingLifecycleHook;
  /** Terminating:Wait while the worker finishes or hands back its job (CONTINUE, the default on timeout). */
  readonly terminateHook: AutoscalingLifecycleHook;
  /** The user data as a Terraform template (`${queue_url}` and the like filled at apply time). */
  readonly userDataTemplate: string;
  /** processor.container: the image repository (created, or an existing one referenced). */
  readonly registry?: ContainerRegistry;
  /** The AMI the launch template boots: `fleet.amiId`, or (container profile) the ECS GPU AMI's SSM parameter value. */
  readonly imageId: string;
  /** `scaling.onDemandFallback`: the On-Demand group, its launch template and hooks; absent when the fallback is off. */
  readonly onDemand?: OnDemandGroup;

  constructor(scope: Construct, id: string, props: FleetProps) {
    super(scope, id);
    const { config, env } = props;
    const names = resourceNames(config.name);
    const f = config.fleet;
    const container = config.processor.container;
    if (!f.amiId && !container) throw new ValidationError("cannot build the fleet", [{ field: "fleet.amiId", reason: "is required to deploy" }]);
    if (!f.amiId && !f.artifacts.node)
      throw new ValidationError("cannot build the fleet", [{ field: "fleet.artifacts.node", reason: ECS_AMI_NODE_REASON }]);
    const fallback = config.scaling.onDemandFallback;
    const onDemandQueue = props.queues.onDemand;
    if (fallback && !onDemandQueue) throw new Error("scaling.onDemandFallback is set but the fleet was given no On-Demand queue (queues.onDemand)");
    if (f.subnetIds.length === 0) throw new ValidationError("cannot build the fleet", [{ field: "fleet.subnetIds", reason: "is required to deploy" }]);
    const bundleFile = join(props.workerBundleDir, BUNDLE_FILES.worker);
    if (!existsSync(bundleFile))
      throw new ValidationError("cannot package the worker", [
        { field: "workerBundleDir", reason: `${props.workerBundleDir} holds no ${BUNDLE_FILES.worker}: bundle worker/main.ts first (infra/bundling.ts)` },
      ]);

    // Logs: a stream per job attempt, and one per instance for the daemon itself.
    this.jobLogGroup = new CloudwatchLogGroup(this, "job-logs", { name: names.jobLogGroup, retentionInDays: config.monitoring.logRetentionDays });
    this.workerLogGroup = new CloudwatchLogGroup(this, "worker-logs", { name: names.workerLogGroup, retentionInDays: config.monitoring.logRetentionDays });
    this.bootLogGroup = new CloudwatchLogGroup(this, "boot-logs", { name: names.bootLogGroup, retentionInDays: config.monitoring.logRetentionDays });

    // Artifacts: fixed keys updated in place; the launch template names each one's version id and SHA-256.
    const bundleBytes = readFileSync(bundleFile);
    const bundleAsset = new TerraformAsset(this, "worker-bundle-file", { path: bundleFile, type: AssetType.FILE });
    this.workerBundle = new S3Object(this, "worker-bundle", {
      bucket: props.artifactsBucket.name,
      key: ARTIFACT_KEYS.worker,
      source: bundleAsset.path,
      // What makes Terraform upload a changed file (the key stays).
      sourceHash: sha256(bundleBytes),
      contentType: "text/javascript",
    });
    // Workers need no tenant's API key value.
    const configJson = JSON.stringify(withoutApiKeys(config), null, 2);
    this.workerConfig = new S3Object(this, "worker-config", {
      bucket: props.artifactsBucket.name,
      key: ARTIFACT_KEYS.config,
      content: terraformLiteral(configJson),
      contentType: "application/json",
    });
    if (f.platform === "windows")
      this.serviceWrapper = new S3Object(this, "service-wrapper", {
        bucket: props.artifactsBucket.name,
        key: ARTIFACT_KEYS.service,
        content: terraformLiteral(SERVICE_WRAPPER_SOURCE),
        contentType: "text/plain",
      });
    const nodeFile = nodeArchivePath(config, props.configDir ?? process.cwd());
    const pinnedNode = f.artifacts.node;
    if (nodeFile && pinnedNode) {
      // Checked at synth: the archive uploaded is exactly the release the config pins.
      const problem = nodeArchiveProblem(nodeFile, pinnedNode.sha256);
      if (problem) throw new ValidationError("cannot ship Node.js to the workers", [{ field: "fleet.artifacts.node", reason: problem }]);
      const nodeAsset = new TerraformAsset(this, "node-archive-file", { path: nodeFile, type: AssetType.FILE });
      this.nodeArchive = new S3Object(this, "node-archive", {
        bucket: props.artifactsBucket.name,
        key: f.platform === "windows" ? ARTIFACT_KEYS.nodeWindows : ARTIFACT_KEYS.nodeLinux,
        source: nodeAsset.path,
        sourceHash: pinnedNode.sha256,
        contentType: "application/octet-stream",
      });
    }

    if (container) this.registry = new ContainerRegistry(this, "registry", { profile: container, env, deployment: config.name });

    this.ref = { name: names.group, arn: groupArnPattern(env, names.group) };
    const onDemandRef: GroupRef | undefined = fallback ? { name: names.onDemandGroup, arn: groupArnPattern(env, names.onDemandGroup) } : undefined;
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
          ...(onDemandRef ? { onDemandGroup: onDemandRef } : {}),
          logGroups: [logRef(this.jobLogGroup), logRef(this.workerLogGroup), logRef(this.bootLogGroup)],
          ...(config.processor.session === "interactive" && config.processor.autoLogon
            ? { autoLogonParameterArn: ssmParameterArn(env, config.processor.autoLogon.passwordParameter) }
            : {}),
          sessionManager: f.sessionManager,
          ...(this.registry ? { containerRepositoryArn: this.registry.repositoryArn } : {}),
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
    // (AWS APIs and S3; Node.js comes from the artifacts bucket). IMDS, DNS and NTP are link-local
    // and not filtered by groups.
    for (const [key, cidr] of [
      ["https-ipv4", { cidrIpv4: "0.0.0.0/0" }],
      ["https-ipv6", { cidrIpv6: "::/0" }],
    ] as const)
      new VpcSecurityGroupEgressRule(this, `egress-${key}`, {
        securityGroupId: this.securityGroup.id,
        ipProtocol: "tcp",
        fromPort: 443,
        toPort: 443,
        description: "HTTPS to AWS APIs and S3",
        ...cidr,
      });

    // The AMI: the config's, or for a container profile without one, the ECS GPU-optimised Amazon
    // Linux 2023 AMI (Docker, the NVIDIA driver and container toolkit) that AWS currently recommends.
    // Read at plan time: a newer recommendation is a new launch template version, rolled out by an
    // instance refresh; pin fleet.amiId to choose when.
    let amiName: string;
    if (f.amiId) {
      this.imageId = f.amiId;
      amiName = f.amiId;
    } else {
      const parameter = new DataAwsSsmParameter(this, "ecs-gpu-ami", { name: ECS_GPU_AMI_PARAMETER });
      // An AMI id is no secret: insecure_value keeps the plan readable.
      this.imageId = parameter.insecureValue;
      amiName = `the ECS GPU-optimised AMI (${ECS_GPU_AMI_PARAMETER})`;
    }
    const ami = new DataAwsAmi(this, "ami", {
      filter: [{ name: "image-id", values: [this.imageId] }],
      // A deprecated AMI still launches; the lookup must not fail the plan for it.
      includeDeprecated: true,
      lifecycle: {
        postcondition: [
          f.platform === "windows"
            ? { condition: '${self.platform == "windows"}', errorMessage: `fleet.platform is "windows" but ${amiName} is not a Windows AMI` }
            : { condition: '${self.platform != "windows"}', errorMessage: `fleet.platform is "linux" but ${amiName} is a Windows AMI` },
        ],
      },
    });

    const boot: WorkerBoot = {
      platform: f.platform,
      region: env.region,
      deployment: config.name,
      nodeMajor: f.nodeMajor,
      artifacts: {
        worker: { key: ARTIFACT_KEYS.worker, sha256: sha256(bundleBytes), version: BOOT_VARIABLES.workerVersion },
        config: { key: ARTIFACT_KEYS.config, sha256: sha256(configJson), version: BOOT_VARIABLES.configVersion },
        ...(this.serviceWrapper ? { service: { key: ARTIFACT_KEYS.service, sha256: sha256(SERVICE_WRAPPER_SOURCE), version: BOOT_VARIABLES.serviceVersion } } : {}),
        ...(this.nodeArchive && pinnedNode
          ? { node: { key: f.platform === "windows" ? ARTIFACT_KEYS.nodeWindows : ARTIFACT_KEYS.nodeLinux, sha256: pinnedNode.sha256, version: BOOT_VARIABLES.nodeVersion, release: pinnedNode.version } }
          : {}),
      },
      ...(f.workRoot ? { workRoot: f.workRoot } : {}),
      debugKeepFailedInstances: f.debugKeepFailedInstances,
      stopGraceSeconds: f.stopGraceSeconds,
      session: config.processor.session,
      ...(config.processor.autoLogon ? { autoLogon: config.processor.autoLogon } : {}),
      ...(container ? { container: { gpus: container.gpus !== undefined } } : {}),
      ...(fallback ? { onDemandFallback: true } : {}),
    };
    this.userDataTemplate = renderBootTemplate(boot);
    const variables = bootVariables(boot);
    const worstCase = Buffer.byteLength(this.userDataTemplate) + variables.length * RESOLVED_VALUE_ALLOWANCE;
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
    const allValues: Partial<Record<BootVariable, string>> = {
      artifacts_bucket: props.artifactsBucket.name,
      table: props.table.name,
      queue_url: props.queues.jobs.url,
      dlq_url: props.queues.dlq.url,
      high_queue_url: props.queues.high?.url ?? "",
      bucket: props.dataBucket.name,
      // The literal name: the group's own attribute would make the template depend on the group.
      group: names.group,
      worker_version: this.workerBundle.versionId,
      config_version: this.workerConfig.versionId,
      ...(this.serviceWrapper ? { service_version: this.serviceWrapper.versionId } : {}),
      ...(this.nodeArchive ? { node_version: this.nodeArchive.versionId } : {}),
      // The Spot workers hand jobs past the threshold to the On-Demand queue and raise its group.
      ...(fallback ? { group_kind: "spot" satisfies GroupKind, ondemand_queue_url: onDemandQueue!.url, ondemand_group: names.onDemandGroup } : {}),
    };
    const templateValues = (values: Partial<Record<BootVariable, string>>) => Object.fromEntries(variables.map((v) => [v, values[v]!]));

    // One launch template per group: the same template file, filled with that group's names.
    const launchTemplate = (id: string, o: { name: string; description: string; values: Partial<Record<BootVariable, string>>; tags: Record<string, string>; instanceType?: string }) =>
      new LaunchTemplate(this, id, {
        name: o.name,
        description: o.description,
        imageId: this.imageId,
        ...(o.instanceType ? { instanceType: o.instanceType } : {}),
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
        userData: Fn.base64encode(Fn.templatefile(userDataAsset.path, templateValues(o.values))),
        tagSpecifications: [
          { resourceType: "instance", tags: o.tags },
          { resourceType: "volume", tags: o.tags },
        ],
        tags: o.tags,
      });

    const tags = { Name: `${config.name}-worker`, [GROUP_TAG]: names.group };
    this.launchTemplate = launchTemplate("launch-template", { name: `${config.name}-worker`, description: `spotq/${config.name}: GPU worker`, values: allValues, tags });

    // What both groups share: subnets, scale-in protection, suspended processes, warmup, health
    // checks, metrics (the deficit alarms read them), instance refresh, and the tag the role's conditions read.
    const groupSettings = (groupTags: Record<string, string>) => ({
      vpcZoneIdentifier: f.subnetIds,
      // A booting or busy instance is never picked for scale-in; the worker lifts it only while idle.
      protectFromScaleIn: true,
      // Workers terminate themselves with decrement; AZ rebalancing would then terminate busy ones elsewhere.
      suspendedProcesses: [...SUSPENDED_PROCESSES],
      defaultInstanceWarmup: f.bootSeconds,
      healthCheckType: "EC2",
      healthCheckGracePeriod: f.bootSeconds,
      enabledMetrics: [...GROUP_METRICS],
      metricsGranularity: "1Minute",
      waitForCapacityTimeout: "0",
      // `cdktf destroy` must end protected instances too.
      forceDelete: true,
      ...(f.instanceRefresh.enabled
        ? {
            instanceRefresh: {
              strategy: "Rolling",
              preferences: {
                minHealthyPercentage: f.instanceRefresh.minHealthyPercentage,
                maxHealthyPercentage: f.instanceRefresh.maxHealthyPercentage,
                // Instances already on the new template and types are left alone.
                skipMatching: true,
                // Busy workers are protected: never replaced mid-job (they retire when idle).
                scaleInProtectedInstances: f.instanceRefresh.scaleInProtectedInstances,
                standbyInstances: "Ignore",
              },
            },
          }
        : {}),
      tag: Object.entries(groupTags).map(([key, value]) => ({ key, value, propagateAtLaunch: true })),
      // Desired capacity belongs to the scaling policies, the API's fast path and idle workers.
      lifecycle: { ignoreChanges: ["desired_capacity"] },
      // Instances must not boot before their permissions exist.
      dependsOn: [this.rolePolicy],
    });

    // CONTRACTS §2. Separate resources (a group's initial_lifecycle_hook only applies at creation);
    // with minSize 0 no instance launches before they exist. Hook names are per group: both
    // groups use the deployment's, which the worker completes by name.
    const hooks = (prefix: string, group: AutoscalingGroup) => ({
      launchHook: new AutoscalingLifecycleHook(this, `${prefix}launch-hook`, {
        name: names.launchHook,
        autoscalingGroupName: group.name,
        lifecycleTransition: "autoscaling:EC2_INSTANCE_LAUNCHING",
        heartbeatTimeout: f.lifecycleHooks.launchTimeoutSeconds,
        defaultResult: "ABANDON",
      }),
      terminateHook: new AutoscalingLifecycleHook(this, `${prefix}terminate-hook`, {
        name: names.terminateHook,
        autoscalingGroupName: group.name,
        lifecycleTransition: "autoscaling:EC2_INSTANCE_TERMINATING",
        heartbeatTimeout: f.lifecycleHooks.terminateTimeoutSeconds,
        defaultResult: "CONTINUE",
      }),
    });

    this.group = new AutoscalingGroup(this, "group", {
      name: names.group,
      minSize: f.minSize,
      maxSize: f.maxSize,
      capacityRebalance: f.capacityRebalance,
      mixedInstancesPolicy: {
        instancesDistribution: {
          onDemandBaseCapacity: f.onDemandBaseCapacity,
          onDemandPercentageAboveBaseCapacity: f.onDemandPercentageAboveBase,
          spotAllocationStrategy: f.spotAllocationStrategy,
        },
        launchTemplate: {
          // A concrete version, never $Latest: a new version is a change Terraform rolls out with an
          // instance refresh, and the worker can tell a stale instance by its version.
          launchTemplateSpecification: { launchTemplateId: this.launchTemplate.id, version: Token.asString(this.launchTemplate.latestVersion) },
          override: f.instanceTypes.map((instanceType) => ({ instanceType })),
        },
      },
      ...groupSettings(tags),
    });
    ({ launchHook: this.launchHook, terminateHook: this.terminateHook } = hooks("", this.group));

    // scaling.onDemandFallback: a second group of one instance type, On-Demand only (a launch
    // template without market options and no mixed-instances policy), min 0, serving the On-Demand
    // queue alone. Its workers run with SPOTQ_GROUP_KIND=on-demand and SPOTQ_QUEUE_URL = that queue.
    if (fallback && onDemandRef) {
      const instanceType = fallback.instanceType ?? f.instanceTypes[0]!;
      const odTags = { Name: `${config.name}-worker-ondemand`, [GROUP_TAG]: names.onDemandGroup };
      const odLaunchTemplate = launchTemplate("ondemand-launch-template", {
        name: `${config.name}-worker-ondemand`,
        description: `spotq/${config.name}: GPU worker, On-Demand fallback`,
        instanceType,
        values: {
          ...allValues,
          queue_url: onDemandQueue!.url,
          // An On-Demand worker serves its queue only, and its hand-backs stay there.
          high_queue_url: "",
          group: names.onDemandGroup,
          group_kind: "on-demand" satisfies GroupKind,
          ondemand_queue_url: "",
          ondemand_group: "",
        },
        tags: odTags,
      });
      const odGroup = new AutoscalingGroup(this, "ondemand-group", {
        name: names.onDemandGroup,
        minSize: 0,
        maxSize: fallback.maxSize,
        launchTemplate: { id: odLaunchTemplate.id, version: Token.asString(odLaunchTemplate.latestVersion) },
        ...groupSettings(odTags),
      });
      this.onDemand = { group: odGroup, ref: onDemandRef, launchTemplate: odLaunchTemplate, instanceType, ...hooks("ondemand-", odGroup) };
    }
  }
}

/** The On-Demand fallback's group (`<name>-workers-ondemand`) and what belongs to it. */
export interface OnDemandGroup {
  group: AutoscalingGroup;
  ref: GroupRef;
  launchTemplate: LaunchTemplate;
  /** `scaling.onDemandFallback.instanceType`, or the first of `fleet.instanceTypes`. */
  instanceType: string;
  launchHook: AutoscalingLifecycleHook;
  terminateHook: AutoscalingLifecycleHook;
}

/** The ARN of an SSM parameter by its name (with or without the leading slash). */
export function ssmParameterArn(env: AwsEnv, name: string): string {
  return `arn:${env.partition}:ssm:${env.region}:${env.accountId}:parameter/${name.replace(/^\//, "")}`;
}

function logRef(g: CloudwatchLogGroup): LogGroupRef {
  return { name: g.name, arn: g.arn };
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
