import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import type { Construct } from "constructs";
import type { FleetConfig } from "../../core/fleet-config.ts";
import type { Bundles } from "../bundling.ts";
import { S3Backend, TerraformOutput, TerraformStack } from "../cdktf.ts";
import { Analytics } from "../constructs/analytics.ts";
import { Api, API_STAGE } from "../constructs/api.ts";
import { BootBreaker } from "../constructs/boot-breaker.ts";
import { apiOutputsPolicy } from "../constructs/api-policy.ts";
import { JobEventsRouting } from "../constructs/events.ts";
import { policyJson } from "../constructs/policy-document.ts";
import { ReturnedJobs } from "../constructs/returned-jobs.ts";
import { Triggers } from "../constructs/triggers.ts";
import { workerOutputsPolicy } from "../constructs/worker-policy.ts";
import { Fleet } from "../constructs/fleet.ts";
import { JobQueue } from "../constructs/job-queue.ts";
import { JobTable } from "../constructs/job-table.ts";
import { Monitoring } from "../constructs/monitoring.ts";
import { partitionOf, type ApiBundleProps, type AwsEnv } from "../constructs/refs.ts";
import { Scaling } from "../constructs/scaling.ts";
import { Storage } from "../constructs/storage.ts";

/** The Terraform CLI the synthesized configuration needs (docs/deploy.md, prerequisites). */
export const TERRAFORM_REQUIRED_VERSION = ">= 1.10.0";

export interface SpotqStackProps {
  /** The validated fleet config (infra/deploy-config.ts). */
  config: FleetConfig;
  /** The Lambda and worker bundles (infra/bundling.ts). */
  bundles: Bundles;
  /** Folder that relative paths in the config resolve against (the config file's). @default process.cwd() */
  configDir?: string;
}

/**
 * One spotq deployment: storage, the jobs queue and table, the GPU Spot fleet, its scaling on the
 * queue backlog, the API, and monitoring. Every resource is named after `config.name`, so several
 * deployments can share an account.
 */
export class SpotqStack extends TerraformStack {
  readonly storage: Storage;
  readonly queue: JobQueue;
  readonly table: JobTable;
  readonly fleet: Fleet;
  readonly api: Api;
  readonly scaling: Scaling;
  /** `scaling.onDemandFallback`: the On-Demand group's deficit alarm and step policy on the On-Demand queue. */
  readonly onDemandScaling?: Scaling;
  readonly monitoring: Monitoring;
  readonly bootBreaker: BootBreaker;
  /** `scaling.fastPath`: the EventBridge rule and Lambda that give a lost worker's job capacity at once (docs/scaling.md). */
  readonly returnedJobs?: ReturnedJobs;
  /** Issue 10: job events routing, analytics (Glue + Athena), triggers; absent when the config turns them off. */
  readonly events?: JobEventsRouting;
  readonly analytics?: Analytics;
  readonly triggers?: Triggers;

  constructor(scope: Construct, id: string, props: SpotqStackProps) {
    super(scope, id);
    const { config, bundles } = props;
    // S3 state locking with a lock file (use_lockfile) and `removed`/`import` blocks need 1.10+.
    this.addOverride("terraform.required_version", TERRAFORM_REQUIRED_VERSION);
    new AwsProvider(this, "aws", {
      region: config.region,
      defaultTags: [{ tags: { "spotq:deployment": config.name, "managed-by": "cdktf" } }],
    });
    if (config.state) {
      new S3Backend(this, {
        bucket: config.state.bucket,
        key: config.state.key ?? `spotq/${config.name}/terraform.tfstate`,
        region: config.state.region ?? config.region,
        encrypt: true,
      });
      // Terraform 1.10+ locks S3 state with a lock file next to it; cdktf 0.21 predates the option.
      this.addOverride("terraform.backend.s3.use_lockfile", true);
    }
    const identity = new DataAwsCallerIdentity(this, "account");
    const env: AwsEnv = { accountId: identity.accountId, region: config.region, partition: partitionOf(config.region) };

    this.storage = new Storage(this, "storage", { config, env });
    this.queue = new JobQueue(this, "queue", { config });
    this.table = new JobTable(this, "table", { config });
    this.fleet = new Fleet(this, "fleet", {
      config,
      env,
      workerBundleDir: bundles.workerDir,
      dataBucket: this.storage.dataBucket,
      artifactsBucket: this.storage.artifactsBucket,
      queues: this.queue.refs,
      table: this.table.ref,
      ...(props.configDir ? { configDir: props.configDir } : {}),
    });
    this.scaling = new Scaling(this, "scaling", { config, groupName: this.fleet.group.name });
    if (this.fleet.onDemand) this.onDemandScaling = new Scaling(this, "ondemand-scaling", { config, groupName: this.fleet.onDemand.group.name, kind: "on-demand" });
    // Every function that runs the API's bundle: the API, returned jobs, the triggers.
    const apiBundle: ApiBundleProps = {
      config,
      env,
      lambdaBundleDir: bundles.lambdaDir,
      table: this.table.ref,
      queues: this.queue.refs,
      dataBucket: this.storage.dataBucket,
      group: this.fleet.ref,
    };
    this.api = new Api(this, "api", apiBundle);
    this.monitoring = new Monitoring(this, "monitoring", {
      config,
      env,
      api: { functionName: this.api.functionName, apiName: this.api.apiName, stage: API_STAGE },
    });
    this.bootBreaker = new BootBreaker(this, "boot-breaker", {
      config,
      env,
      group: this.fleet.ref,
      topic: this.monitoring.topic,
      topicKeyArn: this.monitoring.topicKey.arn,
      bundleDir: bundles.breakerDir,
    });
    if (config.scaling.fastPath)
      this.returnedJobs = new ReturnedJobs(this, "returned-jobs", {
        ...apiBundle,
        ...(this.fleet.onDemand ? { onDemandGroup: this.fleet.onDemand.ref } : {}),
      });

    // ---- Issue 10: jobs from uploads and Kafka, job events, results for analytics ----
    if (config.events.enabled) this.events = new JobEventsRouting(this, "events", { config, env });
    if (config.analytics.enabled) this.analytics = new Analytics(this, "analytics", { config, dataBucket: this.storage.dataBucket });
    const outputs = {
      ...(this.events ? { busArn: this.events.busArn } : {}),
      ...(config.analytics.enabled ? { analytics: { dataBucket: this.storage.dataBucket, prefix: config.analytics.prefix } } : {}),
    };
    const apiOutputs = apiOutputsPolicy(outputs);
    if (apiOutputs) new IamRolePolicy(this, "api-outputs-policy", { name: "spotq-api-outputs", role: this.api.role.id, policy: policyJson(apiOutputs) });
    const workerOutputs = workerOutputsPolicy(outputs);
    if (workerOutputs) new IamRolePolicy(this, "worker-outputs-policy", { name: "spotq-worker-outputs", role: this.fleet.role.id, policy: policyJson(workerOutputs) });
    if (config.triggers.s3.enabled || config.triggers.kafka)
      this.triggers = new Triggers(this, "triggers", {
        ...apiBundle,
        bucketCreatedHere: config.storage.createBucket,
        ...(this.events ? { busArn: this.events.busArn } : {}),
      });

    new TerraformOutput(this, "api_url", { value: this.api.url, description: "Base URL of the job API; routes are under /jobs" });
    new TerraformOutput(this, "bucket", { value: this.storage.dataBucket.name, description: "The data bucket jobs read from and write to" });
    new TerraformOutput(this, "queue_url", { value: this.queue.jobs.url, description: "The jobs queue" });
    new TerraformOutput(this, "dlq_url", { value: this.queue.dlq.url, description: "The dead-letter queue" });
    if (this.queue.high) new TerraformOutput(this, "high_queue_url", { value: this.queue.high.url, description: "The high-priority queue (Spotq-Job-Priority: high), drained first" });
    if (this.queue.onDemand) new TerraformOutput(this, "on_demand_queue_url", { value: this.queue.onDemand.url, description: "The On-Demand fallback's queue, served by the On-Demand group" });
    new TerraformOutput(this, "table_name", { value: this.table.table.name, description: "The jobs table" });
    new TerraformOutput(this, "group_name", { value: this.fleet.group.name, description: "The Auto Scaling group of GPU workers" });
    if (this.fleet.onDemand)
      new TerraformOutput(this, "on_demand_group_name", { value: this.fleet.onDemand.group.name, description: "The On-Demand fallback's Auto Scaling group (scaling.onDemandFallback)" });
    if (this.fleet.registry)
      new TerraformOutput(this, "container_repository_url", { value: this.fleet.registry.repositoryUrl, description: "The ECR repository of processor.container: push the processor image here" });
    new TerraformOutput(this, "dashboard_url", { value: this.monitoring.dashboardUrl, description: "The CloudWatch dashboard" });
    if (this.events?.outputQueue) new TerraformOutput(this, "events_queue_url", { value: this.events.outputQueue.url, description: "The output queue of job events (spotq events --queue)" });
    if (this.events?.topic) new TerraformOutput(this, "events_topic_arn", { value: this.events.topic.arn, description: "The SNS topic of job events" });
    if (this.analytics) {
      new TerraformOutput(this, "athena_workgroup", { value: this.analytics.workgroup.name, description: "The Athena workgroup of the spotq_jobs table" });
      new TerraformOutput(this, "glue_database", { value: this.analytics.database.name, description: "The Glue database holding spotq_jobs" });
    }
    if (this.api.apiKey)
      new TerraformOutput(this, "api_key_id", {
        value: this.api.apiKey.id,
        description: "Id of the API key; its value: aws apigateway get-api-key --include-value --api-key <id>",
      });
    const tenantKeys = Object.entries(this.api.tenantKeys);
    if (tenantKeys.length)
      new TerraformOutput(this, "tenant_api_key_ids", {
        value: Object.fromEntries(tenantKeys.map(([tenant, k]) => [tenant, k.key.id])),
        description: "Each tenant's API key id; its value: aws apigateway get-api-key --include-value --api-key <id>",
      });
  }
}
