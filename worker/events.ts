import type { JobError, JobRecord } from "../core/job.ts";
import type { JobState } from "../core/job-state.ts";
import type { OutputStream } from "./processor.ts";
import type { IdleDecision } from "./idle-policy.ts";
import type { SpotNotice } from "./spot-watcher.ts";

/** Why a worker stopped taking work. */
export type StopReason =
  /** SIGTERM or SIGINT (shutdown, service stop), or stop() called. */
  | "shutdown"
  /** IMDS posted a Spot interruption notice. */
  | "spot-interruption"
  /** IMDS posted a rebalance recommendation; the worker then hands its instance back to the group. */
  | "rebalance"
  /** Idle past the idle timeout: it terminated its instance through Auto Scaling. */
  | "idle-terminated"
  /** The group is already terminating this instance. */
  | "instance-terminating";

/** A phase of a job attempt. */
export type JobPhase = "download" | "process" | "upload";

/**
 * The worker's typed events: each listener gets one object. They make the daemon observable in
 * logs (worker/event-log.ts) and in tests without reaching into it.
 */
export type WorkerEvents = {
  started: [{ instanceId: string; workRoot: string }];
  /** A message arrived; the job has not been claimed yet. */
  message_received: [{ jobId: string; messageId: string; receiveCount: number; receiptHandle: string }];
  /** A message whose job needs no work (finished, missing record): deleted or dead-lettered. */
  message_discarded: [{ jobId: string; state?: JobState; reason: string }];
  protection_changed: [{ protectedFromScaleIn: boolean }];
  /** The record moved to RUNNING for this attempt; `takeover` when a lost worker's attempt was replaced. */
  job_started: [{ jobId: string; attempt: number; takeover: boolean; logs: JobRecord["logs"] }];
  job_phase: [{ jobId: string; attempt: number; phase: JobPhase }];
  /** The processor runs as `pid` (its process group on POSIX). */
  processor_started: [{ jobId: string; attempt: number; pid: number }];
  processor_output: [{ jobId: string; attempt: number; stream: OutputStream; line: string }];
  job_succeeded: [{ jobId: string; attempt: number; record: JobRecord }];
  /** The attempt failed and the job goes back to the queue after `delaySeconds`. */
  job_retried: [{ jobId: string; attempt: number; error: JobError; delaySeconds: number }];
  /** The last attempt failed (or the failure cannot be retried): FAILED, message in the DLQ. */
  job_failed: [{ jobId: string; attempt: number; error: JobError }];
  /** Handed back on a Spot notice or shutdown: QUEUED again, message visible at once. */
  job_interrupted: [{ jobId: string; attempt: number; reason: string }];
  job_cancelled: [{ jobId: string; attempt: number }];
  /** Another attempt owns the job now: this one stopped and touched nothing. */
  job_lost: [{ jobId: string; attempt: number; reason: string }];
  spot_notice: [SpotNotice];
  idle_check: [{ idleSeconds: number; decision: IdleDecision }];
  idle_terminate: [{ decrement: boolean }];
  /** A job folder (and processor) left by an earlier worker process on this instance was removed. */
  leftover_removed: [{ folder: string; killedPid?: number }];
  stopping: [{ reason: StopReason }];
  stopped: [{ reason: StopReason }];
  /** Something failed but the worker carries on (a poll, a heartbeat, telemetry). */
  warning: [{ message: string; error?: Error; jobId?: string }];
};
