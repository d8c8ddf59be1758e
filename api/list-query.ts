import type { Parsed, Problem } from "../core/errors.ts";
import { JOB_STATES, isJobState, type JobState } from "../core/job-state.ts";

/** Page size of `GET /jobs` without `limit`. */
export const DEFAULT_LIST_LIMIT = 20;
/** Largest page `GET /jobs` returns. */
export const MAX_LIST_LIMIT = 100;

/** A validated `GET /jobs` query; `next` is the store's own cursor, unwrapped. */
export interface ListQuery {
  state?: JobState;
  limit: number;
  next?: string;
}

const QUERY_KEYS = ["state", "limit", "next"];

/**
 * Validates the query of `GET /jobs`: `state` one of the job states, `limit` an integer 1..100,
 * `next` a cursor from a previous page of the same listing. Unknown parameters are refused, as
 * unknown request keys are, so a typo (`?status=`) does not silently list everything.
 */
export function parseListQuery(query: URLSearchParams): Parsed<ListQuery> {
  const problems: Problem[] = [];
  for (const key of new Set(query.keys())) {
    if (!QUERY_KEYS.includes(key)) problems.push({ field: key, reason: `unknown query parameter; accepted: ${QUERY_KEYS.join(", ")}` });
    else if (query.getAll(key).length > 1) problems.push({ field: key, reason: "must be given once" });
  }
  const state = query.get("state");
  if (state !== null && !isJobState(state)) problems.push({ field: "state", reason: `must be one of ${JOB_STATES.join(", ")}, got ${JSON.stringify(state.slice(0, 40))}` });

  let limit = DEFAULT_LIST_LIMIT;
  const rawLimit = query.get("limit");
  if (rawLimit !== null) {
    limit = /^\d{1,4}$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIST_LIMIT))
      problems.push({ field: "limit", reason: `must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${JSON.stringify(rawLimit.slice(0, 40))}` });
  }

  let next: string | undefined;
  const rawNext = query.get("next");
  if (rawNext !== null) {
    const cursor = decodeListCursor(rawNext);
    if (!cursor) problems.push({ field: "next", reason: "is not a cursor from a previous page of GET /jobs" });
    else if (cursor.state !== (state ?? undefined))
      problems.push({
        field: "next",
        reason: `belongs to a listing ${cursor.state ? `of state=${cursor.state}` : "of all states"}; pass the same state filter with it`,
      });
    else next = cursor.next;
  }

  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: { ...(state ? { state: state as JobState } : {}), limit, ...(next ? { next } : {}) } };
}

/**
 * The cursor handed to clients: the store's cursor together with the state filter it was issued
 * for, since the store's cursor of one index means nothing to another.
 */
export function encodeListCursor(state: JobState | undefined, next: string): string {
  return Buffer.from(JSON.stringify({ s: state ?? null, n: next })).toString("base64url");
}

function decodeListCursor(cursor: string): { state?: JobState; next: string } | undefined {
  if (cursor.length === 0 || cursor.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  const c = v as { s?: unknown; n?: unknown };
  if (!c || typeof c !== "object" || typeof c.n !== "string" || c.n === "") return undefined;
  if (c.s !== null && !isJobState(c.s)) return undefined;
  return { ...(c.s ? { state: c.s } : {}), next: c.n };
}
