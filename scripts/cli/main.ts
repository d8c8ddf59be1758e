import { parseArgs, type ParseArgsConfig } from "node:util";
import { CliError } from "./cli-error.ts";
import { cancel, list, status, submit, wait } from "./commands/jobs.ts";
import { down, instances, interrupt, kill } from "./commands/local.ts";
import { redrive } from "./commands/redrive.ts";
import { resolveTarget, type TargetFlags } from "./target.ts";

export const USAGE = `spotq: run GPU batch jobs on the spotq fleet

usage: spotq <command> [options]

jobs
  submit [request.json] [--source s3://…] [--target s3://…] [--set "Key=value"]… [--idempotency-key K] [--wait]
  status <jobId> [--json]
  wait <jobId> [--timeout SECONDS]     live state, instance and elapsed time; exit 0 SUCCEEDED, 1 FAILED, 3 CANCELLED, 4 timeout
  logs <jobId> [--attempt N]           the processor's stdout/stderr of a job attempt
  list [--state STATE] [--limit N] [--next CURSOR]
  cancel <jobId>
data
  upload <dir> s3://bucket/folder [--concurrency N] [--submit request.json]
                                       parallel, multipart, resumable; spotq.json (--submit) written last
events and results
  events [--follow] [--job ID] [--json] [--queue URL]   job state changes from the events queue
  report [--since 7d] [--price type=usd]… [--json]      throughput per day, failure reasons, cost per job
operations
  redrive [--max N]                    DLQ back to the queue, job records made consistent
local stack
  local up | down | instances | interrupt <instanceId> | kill <instanceId>

target (default: the local stack started with \`npm start\`)
  --api URL  --api-key KEY  --outputs spotq-outputs.json  --region R  --profile P
  env: SPOTQ_API_URL, SPOTQ_API_KEY, AWS_REGION, AWS_PROFILE`;

const OPTIONS = {
  api: { type: "string" },
  "api-key": { type: "string" },
  outputs: { type: "string" },
  region: { type: "string" },
  profile: { type: "string" },
  source: { type: "string" },
  target: { type: "string" },
  set: { type: "string", multiple: true },
  "idempotency-key": { type: "string" },
  wait: { type: "boolean" },
  json: { type: "boolean" },
  timeout: { type: "string" },
  attempt: { type: "string" },
  state: { type: "string" },
  limit: { type: "string" },
  next: { type: "string" },
  max: { type: "string" },
  concurrency: { type: "string" },
  follow: { type: "boolean" },
  // issue 10: upload --submit, events, report
  submit: { type: "string" },
  job: { type: "string" },
  queue: { type: "string" },
  since: { type: "string" },
  prefix: { type: "string" },
  price: { type: "string", multiple: true },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

/** Runs one CLI invocation; returns the process exit code. Errors are one line plus the fix. */
export async function runCli(argv: string[], out: (s: string) => void = console.log, err: (s: string) => void = console.error): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (e) {
    err(`spotq: ${(e as Error).message}`);
    err("  fix: see `spotq --help` for the commands and their options");
    return 2;
  }
  const [command, ...args] = positionals;
  if (values.help || !command) {
    out(USAGE);
    return command || values.help ? 0 : 2;
  }
  try {
    return await dispatch(command, args, values, out);
  } catch (e) {
    if (e instanceof CliError) {
      err(`spotq: ${e.message}`);
      if (e.fix) err(`  fix: ${e.fix}`);
      return e.exitCode;
    }
    err(`spotq: ${(e as Error).message ?? String(e)}`);
    return 1;
  }
}

function targetFlags(v: Values): TargetFlags {
  return {
    ...(v.api ? { api: v.api } : {}),
    ...(v["api-key"] ? { apiKey: v["api-key"] } : {}),
    ...(v.outputs ? { outputs: v.outputs } : {}),
    ...(v.region ? { region: v.region } : {}),
    ...(v.profile ? { profile: v.profile } : {}),
  };
}

function arg(args: string[], i: number, name: string, usage: string): string {
  const v = args[i];
  if (!v) throw new CliError(`missing ${name}`, `usage: spotq ${usage}`, 2);
  return v;
}

function int(v: string | undefined, name: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new CliError(`--${name} ${v}: must be a whole number of at least ${min}`, undefined, 2);
  return n;
}

async function dispatch(command: string, args: string[], v: Values, out: (s: string) => void): Promise<number> {
  const target = () => resolveTarget(targetFlags(v));
  switch (command) {
    case "submit": {
      const t = target();
      const jobId = await submit(
        t,
        {
          ...(args[0] ? { file: args[0] } : {}),
          ...(v.source ? { source: v.source } : {}),
          ...(v.target ? { target: v.target } : {}),
          ...(v.set ? { set: v.set } : {}),
          ...(v["idempotency-key"] ? { idempotencyKey: v["idempotency-key"] } : {}),
        },
        out,
      );
      return v.wait ? wait(t, jobId, { ...(v.timeout ? { timeoutSeconds: int(v.timeout, "timeout")! } : {}) }, out) : 0;
    }
    case "status":
      await status(target(), arg(args, 0, "job id", "status <jobId>"), Boolean(v.json), out);
      return 0;
    case "wait":
      return wait(target(), arg(args, 0, "job id", "wait <jobId>"), { ...(v.timeout ? { timeoutSeconds: int(v.timeout, "timeout")! } : {}) }, out);
    case "list":
      await list(target(), { ...(v.state ? { state: v.state } : {}), ...(v.limit ? { limit: int(v.limit, "limit")! } : {}), ...(v.next ? { next: v.next } : {}) }, out);
      return 0;
    case "cancel":
      await cancel(target(), arg(args, 0, "job id", "cancel <jobId>"), out);
      return 0;
    case "logs": {
      const { logs } = await import("./commands/logs.ts");
      await logs(target(), arg(args, 0, "job id", "logs <jobId>"), { ...(v.attempt ? { attempt: int(v.attempt, "attempt")! } : {}) }, out);
      return 0;
    }
    case "upload": {
      const { upload } = await import("./commands/upload.ts");
      await upload(target(), arg(args, 0, "folder", "upload <dir> s3://bucket/folder"), arg(args, 1, "destination", "upload <dir> s3://bucket/folder"), {
        ...(v.concurrency ? { concurrency: int(v.concurrency, "concurrency")! } : {}),
        ...(v.submit ? { submit: v.submit } : {}),
        // On a terminal the bar redraws on stderr; otherwise progress and the summary are plain lines of output.
        ...(process.stderr.isTTY ? {} : { tty: false, write: (s: string) => out(s.replace(/\n$/, "")) }),
      });
      return 0;
    }
    case "events": {
      const { events } = await import("./commands/events.ts");
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once("SIGINT", stop);
      try {
        await events(target(), { follow: Boolean(v.follow), json: Boolean(v.json), signal: abort.signal, ...(v.job ? { jobId: v.job } : {}), ...(v.queue ? { queueUrl: v.queue } : {}) }, out);
      } finally {
        process.off("SIGINT", stop);
      }
      return 0;
    }
    case "report": {
      const { report } = await import("./commands/report.ts");
      await report(target(), { ...(v.since ? { since: v.since } : {}), ...(v.prefix ? { prefix: v.prefix } : {}), ...(v.price ? { prices: v.price } : {}), json: Boolean(v.json) }, out);
      return 0;
    }
    case "redrive": {
      const r = await redrive(target(), { ...(v.max ? { max: int(v.max, "max")! } : {}) }, out);
      return r.skipped.length > 0 ? 1 : 0;
    }
    case "local": {
      const sub = arg(args, 0, "local command", "local up|down|instances|interrupt <id>|kill <id>");
      switch (sub) {
        case "up": {
          const { runLocalStack } = await import("../local/start.ts");
          return runLocalStack({ demo: false });
        }
        case "down":
          await down(out);
          return 0;
        case "instances":
          await instances(target(), out);
          return 0;
        case "interrupt":
          await interrupt(target(), arg(args, 1, "instance id", "local interrupt <instanceId>"), out);
          return 0;
        case "kill":
          await kill(target(), arg(args, 1, "instance id", "local kill <instanceId>"), out);
          return 0;
        default:
          throw new CliError(`unknown local command "${sub}"`, "use one of: up, down, instances, interrupt <id>, kill <id>", 2);
      }
    }
    default:
      throw new CliError(`unknown command "${command}"`, "see `spotq --help` for the commands", 2);
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("scripts/cli/main.ts")) {
  process.exitCode = await runCli(process.argv.slice(2));
}
