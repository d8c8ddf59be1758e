import type { FleetConfig } from "../fleet-config.ts";
import type { QueueDepth } from "../ports.ts";
import { MetricAlarm, type AlarmEvaluation } from "./alarm.ts";
import { decideIdle, decideIdleFromCounts, type IdleDecision } from "./idle.ts";
import {
  deficitSteps,
  signalValue,
  stepFor,
  stepScalingDesired,
  targetTrackingDesired,
  type MetricSample,
  type PolicyKind,
  type ScalingStep,
} from "./policy.ts";
import { applyScheduledAction, scheduledActions, type ScheduledAction, type ScheduleEntry } from "./schedule.ts";

/**
 * Target tracking's high alarm, as Auto Scaling creates it for a metric of 1-minute data:
 * 3 datapoints above the target in 3 minutes (scale-in is disabled, so there is no low alarm).
 */
export const TARGET_TRACKING_HIGH_ALARM = { periodSeconds: 60, evaluationPeriods: 3 } as const;

/** At most one fast-path round (DescribeAutoScalingGroups + SetDesiredCapacity) per this long per process. */
export const FAST_PATH_MIN_INTERVAL_MS = 1000;

/**
 * Everything the scaling decision depends on, derived from the fleet config in one place
 * ({@link scalingSpec}). Infra synthesizes alarms and policies from it, the local fleet and the
 * simulator run {@link ScalingModel} on it.
 */
export interface ScalingSpec {
  policy: PolicyKind;
  /** The alarm's metric period. */
  periodSeconds: number;
  /** Consecutive breaching datapoints for ALARM. */
  evaluationPeriods: number;
  /** Step policies: steps in ascending order; the alarm threshold is the lowest step's. */
  steps: ScalingStep[];
  /** The alarm threshold (step policies: the lowest step; target tracking: the target). */
  threshold: number;
  comparison: ">=" | ">";
  /**
   * The policy's instance warmup, counted from InService: instances younger than this are not part
   * of the current capacity. `visible`: the boot time (as deployed before); `deficit`: two periods,
   * so an instance counts once the datapoint the alarm acts on already saw it in service (no double
   * count, no overshoot from a stale datapoint); `target-tracking`: the boot time.
   */
  warmupSeconds: number;
  /** Target tracking: the backlog per instance to hold. */
  targetBacklogPerInstance: number;
  fastPath: boolean;
  /** An idle worker applies the idle rule after this long. */
  idleTimeoutSeconds: number;
  /** The config's boot time (launch to taking work). */
  bootSeconds: number;
  minSize: number;
  maxSize: number;
  schedule: ScheduleEntry[];
}

export interface ScalingSpecOverrides {
  policy?: PolicyKind;
  fastPath?: boolean;
}

/**
 * Capacity the fast path wants (DESIGN §5): every job queued, running or waiting out a retry delay
 * gets an instance; after a submit at least the one just sent.
 */
export function fastPathWanted(depth: QueueDepth, options: { submitted?: boolean } = {}): number {
  return Math.max(options.submitted ? 1 : 0, depth.visible + depth.inFlight + depth.delayed);
}

/** Several queues' depths as one: a group serving them owes each of their jobs an instance. */
export function sumQueueDepths(depths: readonly QueueDepth[]): QueueDepth {
  return depths.reduce((a, d) => ({ visible: a.visible + d.visible, inFlight: a.inFlight + d.inFlight, delayed: a.delayed + d.delayed }), { visible: 0, inFlight: 0, delayed: 0 });
}

/** The scaling spec of a deployment's config (with optional overrides for comparisons). */
export function scalingSpec(config: FleetConfig, overrides: ScalingSpecOverrides = {}): ScalingSpec {
  const s = config.scaling;
  const policy = overrides.policy ?? s.policy;
  const maxSize = config.fleet.maxSize;
  // A schedule may raise max size: the deficit steps must reach the largest max the group can have.
  const largestMax = Math.max(maxSize, ...Object.values(s.schedule).map((e) => e.maxSize ?? 0));
  const configSteps = Object.entries(s.scaleOutSteps)
    .map(([name, step]) => ({ name, ...step }))
    .sort((a, b) => a.backlogAtLeast - b.backlogAtLeast);
  const steps = policy === "deficit" ? deficitSteps(largestMax) : policy === "visible" ? configSteps : [];
  const tracking = policy === "target-tracking";
  return {
    policy,
    periodSeconds: tracking ? TARGET_TRACKING_HIGH_ALARM.periodSeconds : s.periodSeconds,
    evaluationPeriods: tracking ? TARGET_TRACKING_HIGH_ALARM.evaluationPeriods : s.evaluationPeriods,
    steps,
    threshold: tracking ? s.targetBacklogPerInstance : steps[0]!.backlogAtLeast,
    comparison: tracking ? ">" : ">=",
    warmupSeconds: policy === "deficit" ? 2 * s.periodSeconds : config.fleet.bootSeconds,
    targetBacklogPerInstance: s.targetBacklogPerInstance,
    fastPath: overrides.fastPath ?? s.fastPath,
    idleTimeoutSeconds: config.fleet.idleTimeoutSeconds,
    bootSeconds: config.fleet.bootSeconds,
    minSize: config.fleet.minSize,
    maxSize,
    schedule: Object.entries(s.schedule).map(([name, e]) => ({ name, ...e })),
  };
}

/**
 * The On-Demand fallback group's scaling spec (`scaling.onDemandFallback`), or undefined when the
 * fallback is off: the deficit policy on the On-Demand queue alone, min 0, max `maxSize`, no
 * schedule, the fast path on (the Spot worker that moves a job there raises the group). The
 * config's alarm period and evaluation periods, idle timeout and boot time apply as to the Spot
 * group. Infra synthesizes the On-Demand group's alarm and policy from it; the simulator runs it.
 */
export function onDemandScalingSpec(config: FleetConfig): ScalingSpec | undefined {
  const fallback = config.scaling.onDemandFallback;
  if (!fallback) return undefined;
  const steps = deficitSteps(fallback.maxSize);
  return {
    ...scalingSpec(config, { policy: "deficit", fastPath: true }),
    steps,
    threshold: steps[0]!.backlogAtLeast,
    minSize: 0,
    maxSize: fallback.maxSize,
    schedule: [],
  };
}

/** An instance as the scaling decision needs it. */
export interface ScalingInstance {
  /** Auto Scaling lifecycle state: Pending, Pending:Wait, InService, Terminating, ... */
  lifecycleState: string;
  /** When it entered InService (ms), for the warmup. */
  inServiceAt?: number;
}

/** The group as the scaling decision needs it. */
export interface ScalingGroup {
  desiredCapacity: number;
  minSize: number;
  maxSize: number;
  instances: readonly ScalingInstance[];
}

/** What one alarm evaluation decided. */
export interface ScaleOutDecision {
  at: number;
  alarm: AlarmEvaluation;
  /** In ALARM: the step applied (step policies). */
  step?: ScalingStep;
  /** Instances in service past the policy's warmup. */
  currentCapacity: number;
  before: number;
  /** Desired capacity after the policy ran (equal to `before` when nothing changes). */
  after: number;
}

/**
 * The scaling model: one place that computes every scaling decision of a fleet.
 *
 * - {@link recordSample}: one period's metrics (what CloudWatch has for the alarm, and when);
 * - {@link evaluate}: the alarm's state at a time and what its policy does to desired capacity;
 * - {@link fastPathDesired}: what the API (or a hand-back) raises desired capacity to;
 * - {@link idleDecision}: what an idle worker does with its instance;
 * - {@link scheduledActions} / {@link applySchedule}: scheduled capacity.
 */
export class ScalingModel {
  readonly spec: ScalingSpec;
  readonly alarm: MetricAlarm;

  constructor(spec: ScalingSpec) {
    if (spec.policy !== "target-tracking" && spec.steps.length === 0) throw new RangeError("a step-scaling policy needs at least one step");
    this.spec = spec;
    this.alarm = new MetricAlarm({ threshold: spec.threshold, comparison: spec.comparison, evaluationPeriods: spec.evaluationPeriods });
  }

  get periodMs(): number {
    return this.spec.periodSeconds * 1000;
  }

  /** The value this policy's alarm gets from a sample (the synthesized metric math, evaluated here). */
  signal(sample: MetricSample): number | undefined {
    return signalValue(this.spec.policy, sample);
  }

  /**
   * Records one period's datapoint, sampled at `at` and published at `publishedAt` (at + metric
   * delay). An SQS metric left undefined is missing for that period (an inactive queue).
   */
  recordSample(at: number, sample: MetricSample, publishedAt: number): void {
    const sqsMissing = sample.visible === undefined && sample.notVisible === undefined;
    // Metric math with FILL(…, 0) still yields a value from the group metrics; a plain SQS alarm has none.
    const value = this.spec.policy === "visible" && sqsMissing ? undefined : this.signal(sample);
    this.alarm.record({ at, value, publishedAt });
  }

  /** Instances in service past the policy's warmup at `now`. */
  currentCapacity(instances: readonly ScalingInstance[], now: number): number {
    const warmupMs = this.spec.warmupSeconds * 1000;
    let n = 0;
    for (const i of instances) if (i.lifecycleState === "InService" && i.inServiceAt !== undefined && i.inServiceAt + warmupMs <= now) n++;
    return n;
  }

  /** Evaluates the alarm at `now` and, in ALARM, runs the policy against the group. */
  evaluate(now: number, group: ScalingGroup): ScaleOutDecision {
    return this.evaluateCounts(now, { desiredCapacity: group.desiredCapacity, maxSize: group.maxSize, currentCapacity: this.currentCapacity(group.instances, now) });
  }

  /** {@link evaluate} for callers that keep the warm capacity themselves (the simulator). */
  evaluateCounts(now: number, g: { desiredCapacity: number; maxSize: number; currentCapacity: number }): ScaleOutDecision {
    const alarm = this.alarm.evaluate(now);
    const base = { at: now, alarm, currentCapacity: g.currentCapacity, before: g.desiredCapacity };
    if (alarm.state !== "ALARM" || alarm.value === undefined) return { ...base, after: g.desiredCapacity };
    if (this.spec.policy === "target-tracking") {
      const after = targetTrackingDesired({
        desired: g.desiredCapacity,
        maxSize: g.maxSize,
        currentCapacity: g.currentCapacity,
        metric: alarm.value,
        target: this.spec.targetBacklogPerInstance,
      });
      return { ...base, after };
    }
    const step = stepFor(this.spec.steps, alarm.value);
    if (!step) return { ...base, after: g.desiredCapacity };
    const after = stepScalingDesired({ desired: g.desiredCapacity, maxSize: g.maxSize, currentCapacity: g.currentCapacity, add: step.addInstances });
    return { ...base, step, after };
  }

  /**
   * Capacity the fast path wants: every job queued, running or waiting out a retry delay gets an
   * instance; after a submit at least the one just sent.
   */
  fastPathWanted(depth: QueueDepth, options: { submitted?: boolean } = {}): number {
    return fastPathWanted(depth, options);
  }

  /** Desired capacity after the fast path: raised to what is wanted (capped at max), never lowered. */
  fastPathDesired(depth: QueueDepth, group: { desiredCapacity: number; maxSize: number }, options: { submitted?: boolean } = {}): number {
    return Math.max(group.desiredCapacity, Math.min(group.maxSize, this.fastPathWanted(depth, options)));
  }

  /** The idle rule for an instance of a described group. */
  idleDecision(group: Parameters<typeof decideIdle>[0], instanceId: string): IdleDecision {
    return decideIdle(group, instanceId);
  }

  /** The idle rule on counts. */
  idleDecisionFromCounts(g: Parameters<typeof decideIdleFromCounts>[0]): IdleDecision {
    return decideIdleFromCounts(g);
  }

  /** Scheduled actions of the config in [fromMs, toMs). */
  scheduledActions(fromMs: number, toMs: number): ScheduledAction[] {
    return scheduledActions(this.spec.schedule, fromMs, toMs);
  }

  /** The group's sizes after a scheduled action. */
  applySchedule(group: { minSize: number; maxSize: number; desiredCapacity: number }, action: ScheduledAction): { minSize: number; maxSize: number; desiredCapacity: number } {
    return applyScheduledAction(group, action.entry);
  }
}
