import type { JobRecord } from "../../core/job.ts";
import { TERMINAL_STATES } from "../../core/job-state.ts";
import type { JobView, StatusReason, StatusReasonCode } from "../../core/status-reason.ts";
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

/**
 * A few words for each status reason (core/status-reason.ts), for one-line views (`list`, the
 * line of `wait` and `status`). A healthy RUNNING job needs none: its line says it all.
 */
const REASON_LABELS: Record<StatusReasonCode, string | undefined> = {
  RETRY_BACKOFF: "retry after backoff",
  LAUNCH_SUSPENDED: "launches suspended",
  SPOT_CAPACITY_SHORT: "Spot capacity short",
  LAUNCH_QUOTA: "launch quota reached",
  LAUNCH_FAILING: "launches failing",
  FLEET_AT_MAX: "fleet at max",
  WAITING_FOR_SCALE_OUT: "waiting for scale-out",
  INSTANCE_STARTING: "instance starting",
  WAITING_FOR_WORKER: "instance idle, taken at next poll",
  RETURNED_TO_QUEUE: "instance lost, back in queue",
  FLEET_UNKNOWN: "fleet unreadable",
  RUNNING: undefined,
  HEARTBEAT_STALE: "no heartbeat",
  INSTANCE_GONE: "instance gone",
  INSTANCE_TERMINATING: "instance terminating",
  INSTANCE_UNHEALTHY: "instance unhealthy",
  CANCEL_REQUESTED: "cancel requested",
};

/**
 * The short form of a job's status reason: `(fleet at max)`, or `(WARNING: instance gone)` when
 * something is wrong; undefined for a healthy running job, a finished job, or an API without reasons.
 * An unknown code (a newer API) shows as itself.
 */
export function reasonShort(reason: StatusReason | undefined): string | undefined {
  if (!reason) return undefined;
  const label = reason.code in REASON_LABELS ? REASON_LABELS[reason.code] : reason.code.toLowerCase().replace(/_/g, " ");
  if (label === undefined) return undefined;
  return reason.level === "warning" ? `(WARNING: ${label})` : `(${label})`;
}

/** The full status reason, for `status` and `wait`: `WARNING: ` first when something is wrong. */
export function reasonText(reason: StatusReason): string {
  return `${reason.level === "warning" ? "WARNING: " : ""}${reason.message}`;
}

/** One line about a job's current standing, for `wait`, `status` and `list`, with its status reason's short form. */
export function jobLine(job: JobView, now = Date.now()): string {
  const elapsed = formatDuration(jobElapsedMs(job, now));
  const finished = TERMINAL_STATES.includes(job.state);
  const parts = [`${job.jobId}  ${job.state.padEnd(10)}`, `${finished ? "took" : "elapsed"} ${elapsed}`];
  if (job.name !== undefined) parts.splice(1, 0, JSON.stringify(job.name));
  if (job.priority === "high") parts.splice(1, 0, "high");
  if (job.queue === "ondemand" && !finished) parts.push("on-demand");
  if (job.instanceId) parts.push(`on ${job.instanceId}`);
  if (job.attempts > 1) parts.push(`attempt ${job.attempts}`);
  if (job.interruptions > 0) parts.push(`${job.interruptions} interruption${job.interruptions > 1 ? "s" : ""}`);
  if (job.progress && job.state === "RUNNING") {
    const p = job.progress;
    const pct = p.bytesTotal ? ` ${Math.floor(((p.bytesDone ?? 0) / p.bytesTotal) * 100)}%` : "";
    parts.push(`${p.phase}${pct}`);
  }
  const why = TERMINAL_STATES.includes(job.state) ? undefined : reasonShort(job.statusReason);
  if (why) parts.push(why);
  if (job.error && job.state !== "SUCCEEDED") parts.push(`last error ${job.error.code}: ${job.error.message}`);
  return parts.join("  ");
}

/** The human view of a job record for `spotq status`; without its first line (the {@link jobLine}) when `headline` is false. */
export function jobDetails(job: JobView, o: { headline?: boolean; now?: number } = {}): string {
  const lines = o.headline === false ? [] : [jobLine(job, o.now)];
  if (job.statusReason && !TERMINAL_STATES.includes(job.state)) lines.push(`  reason   ${reasonText(job.statusReason)}`);
  if (job.name !== undefined) lines.push(`  name     ${job.name}`);
  const tags = Object.entries(job.tags ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  if (tags.length) lines.push(`  tags     ${tags.map(([k, v]) => `${k}=${v}`).join(", ")}`);
  if (job.tenant !== undefined) lines.push(`  tenant   ${job.tenant}`);
  if (job.priority !== undefined || job.queue === "ondemand")
    lines.push(`  priority ${job.priority ?? "normal"}${job.queue === "ondemand" ? " (moved to the On-Demand fallback's queue after its interruptions)" : ""}`);
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
