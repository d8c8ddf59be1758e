import { StaleTransitionError } from "../core/errors.ts";
import { JobState } from "../core/job-state.ts";
import { LEGACY_DISPATCH_ID, newDispatchId, type JobRecord, type QueueMessage } from "../core/job.ts";
import type { JobStore } from "../core/ports.ts";
import type { ApiDeps } from "./deps.ts";
import { raiseCapacityForBacklog } from "./fast-path.ts";
import { ApiError, ApiErrorCode, dependencyFailed, RETRY_AFTER_SECONDS } from "./http-errors.ts";
import type { ApiLog } from "./log.ts";
import { readJob } from "./read-job.ts";

/** How many times a redrive re-reads the job after losing a race. */
const MAX_RACES = 5;

/**
 * `POST /jobs/{id}/redrive`: a FAILED job goes back to QUEUED with a fresh attempt budget and a new
 * message on the jobs queue, as `spotq redrive` does for each job it takes from the DLQ
 * (scripts/cli/commands/redrive.ts): its earlier attempts stay in `attemptHistory`, marked
 * `redriven`, so the worker no longer counts them; `attempts` keeps counting up (it guards the
 * conditional writes and names log streams).
 *
 * A fresh dispatch token (CONTRACTS §5), in the CLI's order: the record first (conditional on FAILED,
 * the attempt number and the token just read; the old token kept as `previousDispatchId`), then
 * the message carrying the new token. When the send fails the record goes back to FAILED as it
 * was, so no job stays QUEUED without a message (503, retry). The job's copy in the DLQ (with the
 * old token) stays there: a later `spotq redrive` drops it as stale or finished, or adopts it if
 * this message never got out.
 *
 * Any state but FAILED is a 409 naming it. Throws ApiError (404, 409, 503).
 */
export async function redriveJob(deps: ApiDeps, log: ApiLog, rawId: string): Promise<JobRecord> {
  let jobId = rawId;
  for (let race = 0; race < MAX_RACES; race++) {
    const job = await readJob(deps.store, rawId);
    jobId = job.jobId;
    if (job.state !== JobState.FAILED) throw notRedrivable(job);
    const dispatchId = newDispatchId();
    const expected = { state: JobState.FAILED, attempts: job.attempts, ...(job.dispatchId !== undefined ? { dispatchId: job.dispatchId } : {}) };
    let queued: JobRecord;
    try {
      queued = await deps.store.transition(job.jobId, expected, JobState.QUEUED, {
        attemptHistory: (job.attemptHistory ?? []).map((a) => ({ ...a, redriven: true })),
        finishedAt: undefined,
        instanceId: undefined,
        progress: undefined,
        dispatchId,
        previousDispatchId: job.dispatchId ?? LEGACY_DISPATCH_ID,
      });
    } catch (err) {
      if (err instanceof StaleTransitionError) continue;
      throw dependencyFailed("the jobs table", err);
    }
    const message: QueueMessage = { jobId: job.jobId, request: job.request, submittedAt: job.submittedAt, dispatchId };
    try {
      await deps.queue.send(message);
    } catch (err) {
      await undoRedrive(deps.store, log, job, dispatchId, err);
      throw new ApiError(503, ApiErrorCode.enqueueFailed, "the job could not be queued again, so it stays FAILED; retry", {
        headers: { "Retry-After": String(RETRY_AFTER_SECONDS) },
        details: { jobId: job.jobId },
        cause: err,
      });
    }
    log.info("job redriven", { jobId: job.jobId, attempts: job.attempts });
    if (deps.fleet && deps.config.scaling.fastPath)
      await raiseCapacityForBacklog(deps.queue, deps.fleet, log, { jobId: job.jobId }, { timeoutMs: deps.fastPathTimeoutMs });
    return queued;
  }
  throw new ApiError(409, ApiErrorCode.conflict, `job ${jobId} kept changing state while being redriven; retry`, { details: { jobId } });
}

/** Puts the record back as it was before the redrive (QUEUED → FAILED is allowed), when no message carries it. */
async function undoRedrive(store: JobStore, log: ApiLog, before: JobRecord, dispatchId: string, cause: unknown): Promise<void> {
  try {
    await store.transition(before.jobId, { state: JobState.QUEUED, attempts: before.attempts, dispatchId }, JobState.FAILED, {
      attemptHistory: before.attemptHistory,
      finishedAt: before.finishedAt,
      instanceId: before.instanceId,
      expiresAt: before.expiresAt,
      dispatchId: before.dispatchId,
      previousDispatchId: before.previousDispatchId,
    });
    log.error("redrive failed to enqueue; the job is FAILED again", { jobId: before.jobId, error: cause });
  } catch (err) {
    // Left QUEUED without a message: `spotq redrive` recovers it from its copy in the DLQ.
    log.error("redrive failed to enqueue and could not put the record back", { jobId: before.jobId, error: cause, undoError: err });
  }
}

function notRedrivable(job: JobRecord): ApiError {
  const why =
    job.state === JobState.QUEUED || job.state === JobState.RUNNING
      ? `it is already ${job.state === JobState.QUEUED ? "queued" : "running"}`
      : "only FAILED jobs can be redriven";
  return new ApiError(409, ApiErrorCode.conflict, `job is ${job.state}; ${why}`, { details: { jobId: job.jobId, state: job.state } });
}
