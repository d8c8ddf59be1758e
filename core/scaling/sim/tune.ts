import { fleetConfig, type FleetConfig } from "../../fleet-config.ts";
import { percentile, simulate, type SimInput } from "./engine.ts";
import type { SpotModel } from "./spot-model.ts";
import type { Workload } from "./workload.ts";

/**
 * `spotq tune`: the cheapest setting that meets a queue-wait target on a workload, found by
 * simulating candidates of the scale-out policy and its steps, the idle timeout, the minimum size
 * and a clinic-hours standby schedule. Each candidate runs on the same seeds (a generated workload
 * is drawn anew per seed, so a setting is not fitted to one day's arrivals); its figures pool the
 * jobs of every seed. Candidates change the config file as written (raw JSON), so the result is a
 * diff a user can apply.
 */

export type RawConfig = Record<string, unknown>;

export interface Figures {
  jobs: number;
  costUsd: number;
  costPerJobUsd: number;
  waitSeconds: { p50: number; p95: number; max: number };
  instanceSeconds: { boot: number; busy: number; idle: number };
}

export interface Change {
  /** Dotted key in the config file. */
  key: string;
  /** The value today (undefined: not set, the default applies). */
  before: unknown;
  /** undefined: removed. */
  after: unknown;
}

export interface TuneResult {
  targetP95WaitSeconds: number;
  seeds: number[];
  candidates: number;
  today: Figures;
  /** The cheapest candidate that meets the target; undefined when none does. */
  recommended?: { figures: Figures; changes: Change[]; config: RawConfig };
  /** When none meets the target: the candidate with the lowest p95 wait. */
  closest?: { figures: Figures; changes: Change[] };
}

export interface TuneInput {
  /** The config file as written. */
  raw: RawConfig;
  /** The workload of each seed (a generator's jobs drawn per seed; a trace repeated). */
  workload: (seed: number) => Workload;
  spot: SpotModel;
  seeds: number[];
  startEpochMs: number;
  targetP95WaitSeconds: number;
  /** Passed to every run (e.g. `queueActiveSecondsAgo`, `interruptionScale`). */
  sim?: Partial<Pick<SimInput, "queueActiveSecondsAgo" | "interruptionScale">>;
}

const IDLE_TIMEOUTS = [120, 180, 300, 450, 600, 900, 1200];
const MIN_SIZES = [0, 1, 2];
const VISIBLE_STEPS: Record<string, Record<string, { backlogAtLeast: number; addInstances: number }>> = {
  "one-per-job": { one: { backlogAtLeast: 1, addInstances: 1 }, few: { backlogAtLeast: 3, addInstances: 3 }, many: { backlogAtLeast: 10, addInstances: 10 } },
  eager: { one: { backlogAtLeast: 1, addInstances: 2 }, some: { backlogAtLeast: 4, addInstances: 5 }, many: { backlogAtLeast: 10, addInstances: 10 } },
};

/** Runs one raw config on every seed and pools the jobs. */
export function evaluate(raw: RawConfig, input: Omit<TuneInput, "raw" | "targetP95WaitSeconds">): Figures {
  const config = fleetConfig(raw, "candidate config");
  return evaluateConfig(config, input);
}

function evaluateConfig(config: FleetConfig, input: Omit<TuneInput, "raw" | "targetP95WaitSeconds">): Figures {
  let cost = 0;
  let jobs = 0;
  const secs = { boot: 0, busy: 0, idle: 0 };
  const waits: number[] = [];
  for (const seed of input.seeds) {
    const r = simulate({ config, variant: { name: "candidate" }, workload: input.workload(seed), spot: input.spot, seed, startEpochMs: input.startEpochMs, ...input.sim });
    cost += r.costUsd;
    jobs += r.jobs;
    secs.boot += r.instanceSeconds.boot;
    secs.busy += r.instanceSeconds.busy;
    secs.idle += r.instanceSeconds.idle;
    for (const w of r.waits) waits.push(w);
  }
  waits.sort((a, b) => a - b);
  const n = input.seeds.length;
  return {
    jobs: jobs / n,
    costUsd: cost / n,
    costPerJobUsd: jobs > 0 ? cost / jobs : 0,
    waitSeconds: { p50: percentile(waits, 0.5), p95: percentile(waits, 0.95), max: waits.length ? waits[waits.length - 1]! : 0 },
    instanceSeconds: { boot: secs.boot / n, busy: secs.busy / n, idle: secs.idle / n },
  };
}

/**
 * A standby schedule fitted to the workload's daily profile: the hours of the week (Monday start)
 * whose average arrivals reach `perHour`, as one open/close pair per weekday pattern.
 */
export function standbySchedule(workload: Workload, timeZone: string, minSize: number, perHour = 4): Record<string, unknown> | undefined {
  const days = Math.max(1, Math.round(workload.spanSeconds / 86_400));
  const byHour = new Array(24).fill(0) as number[];
  const weekdaysWithJobs = new Set<number>();
  for (const j of workload.jobs) {
    byHour[Math.floor((j.submitS % 86_400) / 3600)]! += 1;
    weekdaysWithJobs.add(Math.floor(j.submitS / 86_400) % 7);
  }
  const activeDays = Math.max(1, Math.min(days, [...weekdaysWithJobs].length));
  const busy = byHour.map((n, h) => [h, n / activeDays] as const).filter(([, rate]) => rate >= perHour).map(([h]) => h);
  if (busy.length === 0) return undefined;
  const open = busy[0]!;
  const close = busy[busy.length - 1]! + 1;
  const weekdays = [...weekdaysWithJobs].every((d) => d < 5) ? "MON-FRI" : "*";
  return {
    "tune-open": { recurrence: `0 ${open} * * ${weekdays}`, timeZone, minSize },
    "tune-close": { recurrence: `0 ${close % 24} * * ${weekdays}`, timeZone, minSize: 0 },
  };
}

function clone<T>(x: T): T {
  return structuredClone(x);
}

function setPath(raw: RawConfig, path: string[], value: unknown): void {
  let o = raw as Record<string, unknown>;
  for (const k of path.slice(0, -1)) {
    if (typeof o[k] !== "object" || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  if (value === undefined) delete o[path[path.length - 1]!];
  else o[path[path.length - 1]!] = value;
}

function getPath(raw: RawConfig, path: string[]): unknown {
  let o: unknown = raw;
  for (const k of path) {
    if (typeof o !== "object" || o === null) return undefined;
    o = (o as Record<string, unknown>)[k];
  }
  return o;
}

/** The keys a candidate changes, against the file as written. */
export function diffConfigs(before: RawConfig, after: RawConfig, prefix: string[] = []): Change[] {
  const out: Change[] = [];
  const keys = new Set([...Object.keys(getPath(before, prefix) ?? {}), ...Object.keys(getPath(after, prefix) ?? {})]);
  for (const k of [...keys].sort()) {
    const path = [...prefix, k];
    const a = getPath(before, path);
    const b = getPath(after, path);
    const isObj = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
    // Schedules and steps are shown whole: they are one setting each.
    const whole = path.join(".") === "scaling.schedule" || path.join(".") === "scaling.scaleOutSteps";
    if (!whole && isObj(a) && isObj(b)) out.push(...diffConfigs(before, after, path));
    else if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ key: path.join("."), before: a, after: b });
  }
  return out;
}

/** Searches the candidates; the cheapest that meets the target wins (ties: the shorter p95 wait). */
export function tune(input: TuneInput): TuneResult {
  const base = input.raw;
  const today = evaluate(base, input);
  const baseConfig = fleetConfig(base, "config");
  const timeZone = Object.values(baseConfig.scaling.schedule)[0]?.timeZone ?? "Etc/UTC";

  const policies: { policy: string; steps?: Record<string, unknown> }[] = [
    { policy: "deficit" },
    { policy: "visible" },
    ...Object.values(VISIBLE_STEPS).map((steps) => ({ policy: "visible", steps })),
  ];
  const schedules: (Record<string, unknown> | undefined | "keep")[] = ["keep", undefined];
  for (const n of [1, 2]) {
    const s = standbySchedule(input.workload(input.seeds[0]!), timeZone, n);
    if (s) schedules.push(s);
  }

  const candidates: RawConfig[] = [];
  for (const p of policies)
    for (const idle of IDLE_TIMEOUTS)
      for (const minSize of MIN_SIZES)
        for (const schedule of schedules) {
          if (minSize > 0 && schedule !== undefined && schedule !== "keep") continue; // a standby all day already
          const c = clone(base);
          setPath(c, ["scaling", "policy"], p.policy);
          if (p.steps) setPath(c, ["scaling", "scaleOutSteps"], p.steps);
          setPath(c, ["fleet", "idleTimeoutSeconds"], idle);
          setPath(c, ["fleet", "minSize"], minSize);
          if (schedule !== "keep") setPath(c, ["scaling", "schedule"], schedule);
          // Keep only real changes against today's values (defaults included).
          candidates.push(c);
        }

  let best: { raw: RawConfig; figures: Figures } | undefined;
  let closest: { raw: RawConfig; figures: Figures } | undefined;
  for (const raw of candidates) {
    let figures: Figures;
    try {
      figures = evaluate(raw, input);
    } catch {
      continue; // e.g. minSize above maxSize for this config
    }
    if (!closest || figures.waitSeconds.p95 < closest.figures.waitSeconds.p95) closest = { raw, figures };
    if (figures.waitSeconds.p95 > input.targetP95WaitSeconds) continue;
    if (!best || figures.costUsd < best.figures.costUsd - 1e-9 || (Math.abs(figures.costUsd - best.figures.costUsd) <= 1e-9 && figures.waitSeconds.p95 < best.figures.waitSeconds.p95))
      best = { raw, figures };
  }
  // Today's setting is a candidate too: recommend no change when it is already the cheapest that meets the target.
  if (today.waitSeconds.p95 <= input.targetP95WaitSeconds && (!best || today.costUsd <= best.figures.costUsd)) best = { raw: base, figures: today };

  const result: TuneResult = { targetP95WaitSeconds: input.targetP95WaitSeconds, seeds: input.seeds, candidates: candidates.length, today };
  if (best) result.recommended = { figures: best.figures, changes: effectiveChanges(base, best.raw), config: best.raw };
  else if (closest) result.closest = { figures: closest.figures, changes: effectiveChanges(base, closest.raw) };
  return result;
}

/** The diff, without keys that only spell out a default (e.g. fleet.minSize 0 where it was absent). */
function effectiveChanges(before: RawConfig, after: RawConfig): Change[] {
  const a = fleetConfig(before);
  const b = fleetConfig(after);
  return diffConfigs(before, after).filter((c) => JSON.stringify(getPath(a as unknown as RawConfig, c.key.split("."))) !== JSON.stringify(getPath(b as unknown as RawConfig, c.key.split("."))));
}
