// The jobs list: newest first, a state filter, a search box, paged with the API's `next` cursor,
// refreshed by polling without losing the pages loaded or the focus.

import { api } from "./api.js";
import { h, poll, put, srOnly } from "./dom.js";
import { JOB_STATES, matchesSearch, searchedJobId, serverQuery } from "./filters.js";
import { ago, shortId, stateBadge, time } from "./format.js";

const PAGE = 20;
/** Polls refresh at most this many of the loaded jobs (the API's largest page). */
const REFRESH_MAX = 100;

/** Why a job is where it is: the status reason once records carry one (issue 11 §4), else its error. */
export function reasonOf(job) {
  if (job.statusReason) return job.statusReason;
  if (job.error) return `${job.error.code}: ${job.error.message}`;
  if (job.progress && job.state === "RUNNING") return `${job.progress.phase}…`;
  return "";
}

/**
 * The table's columns, in order. Each renders one cell of a job: add one here (e.g. name or tags,
 * issue 11 §3) and the table has it.
 */
export const JOB_COLUMNS = [
  {
    header: "Job",
    cell: (j) => h("a", { href: `#/jobs/${j.jobId}`, title: j.jobId, class: "mono" }, srOnly("Job "), shortId(j.jobId)),
  },
  { header: "State", cell: (j) => stateBadge(j.state) },
  { header: "Submitted", cell: (j) => [time(j.submittedAt), h("span", { class: "subtle" }, ` ${ago(j.submittedAt)}`)] },
  {
    header: "Source → target",
    cell: (j) => h("span", { class: "paths" }, h("span", { class: "mono" }, j.request?.["Source Folder Path"] ?? ""), h("span", { class: "mono subtle" }, `→ ${j.request?.["Target Folder Path"] ?? ""}`)),
  },
  { header: "Attempts", cell: (j) => String(j.attempts ?? 0), className: "num" },
  { header: "Instance", cell: (j) => (j.instanceId ? h("span", { class: "mono" }, j.instanceId) : "") },
  { header: "Reason", cell: (j) => h("span", { class: "reason" }, reasonOf(j)) },
];

/**
 * @param {HTMLElement} main
 * @param {{ pollMs: number, announce: (m: string) => void, report: (e?: Error, what?: string) => void }} ctx
 * @param {URLSearchParams} params `state` and `q` from the hash
 */
export function mountJobs(main, ctx, params) {
  const filters = { state: JOB_STATES.includes(params.get("state")) ? params.get("state") : "", q: params.get("q") ?? "" };
  let jobs = []; // loaded, newest first
  let next; // cursor after the last loaded job
  let searched; // a job fetched by its id
  let known = new Map(); // jobId → state, for announcing changes
  let generation = 0; // a filter change makes in-flight answers stale

  const heading = h("h1", { tabindex: "-1" }, "Jobs");
  const stateRadios = ["", ...JOB_STATES].map((s) =>
    h(
      "label",
      { class: "chip" },
      h("input", { type: "radio", name: "state", value: s, checked: filters.state === s, onchange: () => setFilter({ state: s }) }),
      s || "All",
    ),
  );
  const search = h("input", {
    type: "search",
    id: "job-search",
    value: filters.q,
    "aria-describedby": "job-search-hint",
    autocomplete: "off",
    spellcheck: "false",
    oninput: () => setFilter({ q: search.value }, false),
  });
  const summary = h("p", { class: "subtle", id: "jobs-summary" });
  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "secondary", onclick: () => void loadMore() }, "Load more");
  const empty = h("p", { class: "empty", hidden: true });

  put(
    main,
    h("div", { class: "view-head" }, heading),
    h(
      "form",
      { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
      h("fieldset", { class: "chips" }, h("legend", {}, "State"), stateRadios),
      h(
        "div",
        { class: "search" },
        h("label", { for: "job-search" }, "Search"),
        search,
        h("p", { id: "job-search-hint", class: "hint" }, "Job id, source or target path (and name or tag, for jobs that have them)"),
      ),
    ),
    summary,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "jobs" },
        h("caption", { class: "visually-hidden" }, "Jobs, newest first"),
        h("thead", {}, h("tr", {}, JOB_COLUMNS.map((c) => h("th", { scope: "col", class: c.className }, c.header)))),
        tbody,
      ),
    ),
    empty,
    h("div", { class: "more" }, more),
  );

  function setFilter(change, refetch = true) {
    Object.assign(filters, change);
    const q = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
    history.replaceState(null, "", `#/jobs${q.size ? `?${q}` : ""}`);
    if (refetch) {
      generation++;
      jobs = [];
      next = undefined;
      known = new Map();
      poller.now();
    } else {
      searched = undefined;
      render();
      if (searchedJobId(filters.q)) poller.now();
    }
  }

  async function refresh() {
    const gen = generation;
    const limit = Math.min(REFRESH_MAX, Math.max(PAGE, jobs.length));
    try {
      const page = await api("GET", "/jobs", { query: { ...serverQuery(filters), limit } });
      const id = searchedJobId(filters.q);
      const found = id && !page.jobs.some((j) => j.jobId === id) ? await api("GET", `/jobs/${id}`).catch((e) => (e.status === 404 ? null : Promise.reject(e))) : undefined;
      if (gen !== generation) return;
      searched = found ?? undefined;
      if (jobs.length <= REFRESH_MAX) {
        jobs = page.jobs;
        next = page.next;
      } else {
        // More loaded than one page refreshes: refresh the newest, keep the older ones as they were.
        const fresh = new Set(page.jobs.map((j) => j.jobId));
        const oldest = page.jobs.at(-1)?.jobId ?? "";
        jobs = [...page.jobs, ...jobs.filter((j) => !fresh.has(j.jobId) && j.jobId < oldest)];
      }
      announceChanges();
      render();
      ctx.report();
    } catch (err) {
      ctx.report(err, "Could not load the jobs");
    }
  }

  async function loadMore() {
    if (!next) return;
    const gen = generation;
    more.disabled = true;
    try {
      const page = await api("GET", "/jobs", { query: { ...serverQuery(filters), limit: PAGE, next } });
      if (gen !== generation) return;
      const have = new Set(jobs.map((j) => j.jobId));
      jobs = [...jobs, ...page.jobs.filter((j) => !have.has(j.jobId))];
      next = page.next;
      for (const j of page.jobs) known.set(j.jobId, j.state);
      render();
      ctx.announce(`${page.jobs.length} more jobs loaded`);
    } catch (err) {
      ctx.report(err, "Could not load more jobs");
    } finally {
      more.disabled = false;
    }
  }

  function announceChanges() {
    const first = known.size === 0;
    const changes = [];
    for (const j of jobs) {
      const before = known.get(j.jobId);
      if (!first && before === undefined) changes.push(`new job ${shortId(j.jobId)} ${j.state}`);
      else if (before !== undefined && before !== j.state) changes.push(`job ${shortId(j.jobId)} ${before} to ${j.state}`);
      known.set(j.jobId, j.state);
    }
    if (changes.length > 0) ctx.announce(changes.length > 3 ? `${changes.length} jobs changed` : changes.join("; "));
  }

  function render() {
    const shown = jobs.filter((j) => matchesSearch(j, filters.q));
    if (searched && matchesSearch(searched, filters.q) && !shown.some((j) => j.jobId === searched.jobId)) shown.unshift(searched);
    // Keyed by job id: rows are updated in place, so a focused link keeps its focus.
    const rows = new Map([...tbody.children].map((tr) => [tr.dataset.jobId, tr]));
    const ordered = shown.map((j) => {
      const key = JSON.stringify(j);
      let tr = rows.get(j.jobId);
      if (!tr) tr = h("tr", { "data-job-id": j.jobId });
      if (tr.dataset.key !== key) {
        tr.dataset.key = key;
        tr.dataset.state = j.state;
        const cells = JOB_COLUMNS.map((c) => h("td", { class: c.className }, c.cell(j)));
        // Keep the link element (and its focus) when only other cells changed.
        const link = tr.querySelector("a");
        if (link && document.activeElement === link) {
          cells[0] = h("td", {}, link);
        }
        tr.replaceChildren(...cells);
      }
      return tr;
    });
    if (ordered.length !== tbody.children.length || ordered.some((tr, i) => tbody.children[i] !== tr)) tbody.replaceChildren(...ordered);

    const filtered = filters.q ? ` matching “${filters.q}”` : "";
    const stateText = filters.state ? ` ${filters.state}` : "";
    summary.textContent = `${shown.length}${stateText} job${shown.length === 1 ? "" : "s"}${filtered}${
      filters.q ? ` among the ${jobs.length} loaded${next ? " (load more to search further)" : ""}` : next ? ", more to load" : ""
    }`;
    empty.hidden = shown.length > 0;
    empty.textContent = filters.q || filters.state ? "No job matches." : "No jobs yet. Submit one with `spotq submit` or POST /jobs.";
    more.hidden = !next;
  }

  const poller = poll(refresh, ctx.pollMs);
  return { unmount: () => poller.stop() };
}
