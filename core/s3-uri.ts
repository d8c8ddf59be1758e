import type { Problem } from "./errors.ts";

/** An S3 location: a bucket and a normalised key prefix (no leading or trailing slash). */
export interface S3Location {
  bucket: string;
  /** Normalised prefix, e.g. `test/src`; the folder's objects live under `${prefix}/`. */
  prefix: string;
}

const BUCKET_CHARS = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_LIKE = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Why a bucket name breaks S3's general-purpose bucket naming rules, or undefined if it is valid.
 * Dots are allowed (the Medit fixture uses them).
 */
export function bucketNameProblem(bucket: string): string | undefined {
  if (bucket.length < 3 || bucket.length > 63) return `bucket name "${bucket}" must be 3 to 63 characters long`;
  if (!BUCKET_CHARS.test(bucket))
    return `bucket name "${bucket}" may hold only lowercase letters, digits, dots and hyphens, and must start and end with a letter or digit`;
  if (bucket.includes("..")) return `bucket name "${bucket}" must not contain two adjacent dots`;
  if (bucket.includes(".-") || bucket.includes("-.")) return `bucket name "${bucket}" must not have a dot next to a hyphen`;
  if (IP_LIKE.test(bucket)) return `bucket name "${bucket}" must not look like an IP address`;
  if (bucket.startsWith("xn--") || bucket.startsWith("sthree-"))
    return `bucket name "${bucket}" must not start with a reserved prefix (xn--, sthree-)`;
  if (bucket.endsWith("-s3alias") || bucket.endsWith("--ol-s3") || bucket.endsWith(".mrap") || bucket.endsWith("--x-s3"))
    return `bucket name "${bucket}" must not end with a reserved suffix`;
  return undefined;
}

/**
 * Parses `s3://bucket/prefix` into a location with a normalised prefix.
 * Refuses empty, `.` and `..` segments, a missing prefix, and control characters.
 */
export function parseS3Uri(uri: unknown): { ok: true; value: S3Location } | { ok: false; reason: string } {
  if (typeof uri !== "string") return { ok: false, reason: `must be a string of the form s3://bucket/folder, got ${describe(uri)}` };
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(uri);
  if (!m) return { ok: false, reason: `must be of the form s3://bucket/folder, got "${truncate(uri)}"` };
  const bucket = m[1] ?? "";
  const bucketProblem = bucketNameProblem(bucket);
  if (bucketProblem) return { ok: false, reason: bucketProblem };
  let raw = m[2] ?? "";
  if (raw.endsWith("/")) raw = raw.slice(0, -1);
  if (raw === "") return { ok: false, reason: `must name a folder inside the bucket (s3://${bucket}/folder), not the whole bucket` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) return { ok: false, reason: "must not contain control characters" };
  if (raw.startsWith("/")) return { ok: false, reason: "must not contain an empty path segment (//)" };
  const segments = raw.split("/");
  for (const s of segments) {
    if (s === "") return { ok: false, reason: "must not contain an empty path segment (//)" };
    if (s === "." || s === "..") return { ok: false, reason: `must not contain a "${s}" path segment` };
  }
  if (Buffer.byteLength(raw, "utf8") > 900) return { ok: false, reason: "folder path is too long (at most 900 bytes)" };
  return { ok: true, value: { bucket, prefix: segments.join("/") } };
}

/** The URI form of a location. */
export function formatS3Uri(loc: S3Location): string {
  return `s3://${loc.bucket}/${loc.prefix}`;
}

/** The key prefix under which a folder's objects live (`prefix/`). */
export function folderKeyPrefix(loc: S3Location): string {
  return `${loc.prefix}/`;
}

/** True when one location is the other or lies inside it (same bucket, prefix on a segment boundary). */
export function locationsOverlap(a: S3Location, b: S3Location): boolean {
  if (a.bucket !== b.bucket) return false;
  const pa = `${a.prefix}/`;
  const pb = `${b.prefix}/`;
  return pa.startsWith(pb) || pb.startsWith(pa);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
