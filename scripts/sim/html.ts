import type { Comparison } from "../../core/scaling/sim/compare.ts";
import type { SeriesPoint } from "../../core/scaling/sim/engine.ts";
import { duration } from "./table.ts";

/**
 * `spotq simulate --html FILE`: one self-contained page (inline CSS and SVG, no script, no CDN, no
 * build step) with the charts people choose settings by (queued jobs, instances by state, cumulative
 * cost, each over time) and the comparison table.
 */

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"];
const STATE_COLORS = { busy: "#2ca02c", idle: "#ff7f0e", pending: "#9ecae1" } as const;
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** `Mon 08:00` from seconds since the Monday 00:00 start. */
function clock(t: number): string {
  const day = Math.floor(t / 86_400);
  const s = t - day * 86_400;
  return `${DAYS[day % 7]} ${String(Math.floor(s / 3600)).padStart(2, "0")}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}`;
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 4, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

interface Frame {
  width: number;
  height: number;
  left: number;
  bottom: number;
  top: number;
  right: number;
  xMax: number;
  yMax: number;
}

const X = (f: Frame, t: number) => f.left + ((f.width - f.left - f.right) * t) / f.xMax;
const Y = (f: Frame, v: number) => f.height - f.bottom - ((f.height - f.bottom - f.top) * v) / f.yMax;

function axes(f: Frame, yLabel: (v: number) => string, title: string): string {
  const parts: string[] = [`<text x="${f.left}" y="14" class="title">${esc(title)}</text>`];
  for (let i = 0; i <= 4; i++) {
    const v = (f.yMax * i) / 4;
    const y = Y(f, v);
    parts.push(`<line x1="${f.left}" x2="${f.width - f.right}" y1="${y}" y2="${y}" class="grid"/>`, `<text x="${f.left - 6}" y="${y + 4}" class="ylab">${esc(yLabel(v))}</text>`);
  }
  const stepH = f.xMax > 3 * 86_400 ? 24 : f.xMax > 86_400 ? 12 : f.xMax > 6 * 3600 ? 3 : 1;
  for (let t = 0; t <= f.xMax; t += stepH * 3600) {
    const x = X(f, t);
    parts.push(`<line x1="${x}" x2="${x}" y1="${f.top}" y2="${f.height - f.bottom}" class="grid"/>`, `<text x="${x}" y="${f.height - f.bottom + 16}" class="xlab">${esc(clock(t))}</text>`);
  }
  return parts.join("");
}

function lineChart(title: string, lines: { name: string; color: string; points: [number, number][]; dashed?: boolean }[], xMax: number, yLabel: (v: number) => string, bottom = 28): string {
  const yMax = niceMax(Math.max(0, ...lines.flatMap((l) => l.points.map((p) => p[1]))));
  const f: Frame = { width: 900, height: 232 + bottom, left: 56, bottom, top: 24, right: 28, xMax, yMax };
  const paths = lines.map((l) => {
    // Drop points on a flat run (same value before and after): the line is the same, the file smaller.
    const pts = l.points.filter(([, v], i, a) => i === 0 || i === a.length - 1 || v !== a[i - 1]![1] || v !== a[i + 1]![1]);
    const d = pts.map(([t, v], i) => `${i ? "L" : "M"}${X(f, t).toFixed(1)},${Y(f, v).toFixed(1)}`).join("");
    return `<path d="${d}" fill="none" stroke="${l.color}" stroke-width="1.6"${l.dashed ? ' stroke-dasharray="6 4"' : ""}><title>${esc(l.name)}</title></path>`;
  });
  return `<svg viewBox="0 0 ${f.width} ${f.height}" role="img" aria-label="${esc(title)}">${axes(f, yLabel, title)}${paths.join("")}</svg>`;
}

function stackedChart(title: string, all: SeriesPoint[], xMax: number, yMax: number): string {
  // One sample per change of state counts: a step chart holds each until the next.
  const series = all.filter((p, i) => i === 0 || i === all.length - 1 || p.busy !== all[i - 1]!.busy || p.idle !== all[i - 1]!.idle || p.pending !== all[i - 1]!.pending);
  const f: Frame = { width: 900, height: 170, left: 56, bottom: 28, top: 24, right: 28, xMax, yMax: niceMax(yMax) };
  const layers: (keyof typeof STATE_COLORS)[] = ["busy", "idle", "pending"];
  const paths: string[] = [];
  const base = series.map(() => 0);
  for (const layer of layers) {
    const top = series.map((p, i) => base[i]! + p[layer]);
    // A step area: each sample holds until the next.
    const upper: string[] = [];
    const lower: string[] = [];
    series.forEach((p, i) => {
      const t1 = series[i + 1]?.t ?? p.t;
      upper.push(`${X(f, p.t).toFixed(1)},${Y(f, top[i]!).toFixed(1)}`, `${X(f, t1).toFixed(1)},${Y(f, top[i]!).toFixed(1)}`);
      lower.push(`${X(f, p.t).toFixed(1)},${Y(f, base[i]!).toFixed(1)}`, `${X(f, t1).toFixed(1)},${Y(f, base[i]!).toFixed(1)}`);
    });
    paths.push(`<polygon points="${[...upper, ...lower.reverse()].join(" ")}" fill="${STATE_COLORS[layer]}" stroke="none"><title>${layer}</title></polygon>`);
    top.forEach((v, i) => (base[i] = v));
  }
  return `<svg viewBox="0 0 ${f.width} ${f.height}" role="img" aria-label="${esc(title)}">${axes(f, (v) => String(Math.round(v * 10) / 10), title)}${paths.join("")}</svg>`;
}

/** The report page. The comparison must have been run with `series: true`. */
export function renderHtmlReport(c: Comparison, meta: { config: string; spotModel: string; generatedAt?: string }): string {
  const withSeries = c.policies.filter((p) => p.series && p.series.length > 0);
  const xMax = Math.max(c.workload.spanSeconds, ...withSeries.map((p) => p.series![p.series!.length - 1]!.t));
  const color = (i: number) => COLORS[i % COLORS.length]!;
  const backlog = lineChart(
    "Jobs queued (visible, not yet on an instance)",
    withSeries.map((p, i) => ({ name: p.name, color: color(i), points: p.series!.map((s) => [s.t, s.visible] as [number, number]) })),
    xMax,
    (v) => String(Math.round(v)),
  );
  const cost = lineChart(
    "Cumulative cost (USD); dashed: the lower bound's total",
    [
      ...withSeries.map((p, i) => ({ name: p.name, color: color(i), points: p.series!.map((s) => [s.t, s.costUsd] as [number, number]) })),
      { name: "lower bound (total)", color: "#000", dashed: true, points: [[0, c.lowerBound.costUsd], [xMax, c.lowerBound.costUsd]] as [number, number][] },
    ],
    xMax,
    (v) => `$${v.toFixed(v < 10 ? 1 : 0)}`,
  );
  const maxInstances = Math.max(1, ...withSeries.flatMap((p) => p.series!.map((s) => s.busy + s.idle + s.pending)));
  const states = withSeries.map((p, i) => `<h3><span class="swatch" style="background:${color(i)}"></span>${esc(p.name)}: instances by state</h3>${stackedChart(`${p.name}: busy, idle, booting`, p.series!, xMax, maxInstances)}`);
  const legend = withSeries.map((p, i) => `<span class="key"><span class="swatch" style="background:${color(i)}"></span>${esc(p.name)}</span>`).join("");
  const lb = c.lowerBound;
  const row = (cells: string[]) => `<tr>${cells.map((x, i) => (i === 0 ? `<th>${esc(x)}</th>` : `<td>${esc(x)}</td>`)).join("")}</tr>`;
  const rows = c.policies.map((p) =>
    row([
      p.name,
      String(p.jobs),
      `$${p.costUsd.toFixed(2)}`,
      `$${p.costPerJobUsd.toFixed(3)}`,
      lb.costUsd > 0 ? `${(p.costUsd / lb.costUsd).toFixed(2)}x` : "-",
      (p.instanceSeconds.boot / 3600).toFixed(1),
      (p.instanceSeconds.busy / 3600).toFixed(1),
      (p.instanceSeconds.idle / 3600).toFixed(1),
      duration(p.waitSeconds.p50),
      duration(p.waitSeconds.p95),
      duration(p.waitSeconds.max),
      String(p.interruptedJobs),
    ]),
  );
  rows.push(
    row([
      "lower bound",
      String(lb.jobs),
      `$${lb.costUsd.toFixed(2)}`,
      `$${lb.costPerJobUsd.toFixed(3)}`,
      "1.00x",
      (lb.instanceSeconds.boot / 3600).toFixed(1),
      (lb.instanceSeconds.busy / 3600).toFixed(1),
      "0.0",
      duration(lb.waitSeconds.p50),
      duration(lb.waitSeconds.p95),
      duration(lb.waitSeconds.max),
      "0",
    ]),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spotq simulate: ${esc(c.workload.name)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:940px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}h3{font-size:13px;margin:14px 0 2px}
svg{width:100%;height:auto;display:block}
.grid{stroke:#e5e5e5}.ylab{font-size:10px;text-anchor:end;fill:#555}.xlab{font-size:10px;text-anchor:middle;fill:#555}.title{font-size:12px;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:12px}th,td{padding:4px 6px;border-bottom:1px solid #ddd}td{text-align:right}th{text-align:left}
thead th{text-align:right}thead th:first-child{text-align:left}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}.key{margin-right:14px}
.note{color:#555;font-size:12px}
</style></head><body>
<h1>spotq simulate: ${esc(c.workload.description)}</h1>
<p class="note">${c.workload.jobs} jobs over ${esc(duration(c.workload.spanSeconds))}; seed ${c.seed}; config ${esc(meta.config)}; Spot model ${esc(meta.spotModel)}${meta.generatedAt ? `; generated ${esc(meta.generatedAt)}` : ""}.</p>
<h2>Policies compared</h2>
<table><thead><tr><th>policy</th><th>jobs</th><th>cost</th><th>per job</th><th>vs bound</th><th>boot h</th><th>busy h</th><th>idle h</th><th>wait p50</th><th>p95</th><th>max</th><th>interrupted</th></tr></thead><tbody>
${rows.join("\n")}
</tbody></table>
<p class="note">Lower bound: an instance launched the moment each job arrives, gone when it ends: wait = boot time (0 with a standby), cost = boot + processing.</p>
<h2>Over time</h2>
<p>${legend}</p>
${backlog}
${cost}
<p class="note">Instances by state: <span class="key"><span class="swatch" style="background:${STATE_COLORS.busy}"></span>busy</span><span class="key"><span class="swatch" style="background:${STATE_COLORS.idle}"></span>idle</span><span class="key"><span class="swatch" style="background:${STATE_COLORS.pending}"></span>booting</span></p>
${states.join("\n")}
</body></html>
`;
}

/** Queued jobs and cumulative cost over time, one SVG file (for the README). */
export function renderOverviewSvg(c: Comparison, policies?: string[]): string {
  const chosen = c.policies.filter((p) => p.series && (!policies || policies.includes(p.name)));
  const xMax = Math.max(c.workload.spanSeconds, ...chosen.map((p) => p.series![p.series!.length - 1]!.t));
  const color = (i: number) => COLORS[i % COLORS.length]!;
  const backlog = lineChart(
    `Jobs queued, ${c.workload.name} (seed ${c.seed})`,
    chosen.map((p, i) => ({ name: p.name, color: color(i), points: p.series!.map((s) => [s.t, s.visible] as [number, number]) })),
    xMax,
    (v) => String(Math.round(v)),
  );
  const cost = lineChart(
    "Cumulative cost (USD); dashed: the lower bound's total",
    [
      ...chosen.map((p, i) => ({ name: p.name, color: color(i), points: p.series!.map((s) => [s.t, s.costUsd] as [number, number]) })),
      { name: "lower bound", color: "#000", dashed: true, points: [[0, c.lowerBound.costUsd], [xMax, c.lowerBound.costUsd]] as [number, number][] },
    ],
    xMax,
    (v) => `$${v.toFixed(v < 10 ? 1 : 0)}`,
  );
  const nest = (svg: string, y: number) => svg.replace("<svg ", `<svg x="0" y="${y}" width="900" height="260" `);
  const legend = chosen
    .map((p, i) => `<rect x="${12 + i * 222}" y="532" width="10" height="10" fill="${color(i)}"/><text x="${26 + i * 222}" y="541" font-size="10">${esc(p.name)}: $${p.costUsd.toFixed(2)}, p95 wait ${esc(duration(p.waitSeconds.p95))}</text>`)
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 900 552" font-family="sans-serif"><style>.grid{stroke:#e5e5e5}.ylab{font-size:10px;text-anchor:end;fill:#555}.xlab{font-size:10px;text-anchor:middle;fill:#555}.title{font-size:12px;font-weight:600}</style><rect width="900" height="552" fill="#fff"/>${nest(backlog, 0)}${nest(cost, 265)}${legend}</svg>
`;
}
