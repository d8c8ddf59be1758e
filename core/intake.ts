import { createHash } from "node:crypto";
import type { Problem } from "./errors.ts";
import { PATH_KEYS } from "./request.ts";

/**
 * Jobs that start without a call to the API (issue 10): a `spotq.json` uploaded into a folder
 * under a trigger prefix, or a Kafka record. Pure rules shared by the trigger Lambda, the local
 * stack's notification path and the infra that sets up the S3 notification filter.
 */

/** The object whose upload submits its folder. */
export const MARKER_FILE = "spotq.json";

/** A marker's folder: the job's source. */
export interface MarkerFolder {
  /** The trigger prefix it lies under, e.g. `inbox/`. */
  prefix: string;
  /** The folder's key prefix without the trailing slash, e.g. `inbox/lab-a/case-1`. */
  folder: string;
  /** The folder below the trigger prefix, e.g. `lab-a/case-1`: the default target's name. */
  relative: string;
}

/**
 * The folder an uploaded key submits, or why it submits nothing: the key must be
 * `<prefix><folder>/spotq.json` with a non-empty folder under one of `prefixes`. The S3
 * notification filter (prefix + suffix) lets through a little more (`inbox/xspotq.json`), so the
 * trigger checks again.
 */
export function markerFolder(key: string, prefixes: readonly string[]): { ok: true; value: MarkerFolder } | { ok: false; reason: string } {
  if (!key.endsWith(`/${MARKER_FILE}`)) return { ok: false, reason: `${key} is not a ${MARKER_FILE} inside a folder` };
  const folder = key.slice(0, -(MARKER_FILE.length + 1));
  // The longest matching prefix names the folder most precisely.
  const prefix = [...prefixes].sort((a, b) => b.length - a.length).find((p) => `${folder}/`.startsWith(p));
  if (!prefix) return { ok: false, reason: `${key} is not under a trigger prefix (${prefixes.join(", ")})` };
  const relative = folder.slice(prefix.length);
  if (relative === "") return { ok: false, reason: `${key} lies directly in the trigger prefix ${prefix}; put the scan and its ${MARKER_FILE} in a folder of their own, e.g. ${prefix}case-1/${MARKER_FILE}` };
  return { ok: true, value: { prefix, folder, relative } };
}

/**
 * The request of a marker: its JSON object with the paths it leaves out filled in. The source is
 * the marker's folder, the target `<targetPrefix><relative>`. Anything that is not an object is
 * returned as it is, so validation names the problem.
 */
export function markerRequest(body: unknown, where: { bucket: string; folder: MarkerFolder; targetPrefix: string }): unknown {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return body;
  const request = { ...(body as Record<string, unknown>) };
  if (!(PATH_KEYS.source in request)) request[PATH_KEYS.source] = `s3://${where.bucket}/${where.folder.folder}`;
  if (!(PATH_KEYS.target in request)) request[PATH_KEYS.target] = defaultMarkerTarget(where.bucket, where.folder, where.targetPrefix);
  return request;
}

/** `s3://bucket/<targetPrefix><relative>`: where a marker without `Target Folder Path` writes. */
export function defaultMarkerTarget(bucket: string, folder: MarkerFolder, targetPrefix: string): string {
  return `s3://${bucket}/${targetPrefix}${folder.relative}`;
}

/** One S3 event notification filter: keys starting with `prefix` and ending with `suffix`. */
export interface NotificationFilter {
  prefix: string;
  suffix: string;
}

/**
 * The S3 notification filters of the trigger: one per trigger prefix, suffix `spotq.json`. Infra
 * configures exactly these on the bucket, and the local stack applies them to its uploads.
 */
export function markerNotificationFilters(prefixes: readonly string[]): NotificationFilter[] {
  return prefixes.map((prefix) => ({ prefix, suffix: MARKER_FILE }));
}

/** Whether S3 would notify about `key` under these filters (any one matches, as S3 requires them not to overlap). */
export function matchesNotificationFilter(filters: readonly NotificationFilter[], key: string): boolean {
  return filters.some((f) => key.startsWith(f.prefix) && key.endsWith(f.suffix));
}

/** A key as S3 event notifications carry it: URL-encoded, `/` kept, a space as `+`. */
export function encodeS3EventKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, "/").replace(/%20/g, "+");
}

/** S3 event keys are URL-encoded with spaces as `+`. */
export function decodeS3EventKey(raw: string): string {
  return decodeURIComponent(raw.replace(/\+/g, " "));
}

/**
 * The idempotency key of an uploaded marker: its bucket, key and ETag (hashed to fit the
 * Idempotency-Key alphabet and length). A duplicate S3 event creates nothing; a new upload of the
 * marker (another ETag) is a new job.
 */
export function markerIdempotencyKey(bucket: string, key: string, etag: string): string {
  return `s3-${sha256(`${bucket}\n${key}\n${etag.replace(/"/g, "")}`)}`;
}

/**
 * The idempotency key of a Kafka record: where it sits in its cluster (so Lambda's redelivery of a
 * batch creates nothing twice), unless the producer set an `idempotency-key` header.
 */
export function kafkaIdempotencyKey(cluster: string, topic: string, partition: number, offset: number): string {
  return `kafka-${sha256(`${cluster}\n${topic}\n${partition}\n${offset}`)}`;
}

/** A refused request's problems as one message naming each field: `spotq.json: Use GPU: must be …; …`. */
export function problemsMessage(where: string, problems: readonly Problem[]): string {
  return `${where}: ${problems.map((p) => `${p.field}: ${p.reason}`).join("; ")}`;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
