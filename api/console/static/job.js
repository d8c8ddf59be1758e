// One job: its state and why, cancel / redrive, facts, a timing bar, attempts, outputs, and the
// log of each attempt, followed live while the attempt runs.

import { api, ApiRequestError } from "./api.js";
import { h, poll, put } from "./dom.js";
import { bytes, duration, progressText, stateBadge, time } from "./format.js";
import { reasonOf } from "./jobs.js";

const TIMING_PARTS = [
  { key: "queueWaitMs", label: "Queue wait" },
  { key: "downloadMs", label: "Download" },
  { key: "processMs", label: "Process" },
  { key: "uploadMs", label: "Upload" },
];
const LOG_PAGE = 500;
/** Lines kept on screen; older ones are dropped (the whole log stays in CloudWatch / the file). */
const LOG_MAX_LINES = 5000;

/**
 * @param {HTMLElement} main
 * @param {{ pollMs: number, announce: (m: string) => void, report: (e?: Error, what?: string) => void,
 *   confirmAction: (o: { title: string, text: string, yes: string }) => Promise<boolean> }} ctx
 * @param {string} jobId
 */
export function mountJob(main, ctx, jobId) {
  let job;
  const heading = h("h1", { tabindex: "-1" }, "Job ", h("span", { class: "mono" }, jobId));
  const badge = h("span", { class: "head-state" });
  const reason = h("div", { class: "reason-box", hidden: true });
  const actions = h("div", { class: "actions" });
  const facts = h("dl", { class: "facts" });
  const timing = h("div", { class: "timing" });
  const attempts = h("div", { class: "table-wrap" });
  const outputs = h("div");
  const request = h("pre", { class: "request mono", tabindex: "0" });
  const log = logViewer(ctx, jobId);

  put(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "← Jobs")),
    h("div", { class: "view-head" }, heading, badge),
    reason,
    actions,
    h("section", { "aria-labelledby": "facts-h" }, h("h2", { id: "facts-h" }, "Details"), facts),
    h("section", { "aria-labelledby": "timing-h" }, h("h2", { id: "timing-h" }, "Timing"), timing),
    h("section", { "aria-labelledby": "attempts-h" }, h("h2", { id: "attempts-h" }, "Attempts"), attempts),
    h("section", { "aria-labelledby": "outputs-h" }, h("h2", { id: "outputs-h" }, "Outputs"), outputs),
    log.section,
    h("section", { "aria-labelledby": "request-h" }, h("details", {}, h("summary", { id: "request-h" }, "Request (the Medit body)"), request)),
  );

  const rendered = new Map();
  /** Re-renders a part only when what it shows changed (keeps focus and scroll where they are). */
  const part = (name, value, render) => {
    const key = JSON.stringify(value);
    if (rendered.get(name) === key) return;
    rendered.set(name, key);
    render();
  };

  async function refresh() {
    try {
      const fresh = await api("GET", `/jobs/${encodeURIComponent(jobId)}`);
      if (job && job.state !== fresh.state) ctx.announce(`job ${fresh.state}${reasonOf(fresh) ? `: ${reasonOf(fresh)}` : ""}`);
      job = fresh;
      show(job);
      log.update(job);
      ctx.report();
    } catch (err) {
      if (err instanceof ApiRequestError && err.status === 404) {
        poller.stop();
        log.stop();
        put(main, h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "← Jobs")), h("h1", { tabindex: "-1" }, "No such job"), h("p", {}, `No job has the id ${jobId}.`));
        ctx.report();
        return;
      }
      ctx.report(err, "Could not load the job");
    }
  }

  function show(j) {
    document.title = `${j.state} ${j.jobId} · spotq console`;
    part("badge", j.state, () => put(badge, stateBadge(j.state)));
    part("reason", [j.statusReason, j.error, j.progress, j.state], () => {
      const text = reasonOf(j);
      reason.hidden = !text;
      reason.className = `reason-box${j.error && j.state !== "RUNNING" ? " is-error" : ""}`;
      put(reason, j.statusReason ? h("strong", {}, "Status: ") : j.error ? h("strong", {}, "Error: ") : h("strong", {}, "Now: "), text);
    });
    part("actions", j.state, () => renderActions(j));
    part("facts", [j.submittedAt, j.startedAt, j.finishedAt, j.attempts, j.interruptions, j.instanceId, j.exitCode, j.bytes, j.progress, j.idempotencyKey, j.request, j.name, j.tags, j.logs], () =>
      renderFacts(j),
    );
    part("timing", j.timings ?? null, () => renderTiming(j.timings));
    part("attempts", [j.attemptHistory, j.attempts, j.state, j.instanceId, j.startedAt, j.logs], () => renderAttempts(j));
    part("outputs", [j.outputs, j.bytes?.out, j.state, j.request?.["Target Folder Path"]], () => renderOutputs(j));
    part("request", j.request, () => (request.textContent = JSON.stringify(j.request, null, 2)));
  }

  function renderActions(j) {
    const buttons = [];
    if (j.state === "QUEUED" || j.state === "RUNNING")
      buttons.push(
        h("button", { type: "button", class: "danger", id: "cancel-job", onclick: () => void act("cancel") }, "Cancel job"),
      );
    if (j.state === "FAILED") buttons.push(h("button", { type: "button", id: "redrive-job", onclick: () => void act("redrive") }, "Redrive"));
    put(actions, buttons);
  }

  async function act(kind) {
    const cancel = kind === "cancel";
    const ok = await ctx.confirmAction(
      cancel
        ? { title: "Cancel this job?", text: job.state === "RUNNING" ? "Its worker stops the processor at its next heartbeat; nothing more is uploaded." : "It will not run.", yes: "Cancel job", danger: true }
        : { title: "Redrive this job?", text: "It goes back to the queue with a fresh attempt budget; its earlier attempts stay listed.", yes: "Redrive" },
    );
    if (!ok) return;
    try {
      const r = cancel
        ? await api("DELETE", `/jobs/${encodeURIComponent(jobId)}`)
        : await api("POST", `/jobs/${encodeURIComponent(jobId)}/redrive`);
      ctx.announce(`${cancel ? "Cancel" : "Redrive"} accepted: the job is ${r.state}`);
      poller.now();
    } catch (err) {
      ctx.report(err, cancel ? "Could not cancel the job" : "Could not redrive the job");
      poller.now();
    }
  }

  function renderFacts(j) {
    const row = (k, ...v) => [h("dt", {}, k), h("dd", {}, ...v)];
    const tags = j.tags ? (Array.isArray(j.tags) ? j.tags.join(", ") : Object.entries(j.tags).map(([k, v]) => (v ? `${k}=${v}` : k)).join(", ")) : undefined;
    put(
      facts,
      j.name ? row("Name", j.name) : null,
      tags ? row("Tags", tags) : null,
      row("Source", h("span", { class: "mono" }, j.request?.["Source Folder Path"] ?? "–")),
      row("Target", h("span", { class: "mono" }, j.request?.["Target Folder Path"] ?? "–")),
      row("Submitted", time(j.submittedAt)),
      row("Started", time(j.startedAt)),
      row("Finished", time(j.finishedAt)),
      row("Attempts", String(j.attempts ?? 0), j.interruptions ? ` (${j.interruptions} interrupted)` : ""),
      row("Instance", j.instanceId ? h("a", { href: "#/fleet", class: "mono" }, j.instanceId) : "–"),
      j.progress ? row("Progress", progressText(j.progress)) : null,
      j.exitCode !== undefined ? row("Exit code", String(j.exitCode)) : null,
      row("Bytes", `${bytes(j.bytes?.in)} in, ${bytes(j.bytes?.out)} out`),
      j.idempotencyKey ? row("Idempotency key", h("span", { class: "mono" }, j.idempotencyKey)) : null,
      j.logs ? row("Log", h("span", { class: "mono" }, `${j.logs.group} ${j.logs.stream}`)) : null,
    );
  }

  function renderTiming(t) {
    const parts = TIMING_PARTS.filter((p) => typeof t?.[p.key] === "number");
    if (parts.length === 0) {
      put(timing, h("p", { class: "subtle" }, "No timings yet: they are recorded as the job moves through its phases."));
      return;
    }
    const total = parts.reduce((sum, p) => sum + t[p.key], 0) || 1;
    const words = parts.map((p) => `${p.label} ${duration(t[p.key])}`).join(", ");
    put(
      timing,
      h(
        "div",
        { class: "timing-bar", role: "img", "aria-label": `Timing: ${words}; ${duration(total)} in all` },
        parts.map((p) => {
          const seg = h("span", { class: `seg seg-${p.key}`, title: `${p.label}: ${duration(t[p.key])}` });
          // A sliver stays visible for very short phases.
          seg.style.flexGrow = String(Math.max(t[p.key] / total, 0.01));
          return seg;
        }),
      ),
      h(
        "ul",
        { class: "legend" },
        parts.map((p) => h("li", {}, h("span", { class: `swatch seg-${p.key}`, "aria-hidden": "true" }), `${p.label} `, h("strong", {}, duration(t[p.key])))),
        h("li", { class: "subtle" }, `total ${duration(total)}`),
      ),
    );
  }

  function renderAttempts(j) {
    const history = [...(j.attemptHistory ?? [])];
    // The attempt under way (or the last one, when the record has not filed it in the history).
    if (j.attempts > 0 && !history.some((a) => a.attempt === j.attempts))
      history.push({ attempt: j.attempts, instanceId: j.instanceId, startedAt: j.startedAt, outcome: j.state, logs: j.logs, current: true });
    if (history.length === 0) {
      put(attempts, h("p", { class: "subtle" }, "No attempt yet: the job waits for a worker."));
      return;
    }
    put(
      attempts,
      h(
        "table",
        { class: "attempts" },
        h("caption", { class: "visually-hidden" }, "Attempts of this job"),
        h(
          "thead",
          {},
          h("tr", {}, ["#", "Outcome", "Instance", "Started", "Finished", "Exit", "Error", "Log"].map((c) => h("th", { scope: "col" }, c))),
        ),
        h(
          "tbody",
          {},
          history
            .sort((a, b) => a.attempt - b.attempt)
            .map((a) =>
              h(
                "tr",
                { "data-attempt": a.attempt },
                h("td", { class: "num" }, String(a.attempt)),
                h("td", {}, stateBadge(a.outcome), a.redriven ? h("span", { class: "subtle" }, " redriven") : ""),
                h("td", { class: "mono" }, a.instanceId ?? "–"),
                h("td", {}, time(a.startedAt)),
                h("td", {}, time(a.finishedAt)),
                h("td", { class: "num" }, a.exitCode !== undefined ? String(a.exitCode) : "–"),
                h("td", { class: "reason" }, a.error ? `${a.error.code}: ${a.error.message}` : ""),
                h("td", {}, h("button", { type: "button", class: "link", onclick: () => log.show(a.attempt, true) }, "Show log", h("span", { class: "visually-hidden" }, ` of attempt ${a.attempt}`))),
              ),
            ),
        ),
      ),
    );
  }

  function renderOutputs(j) {
    if (j.outputs) {
      put(
        outputs,
        h(
          "p",
          {},
          `${j.outputs.objects} object${j.outputs.objects === 1 ? "" : "s"}, ${bytes(j.bytes?.out)}, in `,
          h("span", { class: "mono" }, j.outputs.target),
        ),
      );
      return;
    }
    put(outputs, h("p", { class: "subtle" }, j.state === "SUCCEEDED" ? "No outputs recorded." : `Results will be written to ${j.request?.["Target Folder Path"] ?? "the target folder"} when the job succeeds.`));
  }

  const poller = poll(refresh, ctx.pollMs);
  return {
    unmount() {
      poller.stop();
      log.stop();
      document.title = "spotq console";
    },
  };
}

/** The log of one attempt, followed while it is written (polling with the API's `next` cursor). */
function logViewer(ctx, jobId) {
  let attempt = 0; // the one shown; 0 = none yet
  let chosen = false; // the user picked an attempt: do not jump to a newer one
  let cursor;
  let done = false;
  let lines = 0;
  let generation = 0;
  let timer;
  let fetching = false;
  let stopped = false;

  const select = h("select", { id: "log-attempt", onchange: () => show(Number(select.value), true) });
  const follow = h("input", { type: "checkbox", id: "log-follow", checked: true, onchange: () => {
      if (!follow.checked) {
        clearTimeout(timer);
        timer = undefined;
      } else if (!fetching) void fetchMore();
    } });
  const status = h("p", { class: "subtle", id: "log-status", "aria-live": "polite" });
  const pre = h("pre", { class: "log mono", id: "log", tabindex: "0", "aria-label": "Log", "aria-describedby": "log-status" });
  const section = h(
    "section",
    { "aria-labelledby": "log-h" },
    h("h2", { id: "log-h" }, "Log"),
    h(
      "div",
      { class: "log-controls" },
      h("label", { for: "log-attempt" }, "Attempt"),
      select,
      h("label", { class: "check" }, follow, " Follow (keeps reading while the attempt runs)"),
    ),
    status,
    pre,
  );

  function update(job) {
    const have = [...select.options].map((o) => Number(o.value));
    for (let n = 1; n <= job.attempts; n++) if (!have.includes(n)) select.append(h("option", { value: n }, `Attempt ${n}`));
    select.disabled = job.attempts === 0;
    if (job.attempts === 0) {
      status.textContent = "No attempt has started yet; the log appears once a worker takes the job.";
      return;
    }
    if (attempt === 0 || (!chosen && job.attempts > attempt)) show(job.attempts, false);
    else if (!done && follow.checked && !timer && !fetching) void fetchMore();
  }

  function show(n, byUser) {
    chosen = chosen || byUser;
    attempt = n;
    select.value = String(n);
    cursor = undefined;
    done = false;
    lines = 0;
    generation++;
    pre.replaceChildren();
    pre.setAttribute("aria-label", `Log of attempt ${n}`);
    status.textContent = `Reading attempt ${n}…`;
    clearTimeout(timer);
    timer = undefined;
    fetching = false; // an answer for the attempt shown before is dropped (generation)
    void fetchMore();
    if (byUser) section.scrollIntoView({ block: "start" });
  }

  async function fetchMore() {
    clearTimeout(timer);
    timer = undefined;
    if (stopped || attempt === 0) return;
    const gen = generation;
    fetching = true;
    try {
      let page;
      do {
        page = await api("GET", `/jobs/${encodeURIComponent(jobId)}/logs`, { query: { attempt, after: cursor, limit: LOG_PAGE } });
        if (gen !== generation || stopped) return;
        append(page.lines);
        if (page.next !== undefined) cursor = page.next;
      } while (page.lines.length === LOG_PAGE);
      done = page.done;
      status.textContent = done
        ? `End of the log of attempt ${attempt}${lines === 0 ? ": it wrote nothing" : ""}.`
        : page.next === undefined
          ? `Attempt ${attempt} has no log yet.`
          : follow.checked
            ? `Following attempt ${attempt}…`
            : `Paused; check “Follow” to read on.`;
      ctx.report();
    } catch (err) {
      if (gen !== generation) return;
      ctx.report(err, "Could not read the log");
    } finally {
      if (gen === generation) fetching = false;
    }
    if (!done && follow.checked && !stopped && gen === generation) timer = setTimeout(fetchMore, ctx.pollMs);
  }

  function append(newLines) {
    if (newLines.length === 0) return;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    const frag = document.createDocumentFragment();
    for (const l of newLines) {
      const row = h(
        "span",
        { class: `line${l.source ? ` src-${l.source}` : ""}` },
        l.at ? h("span", { class: "ts" }, new Date(l.at).toLocaleTimeString(undefined, { hour12: false })) : "",
        l.source ? h("span", { class: "src" }, l.source) : "",
        l.text,
        "\n",
      );
      frag.append(row);
    }
    pre.append(frag);
    lines += newLines.length;
    while (pre.childElementCount > LOG_MAX_LINES) pre.firstElementChild.remove();
    if (follow.checked && atBottom) pre.scrollTop = pre.scrollHeight;
  }

  return {
    section,
    update,
    show,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
