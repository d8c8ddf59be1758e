import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ValidationError } from "../../core/errors.ts";
import { fromWallClock, isTimeZone } from "../../core/scaling/schedule.ts";
import { spotModel, type SpotModel } from "../../core/scaling/sim/spot-model.ts";
import { GENERATORS, generateWorkload, parseWorkloadCsv, type GeneratorName, type Workload } from "../../core/scaling/sim/workload.ts";

/** The Spot model shipped with spotq (documented, with its sources, in the file itself). */
export const DEFAULT_SPOT_MODEL_FILE = fileURLToPath(new URL("./spot-model.json", import.meta.url));

export function loadSpotModelFile(file = DEFAULT_SPOT_MODEL_FILE): SpotModel {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ValidationError(`cannot read Spot model ${file}`, [{ field: "--spot-model", reason: (err as Error).message }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`Spot model ${file} is not valid JSON`, [{ field: "--spot-model", reason: (err as Error).message }]);
  }
  return spotModel(json, `Spot model ${file}`);
}

export interface WorkloadFlags {
  workload?: string;
  trace?: string;
  seed: number;
  days?: number;
  jobsPerDay?: number;
}

/** A named generator or a CSV trace (exactly one). */
export function loadWorkload(f: WorkloadFlags): Workload {
  if (f.workload && f.trace) throw new ValidationError("invalid workload", [{ field: "--trace", reason: "give either --workload NAME or --trace FILE, not both" }]);
  if (f.trace) {
    let text: string;
    try {
      text = readFileSync(f.trace, "utf8");
    } catch (err) {
      throw new ValidationError(`cannot read trace ${f.trace}`, [{ field: "--trace", reason: (err as Error).message }]);
    }
    return parseWorkloadCsv(text, f.trace);
  }
  const name = f.workload ?? "clinic-hours";
  if (!(GENERATORS as readonly string[]).includes(name))
    throw new ValidationError("invalid workload", [{ field: "--workload", reason: `unknown generator "${name}"; known: ${GENERATORS.join(", ")} (or --trace FILE.csv)` }]);
  return generateWorkload(name as GeneratorName, { seed: f.seed, ...(f.days !== undefined ? { days: f.days } : {}), ...(f.jobsPerDay !== undefined ? { jobsPerDay: f.jobsPerDay } : {}) });
}

/**
 * The simulation's start: Monday 00:00 in `timeZone` (generators put day 0 on a Monday). `date`
 * (YYYY-MM-DD) must be a Monday. @default 2025-01-06
 */
export function simulationStart(timeZone: string, date = "2025-01-06"): number {
  if (!isTimeZone(timeZone)) throw new ValidationError("invalid start", [{ field: "--time-zone", reason: `"${timeZone}" is not an IANA time zone` }]);
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) throw new ValidationError("invalid start", [{ field: "--start", reason: `"${date}" is not a date YYYY-MM-DD` }]);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (new Date(Date.UTC(y, mo - 1, d)).getUTCDay() !== 1) throw new ValidationError("invalid start", [{ field: "--start", reason: `${date} is not a Monday (the generators start on a Monday)` }]);
  const at = fromWallClock(timeZone, y, mo, d, 0, 0);
  if (at === undefined) throw new ValidationError("invalid start", [{ field: "--start", reason: `midnight of ${date} does not exist in ${timeZone}` }]);
  return at;
}

/** `20m`, `90s`, `1h`, `1h30m` or a number of seconds. */
export function parseDuration(text: string, field: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(t);
  if (!m || t === "") throw new ValidationError("invalid duration", [{ field, reason: `"${text}" is not a duration such as 20m, 90s, 1h30m or 1200` }]);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** The config file: --config, else ./spotq.config.json. */
export function configFileOf(flag: string | undefined): string {
  if (flag) return flag;
  if (existsSync("spotq.config.json")) return "spotq.config.json";
  throw new ValidationError("no config file", [
    { field: "--config", reason: "give the deployment's config file (no ./spotq.config.json here); spotq.config.example.json is an example" },
  ]);
}
