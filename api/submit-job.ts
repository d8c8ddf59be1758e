import type { Problem, SpotqError } from "../core/errors.ts";
import { problemsMessage } from "../core/intake.ts";
import type { JobOrigin } from "../core/job-events.ts";
import type { FleetConfig, TenantConfig } from "../core/fleet-config.ts";
import { JobState } from "../core/job-state.ts";
import { newDispatchId, newJobId, type JobRecord } from "../core/job.ts";
import { parseJobRequest, PATH_KEYS, type ValidatedRequest } from "../core/request.ts";
import { formatS3Uri, folderKeyPrefix } from "../core/s3-uri.ts";
import type { ApiDeps } from "./deps.ts";
import { raiseCapacityForBacklog } from "./fast-path.ts";
import { ApiError, ApiErrorCode, dependencyFailed, invalidRequest, RETRY_AFTER_SECONDS } from "./http-errors.ts";
import { IDEMPOTENCY_HEADER, parseIdempotencyKey, sameRequest } from "./idempotency.ts";
import { parseJobLabels, type JobLabels } from "./job-labels.ts";
import type { ApiLog } from "./log.ts";
import { logRefusedSubmit, tenantFolderProblems } from "./tenancy.ts";

/** The outcome of an accepted submit. */
export interface Submitted {
  record: JobRecord;
  /** True when an Idempotency-Key returned an earlier job: nothing new was stored or enqueued. */
  replayed: boolean;
}

/** A request to submit, from whichever intake: the API, an uploaded spotq.json, a Kafka record. */
export interface SubmitInput {
  /** The request as sent (validated here). */
  body: unknown;
  /** An idempotency key already in the accepted format (a trigger derives it from where the request came from). */
  idempotencyKey?: string;
  /** Where the job came from. @default { kind: "api" } */
  origin?: JobOrigin;
  /** The tenant it is submitted as: its paths must lie under the tenant's prefixes, its key is the tenant's. */
  tenant?: TenantConfig;
  /** Its name and tags, already validated. */
  labels?: JobLabels;
}

/** The headers of a `POST /jobs` besides the body, as sent (absent: null or undefined). */
export interface SubmitHeaders {
  idempotencyKey?: string | null;
  name?: string | null;
  tags?: string | null;
}

/**
 * `POST /jobs` after the body is read (`headers` are the raw Idempotency-Key, Spotq-Job-Name and
 * Spotq-Job-Tags values), as `tenant` when the deployment has tenants: validates the request
 * against the deployment (and the tenant's prefixes), checks the source folder, records the job
 * QUEUED and enqueues it, then runs the fast path.
 * Throws ApiError: 400 for any invalid input (nothing stored or enqueued), 422 for a key reused
 * with another body, 409 for a key whose first submit is still in progress, 503 when a dependency failed (never leaving a QUEUED record without a message).
 */
export async function submitJob(deps: ApiDeps, log: ApiLog, body: unknown, headers: SubmitHeaders = {}, tenant?: TenantConfig): Promise<Submitted> {
  const key = parseIdempotencyKey(headers.idempotencyKey);
  const labels = parseJobLabels({ name: headers.name, tags: headers.tags });
  const problems = [...(key.ok ? [] : [key.problem]), ...(labels.ok ? [] : labels.problems)];
  return submitRequest(
    deps,
    log,
    { body, ...(key.ok && key.key ? { idempotencyKey: key.key } : {}), ...(labels.ok ? { labels: labels.value } : {}), ...(tenant ? { tenant } : {}) },
    problems,
  );
}

/**
 * The one submit path of every intake (the API, the S3 and Kafka triggers): the same validation,
 * idempotency, record, enqueue, QUEUED event and fast path. `extraProblems` (e.g. a bad header)
 * are refused together with the request's own. Throws ApiError as {@link submitJob}.
 */
export async function submitRequest(deps: ApiDeps, log: ApiLog, input: SubmitInput, extraProblems: Problem[] = []): Promise<Submitted> {
  // Every intake resolves the tenant first (the caller's, or the one whose prefixes hold the folder).
  if (deps.config.api.tenants.length > 0 && !input.tenant) throw new Error("bug: a submit without a tenant in a deployment with tenants");
  const parsed = parseJobRequest(input.body, { servedBuckets: [deps.bucket], extraOptions: deps.config.jobs.extraOptions });
  const tenantProblems = parsed.ok ? tenantFolderProblems(input.tenant, parsed.value) : [];
  const problems = [...extraProblems, ...(parsed.ok ? [...folderProblems(parsed.value, deps.config), ...tenantProblems] : parsed.problems)];
  if (tenantProblems.length > 0) logRefusedSubmit(log, input.tenant, tenantProblems);
  // Refused before the source folder is listed: a tenant learns nothing about folders not its own.
  if (!parsed.ok || problems.length > 0) throw invalidRequest(problems);
  const request = parsed.value;
  const idempotencyKey = input.idempotencyKey;
  const sourceBytes = await checkSourceFolder(deps, request);

  const now = new Date();
  const record: JobRecord = {
    jobId: newJobId(now.getTime()),
    state: JobState.QUEUED,
    request: request.request,
    submittedAt: now.toISOString(),
    updatedAt: now.toISOString(),
    attempts: 0,
    interruptions: 0,
    dispatchId: newDispatchId(), // the token of the message sent below (CONTRACTS §5)
    bytes: { in: sourceBytes },
    ...(idempotencyKey ? { idempotencyKey } : {}),
    ...(input.tenant ? { tenant: input.tenant.name } : {}),
    ...(input.labels?.name !== undefined ? { name: input.labels.name } : {}),
    ...(input.labels?.tags && Object.keys(input.labels.tags).length > 0 ? { tags: input.labels.tags } : {}),
    origin: input.origin ?? { kind: "api" },
  };

  let created: { created: boolean; record: JobRecord };
  try {
    created = await deps.store.create(record);
  } catch (err) {
    if ((err as SpotqError).code === "IDEMPOTENCY_KEY_IN_USE") {
      // Another submit with this key is between its key and its record: the client retries shortly.
      throw new ApiError(409, ApiErrorCode.conflict, `a request with this ${IDEMPOTENCY_HEADER} is still being processed; retry in a few seconds`, {
        problems: [{ field: IDEMPOTENCY_HEADER, reason: "is in use by a submit still in progress" }],
        headers: { "Retry-After": String(RETRY_AFTER_SECONDS) },
      });
    }
    log.error("submit: recording the job failed", { jobId: record.jobId, error: err });
    throw dependencyFailed("the jobs table", err);
  }
  if (!created.created) {
    const labelsOf = (r: { name?: string; tags?: Record<string, string> }) => ({ name: r.name ?? null, tags: r.tags ?? {} });
    if (!sameRequest(created.record.request, request.request) || !sameRequest(labelsOf(created.record), labelsOf(record))) {
      throw new ApiError(
        422,
        ApiErrorCode.idempotencyKeyReused,
        `this ${IDEMPOTENCY_HEADER} was already used for a different request (job ${created.record.jobId}); send a new key for a new request`,
        {
          problems: [{ field: IDEMPOTENCY_HEADER, reason: `was already used for job ${created.record.jobId} with a different body, name or tags` }],
          details: { jobId: created.record.jobId },
        },
      );
    }
    return { record: created.record, replayed: true };
  }

  try {
    await deps.queue.send({ jobId: record.jobId, request: record.request, submittedAt: record.submittedAt, dispatchId: record.dispatchId });
  } catch (err) {
    await undoRecord(deps, log, record.jobId, err);
    throw new ApiError(503, ApiErrorCode.enqueueFailed, "the job could not be queued, so it was not kept; retry the same request", {
      headers: { "Retry-After": String(RETRY_AFTER_SECONDS) },
      cause: err,
    });
  }

  // Announced only now that the job is enqueued: a QUEUED event never names a job that was undone.
  await deps.announcer?.announce(record, null);

  if (deps.fleet && deps.config.scaling.fastPath) {
    await raiseCapacityForBacklog(deps.queue, deps.fleet, log, { jobId: record.jobId }, { timeoutMs: deps.fastPathTimeoutMs });
  }
  return { record, replayed: false };
}

/**
 * When the deployment confines jobs to folder prefixes (`storage.sourcePrefixes`,
 * `storage.targetPrefixes`), the worker's role may read or write only there: a path elsewhere
 * would fail at the worker with AccessDenied, so it is refused here, naming the allowed prefixes.
 */
function folderProblems(request: ValidatedRequest, config: FleetConfig): Problem[] {
  const problems: Problem[] = [];
  const check = (field: string, folder: string, allowed: readonly string[], what: string) => {
    if (allowed.length > 0 && !allowed.some((p) => folder.startsWith(p)))
      problems.push({ field, reason: `must lie under one of the ${what} prefixes of this deployment: ${allowed.map((p) => `s3://${request.source.bucket}/${p}`).join(", ")}` });
  };
  check(PATH_KEYS.source, folderKeyPrefix(request.source), config.storage.sourcePrefixes, "source");
  check(PATH_KEYS.target, folderKeyPrefix(request.target), config.storage.targetPrefixes, "target");
  return problems;
}

/**
 * The source folder must hold at least one object and at most `storage.maxSourceBytes`.
 * Returns its size in bytes.
 */
async function checkSourceFolder(deps: ApiDeps, request: ValidatedRequest): Promise<number> {
  const maxBytes = deps.config.storage.maxSourceBytes;
  const where = `${formatS3Uri(request.source)}/`;
  let summary;
  try {
    summary = await deps.objects.summarizeFolder(request.source.bucket, folderKeyPrefix(request.source), { maxBytes });
  } catch (err) {
    throw dependencyFailed("the data bucket", err);
  }
  if (summary.overLimit || summary.bytes > maxBytes) {
    throw invalidRequest([
      {
        field: PATH_KEYS.source,
        reason: `holds more than ${maxBytes} bytes (storage.maxSourceBytes) under ${where}; split the job or raise the limit`,
      },
    ]);
  }
  if (summary.objects === 0) {
    throw invalidRequest([{ field: PATH_KEYS.source, reason: `holds no objects under ${where}; upload the folder before submitting` }]);
  }
  return summary.bytes;
}

/**
 * The message was not sent, so no worker will ever move this record: it must not stay QUEUED.
 * Remove it (and its idempotency key, so a retry with the same key submits afresh); if even that
 * fails, mark it FAILED with the reason. Both failing is logged for an operator.
 */
async function undoRecord(deps: ApiDeps, log: ApiLog, jobId: string, sendError: unknown): Promise<void> {
  const reason = `enqueueing failed: ${(sendError as Error)?.message ?? String(sendError)}`;
  try {
    await deps.store.remove(jobId);
    log.error("submit: enqueueing failed, job record removed", { jobId, error: sendError });
    return;
  } catch (removeError) {
    try {
      await deps.store.transition(jobId, { state: JobState.QUEUED }, JobState.FAILED, { error: { code: "ENQUEUE", message: reason } });
      log.error("submit: enqueueing failed, job marked FAILED", { jobId, error: sendError, removeError });
    } catch (markError) {
      log.error("submit: enqueueing failed and the QUEUED record could be neither removed nor marked FAILED", {
        jobId,
        error: sendError,
        removeError,
        markError,
      });
    }
  }
}

/** A request an intake refused: what is known of it, and every problem. */
export interface RefusedRequest {
  /** The source and target the request names (or the trigger's defaults), kept on the record. */
  paths: { source: string; target: string };
  problems: Problem[];
  /** What was refused, for the message: `spotq.json`, `Kafka record jobs/0@15`. */
  what: string;
  idempotencyKey: string;
  origin: JobOrigin;
  /** The tenant whose prefixes hold the request's folder; absent: none does (only operators see the record). */
  tenant?: string;
  labels?: JobLabels;
}

/**
 * A trigger's answer to a request it cannot run: a FAILED record (error INVALID_REQUEST, naming
 * every field), listed by `GET /jobs` and `spotq list` like any job, so an upload is never
 * silently ignored. Idempotent by the same key as a submit: a duplicate event creates nothing.
 */
export async function recordRefusedRequest(deps: ApiDeps, log: ApiLog, refused: RefusedRequest): Promise<Submitted> {
  const now = new Date();
  const record: JobRecord = {
    jobId: newJobId(now.getTime()),
    state: JobState.FAILED,
    request: { "Source Folder Path": refused.paths.source, "Target Folder Path": refused.paths.target },
    submittedAt: now.toISOString(),
    updatedAt: now.toISOString(),
    finishedAt: now.toISOString(),
    attempts: 0,
    interruptions: 0,
    error: { code: "INVALID_REQUEST", message: problemsMessage(refused.what, refused.problems) },
    idempotencyKey: refused.idempotencyKey,
    ...(refused.tenant ? { tenant: refused.tenant } : {}),
    ...(refused.labels?.name !== undefined ? { name: refused.labels.name } : {}),
    ...(refused.labels?.tags && Object.keys(refused.labels.tags).length > 0 ? { tags: refused.labels.tags } : {}),
    origin: refused.origin,
    expiresAt: Math.floor(now.getTime() / 1000) + deps.config.jobs.recordRetentionDays * 86_400,
  };
  let created;
  try {
    created = await deps.store.create(record);
  } catch (err) {
    log.error("intake: recording a refused request failed", { jobId: record.jobId, error: err });
    throw dependencyFailed("the jobs table", err);
  }
  if (created.created) log.warn("intake: request refused, recorded as FAILED", { jobId: record.jobId, tenant: refused.tenant ?? null, what: refused.what, problems: refused.problems });
  else log.info("intake: a duplicate of an event already handled; nothing new", { jobId: created.record.jobId });
  return { record: created.record, replayed: !created.created };
}
