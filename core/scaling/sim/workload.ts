import { ValidationError, type Problem } from "../../errors.ts";
import { Rng } from "./rng.ts";

/** One job of a workload: when it is submitted and how long the processor runs, in seconds from the start. */
export interface WorkloadJob {
  submitS: number;
  processS: number;
}

export interface Workload {
  /** A generator's name, or the trace file. */
  name: string;
  /** What it is, in words (shown in reports). */
  description: string;
  jobs: WorkloadJob[];
  /** The span the costs are compared over (whole days for generators). */
  spanSeconds: number;
  /** The generator's seed, for replay. */
  seed?: number;
}

export const GENERATORS = ["steady", "clinic-hours", "nightly-batch"] as const;
export type GeneratorName = (typeof GENERATORS)[number];

export interface GeneratorOptions {
  seed: number;
  /** Calendar days from the start (a Monday 00:00 in the simulation's time zone). @default 1 */
  days?: number;
  /** Expected jobs per (working) day. @default 96 steady, 120 clinic-hours, 60 nightly-batch */
  jobsPerDay?: number;
  /** Median processor run. @default 480 (8 minutes, a Medit iScan) */
  processMedianSeconds?: number;
  /** Log-space spread of the run time. @default 0.5 */
  processSigma?: number;
}

const DEFAULT_JOBS: Record<GeneratorName, number> = { steady: 96, "clinic-hours": 120, "nightly-batch": 60 };
const HOUR = 3600;
const DAY = 86_400;

/** The clinic-hours rate profile: weekdays 08:00–18:00, twice and a half the rate at lunch (12:00–14:00). */
const CLINIC_PROFILE: { from: number; to: number; weight: number }[] = [
  { from: 8, to: 12, weight: 1 },
  { from: 12, to: 14, weight: 2.5 },
  { from: 14, to: 18, weight: 1 },
];

/** A named, seeded workload: the same seed and options give the same jobs. */
export function generateWorkload(name: GeneratorName, options: GeneratorOptions): Workload {
  const days = options.days ?? 1;
  if (!Number.isInteger(days) || days < 1 || days > 366) throw new ValidationError("invalid workload", [{ field: "days", reason: `must be a whole number 1..366, got ${days}` }]);
  const perDay = options.jobsPerDay ?? DEFAULT_JOBS[name];
  if (!(perDay > 0)) throw new ValidationError("invalid workload", [{ field: "jobsPerDay", reason: `must be above 0, got ${perDay}` }]);
  const rng = new Rng(options.seed);
  const arrivals = rng.fork("arrivals");
  const runs = rng.fork("process");
  const median = options.processMedianSeconds ?? 480;
  const sigma = options.processSigma ?? 0.5;
  const processS = () => Math.min(4 * HOUR, Math.max(60, Math.round(runs.lognormal(median, sigma))));
  const submits: number[] = [];
  if (name === "steady") {
    const rate = perDay / DAY;
    for (let t = arrivals.exponential(rate); t < days * DAY; t += arrivals.exponential(rate)) submits.push(t);
  } else if (name === "clinic-hours") {
    const weightHours = CLINIC_PROFILE.reduce((s, p) => s + (p.to - p.from) * p.weight, 0);
    const base = perDay / weightHours / HOUR; // jobs per second at weight 1
    for (let d = 0; d < days; d++) {
      if (d % 7 >= 5) continue; // the start is a Monday: days 5 and 6 are the weekend
      for (const p of CLINIC_PROFILE) {
        const rate = base * p.weight;
        const end = d * DAY + p.to * HOUR;
        for (let t = d * DAY + p.from * HOUR + arrivals.exponential(rate); t < end; t += arrivals.exponential(rate)) submits.push(t);
      }
    }
  } else {
    // A lab's nightly dump: at 02:00 the day's scans arrive within ten minutes.
    for (let d = 0; d < days; d++) for (let i = 0; i < Math.round(perDay); i++) submits.push(d * DAY + 2 * HOUR + arrivals.uniform(0, 600));
  }
  submits.sort((a, b) => a - b);
  const descriptions: Record<GeneratorName, string> = {
    steady: `steady Poisson arrivals, ${perDay} jobs/day`,
    "clinic-hours": `clinic hours: weekdays 08:00-18:00 with a lunch peak (x2.5, 12:00-14:00), ${perDay} jobs/day`,
    "nightly-batch": `nightly batch: ${Math.round(perDay)} jobs dumped at 02:00 within 10 minutes`,
  };
  return {
    name,
    description: `${descriptions[name]}; run time lognormal, median ${median} s; ${days} day(s); seed ${options.seed}`,
    jobs: submits.map((s) => ({ submitS: Math.round(s * 1000) / 1000, processS: processS() })),
    spanSeconds: days * DAY,
    seed: options.seed,
  };
}

/**
 * A CSV trace: header `submit_s,process_s`, then one job a row, seconds from the start. Blank lines
 * and lines starting with # are skipped. Every bad row is reported with its line number.
 */
export function parseWorkloadCsv(text: string, name = "trace.csv"): Workload {
  const lines = text.split(/\r?\n/);
  const problems: Problem[] = [];
  let header: string[] | undefined;
  const jobs: WorkloadJob[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const cells = line.split(",").map((c) => c.trim());
    if (!header) {
      header = cells;
      if (cells.length !== 2 || cells[0] !== "submit_s" || cells[1] !== "process_s")
        problems.push({ field: `${name}:${i + 1}`, reason: `the header must be "submit_s,process_s", got "${line}"` });
      return;
    }
    if (cells.length !== 2) {
      problems.push({ field: `${name}:${i + 1}`, reason: `expected 2 values (submit_s,process_s), got ${cells.length}` });
      return;
    }
    const [s, p] = cells.map(Number) as [number, number];
    if (!Number.isFinite(s) || s < 0) problems.push({ field: `${name}:${i + 1}`, reason: `submit_s "${cells[0]}" must be a number of seconds >= 0` });
    if (!Number.isFinite(p) || p <= 0) problems.push({ field: `${name}:${i + 1}`, reason: `process_s "${cells[1]}" must be a number of seconds > 0` });
    if (Number.isFinite(s) && s >= 0 && Number.isFinite(p) && p > 0) jobs.push({ submitS: s, processS: p });
  });
  if (!header) problems.push({ field: name, reason: 'is empty: it needs the header "submit_s,process_s" and one job a row' });
  else if (jobs.length === 0 && problems.length === 0) problems.push({ field: name, reason: "holds no jobs" });
  if (problems.length) throw new ValidationError(`invalid workload trace ${name}`, problems.slice(0, 20));
  jobs.sort((a, b) => a.submitS - b.submitS);
  const last = jobs[jobs.length - 1]!;
  return { name, description: `trace ${name}: ${jobs.length} jobs`, jobs, spanSeconds: Math.ceil(last.submitS + last.processS) };
}

/** The trace of a workload as CSV (what `--save-workload` writes; parseWorkloadCsv reads it back). */
export function workloadCsv(w: Workload): string {
  return ["submit_s,process_s", ...w.jobs.map((j) => `${j.submitS},${j.processS}`)].join("\n") + "\n";
}
