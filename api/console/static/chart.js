// The queue-depth chart: an inline SVG of the last hour (waiting messages as an area, in-flight
// as a line), with a text summary for screen readers.

import { s } from "./dom.js";

const H = 200;
const PAD = { left: 36, right: 12, top: 12, bottom: 26 };
const HOUR_MS = 3_600_000;

/** A "nice" top for the y axis: 1, 2, 5, 10, 20, 50 … at least `max`. */
function niceMax(max) {
  if (max <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= max) ?? 10 * p;
}

/**
 * @param {{ periodSeconds: number, points: { at: string, visible: number, inFlight?: number }[] }} series
 * @param {number} now epoch ms (the right edge)
 * @param {number} W the width in CSS pixels (drawn 1:1, so the labels keep their shape)
 * @returns {SVGSVGElement}
 */
export function queueDepthChart(series, now = Date.now(), W = 640) {
  const points = series.points.map((p) => ({ t: new Date(p.at).getTime(), visible: p.visible, inFlight: p.inFlight })).filter((p) => p.t > now - HOUR_MS);
  const top = niceMax(Math.max(1, ...points.map((p) => Math.max(p.visible, p.inFlight ?? 0))));
  const x = (t) => PAD.left + ((t - (now - HOUR_MS)) / HOUR_MS) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);

  const peak = points.reduce((m, p) => (p.visible > (m?.visible ?? -1) ? p : m), undefined);
  const last = points.at(-1);
  const summary = points.length
    ? `Jobs waiting in the queue over the last hour: ${points.length} samples, peak ${peak.visible} at ${new Date(peak.t).toLocaleTimeString()}, latest ${last.visible} waiting${last.inFlight !== undefined ? ` and ${last.inFlight} in flight` : ""}.`
    : "No queue depth samples in the last hour yet.";

  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart", role: "img", "aria-labelledby": "qd-title qd-desc" });
  svg.append(s("title", { id: "qd-title" }, "Queue depth, last hour"), s("desc", { id: "qd-desc" }, summary));

  // Grid and axes.
  for (const v of [0, top / 2, top]) {
    svg.append(s("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: v === 0 ? "axis" : "grid" }));
    svg.append(s("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, Number.isInteger(v) ? String(v) : v.toFixed(1)));
  }
  for (const [minutes, label] of [[60, "−60 min"], [45, "−45"], [30, "−30"], [15, "−15"], [0, "now"]]) {
    const tx = x(now - minutes * 60_000);
    svg.append(s("line", { x1: tx, x2: tx, y1: H - PAD.bottom, y2: H - PAD.bottom + 4, class: "axis" }));
    svg.append(s("text", { x: tx, y: H - 8, "text-anchor": minutes === 60 ? "start" : minutes === 0 ? "end" : "middle", class: "tick" }, label));
  }

  if (points.length > 0) {
    // Steps: a sample holds until the next one (a queue's depth does not glide).
    const step = (key) => {
      let d = "";
      points.forEach((p, i) => {
        const v = p[key] ?? 0;
        d += i === 0 ? `M${x(p.t)},${y(v)}` : `H${x(p.t)}V${y(v)}`;
      });
      return `${d}H${x(Math.min(now, last.t + series.periodSeconds * 1000))}`;
    };
    const visible = step("visible");
    svg.append(s("path", { d: `${visible}V${y(0)}H${x(points[0].t)}Z`, class: "area-visible" }));
    svg.append(s("path", { d: visible, class: "line-visible" }));
    if (points.some((p) => p.inFlight !== undefined)) svg.append(s("path", { d: step("inFlight"), class: "line-inflight" }));
  }
  return svg;
}
