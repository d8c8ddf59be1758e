import type { Parsed, Problem } from "./errors.ts";
import { locationsOverlap, parseS3Uri, type S3Location } from "./s3-uri.ts";

/** The two path keys of a Medit iScan request, exactly as Medit spells them. */
export const PATH_KEYS = { source: "Source Folder Path", target: "Target Folder Path" } as const;

/** Boolean options of a Medit iScan request (JSON booleans only). */
export const BOOLEAN_KEYS = [
  "Force Global Align",
  "Save Source To Result Folder",
  "Use GPU",
  "Use GPU For Voxel Regeneration",
  "Compensate Occlusion Align",
  "Apply High Resolution to Prep",
] as const;

/** Integer options of a Medit iScan request (non-negative integers). */
export const INTEGER_KEYS = [
  "Complete Type",
  "File Size",
  "Compensate Occlusion Level",
  "Reduce Roughness",
  "High Resolution Merge Type",
] as const;

/** Every key a request may carry, before a deployment's extra pass-through options. */
export const REQUEST_KEYS: readonly string[] = [PATH_KEYS.source, PATH_KEYS.target, ...BOOLEAN_KEYS, ...INTEGER_KEYS];

export type BooleanKey = (typeof BOOLEAN_KEYS)[number];
export type IntegerKey = (typeof INTEGER_KEYS)[number];

/** A pass-through option's value: any JSON scalar. */
export type ExtraOptionValue = string | number | boolean;

/** A validated job request: the Medit keys, plus any pass-through options the deployment declared. */
export type JobRequest = {
  "Source Folder Path": string;
  "Target Folder Path": string;
} & Partial<Record<BooleanKey, boolean>> &
  Partial<Record<IntegerKey, number>> & { [extra: string]: string | number | boolean | undefined };

/** A request together with its parsed locations. */
export interface ValidatedRequest {
  request: JobRequest;
  source: S3Location;
  target: S3Location;
}

export interface RequestRules {
  /** Buckets this deployment serves; when given, both paths must lie in one of them. */
  servedBuckets?: readonly string[];
  /** Extra option names a deployment passes through to the processor unchanged. @default [] */
  extraOptions?: readonly string[];
}

const INTEGER_MAX = 2 ** 31 - 1;

/**
 * Validates a job request body. Returns every problem (field and reason), never throws.
 * Unknown keys are refused with the list of accepted keys, so a typo cannot pass silently.
 */
export function parseJobRequest(body: unknown, rules: RequestRules = {}): Parsed<ValidatedRequest> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { ok: false, problems: [{ field: "body", reason: "must be a JSON object with the Medit request keys" }] };
  }
  const input = body as Record<string, unknown>;
  const problems: Problem[] = [];
  const extras = new Set(rules.extraOptions ?? []);
  const accepted = [...REQUEST_KEYS, ...extras];
  const known = new Set(accepted);

  for (const key of Object.keys(input)) {
    if (!known.has(key)) {
      const hint = closestKey(key, accepted);
      problems.push({
        field: key,
        reason: `unknown key${hint ? ` (did you mean "${hint}"?)` : ""}; accepted keys: ${accepted.join(", ")}`,
      });
    }
  }

  const locations: Partial<Record<"source" | "target", S3Location>> = {};
  for (const [which, key] of Object.entries(PATH_KEYS) as ["source" | "target", string][]) {
    if (!(key in input) || input[key] === undefined) {
      problems.push({ field: key, reason: "is required (an s3://bucket/folder URI)" });
      continue;
    }
    const parsed = parseS3Uri(input[key]);
    if (!parsed.ok) {
      problems.push({ field: key, reason: parsed.reason });
      continue;
    }
    if (rules.servedBuckets && !rules.servedBuckets.includes(parsed.value.bucket)) {
      problems.push({
        field: key,
        reason: `bucket "${parsed.value.bucket}" is not served by this deployment (served: ${rules.servedBuckets.join(", ") || "none"})`,
      });
      continue;
    }
    locations[which] = parsed.value;
  }
  if (locations.source && locations.target && locationsOverlap(locations.source, locations.target)) {
    problems.push({
      field: PATH_KEYS.target,
      reason: `must not overlap the source folder (one lies inside the other): ${PATH_KEYS.source}=${String(input[PATH_KEYS.source])}`,
    });
  }

  for (const key of BOOLEAN_KEYS) {
    if (key in input && typeof input[key] !== "boolean") {
      problems.push({ field: key, reason: `must be a JSON boolean (true or false), got ${describe(input[key])}` });
    }
  }
  for (const key of INTEGER_KEYS) {
    if (!(key in input)) continue;
    const v = input[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > INTEGER_MAX) {
      problems.push({ field: key, reason: `must be an integer from 0 to ${INTEGER_MAX}, got ${describe(v)}` });
    }
  }
  for (const key of extras) {
    if (!(key in input)) continue;
    const v = input[key];
    if (typeof v !== "string" && typeof v !== "boolean" && !(typeof v === "number" && Number.isFinite(v))) {
      problems.push({ field: key, reason: `must be a string, number or boolean, got ${describe(v)}` });
    }
  }

  if (problems.length > 0 || !locations.source || !locations.target) return { ok: false, problems };
  return { ok: true, value: { request: { ...input } as JobRequest, source: locations.source, target: locations.target } };
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  if (typeof v === "number") return `the number ${v}`;
  return typeof v;
}

/** The accepted key nearest to a misspelt one (case-insensitive, small edit distance), if any. */
function closestKey(key: string, accepted: readonly string[]): string | undefined {
  const k = key.toLowerCase().replace(/[\s_-]+/g, " ").trim();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const a of accepted) {
    const d = editDistance(k, a.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = a;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(k.length / 6)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 8) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
