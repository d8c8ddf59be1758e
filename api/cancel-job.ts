import { StaleTransitionError } from "../core/errors.ts";
import { JobState } from "../core/job-state.ts";
import type { JobRecord } from "../core/job.ts";
import type { JobStore } from "../core/ports.ts";
import { ApiError, ApiErrorCode, dependencyFailed } from "./http-errors.ts";
import type { ApiLog } from "./log.ts";
import { readJobFor, type Caller } from "./tenancy.ts";

/** How many times a cancel re-reads the job after losing a race with a worker. */
const MAX_RACES = 5;

/**
 * `DELETE /jobs/{id}`: a QUEUED job becomes CANCELLED at once (its message stays in the queue and
 * the worker that receives it discards it, seeing the record); a RUNNING job becomes CANCELLING,
 * and its worker stops the processor at its next heartbeat and records CANCELLED.
 * Any other state is a 409 naming it. Each write is conditional on the state just read; when a
 * worker moved the job in between, the job is read again and the answer follows its new state.
 * Another tenant's job is a 404, as an unknown id. Throws ApiError (404, 409, 503).
 */
export async function cancelJob(store: JobStore, log: ApiLog, caller: Caller, rawId: string): Promise<JobRecord> {
  let jobId = rawId;
  for (let race = 0; race < MAX_RACES; race++) {
    const job = await readJobFor({ store }, log, caller, rawId);
    jobId = job.jobId;
    const to = job.state === JobState.QUEUED ? JobState.CANCELLED : job.state === JobState.RUNNING ? JobState.CANCELLING : undefined;
    if (!to) throw notCancellable(job);
    try {
      return await store.transition(jobId, { state: job.state }, to);
    } catch (err) {
      if (err instanceof StaleTransitionError) continue;
      throw dependencyFailed("the jobs table", err);
    }
  }
  // Only a job flapping between states faster than we can read it gets here.
  throw new ApiError(409, ApiErrorCode.conflict, `job ${jobId} kept changing state while being cancelled; retry`, { details: { jobId } });
}

function notCancellable(job: JobRecord): ApiError {
  const why =
    job.state === JobState.CANCELLING
      ? "its cancel is already under way (the worker is stopping the processor)"
      : "only QUEUED or RUNNING jobs can be cancelled";
  return new ApiError(409, ApiErrorCode.conflict, `job is ${job.state}; ${why}`, { details: { jobId: job.jobId, state: job.state } });
}
