import type { JobRecord } from "../../core/job.ts";
import { TERMINAL_STATES } from "../../core/job-state.ts";
import { cliName } from "./cli-name.ts";

/** `1m 05s` style durations. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** `512.0 MiB` style sizes. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${units[u]}`;
}

/**
 * How long a job has taken: from submission to now while it is not finished, and to its end
 * (finishedAt; the last update for a record without one) once it is, so it stops counting.
 */
export function jobElapsedMs(job: JobRecord, now = Date.now()): number {
  const start = Date.parse(job.submittedAt);
  const finished = TERMINAL_STATES.includes(job.state);
  const end = finished ? Date.parse(job.finishedAt ?? job.updatedAt) : now;
  return Number.isFinite(end) ? end - start : now - start;
}

/** One line about a job's current standing, for `wait` and `status`. */
export function jobLine(job: JobRecord, now = Date.now()): string {
  const elapsed = formatDuration(jobElapsedMs(job, now));
  const finished = TERMINAL_STATES.includes(job.state);
  const parts = [`${job.jobId}  ${job.state.padEnd(10)}`, `${finished ? "took" : "elapsed"} ${elapsed}`];
  if (job.name !== undefined) parts.splice(1, 0, JSON.stringify(job.name));
  if (job.instanceId) parts.push(`on ${job.instanceId}`);
  if (job.attempts > 1) parts.push(`attempt ${job.attempts}`);
  if (job.interruptions > 0) parts.push(`${job.interruptions} interruption${job.interruptions > 1 ? "s" : ""}`);
  if (job.progress && job.state === "RUNNING") {
    const p = job.progress;
    const pct = p.bytesTotal ? ` ${Math.floor(((p.bytesDone ?? 0) / p.bytesTotal) * 100)}%` : "";
    parts.push(`${p.phase}${pct}`);
  }
  if (job.error && job.state !== "SUCCEEDED") parts.push(`last error ${job.error.code}: ${job.error.message}`);
  return parts.join("  ");
}

/** The human view of a job record for `spotq status`; without its first line (the {@link jobLine}) when `headline` is false. */
export function jobDetails(job: JobRecord, o: { headline?: boolean; now?: number } = {}): string {
  const lines = o.headline === false ? [] : [jobLine(job, o.now)];
  if (job.name !== undefined) lines.push(`  name     ${job.name}`);
  const tags = Object.entries(job.tags ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  if (tags.length) lines.push(`  tags     ${tags.map(([k, v]) => `${k}=${v}`).join(", ")}`);
  if (job.tenant !== undefined) lines.push(`  tenant   ${job.tenant}`);
  lines.push(`  source   ${job.request["Source Folder Path"]}`);
  lines.push(`  target   ${job.request["Target Folder Path"]}`);
  if (job.timings) {
    const t = job.timings;
    const f = (v?: number) => (v === undefined ? "-" : formatDuration(v));
    lines.push(`  timings  queue ${f(t.queueWaitMs)}, download ${f(t.downloadMs)}, process ${f(t.processMs)}, upload ${f(t.uploadMs)}`);
  }
  if (job.bytes) lines.push(`  bytes    in ${formatBytes(job.bytes.in ?? 0)}, out ${formatBytes(job.bytes.out ?? 0)}`);
  if (job.outputs) lines.push(`  outputs  ${job.outputs.objects} objects in ${job.outputs.target}`);
  if (job.exitCode !== undefined) lines.push(`  exit     ${job.exitCode}`);
  if (job.logs) lines.push(`  logs     ${job.logs.group} ${job.logs.stream}   (${cliName()} logs ${job.jobId})`);
  for (const a of job.attemptHistory ?? [])
    lines.push(`  attempt ${a.attempt}: ${a.outcome}${a.instanceId ? ` on ${a.instanceId}` : ""}${a.error ? ` (${a.error.code}: ${a.error.message})` : ""}`);
  return lines.join("\n");
}
