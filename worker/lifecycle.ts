/**
 * Lifecycle hooks from the worker's side (CONTRACTS §2, DESIGN §4): which refusals mean "there is
 * nothing to complete", and how long a job may go on once the group is terminating the instance.
 */

/** Auto Scaling keeps an instance in a wait state at most this long, heartbeats or not: 48 h ... */
export const LIFECYCLE_GLOBAL_TIMEOUT_MAX_SECONDS = 172_800;
/** ... or 100 heartbeat timeouts, whichever is smaller (API reference, LifecycleHook.GlobalTimeout). */
export const LIFECYCLE_GLOBAL_TIMEOUT_HEARTBEATS = 100;

/**
 * True for a lifecycle call refused because there is nothing to act on: the group has no such hook
 * or the instance is not waiting on it (`ValidationError: No active Lifecycle Action found with
 * instance ID ...`, or a hook "not found"), or the Auto Scaling endpoint does not serve the call at
 * all (`InvalidAction`, HTTP 404: an older local fleet). The worker logs these and runs on.
 */
export function isNoLifecycleAction(err: unknown): boolean {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  if (e?.name === "InvalidAction" || e?.$metadata?.httpStatusCode === 404) return true;
  return e?.name === "ValidationError" && /no active lifecycle action|not found/i.test(e.message ?? "");
}

/** True when the Auto Scaling endpoint does not know the call (an older local fleet): a fallback applies. */
export function isUnsupportedCall(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "InvalidAction" || e?.$metadata?.httpStatusCode === 404;
}

/** What the worker does with a running job when the terminate hook starts (target lifecycle state Terminated, no Spot notice). */
export type TerminateHookPlan =
  | {
      action: "finish";
      /** Hand the job back after this long, if it is still running, to leave time for the hand-back within the hook. */
      handBackAfterMs: number;
      /** RecordLifecycleActionHeartbeat this often. */
      heartbeatEveryMs: number;
      reason: string;
    }
  | { action: "hand-back"; reason: string };

/**
 * Finish or hand back, as a pure function: the hook can be kept for
 * min(48 h, 100 × heartbeat timeout) with heartbeats; the job may still take up to its remaining
 * processor time (the whole `jobs.timeoutSeconds` while it downloads, none once it uploads) plus
 * a margin for the upload and the bookkeeping. If that does not fit, hand back now; otherwise
 * finish, heartbeating the hook three times per heartbeat timeout, and hand back anyway when only
 * the margin is left.
 */
export function planTerminateHook(o: {
  heartbeatTimeoutSeconds: number;
  jobTimeoutSeconds: number;
  phase: "download" | "process" | "upload" | undefined;
  /** Seconds the processor has run (0 before it started). */
  processSeconds: number;
  /** Time a hand-back needs: killing the processor tree and the writes. */
  marginSeconds: number;
}): TerminateHookPlan {
  const globalSeconds = Math.min(LIFECYCLE_GLOBAL_TIMEOUT_MAX_SECONDS, LIFECYCLE_GLOBAL_TIMEOUT_HEARTBEATS * o.heartbeatTimeoutSeconds);
  const remaining = Math.ceil(o.phase === "upload" ? 0 : o.phase === "process" ? Math.max(0, o.jobTimeoutSeconds - o.processSeconds) : o.jobTimeoutSeconds);
  const needed = remaining + o.marginSeconds;
  const available = globalSeconds - o.marginSeconds;
  if (needed > available)
    return {
      action: "hand-back",
      reason: `the job may run ${remaining} s more, but the terminate hook holds the instance at most ${globalSeconds} s (min(48 h, 100 × ${o.heartbeatTimeoutSeconds} s))`,
    };
  return {
    action: "finish",
    handBackAfterMs: available * 1000,
    heartbeatEveryMs: Math.max(1000, Math.floor((o.heartbeatTimeoutSeconds * 1000) / 3)),
    reason: `the job may run ${remaining} s more, within the terminate hook's ${globalSeconds} s`,
  };
}
