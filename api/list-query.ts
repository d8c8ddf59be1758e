import type { Parsed, Problem } from "../core/errors.ts";
import { JOB_STATES, isJobState, type JobState } from "../core/job-state.ts";
import { MAX_JOB_TAGS, nameProblem, tagKeyReason, tagValueReason } from "./job-labels.ts";

/** Page size of `GET /jobs` without `limit`. */
export const DEFAULT_LIST_LIMIT = 20;
/** Largest page `GET /jobs` returns. */
export const MAX_LIST_LIMIT = 100;

/** The filters of a `GET /jobs` query (what a cursor is bound to, with the tenant). */
export interface ListFilters {
  state?: JobState;
  /** `name=case-1`: that name exactly. */
  name?: string;
  /** `name=case-*`: names starting with `case-`. */
  namePrefix?: string;
  /** `tag=clinic=north` (that value) or `tag=urgent` (any value); every one must match. */
  tags?: { key: string; value?: string }[];
}

/** A validated `GET /jobs` query; `next` is the store's own cursor, unwrapped. */
export interface ListQuery extends ListFilters {
  limit: number;
  next?: string;
}

const QUERY_KEYS = ["state", "limit", "next", "name", "tag"];
/** Parameters that may be given more than once. */
const REPEATABLE = new Set(["tag"]);

/**
 * Validates the query of `GET /jobs`: `state` one of the job states, `limit` an integer 1..100,
 * `name` a job name (ending in `*` for a prefix), `tag` `key=value` or `key` (repeatable, all must
 * match), `next` a cursor from a previous page of the same listing: the same filters and the same
 * tenant (`scope.tenant`, the caller's). Unknown parameters are refused, as unknown request keys
 * are, so a typo (`?status=`) does not silently list everything.
 */
export function parseListQuery(query: URLSearchParams, scope: { tenant?: string } = {}): Parsed<ListQuery> {
  const problems: Problem[] = [];
  for (const key of new Set(query.keys())) {
    if (!QUERY_KEYS.includes(key)) problems.push({ field: key, reason: `unknown query parameter; accepted: ${QUERY_KEYS.join(", ")}` });
    else if (!REPEATABLE.has(key) && query.getAll(key).length > 1) problems.push({ field: key, reason: "must be given once" });
  }
  const filters: ListFilters = {};
  const state = query.get("state");
  if (state !== null && !isJobState(state)) problems.push({ field: "state", reason: `must be one of ${JOB_STATES.join(", ")}, got ${JSON.stringify(state.slice(0, 40))}` });
  else if (state !== null) filters.state = state as JobState;

  let limit = DEFAULT_LIST_LIMIT;
  const rawLimit = query.get("limit");
  if (rawLimit !== null) {
    limit = /^\d{1,4}$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIST_LIMIT))
      problems.push({ field: "limit", reason: `must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${JSON.stringify(rawLimit.slice(0, 40))}` });
  }

  const name = query.get("name");
  if (name !== null) {
    const prefix = name.endsWith("*");
    const text = prefix ? name.slice(0, -1) : name;
    const p = text.length === 0 && prefix ? { field: "name", reason: "needs at least one character before the *" } : nameProblem(text, "name");
    if (p) problems.push(p);
    else if (prefix) filters.namePrefix = text;
    else filters.name = text;
  }

  const tags = query.getAll("tag");
  if (tags.length > MAX_JOB_TAGS) problems.push({ field: "tag", reason: `may be given at most ${MAX_JOB_TAGS} times, got ${tags.length}` });
  for (const raw of tags) {
    const eq = raw.indexOf("=");
    const key = eq < 0 ? raw : raw.slice(0, eq);
    const value = eq < 0 ? undefined : raw.slice(eq + 1);
    const bad = tagKeyReason(key) ?? (value === undefined ? undefined : tagValueReason(key, value));
    if (bad) problems.push({ field: "tag", reason: `${bad} (tag=key=value or tag=key)` });
    else (filters.tags ??= []).push(value === undefined ? { key } : { key, value });
  }

  let next: string | undefined;
  const rawNext = query.get("next");
  if (rawNext !== null) {
    const cursor = decodeListCursor(rawNext);
    if (!cursor || cursor.tenant !== (scope.tenant ?? null)) problems.push({ field: "next", reason: "is not a cursor from a previous page of GET /jobs" });
    else if (cursor.state !== (filters.state ?? null))
      problems.push({
        field: "next",
        reason: `belongs to a listing ${cursor.state ? `of state=${cursor.state}` : "of all states"}; pass the same state filter with it`,
      });
    else if (cursor.filters !== filterKey(filters)) problems.push({ field: "next", reason: "belongs to a listing with other name or tag filters; pass the same filters with it" });
    else next = cursor.next;
  }

  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: { ...filters, limit, ...(next ? { next } : {}) } };
}

/**
 * The cursor handed to clients: the store's cursor together with the listing it was issued for
 * (the state filter, the name and tag filters, and the tenant), since the store's cursor of one
 * listing means nothing to another, and one tenant's cursor must not be taken by another's request.
 */
export function encodeListCursor(filters: ListFilters, tenant: string | undefined, next: string): string {
  return Buffer.from(JSON.stringify({ s: filters.state ?? null, t: tenant ?? null, f: filterKey(filters), n: next })).toString("base64url");
}

/** The name and tag filters as one canonical string (tag order does not matter). */
function filterKey(f: ListFilters): string | null {
  const tags = [...(f.tags ?? [])].map((t) => (t.value === undefined ? [t.key] : [t.key, t.value])).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  if (f.name === undefined && f.namePrefix === undefined && tags.length === 0) return null;
  return JSON.stringify([f.name ?? null, f.namePrefix ?? null, tags]);
}

function decodeListCursor(cursor: string): { state: JobState | null; tenant: string | null; filters: string | null; next: string } | undefined {
  if (cursor.length === 0 || cursor.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  const c = v as { s?: unknown; t?: unknown; f?: unknown; n?: unknown };
  if (!c || typeof c !== "object" || typeof c.n !== "string" || c.n === "") return undefined;
  if (c.s !== null && !isJobState(c.s)) return undefined;
  if (c.t !== null && typeof c.t !== "string") return undefined;
  if (c.f !== null && typeof c.f !== "string") return undefined;
  return { state: (c.s as JobState | null) ?? null, tenant: (c.t as string | null) ?? null, filters: (c.f as string | null) ?? null, next: c.n };
}
