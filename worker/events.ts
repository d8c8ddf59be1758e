import type { JobQueueKind } from "../core/priority.ts";
import type { JobError, JobRecord } from "../core/job.ts";
import type { JobState } from "../core/job-state.ts";
import type { OutputStream } from "./processor.ts";
import type { IdleDecision } from "./idle-policy.ts";
import type { SpotNotice } from "./spot-watcher.ts";
import type { PreflightCheck } from "./preflight.ts";
import type { FailureFault } from "./instance-health.ts";
import type { LifecycleActionResult } from "../core/ports.ts";

/** Why a worker stopped taking work. */
export type StopReason =
  /** SIGTERM or SIGINT (shutdown, service stop), or stop() called. */
  | "shutdown"
  /** IMDS posted a Spot interruption notice. */
  | "spot-interruption"
  /**
   * IMDS posted a rebalance recommendation: the worker finished its job, took no more, and (with
   * capacity rebalancing off) terminated its instance without decrement, so the group replaces it.
   */
  | "rebalance"
  /** Idle past the idle timeout: it terminated its instance through Auto Scaling (or retired a stale warm standby). */
  | "idle-terminated"
  /** The group is terminating this instance (terminate hook, scale-in, capacity rebalancing): the lifecycle action was completed. */
  | "instance-terminating"
  /** The preflight failed at start: the launch hook was completed ABANDON (a failed boot; main exits 3). */
  | "preflight-failed"
  /** The instance breaker judged this instance broken: it marked itself Unhealthy and takes no more work. */
  | "unhealthy";

/** A phase of a job attempt. */
export type JobPhase = "download" | "process" | "upload";

/**
 * The worker's typed events: each listener gets one object. They make the daemon observable in
 * logs (worker/event-log.ts) and in tests without reaching into it.
 */
export type WorkerEvents = {
  started: [{ instanceId: string; workRoot: string }];
  /** A message arrived; the job has not been claimed yet. */
  /** `queue`: which of the deployment's queues it came from (core/priority.ts). */
  message_received: [{ jobId: string; messageId: string; receiveCount: number; receiptHandle: string; queue?: JobQueueKind }];
  /**
   * A message that arrived as the worker stopped or began draining, put straight back (visibility 0)
   * without touching its job; `failed` when SQS refused (the message then returns after its
   * visibility timeout).
   */
  message_returned: [{ jobId: string; messageId: string; receiveCount: number; queue: JobQueueKind; why: string; failed?: string }];
  /** A message whose job needs no work (finished, missing record): deleted or dead-lettered. */
  message_discarded: [{ jobId: string; state?: JobState; reason: string }];
  protection_changed: [{ protectedFromScaleIn: boolean }];
  /**
   * The record moved to RUNNING for this attempt; `takeover` when a lost worker's attempt was replaced;
   * `adopted` when the message was the one a hand-back replaced (its replacement may never have been sent).
   */
  job_started: [{ jobId: string; attempt: number; takeover: boolean; logs: JobRecord["logs"]; adopted?: true }];
  job_phase: [{ jobId: string; attempt: number; phase: JobPhase }];
  /** The processor runs as `pid` (its process group on POSIX). */
  processor_started: [{ jobId: string; attempt: number; pid: number }];
  processor_output: [{ jobId: string; attempt: number; stream: OutputStream; line: string }];
  /** The processor ended (or never started: `startError`); the worker goes on to judge it and upload. */
  processor_exited: [{ jobId: string; attempt: number; exitCode: number | null; signal: string | null; durationMs: number; startError?: string }];
  job_succeeded: [{ jobId: string; attempt: number; record: JobRecord }];
  /**
   * What a run left behind its critical path is done: metrics, the job log's flush, the job's
   * folders removed, the state change events, result file and analytics line (docs/orderings.md).
   * The worker takes no other job (and does not exit) before this.
   */
  job_settled: [{ jobId: string; attempt: number }];
  /** The attempt failed and the job goes back to the queue after `delaySeconds`. */
  job_retried: [{ jobId: string; attempt: number; error: JobError; delaySeconds: number }];
  /** The last attempt failed (or the failure cannot be retried): FAILED, message in the DLQ. */
  job_failed: [{ jobId: string; attempt: number; error: JobError }];
  /** Handed back on a Spot notice or shutdown: QUEUED again, message visible at once. */
  job_interrupted: [
    {
      jobId: string;
      attempt: number;
      reason: string;
      /** Handed back because this instance was judged broken, not for a notice or a stop. */ instanceFault?: true;
      /** The queue its fresh message went to, and why (core/priority.ts `handBackRoute`). */
      queue?: JobQueueKind;
      route?: string;
    },
  ];
  /** After a hand-back, the fast path asked for capacity for the returned job (api/fast-path.ts `raiseCapacityAfterHandBack`). */
  hand_back_capacity: [{ jobId: string; wanted?: number; before?: number; after?: number; failed?: string }];
  job_cancelled: [{ jobId: string; attempt: number }];
  /** Another attempt owns the job now: this one stopped and touched nothing. */
  job_lost: [{ jobId: string; attempt: number; reason: string }];
  spot_notice: [SpotNotice];
  /** IMDS `autoscaling/target-lifecycle-state` changed (InService, Terminated, ...). */
  target_lifecycle: [{ state: string }];
  /** The preflight ran: at boot, or again after a failure that was not the request's fault. */
  preflight: [{ ok: boolean; trigger: "boot" | "after-failure"; checks: PreflightCheck[] }];
  /**
   * A lifecycle action was completed (or found absent: the group has no such hook, or the instance
   * is not waiting on it; or it failed). `heartbeat` is a RecordLifecycleActionHeartbeat.
   */
  lifecycle_action: [{ hook: string; result: LifecycleActionResult | "heartbeat"; outcome: "completed" | "no-action" | "failed"; message?: string }];
  /** The worker takes no new jobs but lets the current one finish (rebalance recommendation, terminate hook). */
  draining: [{ reason: "rebalance" | "terminating"; detail: string }];
  /** A failed attempt as the instance breaker sees it. */
  instance_fault: [
    {
      jobId: string;
      code: string;
      fault: FailureFault;
      /** The job already failed this way on another instance: the request's fault, not counted. */
      repeated?: true;
      streak: number;
      threshold: number;
      broken: boolean;
      reason?: string;
    },
  ];
  /** The instance was judged broken; how it left: SetInstanceHealth, a terminate without decrement (fallback), kept (debug), or nothing worked. */
  instance_unhealthy: [{ reason: string; marked: "health" | "terminate" | "kept" | "none" }];
  /** TerminateInstanceInAutoScalingGroup was refused for a reason other than the minimum size: the worker keeps serving and asks again later. */
  terminate_refused: [{ error: string; retryInSeconds: number; attempt: number }];
  idle_check: [{ idleSeconds: number; decision: IdleDecision }];
  idle_terminate: [{ decrement: boolean }];
  /** A job folder (and processor) left by an earlier worker process on this instance was removed. */
  leftover_removed: [{ folder: string; killedPid?: number }];
  stopping: [{ reason: StopReason }];
  stopped: [{ reason: StopReason }];
  /** Something failed but the worker carries on (a poll, a heartbeat, telemetry). */
  warning: [{ message: string; error?: Error; jobId?: string }];
};

/** Every event name, compile-checked against {@link WorkerEvents}: recorders (logs, tests) subscribe to this list. */
export const WORKER_EVENT_NAMES = Object.keys({
  started: true,
  message_received: true,
  message_returned: true,
  message_discarded: true,
  protection_changed: true,
  job_started: true,
  job_phase: true,
  processor_started: true,
  processor_output: true,
  processor_exited: true,
  job_succeeded: true,
  job_settled: true,
  job_retried: true,
  job_failed: true,
  job_interrupted: true,
  hand_back_capacity: true,
  job_cancelled: true,
  job_lost: true,
  spot_notice: true,
  target_lifecycle: true,
  preflight: true,
  lifecycle_action: true,
  draining: true,
  instance_fault: true,
  instance_unhealthy: true,
  terminate_refused: true,
  idle_check: true,
  idle_terminate: true,
  leftover_removed: true,
  stopping: true,
  stopped: true,
  warning: true,
} satisfies Record<keyof WorkerEvents, true>) as (keyof WorkerEvents)[];
