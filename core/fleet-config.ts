import { readFileSync } from "node:fs";
import { z } from "zod";
import { ValidationError, type Problem } from "./errors.ts";
import { bucketNameProblem } from "./s3-uri.ts";

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

const StepSchema = z.strictObject({
  /** The step applies when the backlog (visible messages) is at least this. */
  backlogAtLeast: z.int().min(1),
  /** Instances to add when this step applies. */
  addInstances: z.int().min(1).max(1000),
});

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
         * Key prefixes the lifecycle rules expire; empty means the source and target prefixes
         * (the whole bucket when those are empty too). @default []
         */
        expirePrefixes: z.array(z.string()).default([]),
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
        command: z.string().min(1).default("C:\\MeditAutoTest\\9999.0.0.4515_Release\\Medit_AutoTest.exe"),
        /** Argument template; `{config}`, `{source}`, `{target}`, `{jobId}` are substituted. */
        args: z.array(z.string()).default(["--iScanComplete", "{config}"]),
        /** Extra environment variables for the processor. @default {} */
        env: z.record(z.string(), z.string()).default({}),
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
        /** An idle worker terminates itself after this long. @default 600 */
        idleTimeoutSeconds: z.int().min(10).default(600),
        /** Folder on the instance where jobs are downloaded. */
        workRoot: z.string().optional(),
        /** Node.js major version the user data installs when the AMI has none. @default 24 */
        nodeMajor: z.int().min(22).default(24),
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
    for (const p of outputsProblems(c)) ctx.addIssue({ code: "custom", path: p.path, message: p.message });
    if (new Set(c.fleet.instanceTypes).size !== c.fleet.instanceTypes.length)
      ctx.addIssue({ code: "custom", path: ["fleet", "instanceTypes"], message: "lists an instance type twice" });
  });

/** The validated fleet config, every default filled in. */
export type FleetConfig = z.output<typeof FleetConfigSchema>;
/** The config as a user writes it: everything optional. */
export type FleetConfigInput = z.input<typeof FleetConfigSchema>;

/** Safe parse: the config, or every problem with its dotted key path. */
export function parseFleetConfig(input: unknown): { ok: true; value: FleetConfig } | { ok: false; problems: Problem[] } {
  const r = FleetConfigSchema.safeParse(input ?? {});
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
    return issue.keys.map((k) => ({
      field: at ? `${at}.${k}` : k,
      reason: `unknown key${accepted.length ? `; accepted keys here: ${accepted.join(", ")}` : ""}`,
    }));
  }
  return [{ field: at || "(root)", reason: issue.message }];
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
