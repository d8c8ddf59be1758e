import type { Parsed, Problem } from "../core/errors.ts";

/**
 * A job's name and tags (issue 11 §3): given at submit in headers, so the Medit body stays exactly
 * Medit's; stored on the record, listed, and filterable (`GET /jobs?name=&tag=`). They never
 * change after the submit. Printable ASCII only, since they travel in HTTP headers.
 */

/** The header naming a job: `Spotq-Job-Name: case 4711`. */
export const JOB_NAME_HEADER = "Spotq-Job-Name";
/** The header tagging a job: `Spotq-Job-Tags: clinic=north,urgent=yes`. */
export const JOB_TAGS_HEADER = "Spotq-Job-Tags";

/** Longest job name. */
export const MAX_JOB_NAME_LENGTH = 128;
/** Most tags on one job. */
export const MAX_JOB_TAGS = 10;
/** Longest tag key. */
export const MAX_TAG_KEY_LENGTH = 64;
/** Longest tag value. */
export const MAX_TAG_VALUE_LENGTH = 128;

/** Printable ASCII without `*` (a filter's prefix wildcard); no leading or trailing space. */
const NAME = /^[!-)+-~](?:[ -)+-~]*[!-)+-~])?$/;
/** Letters, digits and `. _ : / + @ -`. */
const TAG_KEY = /^[A-Za-z0-9._:/+@-]+$/;
/** Printable ASCII without `,` (the separator) and `*`; may be empty. */
const TAG_VALUE = /^[ -)+-+\--~]*$/;

/** The labels of one job. */
export interface JobLabels {
  name?: string;
  tags?: Record<string, string>;
}

/** Checks a job name (from the header, or a Kafka record header under another field name). */
export function nameProblem(name: string, field: string = JOB_NAME_HEADER): Problem | undefined {
  if (name.length === 0) return { field, reason: "must not be empty; omit it for no name" };
  if (name.length > MAX_JOB_NAME_LENGTH) return { field, reason: `must be at most ${MAX_JOB_NAME_LENGTH} characters, got ${name.length}` };
  if (!NAME.test(name)) return { field, reason: "may hold printable ASCII only, without * and without leading or trailing spaces" };
  return undefined;
}

/**
 * Parses `k=v,k2=v2` into tags, listing every problem (naming the field and the pair). A key
 * without `=` is refused: a tag has a value (maybe empty: `k=`).
 */
export function parseTags(raw: string, field: string = JOB_TAGS_HEADER): Parsed<Record<string, string>> {
  const problems: Problem[] = [];
  const tags: Record<string, string> = {};
  const pairs = raw.split(",").map((p) => p.trim());
  if (raw.trim() === "") return { ok: false, problems: [{ field, reason: "must not be empty; omit it for no tags" }] };
  if (pairs.length > MAX_JOB_TAGS) problems.push({ field, reason: `may hold at most ${MAX_JOB_TAGS} tags, got ${pairs.length}` });
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const shown = JSON.stringify(pair.slice(0, 40));
    if (eq <= 0) {
      problems.push({ field, reason: `${shown} is not key=value` });
      continue;
    }
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const bad = tagKeyReason(key) ?? tagValueReason(key, value);
    if (bad) problems.push({ field, reason: bad });
    else if (Object.hasOwn(tags, key)) problems.push({ field, reason: `tag ${key} is given twice` });
    else Object.defineProperty(tags, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return problems.length ? { ok: false, problems } : { ok: true, value: tags };
}

/** Why a tag key is not one, or undefined. */
export function tagKeyReason(key: string): string | undefined {
  if (key.length === 0 || key.length > MAX_TAG_KEY_LENGTH || !TAG_KEY.test(key))
    return `tag key ${JSON.stringify(key.slice(0, 40))} must be 1 to ${MAX_TAG_KEY_LENGTH} letters, digits or . _ : / + @ -`;
  return undefined;
}

/** Why a tag value is not one, or undefined. */
export function tagValueReason(key: string, value: string): string | undefined {
  if (value.length > MAX_TAG_VALUE_LENGTH || !TAG_VALUE.test(value))
    return `the value of tag ${key} must be at most ${MAX_TAG_VALUE_LENGTH} printable ASCII characters without , or *`;
  return undefined;
}

/** The labels of a submit from its headers (absent headers: no name, no tags). */
export function parseJobLabels(headers: { name?: string | null; tags?: string | null }, fields = { name: JOB_NAME_HEADER, tags: JOB_TAGS_HEADER }): Parsed<JobLabels> {
  const problems: Problem[] = [];
  const out: JobLabels = {};
  if (headers.name !== undefined && headers.name !== null) {
    const p = nameProblem(headers.name, fields.name);
    if (p) problems.push(p);
    else out.name = headers.name;
  }
  if (headers.tags !== undefined && headers.tags !== null) {
    const t = parseTags(headers.tags, fields.tags);
    if (!t.ok) problems.push(...t.problems);
    else out.tags = t.value;
  }
  return problems.length ? { ok: false, problems } : { ok: true, value: out };
}

/** Formats tags back to the header's form (`k=v,k2=v2`), keys sorted. */
export function formatTags(tags: Readonly<Record<string, string>> | undefined): string {
  return Object.entries(tags ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
