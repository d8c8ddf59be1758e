import { LogCursorError, type JobLogReader, type LogLine } from "../core/console-ports.ts";
import type { Parsed, Problem } from "../core/errors.ts";
import { isTerminal } from "../core/job-state.ts";
import type { JobRecord, LogLocation } from "../core/job.ts";
import type { JobStore } from "../core/ports.ts";
import { ApiError, ApiErrorCode, dependencyFailed, invalidRequest } from "./http-errors.ts";
import { readJob } from "./read-job.ts";

/** Lines per page of `GET /jobs/{id}/logs` without `limit`. */
export const DEFAULT_LOG_LIMIT = 500;
/** The most lines one page returns. */
export const MAX_LOG_LIMIT = 1000;

/** The answer to `GET /jobs/{id}/logs`. */
export interface JobLogAnswer {
  jobId: string;
  /** The attempt read (the latest unless asked); 0 while no attempt has started. */
  attempt: number;
  /** How many attempts the job has had. */
  attempts: number;
  lines: LogLine[];
  /** Pass as `after` (with the same `attempt`) to read on; absent while the attempt has no log yet. */
  next?: string;
  /** True once the attempt is over and every line of it was read: a follower can stop. */
  done: boolean;
  /** Where the log is (CloudWatch Logs group and stream, or the local file's folder and name). */
  location?: LogLocation;
}

/** A validated query of `GET /jobs/{id}/logs`. */
export interface LogQuery {
  attempt?: number;
  after?: string;
  limit: number;
}

const QUERY_KEYS = ["attempt", "after", "limit"];

/** `attempt` a whole number ≥ 1, `after` a cursor of an earlier page, `limit` 1..1000; nothing else. */
export function parseLogQuery(query: URLSearchParams): Parsed<LogQuery> {
  const problems: Problem[] = [];
  for (const key of new Set(query.keys())) {
    if (!QUERY_KEYS.includes(key)) problems.push({ field: key, reason: `unknown query parameter; accepted: ${QUERY_KEYS.join(", ")}` });
    else if (query.getAll(key).length > 1) problems.push({ field: key, reason: "must be given once" });
  }
  const whole = (key: string, min: number, max: number): number | undefined => {
    const raw = query.get(key);
    if (raw === null) return undefined;
    const n = /^\d{1,7}$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= min && n <= max)) problems.push({ field: key, reason: `must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw.slice(0, 40))}` });
    return n;
  };
  const attempt = whole("attempt", 1, 1_000_000);
  const limit = whole("limit", 1, MAX_LOG_LIMIT) ?? DEFAULT_LOG_LIMIT;
  const after = query.get("after");
  if (after !== null && (after === "" || after.length > 2048)) problems.push({ field: "after", reason: "is not a cursor from an earlier page of this log" });
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: { ...(attempt !== undefined ? { attempt } : {}), ...(after !== null ? { after } : {}), limit } };
}

/** The log location of one attempt: its history entry's, or the record's for the current attempt (as `spotq logs` finds it). */
export function attemptLogLocation(job: JobRecord, attempt: number): LogLocation | undefined {
  return job.attemptHistory?.find((a) => a.attempt === attempt)?.logs ?? (attempt === job.attempts ? job.logs : undefined);
}

/** True when nothing more will be written to this attempt's log. */
export function attemptFinished(job: JobRecord, attempt: number): boolean {
  if (attempt < job.attempts) return true;
  // QUEUED after an attempt: it failed or was handed back, and the job waits for the next one.
  return isTerminal(job.state) || job.state === "QUEUED";
}

/**
 * `GET /jobs/{id}/logs?attempt=&after=&limit=`: one page of an attempt's log, to follow it by
 * asking again with `after` = the previous `next` until `done`. Throws ApiError (400, 404, 503).
 */
export async function readJobLog(store: JobStore, reader: JobLogReader | undefined, rawId: string, query: URLSearchParams): Promise<JobLogAnswer> {
  const parsed = parseLogQuery(query);
  if (!parsed.ok) throw invalidRequest(parsed.problems);
  const job = await readJob(store, rawId);
  const { limit, after } = parsed.value;
  const attempt = parsed.value.attempt ?? job.attempts;
  if (attempt > job.attempts)
    throw invalidRequest([{ field: "attempt", reason: `job ${job.jobId} has ${job.attempts} attempt(s)${job.attempts === 0 ? " (it has not started)" : ""}` }]);
  const base = { jobId: job.jobId, attempt, attempts: job.attempts };
  const finished = attempt === 0 ? isTerminal(job.state) : attemptFinished(job, attempt);
  const location = attempt === 0 ? undefined : attemptLogLocation(job, attempt);
  if (!location) return { ...base, lines: [], done: finished };
  if (!reader)
    throw new ApiError(503, ApiErrorCode.unavailable, "job logs cannot be read by this API (no log reader is configured)", { headers: { "Retry-After": "60" } });
  try {
    const page = await reader.read(location, { limit, ...(after !== undefined ? { after } : {}) });
    return { ...base, lines: page.lines, next: page.next, done: finished && page.atEnd, location };
  } catch (err) {
    if (err instanceof LogCursorError) throw invalidRequest([{ field: "after", reason: err.message }]);
    throw dependencyFailed("the job logs", err);
  }
}
