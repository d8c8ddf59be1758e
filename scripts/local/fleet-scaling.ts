/**
 * The queue-depth alarm and step-scaling policy of the fleet, as CloudWatch and Auto Scaling apply
 * them, without timers: the caller records datapoints and asks for an evaluation at a given time,
 * so tests drive it with their own clock and the local fleet with a real one.
 *
 * What is mirrored (infra builds the same thing in AWS):
 * - one alarm on ApproximateNumberOfMessagesVisible, threshold = the lowest step's `backlogAtLeast`,
 *   in ALARM when the last `evaluationPeriods` datapoints all reach it;
 * - CloudWatch publishes a datapoint late (`metricDelayMs`): the alarm only sees datapoints that are out;
 * - while in ALARM the policy runs every period; the step applied is the highest one whose
 *   `backlogAtLeast` the latest datapoint reaches; its adjustment is ChangeInCapacity (`addInstances`);
 * - instance warmup: instances still warming up are not part of the current capacity, so a standing
 *   alarm in the same step does not add instances twice (AWS user guide, "Step and simple scaling
 *   policies", instance warmup: desired = current capacity + adjustment, only when above desired);
 * - the result is capped at the group's max size; a scale-out policy never lowers desired capacity.
 */

export interface ScalingStep {
  name: string;
  backlogAtLeast: number;
  addInstances: number;
}

export type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";

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

/** A CloudWatch alarm on the queue's visible messages, feeding a step-scaling policy. */
export class QueueDepthAlarm {
  readonly steps: readonly ScalingStep[];
  readonly threshold: number;
  readonly evaluationPeriods: number;
  readonly metricDelayMs: number;
  readonly #datapoints: { at: number; value: number }[] = [];

  constructor(options: QueueDepthAlarmOptions) {
    if (options.steps.length === 0) throw new RangeError("a step-scaling policy needs at least one step");
    if (!Number.isInteger(options.evaluationPeriods) || options.evaluationPeriods < 1)
      throw new RangeError(`evaluationPeriods must be a whole number >= 1, got ${options.evaluationPeriods}`);
    this.steps = [...options.steps].sort((a, b) => a.backlogAtLeast - b.backlogAtLeast);
    this.threshold = this.steps[0].backlogAtLeast;
    this.evaluationPeriods = options.evaluationPeriods;
    this.metricDelayMs = Math.max(0, options.metricDelayMs ?? 0);
  }

  /** One period's datapoint: the visible messages sampled at `at`. */
  record(at: number, value: number): void {
    this.#datapoints.push({ at, value });
    // Keep what the alarm can still look at, plus what is not yet published.
    const published = this.#datapoints.filter((d) => d.at + this.metricDelayMs <= at).length;
    const drop = Math.max(0, published - this.evaluationPeriods);
    if (drop > 0) this.#datapoints.splice(0, drop);
  }

  /** The alarm's state at `now`, from the datapoints published by then. */
  evaluate(now: number): AlarmEvaluation {
    const visible = this.#datapoints.filter((d) => d.at + this.metricDelayMs <= now).map((d) => d.value);
    const datapoints = visible.slice(-this.evaluationPeriods);
    if (datapoints.length < this.evaluationPeriods) return { state: "INSUFFICIENT_DATA", datapoints };
    if (!datapoints.every((v) => v >= this.threshold)) return { state: "OK", datapoints };
    const value = datapoints[datapoints.length - 1];
    return { state: "ALARM", datapoints, value, step: this.stepFor(value) };
  }

  /** The highest step whose lower bound `value` reaches. */
  stepFor(value: number): ScalingStep | undefined {
    let found: ScalingStep | undefined;
    for (const s of this.steps) if (value >= s.backlogAtLeast) found = s;
    return found;
  }
}

/**
 * Desired capacity after a ChangeInCapacity step of `add` instances, with instance warmup:
 * the base is the current capacity (instances in service past their warmup), not desired capacity;
 * the result is capped at `maxSize` and never below the present desired capacity.
 */
export function stepScalingDesired(input: { desired: number; maxSize: number; currentCapacity: number; add: number }): number {
  const target = Math.min(input.maxSize, input.currentCapacity + input.add);
  return Math.max(input.desired, target);
}
