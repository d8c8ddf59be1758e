import type { FleetControl, JobQueue } from "../core/ports.ts";
import type { ApiLog } from "./log.ts";

/** What one fast-path attempt did, for the log and for tests. */
export type FastPathOutcome =
  | { raised: true; wanted: number; before: number; after: number }
  | { raised: false; wanted: number; before: number; after: number }
  | { failed: true; wanted: number; reason: string };

export interface FastPathOptions {
  /** Give up waiting for the Auto Scaling call after this long; the submit answers anyway. @default 3000 */
  timeoutMs?: number;
}

/**
 * The submit's fast path (DESIGN §5): raise the group's desired capacity to cover the jobs queued
 * and running now, so a first job from zero does not wait minutes for the SQS metrics to reach the
 * alarm. Capacity wanted = visible + in flight + delayed messages, and at least the one just sent.
 * FleetControl caps at max and never lowers. Never throws: a failure is logged and the queue-depth
 * alarms remain the fallback.
 */
export async function raiseCapacityForBacklog(
  queue: JobQueue,
  fleet: FleetControl,
  log: ApiLog,
  context: { jobId: string },
  options: FastPathOptions = {},
): Promise<FastPathOutcome> {
  let wanted = 1;
  try {
    const d = await queue.depth();
    wanted = Math.max(1, d.visible + d.inFlight + d.delayed);
  } catch (err) {
    // The job was sent: one instance is owed at least, so go on with 1.
    log.warn("fast path: queue depth unknown, asking for 1 instance", { jobId: context.jobId, error: err });
  }
  const timeoutMs = options.timeoutMs ?? 3_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = await Promise.race([
      fleet.raiseDesired(wanted),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Auto Scaling did not answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    const outcome = { raised: r.after > r.before, wanted, before: r.before, after: r.after } as FastPathOutcome;
    log.info("fast path", { jobId: context.jobId, ...outcome });
    return outcome;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    const reason = `${e?.name ?? "Error"}: ${e?.message ?? String(err)}`;
    log.warn("fast path failed; the queue-depth alarms will scale the fleet", { jobId: context.jobId, wanted, reason });
    return { failed: true, wanted, reason };
  } finally {
    clearTimeout(timer);
  }
}
