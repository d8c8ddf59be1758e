import { parseArgs, type ParseArgsConfig } from "node:util";
import { CliError } from "./cli-error.ts";
import { cliName } from "./cli-name.ts";
import { cancel, list, status, submit, wait } from "./commands/jobs.ts";
import { down, instances, interrupt, kill, localCommand } from "./commands/local.ts";
import { redrive } from "./commands/redrive.ts";
import { resolveTarget, type TargetFlags } from "./target.ts";

export const USAGE = `spotq: run GPU batch jobs on the spotq fleet

usage: spotq <command> [options]

jobs
  submit [request.json] [--source s3://…] [--target s3://…] [--set "Key=value"]… [--name N] [--tag k=v]… [--priority high|normal] [--idempotency-key K] [--wait]
  status <jobId> [--json]
  wait <jobId> [--timeout SECONDS]     live state, instance and elapsed time; exit 0 SUCCEEDED, 1 FAILED, 3 CANCELLED, 4 timeout
  logs <jobId> [--attempt N] [--follow]  the processor's stdout/stderr of a job attempt
  list [--state STATE] [--name N|PREFIX*] [--tag k=v|k]… [--priority high|normal] [--limit N] [--next CURSOR]
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
  local up [--fresh] | down | instances | interrupt <instanceId> | kill <instanceId>
  local group | rebalance <id> | unhealthy <id> | kill-instance <id> | bump-template
  local fail-launches [--code ice|vcpu] [--type T] [--az Z] [--count N] | fail-launches clear
  local fail-boots [--count N] [--mode user-data|hang] | fail-boots clear
  local refresh [--min-healthy P] [--warmup S] [--skip-matching] [--protected Wait|Ignore|Refresh] | refresh cancel
fleet (Auto Scaling API: AWS or local)
  fleet [--json]                       the group: sizes, instances, suspended processes, boot breaker, refresh
  fleet resume                         resume launches after the boot breaker tripped, and clear its tag
scaling
  simulate [--config F] [--workload NAME | --trace F.csv] [--policy P]… [--json] [--html F]   see \`spotq simulate --help\`
  tune --p95-wait 20m [--config F] [--workload NAME | --trace F.csv]                          see \`spotq tune --help\`

\`spotq <command> --help\` (or \`spotq help <command>\`) explains one command.

target (default: the local stack started with \`npm start\`, found from any folder)
  --api URL  --api-key KEY  --outputs spotq-outputs.json  --region R  --profile P
  env: SPOTQ_API_URL, SPOTQ_API_KEY, AWS_REGION, AWS_PROFILE`;

/**
 * More about one command, for `spotq <command> --help`: shown under the command's lines of
 * {@link USAGE}. A command without an entry here still gets its USAGE lines.
 */
export const COMMAND_HELP: Record<string, string> = {
  submit: `Submits a job: the Medit request from a JSON file, with flags laid over it.
  --source s3://bucket/folder   the scan folder (Source Folder Path)
  --target s3://bucket/folder   where results go (Target Folder Path)
  --set "Key=value"             any request key; values that parse as JSON (true, 3) are sent as such
  --name N                      a name for the job, beside the request (Spotq-Job-Name): shown and filterable
  --tag k=v                     a tag (repeat, or k=v,k2=v2; Spotq-Job-Tags): shown and filterable
  --priority high|normal        high: its own queue, which workers drain first (Spotq-Job-Priority)
  --idempotency-key K           a retry with the same key returns the first job instead of a second one
  --wait                        then wait as \`wait\` does (same exit codes)
example: submit test/fixtures/medit-request.json --source s3://spotq-local/samples/scan-4711 --target s3://spotq-local/results/scan-4711 --wait`,
  status: `Shows a job: state, how long it took, instance, timings, bytes, outputs, log location, each attempt.
While it waits or runs, "reason" says why (fleet at max, launches failing, instance starting or gone, cancel requested, ...).
  --json   the whole record as JSON (the reason in statusReason)`,
  wait: `Waits for a job to finish, showing its state, instance, elapsed time and why it waits (each new reason on a line).
  --timeout SECONDS   give up after this long (exit 4; the job goes on)
exit codes: 0 SUCCEEDED, 1 FAILED, 3 CANCELLED, 4 timeout`,
  logs: `Prints the log of a job attempt: the processor's stdout and stderr (marked) and the worker's notes.
  --attempt N   that attempt (default: the latest)
  --follow      keep printing as lines are written, into the next attempt, until the job finishes`,
  list: `Lists jobs, newest first, a page at a time; a job that waits or runs shows why in short, e.g. (fleet at max), (WARNING: instance gone).
  --state STATE   QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLING or CANCELLED
  --name N        jobs of that name; N* for names starting with N
  --tag k=v       jobs tagged k=v (--tag k: with any value); repeat: all must match
  --priority P    only high (or normal) jobs
  --limit N       jobs per page (default 20)
  --next CURSOR   the next page (the command to get it is printed under a full page)`,
  cancel: `Cancels a job: a QUEUED one becomes CANCELLED, a RUNNING one CANCELLING until its worker stops the processor.`,
  upload: `Uploads a scan folder to S3: parallel, multipart for large files, with a progress bar.
A re-run sends only what is missing or changed (same size and checksum are skipped).
  --concurrency N   requests in flight (default 16)
example: upload ./scan-4711 s3://spotq-local/scans/scan-4711`,
  redrive: `Moves the DLQ's messages back to the jobs queue (a high-priority job to the high-priority queue),
making each job's record consistent first.
A FAILED job gets a fresh attempt budget; its earlier attempts stay in its history.
  --max N   at most N messages`,
  local: `Drives the local stack (\`npm start\`).
  up [--fresh]               start it here without the demo (--fresh wipes its history first)
  down                       stop it
  instances                  the fleet's instances: lifecycle state, protection, worker pid, restarts
  interrupt <instanceId>     post a Spot interruption notice to an instance
  kill <instanceId>          SIGKILL an instance's worker (its service manager restarts it)`,
};

/** The help of one command: its lines of the overview, then its details. */
export function commandHelp(command: string, name = "spotq"): string | undefined {
  const lines = USAGE.split("\n").filter((l) => l.startsWith(`  ${command} `) || l === `  ${command}`);
  const more = COMMAND_HELP[command];
  if (lines.length === 0 && !more) return undefined;
  const usage = (lines.length ? lines.map((l) => l.trim()) : [command]).map((l, i) => `${i === 0 ? "usage: " : "       "}${name} ${l}`);
  return [...usage, ...(more ? ["", more] : []), "", USAGE.slice(USAGE.indexOf("target ("))].join("\n");
}

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
  // issue 11: job names and tags
  name: { type: "string" },
  tag: { type: "string", multiple: true },
  priority: { type: "string" },
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
  count: { type: "string" },
  code: { type: "string" },
  type: { type: "string" },
  az: { type: "string" },
  mode: { type: "string" },
  "min-healthy": { type: "string" },
  "skip-matching": { type: "boolean" },
  protected: { type: "string" },
  warmup: { type: "string" },
  fresh: { type: "boolean" },
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
  // simulate and tune take their own options (scripts/cli/commands/simulate.ts).
  if (argv[0] === "simulate" || argv[0] === "tune") return (await import("./commands/simulate.ts")).runScalingCommand(argv, out, err);
  const name = cliName();
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (e) {
    const command = argv.find((a) => !a.startsWith("-"));
    err(`spotq: ${optionProblem((e as Error).message)}`);
    err(`  fix: see \`${name} ${command && commandHelp(command) ? `${command} ` : ""}--help\` for the options`);
    return 2;
  }
  let [command, ...args] = positionals;
  if (command === "help") [command, ...args] = args.length ? args : [undefined as unknown as string];
  if (command && (values.help || positionals[0] === "help")) {
    const help = commandHelp(command, name);
    if (!help) {
      err(`spotq: unknown command "${command}"`);
      err(`  fix: see \`${name} --help\` for the commands`);
      return 2;
    }
    out(help);
    return 0;
  }
  if (values.help || !command) {
    out(name === "spotq" ? USAGE : USAGE.replace("usage: spotq <command>", `usage: ${name} <command>`));
    return command || values.help || positionals[0] === "help" ? 0 : 2;
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

/** node's parseArgs wording, shortened, with the option a typo meant: `unknown option --lmit (did you mean --limit?)`. */
function optionProblem(message: string): string {
  const unknown = /^Unknown option '(-{1,2})([^']+)'/.exec(message);
  if (!unknown) return message;
  const given = unknown[2]!;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of Object.keys(OPTIONS)) {
    const d = editDistance(given.toLowerCase(), name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  const hint = best && bestDistance <= Math.max(1, Math.floor(given.length / 3)) ? ` (did you mean --${best}?)` : "";
  return `unknown option ${unknown[1]}${given}${hint}`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
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
  if (!v) throw new CliError(`missing ${name}`, `usage: ${cliName()} ${usage}`, 2);
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
          ...(v.name !== undefined ? { name: v.name } : {}),
          ...(v.tag ? { tag: v.tag } : {}),
          ...(v.priority !== undefined ? { priority: v.priority } : {}),
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
      await list(
        target(),
        {
          ...(v.state ? { state: v.state } : {}),
          ...(v.limit ? { limit: int(v.limit, "limit")! } : {}),
          ...(v.next ? { next: v.next } : {}),
          ...(v.name !== undefined ? { name: v.name } : {}),
          ...(v.tag ? { tag: v.tag } : {}),
          ...(v.priority !== undefined ? { priority: v.priority } : {}),
        },
        out,
      );
      return 0;
    case "cancel":
      await cancel(target(), arg(args, 0, "job id", "cancel <jobId>"), out);
      return 0;
    case "logs": {
      const { logs } = await import("./commands/logs.ts");
      await logs(target(), arg(args, 0, "job id", "logs <jobId>"), { ...(v.attempt ? { attempt: int(v.attempt, "attempt")! } : {}), ...(v.follow ? { follow: true } : {}) }, out);
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
          return runLocalStack({ demo: false, ...(v.fresh ? { fresh: true } : {}) });
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
          return localCommand(target, sub, args.slice(1), v, out);
      }
    }
    case "fleet": {
      const { fleetCommand } = await import("./commands/fleet.ts");
      return fleetCommand(target(), args, v, out);
    }
    default:
      throw new CliError(`unknown command "${command}"`, `see \`${cliName()} --help\` for the commands`, 2);
  }
}

/** Ends quietly when the reader of stdout goes away (`spotq logs <id> | head`). */
export function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("scripts/cli/main.ts")) {
  exitQuietlyOnClosedPipe();
  process.exitCode = await runCli(process.argv.slice(2));
}
