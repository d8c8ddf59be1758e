import type { FleetConfig } from "../../fleet-config.ts";
import { applyScheduledAction, scheduledActions } from "../schedule.ts";
import { percentile, simulate, type PolicyVariant, type SimInput, type SimResult } from "./engine.ts";
import { Rng } from "./rng.ts";
import { pricePerSecond, sampleBootSeconds, typeMix, type SpotModel } from "./spot-model.ts";
import type { Workload } from "./workload.ts";

/**
 * The policies `spotq simulate` compares. `config` is always the config file as given; the others
 * are the config with `scaling.policy` and `scaling.fastPath` replaced.
 */
export const POLICY_VARIANTS: Record<string, PolicyVariant> = {
  config: { name: "config" },
  visible: { name: "visible", policy: "visible", fastPath: false },
  "visible+fast": { name: "visible+fast", policy: "visible", fastPath: true },
  deficit: { name: "deficit", policy: "deficit", fastPath: false },
  "deficit+fast": { name: "deficit+fast", policy: "deficit", fastPath: true },
  tracking: { name: "tracking", policy: "target-tracking", fastPath: false },
  "tracking+fast": { name: "tracking+fast", policy: "target-tracking", fastPath: true },
  /** Not compared by default: the phase-2 hook (a hand-back raises capacity through the fast path). */
  "deficit+fast+return": { name: "deficit+fast+return", policy: "deficit", fastPath: true, fastPathOnReturn: true },
};

/** The variants compared when no --policy is given. */
export const DEFAULT_POLICIES = ["config", "visible", "visible+fast", "deficit", "deficit+fast", "tracking", "tracking+fast"];

export interface LowerBound {
  jobs: number;
  costUsd: number;
  costPerJobUsd: number;
  instanceSeconds: { boot: number; busy: number; idle: number };
  waitSeconds: { p50: number; p95: number; max: number; mean: number };
  /** Per-job wait, workload order. */
  waits: number[];
}

/**
 * The lower bound: an instance launched the moment each job arrives and gone the moment it ends.
 * Its wait is the boot time (drawn from the Spot model, one per job), or 0 when the config keeps a
 * standby at that time (min size above 0, schedules included); its cost is boot plus processing at
 * the expected Spot price of the type mix. No interruptions, no idle time.
 */
export function lowerBound(input: { config: FleetConfig; workload: Workload; spot: SpotModel; seed: number; startEpochMs: number; fixedBootSeconds?: number }): LowerBound {
  const { config, workload, spot } = input;
  const rng = new Rng(input.seed).fork("lower-bound-boot");
  const mix = typeMix(spot, config.fleet.instanceTypes);
  const perSecond = mix.reduce((s, m) => s + m.share * pricePerSecond(spot, m.type, "spot", config.fleet.platform, config.fleet.rootVolumeGiB), 0);
  const schedule = Object.entries(config.scaling.schedule).map(([name, e]) => ({ name, ...e }));
  const actions = scheduledActions(schedule, input.startEpochMs - 7 * 86_400_000, input.startEpochMs + (workload.spanSeconds + 86_400) * 1000);
  let sizes = { minSize: config.fleet.minSize, maxSize: config.fleet.maxSize, desiredCapacity: config.fleet.minSize };
  let next = 0;
  let boot = 0;
  let busy = 0;
  const waits: number[] = [];
  for (const job of workload.jobs) {
    const at = input.startEpochMs + job.submitS * 1000;
    while (next < actions.length && actions[next]!.at <= at) sizes = applyScheduledAction(sizes, actions[next++]!.entry);
    const b = input.fixedBootSeconds ?? sampleBootSeconds(spot.boot[config.fleet.platform], rng);
    waits.push(sizes.minSize > 0 ? 0 : b);
    boot += b;
    busy += job.processS;
  }
  const sorted = [...waits].sort((a, b) => a - b);
  const cost = (boot + busy) * perSecond;
  return {
    jobs: workload.jobs.length,
    costUsd: cost,
    costPerJobUsd: workload.jobs.length ? cost / workload.jobs.length : 0,
    instanceSeconds: { boot, busy, idle: 0 },
    waitSeconds: {
      p50: percentile(sorted, 0.5),
      p95: percentile(sorted, 0.95),
      max: sorted.length ? sorted[sorted.length - 1]! : 0,
      mean: sorted.length ? sorted.reduce((s, w) => s + w, 0) / sorted.length : 0,
    },
    waits,
  };
}

export interface ComparisonInput extends Omit<SimInput, "variant"> {
  /** Variant names of {@link POLICY_VARIANTS}; `config` first when absent. @default every variant */
  policies?: string[];
}

export interface Comparison {
  seed: number;
  workload: { name: string; description: string; jobs: number; spanSeconds: number };
  policies: SimResult[];
  lowerBound: LowerBound;
}

/** Every requested policy on the same workload and seed, plus the lower bound. */
export function compare(input: ComparisonInput): Comparison {
  const names = input.policies?.length ? input.policies : DEFAULT_POLICIES;
  const unknown = names.filter((n) => !POLICY_VARIANTS[n]);
  if (unknown.length) throw new RangeError(`unknown policy ${unknown.map((n) => `"${n}"`).join(", ")}; known: ${Object.keys(POLICY_VARIANTS).join(", ")}`);
  return {
    seed: input.seed,
    workload: { name: input.workload.name, description: input.workload.description, jobs: input.workload.jobs.length, spanSeconds: input.workload.spanSeconds },
    policies: names.map((n) => simulate({ ...input, variant: POLICY_VARIANTS[n]! })),
    lowerBound: lowerBound(input),
  };
}

/** The `--json` shape of the issue (plus extra fields): no per-job arrays or series. */
export function comparisonJson(c: Comparison): unknown {
  const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
  const waits = (w: { p50: number; p95: number; max: number; mean: number }) => ({ p50: round(w.p50, 1), p95: round(w.p95, 1), max: round(w.max, 1), mean: round(w.mean, 1) });
  const secs = (s: { boot: number; busy: number; idle: number }) => ({ boot: Math.round(s.boot), busy: Math.round(s.busy), idle: Math.round(s.idle) });
  return {
    seed: c.seed,
    workload: c.workload,
    policies: c.policies.map((p) => ({
      name: p.name,
      policy: p.policy,
      fastPath: p.fastPath,
      jobs: p.jobs,
      costUsd: round(p.costUsd),
      costPerJobUsd: round(p.costPerJobUsd, 4),
      instanceSeconds: secs(p.instanceSeconds),
      waitSeconds: waits(p.waitSeconds),
      interruptedJobs: p.interruptedJobs,
      interruptions: p.interruptions,
      launches: p.launches,
      maxInstances: p.maxInstances,
      costVsLowerBound: c.lowerBound.costUsd > 0 ? round(p.costUsd / c.lowerBound.costUsd, 3) : null,
      ...(p.unfinishedJobs ? { unfinishedJobs: p.unfinishedJobs } : {}),
      ...(p.onDemand ? { onDemand: { jobs: p.onDemand.jobs, costUsd: round(p.onDemand.costUsd), instanceSeconds: secs(p.onDemand.instanceSeconds), launches: p.onDemand.launches } } : {}),
    })),
    lowerBound: {
      jobs: c.lowerBound.jobs,
      costUsd: round(c.lowerBound.costUsd),
      costPerJobUsd: round(c.lowerBound.costPerJobUsd, 4),
      instanceSeconds: secs(c.lowerBound.instanceSeconds),
      waitSeconds: waits(c.lowerBound.waitSeconds),
    },
  };
}
