// What the jobs list can be filtered and searched by. Each entry is one place to extend:
// when jobs get names and tags (issue 11 §3) and GET /jobs filters by them, add the query
// parameter to SERVER_FILTERS; the search already looks at `name` and `tags` when a record has them.

/** States the API lists by (`GET /jobs?state=`). */
export const JOB_STATES = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED"];

/**
 * Filters the API applies (query parameters of `GET /jobs`), from the view's filter values.
 * Today: `state`. Later, e.g. `{ param: "tag", from: (f) => f.tag }`.
 */
export const SERVER_FILTERS = [{ param: "state", from: (f) => f.state || undefined }];

/** The query of `GET /jobs` for these filters. */
export function serverQuery(filters) {
  return Object.fromEntries(SERVER_FILTERS.map((f) => [f.param, f.from(filters)]).filter(([, v]) => v !== undefined));
}

function tagsText(tags) {
  if (!tags) return undefined;
  if (Array.isArray(tags)) return tags.join(" ");
  if (typeof tags === "object") return Object.entries(tags).map(([k, v]) => (v === "" || v === undefined ? k : `${k}=${v}`)).join(" ");
  return String(tags);
}

/** The fields the search box looks in (case-insensitive, every word must match one of them). */
export const SEARCH_FIELDS = [
  { label: "job id", value: (j) => j.jobId },
  { label: "name", value: (j) => j.name },
  { label: "tags", value: (j) => tagsText(j.tags) },
  { label: "source", value: (j) => j.request?.["Source Folder Path"] },
  { label: "target", value: (j) => j.request?.["Target Folder Path"] },
];

/** True when every word of `q` occurs in one of the job's search fields. */
export function matchesSearch(job, q) {
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = SEARCH_FIELDS.map((f) => f.value(job))
    .filter((v) => typeof v === "string" && v)
    .map((v) => v.toLowerCase());
  return words.every((w) => haystack.some((v) => v.includes(w)));
}

/** A search that is a whole job id: the console then also fetches that job, loaded or not. */
export function searchedJobId(q) {
  const id = q.trim().toUpperCase();
  return /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id) ? id : undefined;
}
