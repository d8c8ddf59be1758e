import { readFileSync } from "node:fs";
import { z } from "zod";
import { parseImageReference } from "./container-image.ts";
import { ValidationError, type Problem } from "./errors.ts";
import { gpuFamily, instanceArchitecture, windowsGpuTypeProblem } from "./instance-types.ts";
import { bucketNameProblem } from "./s3-uri.ts";
import { POLICY_KINDS } from "./scaling/policy.ts";
import { cronProblem, isTimeZone } from "./scaling/schedule.ts";

/** Scheduled actions per Auto Scaling group (AWS quota). */
const MAX_SCHEDULED_ACTIONS = 125;

/** SQS keeps a received message at most 12 h: a job's timeout must stay below it. */
export const SQS_MAX_VISIBILITY_SECONDS = 43_200;

const GiB = 1024 ** 3;

/** The retention periods CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/**
 * A folder prefix inside the data bucket, as IAM policies and lifecycle rules use it: no leading
 * slash, ending in "/", and none of the characters IAM or Terraform would read as syntax.
 */
const KeyPrefixSchema = z
  .string()
  .regex(/^(?:[^/*?$]+\/)+$/, 'must be a folder prefix such as "inbox/": no leading slash, ending in "/", without *, ? or $');

/**
 * One tenant of the API (`api.tenants`): its callers see, cancel and redrive only its jobs, and
 * submit only sources and targets under its prefixes (docs/api.md, "Tenants").
 */
const TenantSchema = z.strictObject({
  /** The tenant's name: recorded on its jobs, in refusal logs, and in its usage plan's name. */
  name: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/, "must be 1 to 32 lowercase letters, digits or inner hyphens"),
  /**
   * The key its callers send in `x-api-key`: 20 to 128 letters and digits (API Gateway's rule). On
   * AWS it becomes the value of the tenant's own API Gateway key (absent: API Gateway generates
   * one, readable with `aws apigateway get-api-key --include-value`); the API Lambda never gets it.
   * Locally the API compares it with the header, so a tenant without one cannot be reached there.
   */
  apiKey: z
    .string()
    .regex(/^[A-Za-z0-9]{20,128}$/, "must be 20 to 128 letters and digits (API Gateway's rule for key values)")
    .optional(),
  /** Folder prefixes (`"labs/a/"`) its jobs' sources and targets must lie under. */
  prefixes: z.array(KeyPrefixSchema).min(1, "must list at least one folder prefix"),
  /**
   * With `api.auth` "iam": the principals that act as this tenant, as `requestContext.identity.userArn`
   * shows them (`arn:aws:iam::123456789012:user/alice`, `arn:aws:sts::123456789012:assumed-role/LabA/session`);
   * a trailing `*` matches any rest (`arn:aws:sts::123456789012:assumed-role/LabA/*`). @default []
   */
  principals: z
    .array(z.string().regex(/^arn:aws[a-z-]*:(?:iam|sts)::\d{12}:[^*\s]+\*?$/, "must be an IAM or STS principal ARN, optionally ending in *"))
    .default([]),
  /** Requests per day under this tenant's usage plan. @default api.quotaPerDay */
  quotaPerDay: z.int().min(1).optional(),
  /** Steady requests per second under its usage plan. @default api.throttleRateLimit */
  throttleRateLimit: z.number().min(1).optional(),
  /** Burst of requests under its usage plan. @default api.throttleBurstLimit */
  throttleBurstLimit: z.int().min(1).optional(),
});

/** A tenant of the API, as the config declares it. */
export type TenantConfig = z.output<typeof TenantSchema>;

/**
 * The config without the tenants' API key values: what every deployed process gets (the API and
 * trigger Lambdas, the workers' config artifact). On AWS, API Gateway checks the keys; the API
 * maps the key *id* it is handed to a tenant (`SPOTQ_TENANT_KEY_IDS`), so no process needs a value.
 */
export function withoutApiKeys<C extends { api: { tenants: TenantConfig[] } }>(config: C): C {
  if (config.api.tenants.every((t) => t.apiKey === undefined)) return config;
  return { ...config, api: { ...config.api, tenants: config.api.tenants.map(({ apiKey: _secret, ...t }) => t) } };
}

/** Cross-key checks of `api.tenants`: every folder, key and principal names one tenant at most. */
function tenantProblems(api: { auth: "apiKey" | "iam"; tenants: TenantConfig[] }): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  const t = api.tenants;
  const overlap = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);
  const literal = (p: string) => (p.endsWith("*") ? p.slice(0, -1) : p);
  const samePrincipals = (a: string, b: string) =>
    a === b || (a.endsWith("*") && literal(b).startsWith(literal(a))) || (b.endsWith("*") && literal(a).startsWith(literal(b)));
  t.forEach((x, i) => {
    for (let j = 0; j < i; j++) {
      const y = t[j]!;
      if (x.name === y.name) out.push({ path: ["api", "tenants", i, "name"], message: `repeats tenant ${j}'s name "${y.name}"` });
      if (x.apiKey !== undefined && x.apiKey === y.apiKey) out.push({ path: ["api", "tenants", i, "apiKey"], message: `is tenant "${y.name}"'s key too; each tenant needs its own` });
      x.prefixes.forEach((p, k) => {
        const other = y.prefixes.find((q) => overlap(p, q));
        if (other !== undefined)
          out.push({ path: ["api", "tenants", i, "prefixes", k], message: `overlaps tenant "${y.name}"'s prefix "${other}": a folder must belong to one tenant` });
      });
      x.principals.forEach((p, k) => {
        const other = y.principals.find((q) => samePrincipals(p, q));
        if (other !== undefined)
          out.push({ path: ["api", "tenants", i, "principals", k], message: `also matches tenant "${y.name}"'s principal "${other}": a caller must map to one tenant` });
      });
    }
    if (api.auth === "iam" && x.principals.length === 0)
      out.push({ path: ["api", "tenants", i, "principals"], message: 'must list at least one principal with api.auth "iam": it is how a signed caller maps to this tenant' });
  });
  return out;
}

const StepSchema = z.strictObject({
  /** The step applies when the backlog (visible messages) is at least this. */
  backlogAtLeast: z.int().min(1),
  /** Instances to add when this step applies. */
  addInstances: z.int().min(1).max(1000),
});

// ---- The container profile (issue 10 §6): the processor is a Docker image from ECR on a Linux GPU AMI. ----

/** The Medit executable, `processor.command`'s default (a container profile leaves it unset). */
export const MEDIT_COMMAND = "C:\\MeditAutoTest\\9999.0.0.4515_Release\\Medit_AutoTest.exe";

/**
 * The SSM public parameter of the Amazon ECS GPU-optimised Amazon Linux 2023 AMI (Docker, the
 * NVIDIA driver and the NVIDIA container toolkit): the AMI of a container profile without
 * `fleet.amiId` (docs/deploy.md, "Container profile").
 */
export const ECS_GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id";

/** Exit codes of `docker run` itself (not of the image): 125 the daemon could not run the container, 126 its command cannot be invoked, 127 its command was not found. */
export const DOCKER_RUN_EXIT_CODES: readonly number[] = [125, 126, 127];

/** `docker run` exits 128 + n when the container's process was killed by signal n (137: SIGKILL, also an out-of-memory kill). */
export const CONTAINER_SIGNAL_EXIT_CODES = { min: 129, max: 159 } as const;

/**
 * `processor.container`: run each job's processor as `docker run --rm` of an ECR image, with the
 * source folder (and config.json in it) mounted read-only at `/spotq/source` and the target folder
 * at `/spotq/target`. `processor.args` (`{config}` etc. resolved to those paths) follow the image;
 * `processor.env` is the container's environment. Linux fleets only.
 */
const ContainerSchema = z.strictObject({
  /**
   * The image: an ECR repository name (the deployment creates the repository, in its account and
   * region) or the URI of an existing one, with an optional `:tag` (default `latest`) or `@sha256:`
   * digest. Pulled, with the instance role, before every job.
   */
  image: z.string().superRefine((text, ctx) => {
    const parsed = parseImageReference(text);
    if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.reason, input: text });
  }),
  /** GPUs the container gets (`docker run --gpus`): "all" or a count; absent: none. */
  gpus: z.union([z.literal("all"), z.int().min(1).max(64)]).optional(),
  /** The numeric `uid` or `uid:gid` the container runs as (`docker run --user`); the target folder is handed to it. Absent: the image's user. */
  user: z
    .string()
    .regex(/^\d{1,10}(:\d{1,10})?$/, 'must be a numeric uid or uid:gid such as "1000:1000" (a name would be resolved inside the image, after the target folder must be writable for it)')
    .optional(),
  /** Size of /dev/shm in the container, MiB (`--shm-size`; Docker's default of 64 MiB is too small for many GPU data loaders). Absent: Docker's default. */
  shmSizeMiB: z.int().min(1).max(1_048_576).optional(),
  /** How long `docker stop` waits after the image's stop signal before it kills (cancel, timeout, Spot hand-back, service stop). @default 10 */
  stopTimeoutSeconds: z.int().min(0).max(100).default(10),
  /** Limit of one image pull (before each job, and in the preflight). @default 900 */
  pullTimeoutSeconds: z.int().min(30).max(3600).default(900),
  /** A repository this deployment creates keeps this many images (the configured tag is never expired); untagged ones go after 7 days. @default 30 */
  keepImages: z.int().min(1).max(10_000).optional(),
});

/** The validated `processor.container` block. */
export type ContainerProfile = z.output<typeof ContainerSchema>;

// ---- Ways in and out beyond the API (issue 10): triggers, job events, results for analytics. ----

/** A Kafka topic name: letters, digits, `.`, `_`, `-`, at most 249 characters. */
const KafkaTopicSchema = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, "must be a Kafka topic name: letters, digits, '.', '_' or '-' (at most 249)");

/** Jobs that start without a call to the API. */
const TriggersSchema = z
  .strictObject({
    /**
     * A `spotq.json` uploaded into a folder under one of `prefixes` submits that folder as a job's
     * source (the object holds the Medit request; both path keys may be left out).
     */
    s3: z
      .strictObject({
        /** Off by default in a deployment; the local stack turns it on. @default false */
        enabled: z.boolean().default(false),
        /** Folder prefixes watched for `spotq.json`. @default ["inbox/"] */
        prefixes: z.array(KeyPrefixSchema).min(1, "must list at least one prefix").default(["inbox/"]),
        /** Where a marker without `Target Folder Path` writes: `<targetPrefix><folder under the trigger prefix>/`. @default "results/" */
        targetPrefix: KeyPrefixSchema.default("results/"),
      })
      .prefault({}),
    /** Each record of a Kafka topic is one job request (a Lambda event source mapping; absent: no Kafka). */
    kafka: z
      .strictObject({
        /** An Amazon MSK cluster; give this or `bootstrapServers`. */
        mskClusterArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/[^/\s]+\/[^/\s]+$/, "must be an MSK cluster ARN such as arn:aws:kafka:us-east-1:123456789012:cluster/name/uuid")
          .optional(),
        /** A self-managed Kafka cluster's brokers (`host:port`); give this or `mskClusterArn`. */
        bootstrapServers: z
          .array(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, "must be host:port"))
          .min(1, "must list at least one broker")
          .optional(),
        topic: KafkaTopicSchema,
        /** @default "<name>-jobs" */
        consumerGroupId: z.string().regex(/^[A-Za-z0-9._:-]{1,200}$/, "must be 1 to 200 letters, digits, '.', '_', ':' or '-'").optional(),
        /**
         * How Lambda authenticates: `iam` (MSK only), SASL/SCRAM (`sasl-scram-512`; `sasl-scram-256`
         * self-managed only), SASL/PLAIN (`sasl-plain`, self-managed only), `mtls`, or `none`. @default "iam"
         */
        auth: z.enum(["iam", "sasl-scram-512", "sasl-scram-256", "sasl-plain", "mtls", "none"]).default("iam"),
        /** The Secrets Manager secret with the SASL credentials or the mTLS client certificate. */
        secretArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/, "must be a Secrets Manager secret ARN")
          .optional(),
        /** A self-managed cluster inside a VPC: the subnets and security groups Lambda's pollers use. */
        vpc: z
          .strictObject({
            subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, "must be a subnet id")).min(1),
            securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, "must be a security group id")).min(1),
          })
          .optional(),
        /** Records per invocation. @default 100 */
        batchSize: z.int().min(1).max(10_000).default(100),
        /** @default "LATEST" */
        startingPosition: z.enum(["LATEST", "TRIM_HORIZON"]).default("LATEST"),
        /** Provisioned pollers (needed for partial batch responses). @default 1 to 2 */
        minimumPollers: z.int().min(1).max(200).default(1),
        maximumPollers: z.int().min(1).max(2000).default(2),
      })
      .optional(),
  })
  .prefault({});

/** Every job state change as an EventBridge event (source `spotq`, detail-type `spotq Job State Change`). */
const EventsSchema = z
  .strictObject({
    /** @default true */
    enabled: z.boolean().default(true),
    /** The event bus: "default" (the account's) or a bus this deployment creates. @default "default" */
    busName: z.string().regex(/^[A-Za-z0-9._-]{1,256}$/, "must be an event bus name: letters, digits, '.', '_' or '-'").default("default"),
    /** An SNS topic `<name>-job-events` that gets every event: emails and HTTPS webhooks subscribed. Absent: no topic. */
    snsTopic: z
      .strictObject({
        emails: z.array(z.email()).default([]),
        httpsEndpoints: z.array(z.url({ protocol: /^https$/, error: "must be an https:// URL" })).default([]),
      })
      .optional(),
    /** An SQS queue `<name>-job-events` that gets every event (what the local stack uses). @default false */
    outputQueue: z.boolean().default(false),
  })
  .prefault({});

/** Approximate us-east-1 On-Demand Linux prices (USD/hour) of the default instance types: an upper bound for Spot. */
export const DEFAULT_HOURLY_USD: Readonly<Record<string, number>> = {
  "g4dn.xlarge": 0.526,
  "g4dn.2xlarge": 0.752,
  "g5.xlarge": 1.006,
  "g5.2xlarge": 1.212,
};

/** A result file and an analytics line per finished job; a Glue table and an Athena workgroup over the lines. */
const AnalyticsSchema = z
  .strictObject({
    /** @default true */
    enabled: z.boolean().default(true),
    /** Write `spotq-result.json` into the target folder of each job that ran to SUCCEEDED or FAILED. @default true */
    resultFile: z.boolean().default(true),
    /** Where the JSON lines go in the data bucket: `<prefix>dt=YYYY-MM-DD/<jobId>.json`. @default "analytics/jobs/" */
    prefix: KeyPrefixSchema.default("analytics/jobs/"),
    /** The Glue database of the `spotq_jobs` table. @default "<name>" with "-" as "_" */
    glueDatabase: z.string().regex(/^[a-z0-9_]{1,255}$/, "must be lowercase letters, digits or '_'").optional(),
    /** Hourly price per instance type for the cost figures (`spotq report`, the Athena cost query). @default {@link DEFAULT_HOURLY_USD} */
    hourlyUsd: z.record(z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an instance type"), z.number().positive()).default({ ...DEFAULT_HOURLY_USD }),
  })
  .prefault({});

/** Cross-key checks of the triggers, events and analytics blocks. */
function outputsProblems(c: {
  name: string;
  storage: { sourcePrefixes: string[]; targetPrefixes: string[] };
  triggers: z.output<typeof TriggersSchema>;
  analytics: z.output<typeof AnalyticsSchema>;
}): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  const overlap = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);
  const s3 = c.triggers.s3;
  if (s3.enabled) {
    s3.prefixes.forEach((p, i) => {
      if (overlap(p, s3.targetPrefix))
        out.push({ path: ["triggers", "s3", "targetPrefix"], message: `must not overlap the trigger prefix "${p}": a result named spotq.json would start another job` });
      if (overlap(p, c.analytics.prefix))
        out.push({ path: ["triggers", "s3", "prefixes", i], message: `must not overlap analytics.prefix "${c.analytics.prefix}"` });
      if (c.storage.sourcePrefixes.length > 0 && !c.storage.sourcePrefixes.some((s) => p.startsWith(s)))
        out.push({ path: ["triggers", "s3", "prefixes", i], message: `must lie under one of storage.sourcePrefixes (${c.storage.sourcePrefixes.join(", ")}): jobs may read only there` });
    });
    if (c.storage.targetPrefixes.length > 0 && !c.storage.targetPrefixes.some((t) => s3.targetPrefix.startsWith(t)))
      out.push({ path: ["triggers", "s3", "targetPrefix"], message: `must lie under one of storage.targetPrefixes (${c.storage.targetPrefixes.join(", ")}): jobs may write only there` });
  }
  if ([...c.storage.sourcePrefixes, ...c.storage.targetPrefixes].some((p) => overlap(p, c.analytics.prefix)))
    out.push({ path: ["analytics", "prefix"], message: "must not overlap storage.sourcePrefixes or storage.targetPrefixes" });
  const k = c.triggers.kafka;
  if (k) {
    const both = Boolean(k.mskClusterArn) === Boolean(k.bootstrapServers);
    if (both) out.push({ path: ["triggers", "kafka"], message: "needs exactly one of mskClusterArn (Amazon MSK) or bootstrapServers (self-managed Kafka)" });
    const msk = Boolean(k.mskClusterArn);
    if (msk && (k.auth === "sasl-scram-256" || k.auth === "sasl-plain"))
      out.push({ path: ["triggers", "kafka", "auth"], message: `"${k.auth}" is for self-managed Kafka; Amazon MSK takes iam, sasl-scram-512, mtls or none` });
    if (!msk && k.bootstrapServers && k.auth === "iam")
      out.push({ path: ["triggers", "kafka", "auth"], message: '"iam" is for Amazon MSK; self-managed Kafka takes sasl-scram-512, sasl-scram-256, sasl-plain, mtls or none' });
    const needsSecret = k.auth.startsWith("sasl-") || k.auth === "mtls";
    if (needsSecret && !k.secretArn) out.push({ path: ["triggers", "kafka", "secretArn"], message: `is required with auth "${k.auth}" (the secret Lambda reads the credentials from)` });
    if (!needsSecret && k.secretArn) out.push({ path: ["triggers", "kafka", "secretArn"], message: `is only used with sasl-* or mtls auth, not "${k.auth}"` });
    if (msk && k.vpc) out.push({ path: ["triggers", "kafka", "vpc"], message: "is for self-managed Kafka; Lambda reaches an MSK cluster through the cluster's own VPC settings" });
    if (k.minimumPollers > k.maximumPollers) out.push({ path: ["triggers", "kafka", "maximumPollers"], message: `must be at least minimumPollers (${k.minimumPollers})` });
  }
  return out;
}

/**
 * The one config file of a deployment: infra, the API, the worker and the local stack all read it.
 * Every field has a default except what only a deployment can know (the AMI, the subnets).
 */
export const FleetConfigSchema = z
  .strictObject({
    /** Prefix of every resource name. @default "spotq" */
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,22}$/, "must be 2 to 23 lowercase letters, digits or hyphens, starting with a letter")
      .default("spotq"),
    /** AWS region. @default "us-east-1" */
    region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, "must be an AWS region such as us-east-1").default("us-east-1"),
    storage: z
      .strictObject({
        /** The data bucket. When `createBucket` is false it must already exist. @default "<name>-data-<account>" is chosen by infra */
        bucketName: z.string().optional(),
        /** Create the data bucket (true) or serve an existing one (false). @default true */
        createBucket: z.boolean().default(true),
        /** Source and target objects expire after this many days (at least 7). @default 30 */
        retentionDays: z.int().min(7).max(3650).default(30),
        /**
         * Folder prefixes (`"tmp/"`) the lifecycle rules expire, or `""` for the whole bucket; an empty
         * list means the source and target prefixes (the whole bucket when those are empty too). @default []
         */
        expirePrefixes: z.array(z.union([KeyPrefixSchema, z.literal("")])).default([]),
        /** Folder prefixes job sources are read from: the worker may read only there. Empty means the whole bucket. @default [] */
        sourcePrefixes: z.array(KeyPrefixSchema).default([]),
        /** Folder prefixes job results are written to: the worker may write only there. Empty means the whole bucket. @default [] */
        targetPrefixes: z.array(KeyPrefixSchema).default([]),
        /** Largest source folder a job may have, in bytes. @default 50 GiB */
        maxSourceBytes: z.int().min(1).default(50 * GiB),
      })
      .prefault({}),
    queue: z
      .strictObject({
        /** The queue's visibility timeout; the worker's heartbeat extends it while a job runs. @default 300 */
        visibilityTimeoutSeconds: z.int().min(30).max(SQS_MAX_VISIBILITY_SECONDS).default(300),
        /** Long-poll wait of each receive. @default 20 */
        receiveWaitSeconds: z.int().min(0).max(20).default(20),
        /** How long the DLQ keeps messages. @default 14 */
        dlqRetentionDays: z.int().min(1).max(14).default(14),
        /**
         * How long the jobs queue keeps a message (SQS allows 1 to 14 days). A message not received
         * within it is gone with its job, so it must outlast a job's every attempt. @default 4
         */
        retentionDays: z.int().min(1).max(14).default(4),
      })
      .prefault({}),
    jobs: z
      .strictObject({
        /** Attempts per job before it is FAILED and sent to the DLQ. Interruptions do not count. @default 3 */
        maxAttempts: z.int().min(1).max(20).default(3),
        /** Extra receives the queue allows beyond maxAttempts for Spot interruptions and lost workers. @default 5 */
        interruptionAllowance: z.int().min(0).max(100).default(5),
        /** Wall-clock limit of one processor run; must stay below SQS's 12 h cap. @default 14400 */
        timeoutSeconds: z.int().min(1).default(4 * 3600),
        /** First retry delay; doubled each further attempt, capped at 900 s (SQS's delay cap). @default 30 */
        retryBackoffSeconds: z.int().min(0).max(900).default(30),
        /** How often the worker extends the message's visibility and checks for cancel. @default 60 */
        heartbeatSeconds: z.int().min(1).default(60),
        /** Exit codes by which the processor says the request itself is invalid: no retry. @default [] */
        invalidRequestExitCodes: z.array(z.int()).default([]),
        /** Extra request option names passed through to the processor unchanged. @default [] */
        extraOptions: z.array(z.string().min(1)).default([]),
        /** Days a finished job record is kept before DynamoDB's TTL removes it. @default 90 */
        recordRetentionDays: z.int().min(1).default(90),
      })
      .prefault({}),
    processor: z
      .strictObject({
        /** Executable run for each job, spawned without a shell. */
        command: z.string().min(1).default(MEDIT_COMMAND),
        /** Argument template; `{config}`, `{source}`, `{target}`, `{jobId}` are substituted. */
        args: z.array(z.string()).default(["--iScanComplete", "{config}"]),
        /** Extra environment variables for the processor. @default {} */
        env: z.record(z.string(), z.string()).default({}),
        /**
         * Where the worker (and so the processor) runs on Windows: `service` runs it as a Windows
         * service (LocalSystem, session 0, no desktop); `interactive` logs `autoLogon.user` on at boot
         * and runs it from a scheduled task in that user's desktop session, for processors that need
         * a desktop, an OpenGL context or a licence bound to a user. @default "service"
         */
        session: z.enum(["service", "interactive"]).default("service"),
        /** The user an `interactive` session logs on, and where its password is kept. */
        autoLogon: z
          .strictObject({
            /** A local Windows user (created at boot when the AMI has none). */
            user: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$/, "must be a local Windows user name: up to 20 letters, digits, dots, hyphens or underscores"),
            /** Name of the SSM Parameter Store SecureString holding the user's password (read at boot, never written in the config). */
            passwordParameter: z
              .string()
              .regex(/^\/?[A-Za-z0-9_.\-]+(\/[A-Za-z0-9_.\-]+)*$/, "must be an SSM parameter name such as /spotq/medit-password"),
          })
          .optional(),
        /** Run the processor as a Docker image from ECR instead of a command on the AMI (Linux only). Absent: `command` runs on the instance. */
        container: ContainerSchema.optional(),
      })
      .prefault({}),
    fleet: z
      .strictObject({
        /** The AMI's OS: Windows (Medit) gets PowerShell user data, Linux gets bash. @default "windows" */
        platform: z.enum(["windows", "linux"]).default("windows"),
        /** The Medit Windows GPU AMI; required to deploy. */
        amiId: z
          .string()
          .regex(/^ami-[0-9a-f]{8,17}$/, "must be an AMI id such as ami-0abc1234def567890")
          .optional(),
        /** Spot instance types, most preferred first. @default GPU types g4dn and g5 */
        instanceTypes: z
          .array(z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an instance type such as g4dn.xlarge"))
          .min(1, "must list at least one instance type")
          .default(["g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge", "g5.2xlarge"]),
        minSize: z.int().min(0).default(0),
        maxSize: z.int().min(1).max(1000).default(10),
        /** On-demand instances always kept below the Spot capacity. @default 0 */
        onDemandBaseCapacity: z.int().min(0).default(0),
        /** Share of on-demand above the base, in percent. @default 0 */
        onDemandPercentageAboveBase: z.int().min(0).max(100).default(0),
        spotAllocationStrategy: z
          .enum(["price-capacity-optimized", "capacity-optimized", "lowest-price", "capacity-optimized-prioritized"])
          .default("price-capacity-optimized"),
        capacityRebalance: z.boolean().default(true),
        /** Encrypted gp3 root volume size. @default 200 */
        rootVolumeGiB: z.int().min(30).max(16384).default(200),
        /** Subnets of the group; required to deploy. */
        subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, "must be a subnet id such as subnet-0abc1234")).default([]),
        /** Time an instance needs from launch to taking work; the scaling warmup. @default 300 */
        bootSeconds: z.int().min(0).max(3600).default(300),
        /**
         * An idle worker terminates itself after this long. The default equals the default boot time:
         * idling longer than a boot's worth of instance time costs more than booting again (the
         * ski-rental break-even); bench/scaling measures it (docs/scaling.md). @default 300
         */
        idleTimeoutSeconds: z.int().min(10).default(300),
        /** Folder on the instance where jobs are downloaded. */
        workRoot: z.string().optional(),
        /**
         * Node.js major the worker runs on: an even (LTS) line from 22 (the bundle's target) to 26.
         * Without `artifacts.node`, the AMI's own node must be at least this major. @default 24
         */
        nodeMajor: z
          .int()
          .min(22, "must be 22 or newer: the worker bundle targets Node.js 22")
          .max(26, "must be at most 26, the newest Node.js LTS line spotq knows")
          .refine((n) => n % 2 === 0, "must be an even major: only even Node.js lines get long-term support")
          .default(24),
        /** How long a stopping worker service waits for the worker to hand its job back before killing it (below the 2-minute Spot notice). @default 90 */
        stopGraceSeconds: z.int().min(10).max(110).default(90),
        /**
         * Worker artifacts infra ships through the artifacts bucket, pinned at build time.
         * Without `node`, the AMI must have Node.js (`nodeMajor` or newer) on its PATH.
         */
        artifacts: z
          .strictObject({
            /** The Node.js release the worker runs on, shipped in the artifacts bucket (`npm run fetch:node` downloads it). */
            node: z
              .strictObject({
                /** The exact release, such as "24.11.1". */
                version: z.string().regex(/^\d+\.\d+\.\d+$/, 'must be an exact Node.js release such as "24.11.1"'),
                /** SHA-256 of the archive (from the release's SHASUMS256.txt); synth refuses a file that does not match. */
                sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be the archive's SHA-256: 64 lowercase hex digits"),
                /**
                 * The archive on the deploying machine, relative to the config file.
                 * @default "vendor/node/node-v<version>-win-x64.zip" (windows) or "-linux-<x64|arm64>.tar.gz" (linux)
                 */
                archive: z.string().min(1).optional(),
              })
              .optional(),
          })
          .prefault({}),
        /**
         * Rolling replacement of instances when the launch template changes (a deploy with a new
         * worker, config or AMI). Busy workers are protected from scale-in; `Ignore` leaves them to
         * finish and retire on their own, `Wait` waits at most an hour for them and then fails the
         * refresh. AWS's third choice, `Refresh`, would kill running jobs and is refused.
         */
        instanceRefresh: z
          .strictObject({
            /** Start an instance refresh when the launch template or instance types change. @default true */
            enabled: z.boolean().default(true),
            /** Share of desired capacity that stays in service during a refresh. @default 100 */
            minHealthyPercentage: z.int().min(0).max(100).default(100),
            /** Share of desired capacity the refresh may run at, launching replacements first. @default 200 */
            maxHealthyPercentage: z.int().min(100).max(200).default(200),
            /** What a refresh does with protected (busy) instances. @default "Ignore" */
            scaleInProtectedInstances: z.enum(["Ignore", "Wait"]).default("Ignore"),
          })
          .prefault({}),
        /** Let the instance profile use AWS Systems Manager Session Manager, to open a shell on a worker without SSH or inbound ports. @default false */
        sessionManager: z.boolean().default(false),
        /**
         * Lifecycle hooks of the group (`<name>-launching`, `<name>-terminating`). Heartbeat timeouts
         * are within Auto Scaling's 30..7200 s.
         */
        lifecycleHooks: z
          .strictObject({
            /** Pending:Wait until the worker's preflight passes and it completes the action; ABANDON on timeout. @default 1800 */
            launchTimeoutSeconds: z.int().min(30).max(7200).default(1800),
            /** Terminating:Wait while a worker finishes (heartbeating) or hands back its job; CONTINUE on timeout. @default 900 */
            terminateTimeoutSeconds: z.int().min(30).max(7200).default(900),
          })
          .prefault({}),
        /** After `failures` failed boots within `windowSeconds`, the fleet stops launching (Launch suspended) and says why. */
        bootBreaker: z
          .strictObject({
            failures: z.int().min(1).max(100).default(3),
            windowSeconds: z.int().min(60).max(86_400).default(3600),
          })
          .prefault({}),
        /** Checks an instance passes before it takes work; a failure is a failed boot. */
        preflight: z
          .strictObject({
            /** A command that must exit 0 when the GPU works (spawned without a shell); null skips the check. @default ["nvidia-smi"] */
            gpuCheck: z.array(z.string().min(1)).min(1).nullable().default(["nvidia-smi"]),
            /** Free disk the work root must have. @default 20 */
            minFreeDiskGiB: z.number().min(0).default(20),
            /** An optional licence check command that must exit 0. */
            licenceCheck: z.array(z.string().min(1)).min(1).optional(),
            /** Limit of each check command. @default 60 */
            timeoutSeconds: z.int().min(1).max(600).default(60),
          })
          .prefault({}),
        /** After this many consecutive failures on one instance that are not the request's fault, it marks itself Unhealthy. @default 3 */
        unhealthyAfterFailures: z.int().min(1).max(100).default(3),
        /** Keep an instance whose boot failed (for a look through SSM Session Manager) instead of terminating it. @default false */
        debugKeepFailedInstances: z.boolean().default(false),
      })
      .prefault({}),
    scaling: z
      .strictObject({
        /** Metric period of the queue-depth alarms. @default 60 */
        periodSeconds: z.union([z.literal(10), z.literal(30), z.int().min(60).multipleOf(60)]).default(60),
        /** Periods the backlog must stand before scaling out. @default 1 */
        evaluationPeriods: z.int().min(1).max(10).default(1),
        /** Step-scaling steps, by name, ascending backlog. */
        scaleOutSteps: z
          .record(z.string().regex(/^[a-z][a-z0-9-]*$/, "step names are lowercase words"), StepSchema)
          .default({
            small: { backlogAtLeast: 1, addInstances: 1 },
            medium: { backlogAtLeast: 5, addInstances: 3 },
            large: { backlogAtLeast: 20, addInstances: 10 },
          }),
        /** Raise desired capacity from the API on submit, without waiting for the alarm. @default true */
        fastPath: z.boolean().default(true),
        /**
         * The scale-out signal (docs/scaling.md; `spotq simulate` compares them on a workload):
         * - `deficit`: jobs queued or running minus instances in service (CloudWatch metric math over
         *   the SQS and group metrics); a step policy adds exactly that many, so a burst of N gets N
         *   instances in one evaluation;
         * - `visible`: the queue's visible messages through `scaleOutSteps`;
         * - `target-tracking`: AWS's backlog per instance held at `targetBacklogPerInstance`.
         * @default "deficit"
         */
        policy: z.enum(POLICY_KINDS).default("deficit"),
        /** `target-tracking` only: the visible jobs per in-service instance to hold. @default 1 */
        targetBacklogPerInstance: z.number().positive().max(1000).default(1),
        /**
         * Scheduled capacity, by action name: Unix cron `recurrence` (minute hour day month weekday)
         * in `timeZone`, setting any of `minSize`, `maxSize`, `desiredCapacity` (e.g. a warm standby
         * during clinic hours). Becomes `aws_autoscaling_schedule`; the local fleet and the simulator
         * honour it. @default {}
         */
        schedule: z
          .record(
            z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "schedule names are lowercase words with hyphens"),
            z.strictObject({
              recurrence: z.string().min(1),
              /** IANA time zone of the recurrence. @default "Etc/UTC" */
              timeZone: z.string().default("Etc/UTC"),
              minSize: z.int().min(0).max(1000).optional(),
              maxSize: z.int().min(0).max(1000).optional(),
              desiredCapacity: z.int().min(0).max(1000).optional(),
            }),
          )
          .default({}),
        /**
         * On-Demand fallback (DESIGN §5, docs/scaling.md): a job interrupted `afterInterruptions`
         * times goes to a second queue served by a small On-Demand group of at most `maxSize`
         * instances. Absent: off. (The simulator models it; the infra and worker wiring is phase 2.)
         */
        onDemandFallback: z
          .strictObject({
            afterInterruptions: z.int().min(1).max(20),
            /** @default 2 */
            maxSize: z.int().min(1).max(100).default(2),
            /** The On-Demand instance type. @default the first of fleet.instanceTypes */
            instanceType: z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an instance type such as g4dn.xlarge").optional(),
          })
          .optional(),
      })
      .prefault({}),
    api: z
      .strictObject({
        /** How callers authenticate: API keys with a usage plan, or IAM (SigV4). @default "apiKey" */
        auth: z.enum(["apiKey", "iam"]).default("apiKey"),
        throttleRateLimit: z.number().min(1).default(20),
        throttleBurstLimit: z.int().min(1).default(40),
        /** Requests per day per key under the usage plan. @default 10000 */
        quotaPerDay: z.int().min(1).default(10_000),
        /** Largest request body accepted. @default 16384 */
        maxBodyBytes: z.int().min(1024).max(1_048_576).default(16_384),
        /** Lambda runtime of the API: nodejs22.x where a region does not offer nodejs24.x yet. @default "nodejs24.x" */
        lambdaRuntime: z.enum(["nodejs24.x", "nodejs22.x"]).default("nodejs24.x"),
        /**
         * The tenants of the API. Empty: one caller sees every job (an API key under one usage plan,
         * or IAM; locally no auth). Otherwise every request is one tenant's: on AWS by its API
         * Gateway key (own usage plan) or, with `auth` "iam", its principal; locally by `x-api-key`.
         * @default []
         */
        tenants: z.array(TenantSchema).default([]),
      })
      .prefault({}),
    monitoring: z
      .strictObject({
        /** Email subscribed to the alarm topic. */
        alarmEmail: z.email().optional(),
        /** Alarm when the oldest queued message is older than this. @default 3600 */
        oldestMessageAlarmSeconds: z.int().min(60).default(3600),
        /** Retention of every log group. @default 30 */
        logRetentionDays: z
          .int()
          .refine((d) => LOG_RETENTION_DAYS.includes(d), `must be one of CloudWatch's retention values: ${LOG_RETENTION_DAYS.join(", ")}`)
          .default(30),
      })
      .prefault({}),
    /** Jobs from an upload (`spotq.json`) or from Kafka records. */
    triggers: TriggersSchema,
    /** Job state changes as events (EventBridge; an SQS queue locally). */
    events: EventsSchema,
    /** `spotq-result.json` per job, an analytics line per job, Glue + Athena over the lines. */
    analytics: AnalyticsSchema,
    /** Remote Terraform state in S3 (locked with S3's own lock file); absent keeps the state in a local file. */
    state: z
      .strictObject({
        /** An existing, versioned S3 bucket for the state. */
        bucket: z.string(),
        /** Object key of the state. @default "spotq/<name>/terraform.tfstate" */
        key: z.string().regex(/^[^/$][^$]*$/, "must be an object key without a leading slash or $").optional(),
        /** Region of the state bucket. @default the deployment's region */
        region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, "must be an AWS region such as us-east-1").optional(),
      })
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (c.fleet.maxSize < c.fleet.minSize)
      ctx.addIssue({ code: "custom", path: ["fleet", "maxSize"], message: `must be at least fleet.minSize (${c.fleet.minSize})` });
    if (c.fleet.onDemandBaseCapacity > c.fleet.maxSize)
      ctx.addIssue({ code: "custom", path: ["fleet", "onDemandBaseCapacity"], message: `must not exceed fleet.maxSize (${c.fleet.maxSize})` });
    if (c.jobs.timeoutSeconds >= SQS_MAX_VISIBILITY_SECONDS)
      ctx.addIssue({
        code: "custom",
        path: ["jobs", "timeoutSeconds"],
        message: `must be below 43200 (12 h): SQS returns a message 12 h after its receive whatever the heartbeat does`,
      });
    if (c.jobs.heartbeatSeconds * 2 > c.queue.visibilityTimeoutSeconds)
      ctx.addIssue({
        code: "custom",
        path: ["jobs", "heartbeatSeconds"],
        message: `must be at most half of queue.visibilityTimeoutSeconds (${c.queue.visibilityTimeoutSeconds}), so one missed beat does not lose the message`,
      });
    if (c.storage.bucketName !== undefined) {
      const p = bucketNameProblem(c.storage.bucketName);
      if (p) ctx.addIssue({ code: "custom", path: ["storage", "bucketName"], message: p });
    }
    if (c.state) {
      const p = bucketNameProblem(c.state.bucket);
      if (p) ctx.addIssue({ code: "custom", path: ["state", "bucket"], message: p });
    }
    if (!c.storage.createBucket && c.storage.bucketName === undefined)
      ctx.addIssue({ code: "custom", path: ["storage", "bucketName"], message: "is required when storage.createBucket is false" });
    const steps = Object.entries(c.scaling.scaleOutSteps);
    if (steps.length === 0) ctx.addIssue({ code: "custom", path: ["scaling", "scaleOutSteps"], message: "must hold at least one step" });
    const seen = new Map<number, string>();
    for (const [name, s] of steps) {
      const other = seen.get(s.backlogAtLeast);
      if (other)
        ctx.addIssue({
          code: "custom",
          path: ["scaling", "scaleOutSteps", name, "backlogAtLeast"],
          message: `equals that of step "${other}" (${s.backlogAtLeast}); each step needs its own threshold`,
        });
      seen.set(s.backlogAtLeast, name);
    }
    for (const p of scalingProblems(c)) ctx.addIssue({ code: "custom", path: p.path, message: p.message });
    for (const p of outputsProblems(c)) ctx.addIssue({ code: "custom", path: p.path, message: p.message });
    if (new Set(c.fleet.instanceTypes).size !== c.fleet.instanceTypes.length)
      ctx.addIssue({ code: "custom", path: ["fleet", "instanceTypes"], message: "lists an instance type twice" });
    for (const p of strandingProblems(c)) ctx.addIssue({ code: "custom", path: p.path, message: p.message });
    for (const p of containerProblems(c)) ctx.addIssue({ code: "custom", path: p.path, message: p.message });
    for (const p of tenantProblems(c.api)) ctx.addIssue({ code: "custom", path: p.path, message: p.message });
  });

/**
 * Checks of the `scaling` block that span keys (schedules). A period below 60 s is refused for a
 * deploy by infra/deploy-config.ts (SQS and group metrics are per minute); locally it is fine.
 */
function scalingProblems(c: {
  scaling: {
    schedule: Record<string, { recurrence: string; timeZone: string; minSize?: number; maxSize?: number; desiredCapacity?: number }>;
  };
}): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  const s = c.scaling;
  const entries = Object.entries(s.schedule);
  if (entries.length > MAX_SCHEDULED_ACTIONS)
    out.push({ path: ["scaling", "schedule"], message: `holds ${entries.length} actions; Auto Scaling allows ${MAX_SCHEDULED_ACTIONS} per group` });
  for (const [name, e] of entries) {
    const at = ["scaling", "schedule", name];
    const cron = cronProblem(e.recurrence);
    if (cron) out.push({ path: [...at, "recurrence"], message: `must be a cron recurrence "minute hour day-of-month month day-of-week": ${cron}` });
    if (!isTimeZone(e.timeZone)) out.push({ path: [...at, "timeZone"], message: `"${e.timeZone}" is not an IANA time zone such as Europe/Berlin or Etc/UTC` });
    if (e.minSize === undefined && e.maxSize === undefined && e.desiredCapacity === undefined)
      out.push({ path: at, message: "must set at least one of minSize, maxSize, desiredCapacity" });
    if (e.minSize !== undefined && e.maxSize !== undefined && e.minSize > e.maxSize) out.push({ path: [...at, "minSize"], message: `must not exceed maxSize (${e.maxSize})` });
    if (e.desiredCapacity !== undefined && e.maxSize !== undefined && e.desiredCapacity > e.maxSize)
      out.push({ path: [...at, "desiredCapacity"], message: `must not exceed maxSize (${e.maxSize})` });
    if (e.desiredCapacity !== undefined && e.minSize !== undefined && e.desiredCapacity < e.minSize)
      out.push({ path: [...at, "desiredCapacity"], message: `must be at least minSize (${e.minSize})` });
  }
  return out;
}

/** The part of the config {@link strandingProblems} reads (declared here: the schema's own type is not known inside it). */
interface StrandingInput {
  queue: { retentionDays: number; dlqRetentionDays: number };
  jobs: { maxAttempts: number; timeoutSeconds: number };
  processor: { session: "service" | "interactive"; autoLogon?: { user: string; passwordParameter: string } | undefined };
  scaling: { fastPath: boolean; scaleOutSteps: Record<string, { backlogAtLeast: number }> };
  fleet: {
    platform: "windows" | "linux";
    instanceTypes: string[];
    subnetIds: string[];
    nodeMajor: number;
    artifacts: { node?: { version: string } | undefined };
    instanceRefresh: { minHealthyPercentage: number; maxHealthyPercentage: number };
  };
}

/**
 * Settings that parse but would strand jobs or instances on a real fleet (issue 8 §10): a backlog
 * too small to ever scale out, instance types no Windows AMI can run, a queue that drops messages
 * before their last attempt, a session that cannot log on.
 */
function strandingProblems(c: StrandingInput): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const add = (path: (string | number)[], message: string) => problems.push({ path, message });
  const f = c.fleet;

  // Only the API's fast path raises capacity for a backlog below the lowest step: without it, a
  // lone job would wait with zero instances forever.
  const lowest = Object.entries(c.scaling.scaleOutSteps).sort((a, b) => a[1].backlogAtLeast - b[1].backlogAtLeast)[0];
  if (lowest && lowest[1].backlogAtLeast !== 1 && !c.scaling.fastPath)
    add(
      ["scaling", "scaleOutSteps", lowest[0], "backlogAtLeast"],
      `must be 1 for the lowest step when scaling.fastPath is off: a backlog of ${lowest[1].backlogAtLeast - 1} job(s) would never start an instance`,
    );

  if (f.platform === "windows")
    f.instanceTypes.forEach((t, i) => {
      const p = windowsGpuTypeProblem(t);
      if (p) add(["fleet", "instanceTypes", i], p);
    });
  if (new Set(f.instanceTypes.map(instanceArchitecture)).size > 1)
    add(["fleet", "instanceTypes"], `mixes x86_64 and arm64 types (${f.instanceTypes.map((t) => `${t}: ${instanceArchitecture(t)}`).join(", ")}); one AMI serves one architecture`);
  if (new Set(f.subnetIds).size !== f.subnetIds.length) add(["fleet", "subnetIds"], "lists a subnet twice");

  const pinned = f.artifacts.node;
  if (pinned && Number(pinned.version.split(".")[0]) !== f.nodeMajor)
    add(["fleet", "artifacts", "node", "version"], `is Node.js ${pinned.version}, but fleet.nodeMajor is ${f.nodeMajor}: set both to the same major`);

  if (f.instanceRefresh.maxHealthyPercentage - f.instanceRefresh.minHealthyPercentage > 100)
    add(["fleet", "instanceRefresh", "maxHealthyPercentage"], "may exceed minHealthyPercentage by at most 100 (an Auto Scaling limit)");

  // A retried job keeps its message (released with a delay of up to 900 s), so the message must outlive every attempt.
  const attemptsSeconds = c.jobs.maxAttempts * (c.jobs.timeoutSeconds + 900);
  if (c.queue.retentionDays * 86_400 <= attemptsSeconds)
    add(
      ["queue", "retentionDays"],
      `is ${c.queue.retentionDays} day(s), but ${c.jobs.maxAttempts} attempts of up to jobs.timeoutSeconds (${c.jobs.timeoutSeconds} s) plus retry delays can take ${Math.ceil(attemptsSeconds / 3600)} h: a retried job's message would expire`,
    );
  // A dead letter keeps its first enqueue time, so the DLQ must keep messages longer than the queue did.
  if (c.queue.dlqRetentionDays <= c.queue.retentionDays && c.queue.dlqRetentionDays < 14)
    add(
      ["queue", "dlqRetentionDays"],
      `must be more than queue.retentionDays (${c.queue.retentionDays}), or 14 (the most SQS keeps): a dead-lettered message keeps its first enqueue time, so a shorter DLQ retention drops it early`,
    );

  if (c.processor.session === "interactive") {
    if (f.platform !== "windows") add(["processor", "session"], '"interactive" (auto-logon and a desktop session) exists on Windows only; use "service" on Linux');
    if (!c.processor.autoLogon) add(["processor", "autoLogon"], 'is required when processor.session is "interactive": the user to log on and the SSM parameter holding its password');
  } else if (c.processor.autoLogon) add(["processor", "autoLogon"], 'is only used when processor.session is "interactive"');
  return problems;
}

/** The part of the config {@link containerProblems} reads. */
interface ContainerInput {
  processor: { command: string; container?: ContainerProfile | undefined };
  jobs: { invalidRequestExitCodes: number[] };
  fleet: {
    platform: "windows" | "linux";
    amiId?: string | undefined;
    instanceTypes: string[];
    stopGraceSeconds: number;
    lifecycleHooks: { launchTimeoutSeconds: number };
  };
}

/**
 * The container profile's cross-key rules (issue 10 §6): Linux only; the image's entrypoint, not
 * `processor.command`, runs; `docker run`'s own exit codes (125–127) and the signal codes (129–159)
 * cannot mean "invalid request"; a stop must fit the service's stop grace and a pull the launch
 * hook's timeout; `--gpus` needs NVIDIA types; the default AMI (the ECS GPU AMI) is x86_64 only;
 * `keepImages` applies only to a repository the deployment creates.
 */
function containerProblems(c: ContainerInput): { path: (string | number)[]; message: string }[] {
  const container = c.processor.container;
  if (!container) return [];
  const problems: { path: (string | number)[]; message: string }[] = [];
  const add = (path: (string | number)[], message: string) => problems.push({ path, message });
  const f = c.fleet;
  if (f.platform !== "linux") add(["processor", "container"], 'runs on Linux fleets only (Docker with the NVIDIA container toolkit): set fleet.platform to "linux"');
  if (c.processor.command !== MEDIT_COMMAND)
    add(["processor", "command"], "is not used with processor.container: the image's entrypoint runs, with processor.args after the image; leave processor.command out");
  c.jobs.invalidRequestExitCodes.forEach((code, i) => {
    if (DOCKER_RUN_EXIT_CODES.includes(code))
      add(["jobs", "invalidRequestExitCodes", i], `${code} is an exit code of docker run itself (125: the daemon could not run the container, 126: cannot invoke, 127: not found), never the image's verdict on a request`);
    else if (code >= CONTAINER_SIGNAL_EXIT_CODES.min && code <= CONTAINER_SIGNAL_EXIT_CODES.max)
      add(["jobs", "invalidRequestExitCodes", i], `${code} is how docker run reports a container killed by signal ${code - 128} (a crash), not a verdict on a request`);
  });
  if (container.stopTimeoutSeconds + 10 > f.stopGraceSeconds)
    add(
      ["processor", "container", "stopTimeoutSeconds"],
      `is ${container.stopTimeoutSeconds} s, but a service stop waits only fleet.stopGraceSeconds (${f.stopGraceSeconds} s) for the worker to stop the container and hand the job back; keep it at least 10 s below`,
    );
  if (container.pullTimeoutSeconds >= f.lifecycleHooks.launchTimeoutSeconds)
    add(
      ["processor", "container", "pullTimeoutSeconds"],
      `must be below fleet.lifecycleHooks.launchTimeoutSeconds (${f.lifecycleHooks.launchTimeoutSeconds}): the preflight pulls the image before the launch hook is completed`,
    );
  if (container.gpus !== undefined)
    f.instanceTypes.forEach((t, i) => {
      const family = gpuFamily(t);
      if (!family) add(["fleet", "instanceTypes", i], `${t} is not a GPU instance type spotq knows (core/instance-types.ts), but processor.container.gpus asks for GPUs`);
      else if (family.gpu !== "nvidia") add(["fleet", "instanceTypes", i], `${t} has ${family.model} GPUs (AMD); docker run --gpus needs NVIDIA GPUs`);
    });
  if (!f.amiId)
    f.instanceTypes.forEach((t, i) => {
      if (instanceArchitecture(t) !== "x86_64")
        add(["fleet", "instanceTypes", i], `${t} is an arm64 type, but without fleet.amiId the fleet boots the ECS GPU-optimised AMI, which is x86_64 only; set fleet.amiId or pick x86_64 types`);
    });
  const parsed = parseImageReference(container.image);
  if (container.keepImages !== undefined && parsed.ok && parsed.value.registry)
    add(["processor", "container", "keepImages"], "applies only to a repository this deployment creates (an image given by repository name); an existing repository keeps its own lifecycle policy");
  return problems;
}

/** The validated fleet config, every default filled in. */
export type FleetConfig = z.output<typeof FleetConfigSchema>;
/** The config as a user writes it: everything optional. */
export type FleetConfigInput = z.input<typeof FleetConfigSchema>;

/** Safe parse: the config, or every problem with its dotted key path. */
export function parseFleetConfig(input: unknown): { ok: true; value: FleetConfig } | { ok: false; problems: Problem[] } {
  // reportInput keeps the offending value on each issue, so a problem can say what it got.
  const r = FleetConfigSchema.safeParse(input ?? {}, { reportInput: true });
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, problems: r.error.issues.flatMap(issueToProblems) };
}

/** Parses or throws a {@link ValidationError} naming each bad key. */
export function fleetConfig(input: unknown, source = "fleet config"): FleetConfig {
  const r = parseFleetConfig(input);
  if (!r.ok) throw new ValidationError(`invalid ${source}`, r.problems);
  return r.value;
}

/** Reads and validates a config file; a missing file or bad JSON is a clear error too. */
export function loadFleetConfigFile(file: string): FleetConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ValidationError(`cannot read fleet config ${file}`, [{ field: "file", reason: (err as Error).message }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`fleet config ${file} is not valid JSON`, [{ field: "file", reason: (err as Error).message }]);
  }
  return fleetConfig(json, `fleet config ${file}`);
}

/** The config every default gives: what `npm start` runs on. */
export function defaultFleetConfig(): FleetConfig {
  return fleetConfig({});
}

/** The DLQ redrive threshold: every allowed attempt plus room for interruptions and lost workers. */
export function maxReceiveCount(c: FleetConfig): number {
  return c.jobs.maxAttempts + c.jobs.interruptionAllowance;
}

/** Retry delay before attempt `attempt + 1`, doubling from the configured base, capped at SQS's 900 s. */
export function retryDelaySeconds(c: FleetConfig, attempt: number): number {
  return Math.min(900, c.jobs.retryBackoffSeconds * 2 ** Math.max(0, attempt - 1));
}

/** Steps in ascending backlog order. */
export function orderedSteps(c: FleetConfig): { name: string; backlogAtLeast: number; addInstances: number }[] {
  return Object.entries(c.scaling.scaleOutSteps)
    .map(([name, s]) => ({ name, ...s }))
    .sort((a, b) => a.backlogAtLeast - b.backlogAtLeast);
}

function issueToProblems(issue: z.core.$ZodIssue): Problem[] {
  const at = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys") {
    const accepted = acceptedKeysAt(issue.path);
    return issue.keys.map((k) => {
      const hint = closestName(k, accepted);
      return {
        field: at ? `${at}.${k}` : k,
        reason: `unknown key${accepted.length ? `; accepted keys here: ${accepted.join(", ")}` : ""}${hint ? `; did you mean "${hint}"?` : ""}`,
      };
    });
  }
  return [{ field: at || "(root)", reason: issueReason(issue) }];
}

/** zod's own (English) wording of an issue: what a message is when the schema gave none. */
const libraryWording = z.locales.en().localeError;

/**
 * The reason of one problem in spotq's words ("must be a whole number, got 2.5"): the schema's own
 * message when it has one, else a sentence built from the issue, never zod's generic wording
 * ("Invalid input: expected int, received number").
 */
function issueReason(issue: z.core.$ZodIssue): string {
  const generic = libraryWording(issue as Parameters<typeof libraryWording>[0]);
  const genericText = typeof generic === "string" ? generic : generic?.message;
  if (issue.message !== genericText) return issue.message; // the schema's own words
  // A secret's value (an API key in the wrong shape) is never echoed back into an error or a log.
  const secret = issue.path.some((p) => /secret|password|token|apikey/i.test(String(p)));
  const got = "input" in issue && issue.input !== undefined && !secret ? `, got ${describeValue(issue.input)}` : "";
  switch (issue.code) {
    case "invalid_type": {
      if (issue.input === undefined) return "is required";
      const wanted: Record<string, string> = {
        int: "a whole number",
        number: "a number",
        string: "a string",
        boolean: "true or false",
        object: "an object ({ ... })",
        record: "an object ({ ... })",
        array: "a list ([ ... ])",
      };
      return `must be ${wanted[issue.expected] ?? issue.expected}${got}`;
    }
    case "too_small":
    case "too_big": {
      const small = issue.code === "too_small";
      const limit = Number(small ? (issue as z.core.$ZodIssueTooSmall).minimum : (issue as z.core.$ZodIssueTooBig).maximum);
      if (issue.origin === "array" || issue.origin === "set") {
        if (small && limit === 1) return "must not be empty";
        return `must list ${small ? "at least" : "at most"} ${limit} item${limit === 1 ? "" : "s"}${got}`;
      }
      if (issue.origin === "string") {
        if (small && limit === 1) return "must not be empty";
        return `must be ${small ? "at least" : "at most"} ${limit} characters long`;
      }
      const bound = issue.inclusive === false ? (small ? "more than" : "less than") : small ? "at least" : "at most";
      return `must be ${bound} ${limit}${got}`;
    }
    case "invalid_value": {
      const options = issue.values.map((v) => JSON.stringify(v));
      const hint = typeof issue.input === "string" ? closestName(issue.input, issue.values.filter((v): v is string => typeof v === "string")) : undefined;
      return `must be ${options.length === 1 ? options[0] : `one of ${options.join(", ")}`}${got}${hint ? ` (did you mean "${hint}"?)` : ""}`;
    }
    case "not_multiple_of":
      return `must be a multiple of ${String(issue.divisor)}${got}`;
    case "invalid_format": {
      const examples: Record<string, string> = { email: "an email address such as ops@example.com", url: "a URL such as https://example.com" };
      return `must be ${examples[issue.format] ?? `a valid ${issue.format}`}${got}`;
    }
    case "invalid_key":
      return `is not an accepted name here: ${issue.issues.map(issueReason).join("; ") || "refused by the schema"}`;
    case "invalid_element":
      return issue.issues.map(issueReason).join("; ") || `has an element that is not accepted${got}`;
    case "invalid_union":
      return `matches none of the accepted forms${got}`;
    default:
      return issue.message;
  }
}

/** A value as a problem names it: `the string "4"`, `2.5`, `null`, `a list`, `an object`. */
function describeValue(v: unknown): string {
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)}`;
  if (v === null || typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  return typeof v;
}

/** The accepted name closest to a misspelt one (case, a few letters off, words swapped in order aside), if any is close. */
function closestName(name: string, accepted: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[\s_-]+/g, "");
  const n = norm(name);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const a of accepted) {
    const d = editDistance(n, norm(a));
    if (d < bestDistance) {
      bestDistance = d;
      best = a;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(n.length / 4)) ? best : undefined;
}

/** Levenshtein distance with adjacent transpositions ("maxSzie" is one edit from "maxSize"). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}

/** The keys the schema accepts at a path, for the unknown-key message. */
function acceptedKeysAt(path: readonly PropertyKey[]): string[] {
  // Walk through the wrappers (default, prefault, pipe) down to the object schema at `path`.
  let schema: unknown = FleetConfigSchema;
  const unwrap = (s: unknown): unknown => {
    let cur = s as { def?: { innerType?: unknown; in?: unknown; type?: string } };
    for (let i = 0; i < 10 && cur?.def && cur.def.type !== "object"; i++) {
      cur = (cur.def.innerType ?? cur.def.in) as typeof cur;
      if (!cur) break;
    }
    return cur;
  };
  for (const key of path) {
    const obj = unwrap(schema) as { shape?: Record<string, unknown> } | undefined;
    schema = obj?.shape?.[String(key)];
    if (!schema) return [];
  }
  const obj = unwrap(schema) as { shape?: Record<string, unknown> } | undefined;
  return obj?.shape ? Object.keys(obj.shape) : [];
}
