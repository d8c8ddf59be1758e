import type { Parsed } from "./errors.ts";

/**
 * Job priority and the queues a job can wait on (issue 11 §3, issue 9 §8). Pure: which queue a
 * submit uses, and where a hand-back sends the job.
 *
 * | queue | name | served by |
 * | --- | --- | --- |
 * | `normal` | `<name>-jobs` | the Spot group, after `high` |
 * | `high` | `<name>-jobs-high` | the Spot group, first (`queue.highPriority`) |
 * | `ondemand` | `<name>-jobs-ondemand` | the On-Demand group (`scaling.onDemandFallback`) |
 */

export const JOB_PRIORITIES = ["high", "normal"] as const;
export type JobPriority = (typeof JOB_PRIORITIES)[number];

export const JOB_QUEUE_KINDS = ["normal", "high", "ondemand"] as const;
/** Which of the deployment's job queues a message is on. */
export type JobQueueKind = (typeof JOB_QUEUE_KINDS)[number];

/** The priority a record has: `normal` when it names none (records from before priorities). */
export function priorityOf(record: { priority?: JobPriority }): JobPriority {
  return record.priority ?? "normal";
}

/**
 * A priority as a client sends it (header, Kafka record header, marker field): `high` or `normal`,
 * any letter case, surrounding spaces ignored. The problem names `field` and the accepted values.
 */
export function parsePriority(raw: string, field: string): Parsed<JobPriority> {
  const v = raw.trim().toLowerCase();
  if ((JOB_PRIORITIES as readonly string[]).includes(v)) return { ok: true, value: v as JobPriority };
  const shown = raw.trim() === "" ? "an empty value" : JSON.stringify(raw.slice(0, 40));
  return { ok: false, problems: [{ field, reason: `must be "high" or "normal", got ${shown}` }] };
}

/** The queue a submit (or a redrive) sends a job of this priority to. */
export function submitQueue(priority: JobPriority | undefined): "normal" | "high" {
  return priority === "high" ? "high" : "normal";
}

/** Where a hand-back sends a job, and why (for the job's log). */
export interface HandBackRoute {
  queue: JobQueueKind;
  reason: string;
}

/**
 * The hand-back routing rule (docs/worker.md, "Hand-backs and the On-Demand fallback"):
 * - a job keeps the queue its message came from (a high job goes back to the high queue, a job on
 *   the On-Demand queue stays there);
 * - except that a job on a Spot queue whose hand-backs reach `afterInterruptions` (counting this
 *   one) moves to the On-Demand queue, when the deployment has the fallback and this worker can
 *   send there.
 * `interruptions` is the record's count after this hand-back (every hand-back counts: each one
 * cost the job its progress).
 */
export function handBackRoute(input: {
  from: JobQueueKind;
  interruptions: number;
  fallback?: { afterInterruptions: number };
  /** This worker has the On-Demand queue to send to. */
  onDemandQueue: boolean;
}): HandBackRoute {
  const { from, interruptions, fallback } = input;
  if (from === "ondemand") return { queue: "ondemand", reason: "it came from the On-Demand queue, and stays there" };
  if (fallback && interruptions >= fallback.afterInterruptions) {
    if (input.onDemandQueue)
      return {
        queue: "ondemand",
        reason: `handed back ${interruptions} times (scaling.onDemandFallback.afterInterruptions is ${fallback.afterInterruptions}): it runs On-Demand from now on`,
      };
    return { queue: from, reason: `handed back ${interruptions} times, but this worker has no On-Demand queue to send it to (SPOTQ_ONDEMAND_QUEUE_URL): it stays on the ${from} queue` };
  }
  return { queue: from, reason: `back to the ${from} queue it came from` };
}
