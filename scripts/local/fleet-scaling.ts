/**
 * The local fleet's side of the scaling model (core/scaling/). Every decision is the model's:
 * `recordSample` + `evaluate` each period (the alarm and the policy of `scaling.policy`),
 * `fastPathDesired` for returned jobs, `scheduledActions` + `applySchedule` for `scaling.schedule`.
 * This file only turns the local group and queue into the model's inputs, as CloudWatch and Auto
 * Scaling would present them, on the fleet's scaled clock. No rule lives here.
 */
import type { FleetConfig } from "../../core/fleet-config.ts";
import type { QueueDepth } from "../../core/ports.ts";
import { ScalingModel, scalingSpec, type ScaleOutDecision, type ScalingGroup, type ScalingSpec } from "../../core/scaling/model.ts";
import type { MetricSample } from "../../core/scaling/policy.ts";
import type { ScheduledAction } from "../../core/scaling/schedule.ts";

/**
 * The fleet's scaled clock: AWS time as the local fleet plays it. At time scale `k`, one wall
 * millisecond is `1/k` scaled milliseconds, counted from `origin` (the scaled time at the start).
 * The model gets every time on this clock, so its periods, warmups and cron times are the config's
 * own figures; only timers convert back to the wall clock.
 */
export interface ScaledClock {
  readonly timeScale: number;
  /** The scaled time at the start (ms since the epoch). */
  readonly origin: number;
  /** Now on the scaled clock (ms since the epoch). */
  now(): number;
  /** A wall-clock time (ms since the epoch, e.g. an instance's `inServiceAt`) on the scaled clock. */
  scaled(wallMs: number): number;
  /** Wall-clock milliseconds from now until the scaled time `at` (0 when it has passed). */
  wallDelayUntil(at: number): number;
}

export function scaledClock(options: { timeScale: number; origin?: number; wall?: () => number }): ScaledClock {
  const wall = options.wall ?? Date.now;
  const wallStart = wall();
  const origin = options.origin ?? wallStart;
  const k = options.timeScale;
  if (!(Number.isFinite(k) && k > 0)) throw new RangeError(`timeScale must be a number above 0, got ${k}`);
  const scaled = (wallMs: number) => origin + (wallMs - wallStart) / k;
  return {
    timeScale: k,
    origin,
    now: () => scaled(wall()),
    scaled,
    wallDelayUntil: (at) => Math.max(0, (at - scaled(wall())) * k),
  };
}

/** An instance as the local group reports it: its lifecycle state and when it entered InService (wall clock). */
export interface LocalInstanceState {
  lifecycleState: string;
  inServiceAt?: number;
}

/** The local group as the scaling model needs it (times on the wall clock). */
export interface LocalGroupState {
  desiredCapacity: number;
  minSize: number;
  maxSize: number;
  /** Instances that count toward the group's size (not terminating). */
  instances: readonly LocalInstanceState[];
}

/**
 * The Auto Scaling group metrics the alarm's metric math reads (`GroupPendingInstances`,
 * `GroupInServiceInstances`): Pending and its hook sub-states; InService only.
 */
export function groupMetrics(instances: readonly LocalInstanceState[]): { pending: number; inService: number } {
  let pending = 0;
  let inService = 0;
  for (const i of instances) {
    if (i.lifecycleState.startsWith("Pending")) pending++;
    else if (i.lifecycleState === "InService") inService++;
  }
  return { pending, inService };
}

export interface LocalScalingOptions {
  config: FleetConfig;
  clock: ScaledClock;
  /** CloudWatch's lag before a period's datapoint reaches the alarm (scaled seconds). @default 0 */
  metricDelaySeconds?: number;
  /** Replaces the policy's instance warmup (scaled seconds). @default the model's: two periods for `deficit`, `fleet.bootSeconds` otherwise */
  warmupSeconds?: number;
}

/** What one alarm period did. */
export interface PeriodResult {
  /** 1 for the first period after the start. */
  period: number;
  /** When it ran, on the scaled clock. */
  scaledAt: number;
  /** The sample recorded for this period (none when reading the queue failed). */
  sample?: MetricSample;
  decision: ScaleOutDecision;
}

/** The scaling model, fed from the local group and queue on the scaled clock. */
export class LocalScaling {
  readonly model: ScalingModel;
  readonly spec: ScalingSpec;
  readonly clock: ScaledClock;
  readonly metricDelayMs: number;
  #period = 0;

  constructor(options: LocalScalingOptions) {
    const spec = scalingSpec(options.config);
    this.spec = options.warmupSeconds === undefined ? spec : { ...spec, warmupSeconds: options.warmupSeconds };
    this.model = new ScalingModel(this.spec);
    this.clock = options.clock;
    this.metricDelayMs = (options.metricDelaySeconds ?? 0) * 1000;
  }

  /** The alarm's period on the wall clock. */
  get periodWallMs(): number {
    return this.model.periodMs * this.clock.timeScale;
  }

  /** Periods run so far. */
  get periods(): number {
    return this.#period;
  }

  /**
   * One alarm period: the queue's depth (undefined when reading it failed: no datapoint for this
   * period, as when SQS publishes nothing) and the group's metrics become this period's datapoint,
   * published a metric delay later; then the alarm is evaluated and, in ALARM, the policy computes
   * the new desired capacity (the caller applies it when above). `at` is the period's time on the
   * scaled clock (the fleet passes the period's boundary, as CloudWatch stamps a datapoint with its
   * period, so a slow queue read does not shift it). @default now
   */
  runPeriod(depth: QueueDepth | undefined, group: LocalGroupState, at: number = this.clock.now()): PeriodResult {
    const period = ++this.#period;
    let sample: MetricSample | undefined;
    if (depth) {
      sample = { visible: depth.visible, notVisible: depth.inFlight, delayed: depth.delayed, ...groupMetrics(group.instances) };
      this.model.recordSample(at, sample, at + this.metricDelayMs);
    }
    const decision = this.model.evaluate(at, this.#scalingGroup(group));
    return { period, scaledAt: at, ...(sample ? { sample } : {}), decision };
  }

  /** Desired capacity after the fast path for the backlog (never lower than now). */
  fastPathDesired(depth: QueueDepth, group: Pick<LocalGroupState, "desiredCapacity" | "maxSize">): number {
    return this.model.fastPathDesired(depth, group);
  }

  /** Scheduled actions of `scaling.schedule` in [fromScaled, toScaled). */
  scheduledActions(fromScaled: number, toScaled: number): ScheduledAction[] {
    return this.model.scheduledActions(fromScaled, toScaled);
  }

  /** The group's sizes after a scheduled action. */
  applySchedule(group: Pick<LocalGroupState, "desiredCapacity" | "minSize" | "maxSize">, action: ScheduledAction): { minSize: number; maxSize: number; desiredCapacity: number } {
    return this.model.applySchedule(group, action);
  }

  #scalingGroup(g: LocalGroupState): ScalingGroup {
    return {
      desiredCapacity: g.desiredCapacity,
      minSize: g.minSize,
      maxSize: g.maxSize,
      instances: g.instances.map((i) => ({
        lifecycleState: i.lifecycleState,
        ...(i.inServiceAt !== undefined ? { inServiceAt: this.clock.scaled(i.inServiceAt) } : {}),
      })),
    };
  }
}
