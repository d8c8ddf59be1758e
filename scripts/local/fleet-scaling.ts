/**
 * The local fleet's queue-depth alarm, as an adapter over the scaling model (core/scaling/): the
 * alarm evaluation is core's MetricAlarm and the step rule core's stepScalingDesired, so the local
 * fleet, infra and the simulator share one copy of each rule.
 *
 * Kept under its old names so scripts/local/fleet.ts compiles unchanged. Phase 2: the local fleet
 * runs `ScalingModel` (core/scaling/model.ts) itself: `recordSample` each period with the queue's
 * and the group's metrics, `evaluate` for the policy of `scaling.policy`, `scheduledActions` for
 * `scaling.schedule`, and `fastPathDesired` when a job is handed back.
 */
import { MetricAlarm, type AlarmState } from "../../core/scaling/alarm.ts";
import { stepFor, stepScalingDesired, type ScalingStep } from "../../core/scaling/policy.ts";

export { stepScalingDesired, type AlarmState, type ScalingStep };

export interface AlarmEvaluation {
  state: AlarmState;
  /** The datapoints the alarm looked at, oldest first. */
  datapoints: number[];
  /** In ALARM: the latest datapoint and the step it falls in. */
  value?: number;
  step?: ScalingStep;
}

export interface QueueDepthAlarmOptions {
  /** Steps in any order; at least one. */
  steps: readonly ScalingStep[];
  /** Consecutive breaching datapoints needed for ALARM. */
  evaluationPeriods: number;
  /** How long after its sample a datapoint becomes visible to the alarm. @default 0 */
  metricDelayMs?: number;
}

/** A CloudWatch alarm on the queue's visible messages feeding a step-scaling policy (the `visible` policy). */
export class QueueDepthAlarm {
  readonly steps: readonly ScalingStep[];
  readonly threshold: number;
  readonly evaluationPeriods: number;
  readonly metricDelayMs: number;
  readonly #alarm: MetricAlarm;

  constructor(options: QueueDepthAlarmOptions) {
    if (options.steps.length === 0) throw new RangeError("a step-scaling policy needs at least one step");
    this.steps = [...options.steps].sort((a, b) => a.backlogAtLeast - b.backlogAtLeast);
    this.threshold = this.steps[0]!.backlogAtLeast;
    this.#alarm = new MetricAlarm({ threshold: this.threshold, evaluationPeriods: options.evaluationPeriods });
    this.evaluationPeriods = options.evaluationPeriods;
    this.metricDelayMs = Math.max(0, options.metricDelayMs ?? 0);
  }

  /** One period's datapoint: the visible messages sampled at `at`. */
  record(at: number, value: number): void {
    this.#alarm.record({ at, value, publishedAt: at + this.metricDelayMs });
  }

  /** The alarm's state at `now`, from the datapoints published by then. */
  evaluate(now: number): AlarmEvaluation {
    const e = this.#alarm.evaluate(now);
    const datapoints = e.datapoints.map((v) => v ?? 0);
    if (e.state !== "ALARM" || e.value === undefined) return { state: e.state, datapoints };
    return { state: "ALARM", datapoints, value: e.value, step: this.stepFor(e.value) };
  }

  /** The highest step whose lower bound `value` reaches. */
  stepFor(value: number): ScalingStep | undefined {
    return stepFor(this.steps, value);
  }
}
