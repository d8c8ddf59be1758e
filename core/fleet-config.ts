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
    if (new Set(c.fleet.instanceTypes).size !== c.fleet.instanceTypes.length)
      ctx.addIssue({ code: "custom", path: ["fleet", "instanceTypes"], message: "lists an instance type twice" });
  });

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
