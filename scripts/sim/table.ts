import type { Comparison } from "../../core/scaling/sim/compare.ts";
import type { Change, Figures, TuneResult } from "../../core/scaling/sim/tune.ts";

/** `4m 10s`, `52s`, `1h 05m`. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "never";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

const hours = (s: number) => (s / 3600).toFixed(1);
const usd = (x: number) => `$${x.toFixed(2)}`;

/** A plain table with right-aligned numbers. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The comparison as `spotq simulate` prints it without --json. */
export function formatComparison(c: Comparison): string {
  const lb = c.lowerBound;
  const header = ["policy", "jobs", "cost", "per job", "vs bound", "boot h", "busy h", "idle h", "wait p50", "p95", "max", "interrupted"];
  const rows = c.policies.map((p) => [
    p.name,
    String(p.jobs) + (p.unfinishedJobs ? ` (+${p.unfinishedJobs} unfinished)` : ""),
    usd(p.costUsd),
    `$${p.costPerJobUsd.toFixed(3)}`,
    lb.costUsd > 0 ? `${(p.costUsd / lb.costUsd).toFixed(2)}x` : "-",
    hours(p.instanceSeconds.boot),
    hours(p.instanceSeconds.busy),
    hours(p.instanceSeconds.idle),
    duration(p.waitSeconds.p50),
    duration(p.waitSeconds.p95),
    duration(p.waitSeconds.max),
    String(p.interruptedJobs),
  ]);
  rows.push([
    "lower bound",
    String(lb.jobs),
    usd(lb.costUsd),
    `$${lb.costPerJobUsd.toFixed(3)}`,
    "1.00x",
    hours(lb.instanceSeconds.boot),
    hours(lb.instanceSeconds.busy),
    "0.0",
    duration(lb.waitSeconds.p50),
    duration(lb.waitSeconds.p95),
    duration(lb.waitSeconds.max),
    "0",
  ]);
  const od = c.policies.filter((p) => p.onDemand);
  const odLines = od.map((p) => `  ${p.name}: ${p.onDemand!.jobs} jobs moved On-Demand, ${usd(p.onDemand!.costUsd)} of the cost, ${p.onDemand!.launches} On-Demand launches`);
  return [
    `workload: ${c.workload.description} (${c.workload.jobs} jobs over ${duration(c.workload.spanSeconds)})`,
    `seed ${c.seed}: the same seed replays the same run`,
    "",
    table(header, rows),
    "",
    "lower bound: an instance launched the moment each job arrives, gone when it ends (wait = boot time, or 0 with a standby; cost = boot + processing)",
    ...(odLines.length ? ["On-Demand fallback:", ...odLines] : []),
  ].join("\n");
}

function value(v: unknown): string {
  return v === undefined ? "(default)" : JSON.stringify(v);
}

/** A diff of dotted keys against the config file. */
export function formatChanges(file: string, changes: Change[]): string {
  if (changes.length === 0) return `  (no change to ${file})`;
  return [`--- ${file}`, "+++ recommended", ...changes.flatMap((c) => [...(c.before !== undefined ? [`- ${c.key}: ${value(c.before)}`] : []), ...(c.after !== undefined ? [`+ ${c.key}: ${value(c.after)}`] : [`+ ${c.key}: (removed)`])])].join("\n");
}

function figuresRows(label: string, f: Figures): string[] {
  return [label, usd(f.costUsd), `$${f.costPerJobUsd.toFixed(3)}`, duration(f.waitSeconds.p50), duration(f.waitSeconds.p95), duration(f.waitSeconds.max), hours(f.instanceSeconds.boot), hours(f.instanceSeconds.busy), hours(f.instanceSeconds.idle)];
}

/** What `spotq tune` prints. */
export function formatTune(r: TuneResult, file: string, workload: string): string {
  const header = ["setting", "cost/run", "per job", "wait p50", "p95", "max", "boot h", "busy h", "idle h"];
  const head = [`workload: ${workload}`, `target: p95 queue wait <= ${duration(r.targetP95WaitSeconds)}; ${r.candidates} candidates, each on seeds ${r.seeds.join(", ")} (figures per run, waits pooled)`, ""];
  if (r.recommended) {
    return [
      ...head,
      formatChanges(file, r.recommended.changes),
      "",
      table(header, [figuresRows("today", r.today), figuresRows("recommended", r.recommended.figures)]),
    ].join("\n");
  }
  return [
    ...head,
    `no setting searched meets the target; the shortest p95 wait found is ${duration(r.closest?.figures.waitSeconds.p95 ?? Infinity)}:`,
    formatChanges(file, r.closest?.changes ?? []),
    "",
    table(header, [figuresRows("today", r.today), ...(r.closest ? [figuresRows("closest", r.closest.figures)] : [])]),
  ].join("\n");
}
