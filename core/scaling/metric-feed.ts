/**
 * When CloudWatch has a period's SQS datapoint, and whether it has one at all.
 *
 * AWS facts (Amazon SQS Developer Guide, "Available CloudWatch metrics for Amazon SQS" and
 * "Monitoring Amazon SQS queues using CloudWatch"): SQS pushes its queue metrics to CloudWatch once a
 * minute, only for an *active* queue — one with any API activity (send, receive, including empty
 * long polls, attribute reads) in the last six hours. A queue that was inactive starts publishing
 * again after its next activity, and that first datapoint can take up to 15 minutes to appear.
 *
 * So a fleet that scaled to zero overnight (no worker long-polling) has an inactive queue, and the
 * first job of the morning is invisible to any SQS-based alarm for up to 15 minutes: the case the
 * fast path exists for. The caller draws the late delay (the simulator from its seeded RNG), which
 * keeps this pure.
 */

export interface MetricTiming {
  /** Lag from a period's sample to its datapoint reaching the alarm, for SQS metrics. */
  sqsDelayMs: number;
  /** The same for the Auto Scaling group metrics (GroupInServiceInstances, ...). */
  groupDelayMs: number;
  /** No API activity for this long makes the queue inactive (SQS: 6 h). */
  inactiveAfterMs: number;
}

export const AWS_METRIC_TIMING: MetricTiming = { sqsDelayMs: 60_000, groupDelayMs: 60_000, inactiveAfterMs: 6 * 3600_000 };

/** Tracks a queue's activity and tells which SQS datapoints exist. */
export class SqsMetricFeed {
  readonly timing: MetricTiming;
  #lastActivity: number | undefined;
  /** Datapoints sampled before this are missing (the late first datapoint after inactivity). */
  #resumeAt = -Infinity;

  /** @param lastActivity the queue's last activity before the clock starts; undefined = inactive. */
  constructor(timing: MetricTiming, lastActivity: number | undefined) {
    this.timing = timing;
    this.#lastActivity = lastActivity;
  }

  /** Whether the queue is active at `t` (an API call within the inactivity window). */
  active(t: number): boolean {
    return this.#lastActivity !== undefined && t - this.#lastActivity < this.timing.inactiveAfterMs;
  }

  /**
   * An API call on the queue at `t`. When the queue was inactive, its metrics resume only after
   * `lateFirstDatapointMs` (drawn by the caller, up to 15 minutes on AWS).
   */
  touch(t: number, lateFirstDatapointMs: number): void {
    if (!this.active(t)) this.#resumeAt = Math.max(this.#resumeAt, t + lateFirstDatapointMs);
    this.#lastActivity = this.#lastActivity === undefined ? t : Math.max(this.#lastActivity, t);
  }

  /** True when the SQS datapoint sampled at `at` exists (the queue was active and publishing). */
  publishes(at: number): boolean {
    return this.active(at) && at >= this.#resumeAt;
  }

  /** When the first datapoint after the last resume appears; -Infinity when none is pending. */
  get resumeAt(): number {
    return this.#resumeAt;
  }
}
