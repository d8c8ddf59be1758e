import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ValidationError } from "../../../core/errors.ts";
import { fleetConfig } from "../../../core/fleet-config.ts";
import { compare, comparisonJson, DEFAULT_POLICIES, POLICY_VARIANTS } from "../../../core/scaling/sim/compare.ts";
import { tune } from "../../../core/scaling/sim/tune.ts";
import { workloadCsv } from "../../../core/scaling/sim/workload.ts";
import { configFileOf, DEFAULT_SPOT_MODEL_FILE, loadSpotModelFile, loadWorkload, parseDuration, simulationStart } from "../../sim/inputs.ts";
import { renderHtmlReport } from "../../sim/html.ts";
import { formatComparison, formatTune } from "../../sim/table.ts";
import { CliError } from "../cli-error.ts";

export const SIMULATE_USAGE = `spotq simulate: replay a workload through the scaling model, policy by policy, against the lower bound

usage: spotq simulate [--config FILE] [--workload NAME | --trace FILE.csv] [options]

  --config FILE         the deployment's config (default ./spotq.config.json)
  --workload NAME       a generator: steady, clinic-hours (default), nightly-batch
  --trace FILE.csv      a trace instead: header submit_s,process_s, one job a row
  --days N              generator days from a Monday (default 1)
  --jobs-per-day N      generator volume (default 96 / 120 / 60)
  --seed N              replay a run (default: random, printed)
  --policy NAME         compare only these (repeatable): ${Object.keys(POLICY_VARIANTS).join(", ")}
  --spot-model FILE     prices, interruption bands, boot times, metric delays (default: the shipped one)
  --interruption-scale X  multiply the Spot interruption rates (default 1)
  --queue-active        the queue was active at the start (default: idle overnight, so the first datapoint is late)
  --time-zone TZ        the workload's clock and the start (default: the first schedule's, else Etc/UTC)
  --start YYYY-MM-DD    a Monday (default 2025-01-06)
  --json                the comparison as JSON on stdout
  --html FILE           a self-contained report with charts over time
  --save-workload FILE  write the generated jobs as a CSV trace`;

export const TUNE_USAGE = `spotq tune: the cheapest setting that meets a queue-wait target, as a diff against the config

usage: spotq tune --p95-wait 20m [--config FILE] [--workload NAME | --trace FILE.csv] [options]

  --p95-wait D          the target: 95% of jobs wait at most this long (20m, 90s, 1h30m, 1200)
  --seeds N             simulate each candidate on N seeds from --seed (default 3)
  --json                the result as JSON
  (and --config, --workload, --trace, --days, --jobs-per-day, --seed, --spot-model, --interruption-scale,
   --queue-active, --time-zone, --start as for simulate)`;

const OPTIONS = {
  config: { type: "string" },
  workload: { type: "string" },
  trace: { type: "string" },
  days: { type: "string" },
  "jobs-per-day": { type: "string" },
  seed: { type: "string" },
  seeds: { type: "string" },
  policy: { type: "string", multiple: true },
  "spot-model": { type: "string" },
  "interruption-scale": { type: "string" },
  "queue-active": { type: "boolean" },
  "time-zone": { type: "string" },
  start: { type: "string" },
  json: { type: "boolean" },
  html: { type: "string" },
  "save-workload": { type: "string" },
  "p95-wait": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function number(v: string | undefined, field: string, ok: (n: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !ok(n)) throw new ValidationError("invalid option", [{ field, reason: `${what}, got "${v}"` }]);
  return n;
}

/** `spotq simulate …` and `spotq tune …` (argv includes the command). Returns the exit code. */
export async function runScalingCommand(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const [command, ...rest] = argv;
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: false }>>["values"];
  try {
    ({ values } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: false, strict: true }));
  } catch (e) {
    err(`spotq ${command}: ${(e as Error).message}`);
    err(`  fix: see \`spotq ${command} --help\``);
    return 2;
  }
  if (values.help) {
    out(command === "tune" ? TUNE_USAGE : SIMULATE_USAGE);
    return 0;
  }
  try {
    return command === "tune" ? await runTune(values, out, err) : await runSimulate(values, out, err);
  } catch (e) {
    if (e instanceof ValidationError) {
      err(`spotq ${command}: ${e.message}`);
      err(`  fix: see \`spotq ${command} --help\``);
      return 2;
    }
    if (e instanceof CliError) throw e;
    err(`spotq ${command}: ${(e as Error).message}`);
    return 1;
  }
}

type Values = Parameters<typeof common>[0];

function common(v: { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : (typeof OPTIONS)[K] extends { multiple: true } ? string[] : string }) {
  const file = configFileOf(v.config);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new ValidationError(`cannot read config ${file}`, [{ field: "--config", reason: (e as Error).message }]);
  }
  const config = fleetConfig(raw, `fleet config ${file}`);
  const seed = number(v.seed, "--seed", (n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff, "must be a whole number 0..4294967295") ?? Math.floor(Math.random() * 2 ** 31);
  const days = number(v.days, "--days", (n) => Number.isInteger(n) && n >= 1 && n <= 366, "must be a whole number 1..366");
  const jobsPerDay = number(v["jobs-per-day"], "--jobs-per-day", (n) => n > 0 && n <= 1_000_000, "must be above 0");
  const workload = loadWorkload({ ...(v.workload ? { workload: v.workload } : {}), ...(v.trace ? { trace: v.trace } : {}), seed, ...(days ? { days } : {}), ...(jobsPerDay ? { jobsPerDay } : {}) });
  const spotFile = v["spot-model"] ?? DEFAULT_SPOT_MODEL_FILE;
  const spot = loadSpotModelFile(spotFile);
  const timeZone = v["time-zone"] ?? Object.values(config.scaling.schedule)[0]?.timeZone ?? "Etc/UTC";
  const startEpochMs = simulationStart(timeZone, v.start);
  const interruptionScale = number(v["interruption-scale"], "--interruption-scale", (n) => n >= 0 && n <= 100_000, "must be a number >= 0") ?? 1;
  return { file, raw, config, seed, workload, spot, spotFile, startEpochMs, interruptionScale, queueActive: Boolean(v["queue-active"]) };
}

async function runSimulate(v: Values, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const c = common(v);
  if (v["save-workload"]) writeFileSync(v["save-workload"], workloadCsv(c.workload));
  const policies = v.policy?.length ? ["config", ...v.policy.filter((p) => p !== "config")] : DEFAULT_POLICIES;
  const unknown = policies.filter((p) => !POLICY_VARIANTS[p]);
  if (unknown.length) throw new ValidationError("invalid option", [{ field: "--policy", reason: `unknown ${unknown.map((p) => `"${p}"`).join(", ")}; known: ${Object.keys(POLICY_VARIANTS).join(", ")}` }]);
  const comparison = compare({
    config: c.config,
    workload: c.workload,
    spot: c.spot,
    seed: c.seed,
    startEpochMs: c.startEpochMs,
    policies,
    interruptionScale: c.interruptionScale,
    ...(c.queueActive ? { queueActiveSecondsAgo: 60 } : {}),
    series: Boolean(v.html),
  });
  if (v.html) {
    writeFileSync(v.html, renderHtmlReport(comparison, { config: c.file, spotModel: c.spotFile, generatedAt: new Date().toISOString() }));
    err(`report written to ${v.html}`);
  }
  if (v.json) out(JSON.stringify(comparisonJson(comparison), null, 2));
  else out(formatComparison(comparison));
  return 0;
}

async function runTune(v: Values, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  if (!v["p95-wait"]) throw new ValidationError("missing target", [{ field: "--p95-wait", reason: "is required, e.g. --p95-wait 20m" }]);
  const target = parseDuration(v["p95-wait"], "--p95-wait");
  const c = common(v);
  const n = number(v.seeds, "--seeds", (x) => Number.isInteger(x) && x >= 1 && x <= 50, "must be a whole number 1..50") ?? 3;
  const seeds = Array.from({ length: n }, (_, i) => (c.seed + i) >>> 0);
  err(`tuning on seeds ${seeds.join(", ")} (replay with --seed ${c.seed} --seeds ${n}) …`);
  // A generator draws each seed's jobs anew; a trace is the same jobs on every seed.
  const days = number(v.days, "--days", () => true, "");
  const jobsPerDay = number(v["jobs-per-day"], "--jobs-per-day", () => true, "");
  const workloadOf = (seed: number) =>
    v.trace ? c.workload : loadWorkload({ ...(v.workload ? { workload: v.workload } : {}), seed, ...(days ? { days } : {}), ...(jobsPerDay ? { jobsPerDay } : {}) });
  const result = tune({
    raw: c.raw,
    workload: workloadOf,
    spot: c.spot,
    seeds,
    startEpochMs: c.startEpochMs,
    targetP95WaitSeconds: target,
    sim: { interruptionScale: c.interruptionScale, ...(c.queueActive ? { queueActiveSecondsAgo: 60 } : {}) },
  });
  if (v.json) {
    const { recommended, ...rest } = result;
    out(JSON.stringify({ ...rest, ...(recommended ? { recommended: { figures: recommended.figures, changes: recommended.changes } } : {}) }, null, 2));
  } else out(formatTune(result, c.file, c.workload.description));
  return result.recommended ? 0 : 1;
}
