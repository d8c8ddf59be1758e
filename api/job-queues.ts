import type { Problem } from "../core/errors.ts";
import type { JobQueue } from "../core/ports.ts";
import { submitQueue, type JobPriority } from "../core/priority.ts";
import { sumQueueDepths } from "../core/scaling/model.ts";
import type { ApiDeps } from "./deps.ts";
import { JOB_PRIORITY_HEADER } from "./job-labels.ts";

/**
 * Which of the deployment's queues the API sends a job to (core/priority.ts): a `high` job to the
 * high-priority queue, any other to the jobs queue. Both are served by the Spot group, so the fast
 * path counts them together ({@link spotBacklog}).
 */
export function queueForPriority(deps: Pick<ApiDeps, "queue" | "highQueue">, priority: JobPriority | undefined): { kind: "normal" | "high"; queue: JobQueue } {
  const kind = submitQueue(priority);
  if (kind === "high") {
    if (!deps.highQueue) throw new Error("bug: a high-priority job without a high queue (priorityProblem refuses it first)");
    return { kind, queue: deps.highQueue };
  }
  return { kind, queue: deps.queue };
}

/** A `high` priority in a deployment without the high queue: refused with a 400 naming `field`. */
export function priorityProblem(deps: Pick<ApiDeps, "config" | "highQueue">, priority: JobPriority | undefined, field: string = JOB_PRIORITY_HEADER): Problem | undefined {
  if (priority !== "high") return undefined;
  if (!deps.config.queue.highPriority.enabled) return { field, reason: "high priority is off in this deployment (queue.highPriority.enabled is false); send normal or omit it" };
  if (!deps.highQueue) return { field, reason: "high priority needs the high-priority queue, which this API was not given (SPOTQ_HIGH_QUEUE_URL)" };
  return undefined;
}

/** The backlog the Spot group serves: the jobs queue and the high queue, counted as one. */
export function spotBacklog(deps: Pick<ApiDeps, "queue" | "highQueue">): Pick<JobQueue, "depth"> {
  const { queue, highQueue } = deps;
  if (!highQueue) return queue;
  return { depth: async () => sumQueueDepths(await Promise.all([queue.depth(), highQueue.depth()])) };
}
