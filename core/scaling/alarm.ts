/**
 * A CloudWatch alarm as the scaling model sees it: one datapoint per period, each published some
 * time after its period (the metric delay), evaluated over the last `evaluationPeriods` published
 * datapoints. No timers: the caller records datapoints and asks for an evaluation at a time, so the
 * local fleet drives it with the wall clock, the simulator with its event clock and tests with a
 * fake one.
 *
 * What is mirrored (infra synthesizes the same alarm in AWS, see infra/constructs/scaling.ts):
 * - in ALARM when each of the last `evaluationPeriods` datapoints breaches (`>=` or `>` the threshold);
 * - a datapoint is seen only once published (`publishedAt`); until `evaluationPeriods` are out the
 *   alarm has INSUFFICIENT_DATA;
 * - a missing datapoint (an idle SQS queue publishes nothing) is not breaching
 *   (`treat_missing_data = notBreaching`).
 */

export type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";

/** One period's value of the alarm's metric (or expression); `value` undefined = no data. */
export interface Datapoint {
  /** When the period was sampled (ms on the caller's clock). */
  at: number;
  value: number | undefined;
  /** When CloudWatch has it for the alarm (ms); `at` + the metric delay. */
  publishedAt: number;
}

export interface AlarmEvaluation {
  state: AlarmState;
  /** The values the alarm looked at, oldest first (missing ones as undefined). */
  datapoints: (number | undefined)[];
  /** In ALARM: the latest datapoint's value, which the policy acts on. */
  value?: number;
}

export interface MetricAlarmOptions {
  threshold: number;
  /** `>=` (step policies on counts) or `>` (target tracking's high alarm). @default ">=" */
  comparison?: ">=" | ">";
  /** Consecutive breaching datapoints needed for ALARM (CloudWatch's "N out of N"). */
  evaluationPeriods: number;
}

/** A CloudWatch metric alarm over published datapoints. */
export class MetricAlarm {
  readonly threshold: number;
  readonly comparison: ">=" | ">";
  readonly evaluationPeriods: number;
  readonly #datapoints: Datapoint[] = [];

  constructor(options: MetricAlarmOptions) {
    if (!Number.isInteger(options.evaluationPeriods) || options.evaluationPeriods < 1)
      throw new RangeError(`evaluationPeriods must be a whole number >= 1, got ${options.evaluationPeriods}`);
    if (!Number.isFinite(options.threshold)) throw new RangeError(`threshold must be a number, got ${options.threshold}`);
    this.threshold = options.threshold;
    this.comparison = options.comparison ?? ">=";
    this.evaluationPeriods = options.evaluationPeriods;
  }

  /** Records one period's datapoint. Datapoints may be recorded before they are published. */
  record(datapoint: Datapoint): void {
    // Kept in publication order: that is the order in which the alarm sees them.
    let i = this.#datapoints.length;
    while (i > 0 && this.#datapoints[i - 1]!.publishedAt > datapoint.publishedAt) i--;
    this.#datapoints.splice(i, 0, datapoint);
    // Keep what the alarm can still look at, plus what is not yet published.
    const published = this.#datapoints.filter((d) => d.publishedAt <= datapoint.at).length;
    const drop = Math.max(0, published - this.evaluationPeriods);
    if (drop > 0) this.#datapoints.splice(0, drop);
  }

  breaches(value: number | undefined): boolean {
    if (value === undefined) return false; // notBreaching
    return this.comparison === ">=" ? value >= this.threshold : value > this.threshold;
  }

  /** The alarm's state at `now`, from the datapoints published by then. */
  evaluate(now: number): AlarmEvaluation {
    const datapoints = this.#datapoints
      .filter((d) => d.publishedAt <= now)
      .slice(-this.evaluationPeriods)
      .map((d) => d.value);
    if (datapoints.length < this.evaluationPeriods) return { state: "INSUFFICIENT_DATA", datapoints };
    if (!datapoints.every((v) => this.breaches(v))) return { state: "OK", datapoints };
    return { state: "ALARM", datapoints, value: datapoints[datapoints.length - 1]! };
  }
}
