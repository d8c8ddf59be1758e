import type { FleetConfig } from "../core/fleet-config.ts";
import { isJobId, type JobRecord } from "../core/job.ts";
import type { JobStore } from "../core/ports.ts";
import { hasStatusReason, statusReason, type FleetSnapshot, type JobView } from "../core/status-reason.ts";
import { ApiError, ApiErrorCode, dependencyFailed } from "./http-errors.ts";

/**
 * A job id from a URL: ids are Crockford base32, read case-insensitively as ULIDs are.
 * Undefined for anything that cannot be an id (it then cannot exist: a 404, and no table read
 * with a key DynamoDB would refuse).
 */
export function jobIdFromPath(raw: string): string | undefined {
  const id = raw.toUpperCase();
  return isJobId(id) ? id : undefined;
}

/** The job, or a 404. */
export async function readJob(store: JobStore, rawId: string): Promise<JobRecord> {
  const jobId = jobIdFromPath(rawId);
  if (!jobId) throw jobNotFound(rawId);
  let job: JobRecord | undefined;
  try {
    job = await store.get(jobId);
  } catch (err) {
    throw dependencyFailed("the jobs table", err);
  }
  if (!job) throw jobNotFound(rawId);
  return job;
}

/** 404 for an id no job has. */
export function jobNotFound(rawId: string): ApiError {
  const shown = rawId.length > 64 ? `${rawId.slice(0, 61)}...` : rawId;
  return new ApiError(404, ApiErrorCode.notFound, `no job with id ${JSON.stringify(shown)}`, { details: { jobId: shown } });
}

/**
 * The records as the API answers them: each with its `statusReason` (core/status-reason.ts),
 * derived now and never stored. The fleet is read (one cached snapshot for the whole page) only
 * when one of the jobs waits or runs.
 */
export async function withStatusReasons(jobs: readonly JobRecord[], fleet: () => Promise<FleetSnapshot>, config: FleetConfig, now: () => number = Date.now): Promise<JobView[]> {
  if (!jobs.some((j) => hasStatusReason(j.state))) return [...jobs];
  const snapshot = await fleet();
  const t = now();
  return jobs.map((j) => {
    const reason = statusReason(j, snapshot, t, config);
    return reason ? { ...j, statusReason: reason } : j;
  });
}
