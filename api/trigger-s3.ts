import type { S3Event } from "aws-lambda";
import type { MarkerReader } from "../aws/marker-reader.ts";
import type { Problem } from "../core/errors.ts";
import { decodeS3EventKey, defaultMarkerTarget, MARKER_FILE, markerFolder, markerIdempotencyKey, markerRequest } from "../core/intake.ts";
import type { JobOrigin } from "../core/job-events.ts";
import type { JobState } from "../core/job-state.ts";
import { PATH_KEYS } from "../core/request.ts";
import type { ApiDeps } from "./deps.ts";
import { ApiError } from "./http-errors.ts";
import { nameProblem, type JobLabels } from "./job-labels.ts";
import type { ApiLog } from "./log.ts";
import { recordRefusedRequest, submitRequest } from "./submit-job.ts";
import { tenantOfFolder } from "./tenancy.ts";
import type { TenantConfig } from "../core/fleet-config.ts";

/** What the S3 trigger needs: the submit's ports, and a reader of the uploaded marker. */
export interface S3TriggerDeps extends ApiDeps {
  markers: MarkerReader;
}

/** What one event record led to. */
export type S3TriggerOutcome =
  | { key: string; jobId: string; state: JobState; replayed: boolean }
  | { key: string; skipped: string };

/**
 * The S3 trigger (issue 10): each `ObjectCreated` record of a `spotq.json` under a trigger prefix
 * submits its folder through the same path as `POST /jobs` (validation, idempotency by key and
 * ETag, record, enqueue, events, fast path). With tenants, the job is the tenant's whose prefixes
 * hold the folder (a folder under none is refused). The job is named after the folder below the
 * trigger prefix. A marker that cannot run becomes a FAILED record whose error names the field
 * (the tenant's, when one holds the folder). Keys that are not markers are skipped (the S3 filter lets look-alikes
 * through). Throws when a dependency failed, after handling the other records, so the invocation
 * is retried; the records already handled are replays then.
 */
export async function handleS3Event(deps: S3TriggerDeps, log: ApiLog, event: Pick<S3Event, "Records">): Promise<S3TriggerOutcome[]> {
  const outcomes: S3TriggerOutcome[] = [];
  const errors: Error[] = [];
  for (const r of event.Records ?? []) {
    const key = decodeS3EventKey(r.s3?.object?.key ?? "");
    try {
      outcomes.push(await handleRecord(deps, log, r, key));
    } catch (err) {
      log.error("s3 trigger: the marker could not be handled; the event will be retried", { key, error: err });
      errors.push(err as Error);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `s3 trigger: ${errors.length} markers could not be handled; the event will be retried`);
  return outcomes;
}

async function handleRecord(deps: S3TriggerDeps, log: ApiLog, r: S3Event["Records"][number], key: string): Promise<S3TriggerOutcome> {
  const cfg = deps.config.triggers.s3;
  const bucket = r.s3?.bucket?.name ?? "";
  const etag = r.s3?.object?.eTag ?? "";
  if (!r.eventName?.startsWith("ObjectCreated:")) return { key, skipped: `not an upload (${r.eventName})` };
  if (bucket !== deps.bucket) return { key, skipped: `bucket ${bucket} is not served by this deployment (${deps.bucket})` };
  if (!key.endsWith(`/${MARKER_FILE}`) && key !== MARKER_FILE) return { key, skipped: `not a ${MARKER_FILE}` };
  const origin: JobOrigin = { kind: "s3", bucket, key, etag: etag.replace(/"/g, "") };
  const idempotencyKey = markerIdempotencyKey(bucket, key, etag);
  const found = markerFolder(key, cfg.prefixes);
  if (!found.ok) {
    // Under a trigger prefix but not in a folder of its own: the upload was meant as a job, so say why it is none.
    if (!cfg.prefixes.some((p) => key.startsWith(p))) return { key, skipped: found.reason };
    const folder = key.slice(0, key.lastIndexOf("/")) || key;
    const tenant = tenantOfFolder(deps.config.api.tenants, folder);
    return refuse(deps, log, { key, origin, idempotencyKey, tenant, paths: { source: `s3://${bucket}/${folder}`, target: "" }, problems: [{ field: PATH_KEYS.source, reason: found.reason }] });
  }
  const folder = found.value;
  const defaults = { source: `s3://${bucket}/${folder.folder}`, target: defaultMarkerTarget(bucket, folder, cfg.targetPrefix) };
  const labels: JobLabels = nameProblem(folder.relative) ? {} : { name: folder.relative };
  const tenants = deps.config.api.tenants;
  const tenant = tenantOfFolder(tenants, folder.folder);
  if (tenants.length > 0 && !tenant)
    return refuse(deps, log, {
      key,
      origin,
      idempotencyKey,
      labels,
      paths: defaults,
      problems: [{ field: PATH_KEYS.source, reason: `s3://${bucket}/${folder.folder}/ lies under no tenant's prefixes (${tenants.flatMap((t) => t.prefixes).join(", ")}), so the upload belongs to nobody` }],
    });

  const read = await deps.markers.read(bucket, key, etag, deps.config.api.maxBodyBytes);
  if (read.kind === "changed") return { key, skipped: `replaced since this event (its new upload has an event of its own)` };
  if (read.kind === "missing") return { key, skipped: "deleted since this event" };
  if (read.kind === "too-large")
    return refuse(deps, log, { key, origin, idempotencyKey, tenant, labels, paths: defaults, problems: [{ field: MARKER_FILE, reason: `is ${read.bytes} bytes; a request may have at most ${deps.config.api.maxBodyBytes} (api.maxBodyBytes)` }] });
  let body: unknown;
  try {
    body = JSON.parse(read.body.toString("utf8"));
  } catch (err) {
    return refuse(deps, log, { key, origin, idempotencyKey, tenant, labels, paths: defaults, problems: [{ field: MARKER_FILE, reason: `is not valid JSON: ${(err as Error).message}` }] });
  }
  const request = markerRequest(body, { bucket, folder, targetPrefix: cfg.targetPrefix });
  try {
    const s = await submitRequest(deps, log, { body: request, idempotencyKey, origin, labels, ...(tenant ? { tenant } : {}) });
    log.info("s3 trigger: job submitted", { key, jobId: s.record.jobId, replayed: s.replayed });
    return { key, jobId: s.record.jobId, state: s.record.state, replayed: s.replayed };
  } catch (err) {
    if (err instanceof ApiError && err.status === 400)
      return refuse(deps, log, { key, origin, idempotencyKey, tenant, labels, paths: pathsOf(request, defaults), problems: err.body.error.problems ?? [{ field: MARKER_FILE, reason: err.message }] });
    throw err;
  }
}

async function refuse(
  deps: S3TriggerDeps,
  log: ApiLog,
  r: {
    key: string;
    origin: JobOrigin;
    idempotencyKey: string;
    tenant?: TenantConfig | undefined;
    labels?: JobLabels;
    paths: { source: string; target: string };
    problems: Problem[];
  },
): Promise<S3TriggerOutcome> {
  const s = await recordRefusedRequest(deps, log, {
    paths: r.paths,
    problems: r.problems,
    what: `s3://${deps.bucket}/${r.key}`,
    idempotencyKey: r.idempotencyKey,
    origin: r.origin,
    ...(r.tenant ? { tenant: r.tenant.name } : {}),
    ...(r.labels ? { labels: r.labels } : {}),
  });
  return { key: r.key, jobId: s.record.jobId, state: s.record.state, replayed: s.replayed };
}

/** The paths a refused request named, where they are strings; the marker's defaults otherwise. */
export function pathsOf(request: unknown, defaults: { source: string; target: string }): { source: string; target: string } {
  const o = request && typeof request === "object" ? (request as Record<string, unknown>) : {};
  const s = o[PATH_KEYS.source];
  const t = o[PATH_KEYS.target];
  return { source: typeof s === "string" ? s : defaults.source, target: typeof t === "string" ? t : defaults.target };
}
