// The fleet: desired, min and max capacity; the boot breaker; alarm states; the queue's depth
// over the last hour; and every instance with its state, health, protection and current job.

import { api } from "./api.js";
import { queueDepthChart } from "./chart.js";
import { h, poll, put } from "./dom.js";
import { shortId, time } from "./format.js";

const PART_NAMES = {
  group: "Auto Scaling group",
  alarms: "Alarm states",
  queueDepth: "Queue depth",
  queueHistory: "Queue depth history",
  jobs: "Jobs on instances",
};

/**
 * @param {HTMLElement} main
 * @param {{ pollMs: number, announce: (m: string) => void, report: (e?: Error, what?: string) => void }} ctx
 */
export function mountFleet(main, ctx) {
  let last;
  const heading = h("h1", { tabindex: "-1" }, "Fleet");
  const groupName = h("span", { class: "subtle", id: "group-name" });
  const notes = h("div", { class: "notes" });
  const breaker = h("div", { id: "breaker" });
  const capacity = h("dl", { class: "capacity", id: "capacity" });
  const alarms = h("div", { class: "table-wrap", id: "alarms" });
  const chart = h("figure", { class: "chart-figure", id: "queue-chart" });
  const instances = h("div", { class: "table-wrap", id: "instances" });

  put(
    main,
    h("div", { class: "view-head" }, heading, groupName),
    notes,
    breaker,
    h("section", { "aria-labelledby": "capacity-h" }, h("h2", { id: "capacity-h" }, "Capacity"), capacity),
    h("section", { "aria-labelledby": "instances-h" }, h("h2", { id: "instances-h" }, "Instances"), instances),
    h("section", { "aria-labelledby": "queue-h" }, h("h2", { id: "queue-h" }, "Queue depth"), chart),
    h("section", { "aria-labelledby": "alarms-h" }, h("h2", { id: "alarms-h" }, "Alarms"), alarms),
  );

  const rendered = new Map();
  const part = (name, value, render) => {
    const key = JSON.stringify(value);
    if (rendered.get(name) === key) return;
    rendered.set(name, key);
    render();
  };

  async function refresh() {
    try {
      const view = await api("GET", "/fleet");
      announceChanges(last, view);
      last = view;
      show(view);
      ctx.report();
    } catch (err) {
      ctx.report(err, "Could not load the fleet");
    }
  }

  function announceChanges(before, now) {
    if (!before) return;
    const said = [];
    const d0 = before.group?.desiredCapacity;
    const d1 = now.group?.desiredCapacity;
    if (d0 !== undefined && d1 !== undefined && d0 !== d1) said.push(`desired capacity ${d0} to ${d1}`);
    const had = new Set(before.instances.map((i) => i.instanceId));
    const has = new Set(now.instances.map((i) => i.instanceId));
    for (const i of now.instances) if (!had.has(i.instanceId)) said.push(`instance ${i.instanceId} launched`);
    for (const i of before.instances) if (!has.has(i.instanceId)) said.push(`instance ${i.instanceId} gone`);
    if (before.breaker?.open !== now.breaker?.open && now.breaker) said.push(now.breaker.open ? "boot breaker tripped: launches suspended" : "boot breaker closed");
    if (said.length) ctx.announce(said.join("; "));
  }

  function show(v) {
    groupName.textContent = v.group ? `group ${v.group.name}` : "";
    part("notes", v.unavailable, () =>
      put(
        notes,
        v.unavailable.map((u) => h("p", { class: "note" }, h("strong", {}, `${PART_NAMES[u.part] ?? u.part} unavailable: `), u.reason)),
      ),
    );
    part("breaker", [v.breaker, v.group?.suspendedProcesses], () => renderBreaker(v));
    part("capacity", [v.group, v.instances.length, v.queue.depth], () => renderCapacity(v));
    part("instances", v.instances, () => renderInstances(v));
    // The chart's time axis moves: redraw at each poll.
    renderChart(v);
    part("alarms", v.alarms ?? null, () => renderAlarms(v));
  }

  function renderBreaker(v) {
    const b = v.breaker;
    if (!b || (!b.open && !b.launchSuspended)) {
      put(breaker, v.group ? h("p", { class: "ok-note", "data-breaker": "closed" }, "Boot breaker closed: launches are allowed.") : "");
      return;
    }
    if (!b.open) {
      put(breaker, h("div", { class: "warning", "data-breaker": "suspended" }, h("strong", {}, "Launch is suspended "), "on the group (not by the boot breaker): no instance starts until it is resumed."));
      return;
    }
    put(
      breaker,
      h(
        "div",
        { class: "alert", "data-breaker": "open" },
        h("h2", {}, "Boot breaker tripped: launches are suspended"),
        h("p", {}, b.reason ?? "Instances kept failing to boot."),
        h(
          "p",
          { class: "subtle" },
          b.failures !== undefined ? `${b.failures} failed boots` : "",
          b.windowSeconds !== undefined ? ` within ${b.windowSeconds} s` : "",
          b.trippedAt ? [", tripped at ", time(b.trippedAt)] : "",
          b.launchSuspended ? "" : " (Launch is no longer suspended)",
        ),
        h("p", {}, "Fix the cause (AMI, user data, preflight), then resume launches with ", h("code", {}, "spotq fleet resume"), "."),
      ),
    );
  }

  function renderCapacity(v) {
    if (!v.group) {
      put(capacity);
      return;
    }
    const g = v.group;
    const item = (id, label, value) => h("div", {}, h("dt", {}, label), h("dd", { id }, String(value)));
    put(
      capacity,
      item("fleet-desired", "Desired", g.desiredCapacity),
      item("fleet-min", "Min", g.minSize),
      item("fleet-max", "Max", g.maxSize),
      item("fleet-instances", "Instances", v.instances.length),
      v.queue.depth ? item("fleet-waiting", "Jobs waiting", v.queue.depth.visible + v.queue.depth.delayed) : null,
      v.queue.depth ? item("fleet-inflight", "In flight", v.queue.depth.inFlight) : null,
      g.launchTemplateVersion ? item("fleet-template", "Template version", g.launchTemplateVersion) : null,
      item("fleet-suspended", "Suspended processes", g.suspendedProcesses.length ? g.suspendedProcesses.join(", ") : "none"),
    );
  }

  function renderInstances(v) {
    if (v.instances.length === 0) {
      put(instances, h("p", { class: "empty", id: "no-instances" }, "No instances: the fleet is at zero. A submitted job raises it."));
      return;
    }
    put(
      instances,
      h(
        "table",
        {},
        h("caption", { class: "visually-hidden" }, "Instances of the group"),
        h(
          "thead",
          {},
          h("tr", {}, ["Instance", "State", "Health", "Protected", "Zone", "Type", "Version", "Job"].map((c) => h("th", { scope: "col" }, c))),
        ),
        h(
          "tbody",
          {},
          v.instances.map((i) =>
            h(
              "tr",
              { "data-instance-id": i.instanceId, "data-lifecycle": i.lifecycleState },
              h("td", { class: "mono" }, i.instanceId),
              h("td", {}, h("span", { class: `badge life-${i.lifecycleState.split(":")[0].toLowerCase()}` }, i.lifecycleState)),
              h("td", {}, h("span", { class: `badge health-${i.healthStatus.toLowerCase()}` }, i.healthStatus)),
              h("td", {}, i.protectedFromScaleIn ? "Yes" : "No"),
              h("td", {}, i.availabilityZone ?? "–"),
              h("td", {}, i.instanceType ?? "–"),
              h("td", { class: "num" }, i.launchTemplateVersion ?? "–"),
              h("td", {}, i.jobId ? h("a", { href: `#/jobs/${i.jobId}`, class: "mono", title: i.jobId }, shortId(i.jobId)) : h("span", { class: "subtle" }, "idle")),
            ),
          ),
        ),
      ),
    );
  }

  function renderChart(v) {
    if (!v.queue.history) {
      put(chart, h("p", { class: "subtle" }, "No queue depth history."));
      return;
    }
    put(
      chart,
      queueDepthChart(v.queue.history, new Date(v.at).getTime(), Math.max(320, Math.floor(chart.clientWidth - 28))),
      h(
        "figcaption",
        { class: "legend" },
        h("span", {}, h("span", { class: "swatch swatch-visible", "aria-hidden": "true" }), "waiting (visible)"),
        " ",
        h("span", {}, h("span", { class: "swatch swatch-inflight", "aria-hidden": "true" }), "in flight"),
        h("span", { class: "subtle" }, ` · one point per ${v.queue.history.periodSeconds} s`),
      ),
    );
  }

  function renderAlarms(v) {
    if (!v.alarms) {
      put(alarms, h("p", { class: "subtle" }, "Alarm states are unavailable."));
      return;
    }
    if (v.alarms.length === 0) {
      put(alarms, h("p", { class: "subtle" }, "No alarms."));
      return;
    }
    put(
      alarms,
      h(
        "table",
        {},
        h("caption", { class: "visually-hidden" }, "Alarms of the deployment"),
        h("thead", {}, h("tr", {}, ["Alarm", "State", "Reason", "Since"].map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          {},
          v.alarms.map((a) =>
            h(
              "tr",
              { "data-alarm": a.name },
              h("td", { class: "mono" }, a.name),
              h("td", {}, h("span", { class: `badge alarm-${a.state.toLowerCase()}`, "data-alarm-state": a.state }, a.state.replace("_", " "))),
              h("td", { class: "reason" }, a.reason ?? ""),
              h("td", {}, time(a.updatedAt)),
            ),
          ),
        ),
      ),
    );
  }

  const poller = poll(refresh, ctx.pollMs);
  return { unmount: () => poller.stop() };
}
