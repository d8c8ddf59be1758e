import type { JobOrigin } from "./job-events.ts";
import type { AttemptRecord, JobRecord } from "./job.ts";
import type { JobState } from "./job-state.ts";
import type { JobRequest } from "./request.ts";

/** The file every job that ran to SUCCEEDED or FAILED gets in its target folder. */
export const RESULT_FILE_NAME = "spotq-result.json";

/** `spotq-result.json`: what a lab needs to know about a job without asking the API. */
export interface JobResultDocument {
  /** Format of this file. */
  format: "spotq-result/1";
  jobId: string;
  state: JobState;
  request: JobRequest;
  origin: JobOrigin | null;
  exitCode: number | null;
  error: { code: string; message: string } | null;
  submittedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  timings: { queueWaitSeconds: number | null; downloadSeconds: number | null; processSeconds: number | null; uploadSeconds: number | null };
  bytes: { in: number | null; out: number | null };
  outputs: { target: string; objects: number | null };
  attempts: number;
  interruptions: number;
  attemptHistory: AttemptRecord[];
  instance: { id: string | null; type: string | null };
  logs: { group: string; stream: string } | null;
}

/** The Glue/Athena columns of the analytics table, in order: the line writer and the table share this list. */
export const ANALYTICS_COLUMNS = [
  { name: "job_id", type: "string" },
  { name: "state", type: "string" },
  { name: "submitted_at", type: "string" },
  { name: "started_at", type: "string" },
  { name: "finished_at", type: "string" },
  { name: "attempts", type: "int" },
  { name: "interruptions", type: "int" },
  { name: "instance_id", type: "string" },
  { name: "instance_type", type: "string" },
  { name: "exit_code", type: "int" },
  { name: "error_code", type: "string" },
  { name: "error_message", type: "string" },
  { name: "queue_wait_seconds", type: "double" },
  { name: "download_seconds", type: "double" },
  { name: "process_seconds", type: "double" },
  { name: "upload_seconds", type: "double" },
  { name: "bytes_in", type: "bigint" },
  { name: "bytes_out", type: "bigint" },
  { name: "output_objects", type: "int" },
  { name: "source", type: "string" },
  { name: "target", type: "string" },
  { name: "origin", type: "string" },
  { name: "deployment", type: "string" },
] as const;

/** The Athena table's name, and its partition column. */
export const ANALYTICS_TABLE = { name: "spotq_jobs", partitionKey: "dt" } as const;

type ColumnName = (typeof ANALYTICS_COLUMNS)[number]["name"];

/** One analytics line: a JSON object with exactly the {@link ANALYTICS_COLUMNS}. */
export type AnalyticsLine = { [K in ColumnName]: string | number | null };

const seconds = (ms: number | undefined): number | null => (ms === undefined ? null : ms / 1000);

/** What a finished job's files say about where it ran. */
export interface RunFacts {
  /** The instance type the last attempt ran on, when known. */
  instanceType?: string;
}

/** The `spotq-result.json` of a finished record. */
export function jobResultDocument(record: JobRecord, facts: RunFacts = {}): JobResultDocument {
  const t = record.timings ?? {};
  return {
    format: "spotq-result/1",
    jobId: record.jobId,
    state: record.state,
    request: record.request,
    origin: record.origin ?? null,
    exitCode: record.exitCode ?? null,
    error: record.state === "SUCCEEDED" || !record.error ? null : { code: record.error.code, message: record.error.message },
    submittedAt: record.submittedAt,
    startedAt: record.startedAt ?? null,
    finishedAt: record.finishedAt ?? null,
    timings: { queueWaitSeconds: seconds(t.queueWaitMs), downloadSeconds: seconds(t.downloadMs), processSeconds: seconds(t.processMs), uploadSeconds: seconds(t.uploadMs) },
    bytes: { in: record.bytes?.in ?? null, out: record.bytes?.out ?? null },
    outputs: { target: record.outputs?.target ?? record.request["Target Folder Path"], objects: record.outputs?.objects ?? null },
    attempts: record.attempts,
    interruptions: record.interruptions,
    attemptHistory: record.attemptHistory ?? [],
    instance: { id: record.instanceId ?? null, type: facts.instanceType ?? null },
    logs: record.logs ?? null,
  };
}

/** The analytics line of a finished record. */
export function analyticsLine(record: JobRecord, deployment: string, facts: RunFacts = {}): AnalyticsLine {
  const t = record.timings ?? {};
  const error = record.state === "SUCCEEDED" ? undefined : record.error;
  return {
    job_id: record.jobId,
    state: record.state,
    submitted_at: record.submittedAt,
    started_at: record.startedAt ?? null,
    finished_at: record.finishedAt ?? record.updatedAt,
    attempts: record.attempts,
    interruptions: record.interruptions,
    instance_id: record.instanceId ?? null,
    instance_type: facts.instanceType ?? null,
    exit_code: record.exitCode ?? null,
    error_code: error?.code ?? null,
    error_message: error?.message ?? null,
    queue_wait_seconds: seconds(t.queueWaitMs),
    download_seconds: seconds(t.downloadMs),
    process_seconds: seconds(t.processMs),
    upload_seconds: seconds(t.uploadMs),
    bytes_in: record.bytes?.in ?? null,
    bytes_out: record.bytes?.out ?? null,
    output_objects: record.outputs?.objects ?? null,
    source: record.request["Source Folder Path"],
    target: record.outputs?.target ?? record.request["Target Folder Path"],
    origin: record.origin?.kind ?? "api",
    deployment,
  };
}

/** The UTC day (YYYY-MM-DD) a line belongs to: its partition. */
export function analyticsDay(line: Pick<AnalyticsLine, "finished_at">): string {
  return String(line.finished_at).slice(0, 10);
}

/**
 * Where a job's line goes: `<prefix>dt=YYYY-MM-DD/<jobId>.json`. One object per job, so a job
 * finished again (an operator's redrive) replaces its line instead of counting twice.
 */
export function analyticsKey(prefix: string, line: Pick<AnalyticsLine, "finished_at" | "job_id">): string {
  return `${prefix}${ANALYTICS_TABLE.partitionKey}=${analyticsDay(line)}/${line.job_id}.json`;
}

/** The key of a job's result file: inside its target folder. */
export function resultFileKey(targetPrefix: string): string {
  return `${targetPrefix.replace(/\/+$/, "")}/${RESULT_FILE_NAME}`;
}

// ---- The figures `spotq report` prints, and the Athena queries compute, from the lines. ----

export interface DayFigures {
  day: string;
  finished: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Mean process seconds of the jobs that SUCCEEDED; null when none did. */
  avgProcessSeconds: number | null;
}

export interface FailureReason {
  code: string;
  jobs: number;
  /** The message of the most recent failure with this code. */
  lastMessage: string;
}

export interface InstanceCost {
  instanceType: string;
  jobs: number;
  /** Download + process + upload time of the jobs, in hours. */
  hours: number;
  /** USD at the configured hourly price; null when the type has no price. */
  costUsd: number | null;
  costPerJobUsd: number | null;
}

export interface AnalyticsReport {
  since: string;
  jobs: number;
  days: DayFigures[];
  failures: FailureReason[];
  costs: InstanceCost[];
}

/**
 * Throughput per day, failure reasons and cost per job from analytics lines finished at or after
 * `since` (the same figures as the README's Athena queries). Cost counts the instance time of the
 * last attempt's transfers and processing, at `hourlyUsd` of its instance type.
 */
export function analyticsReport(lines: readonly AnalyticsLine[], since: Date, hourlyUsd: Readonly<Record<string, number>>): AnalyticsReport {
  const from = since.toISOString();
  const kept = lines.filter((l) => String(l.finished_at) >= from);
  const days = new Map<string, DayFigures & { processSum: number; processCount: number }>();
  const failures = new Map<string, FailureReason & { lastAt: string }>();
  const costs = new Map<string, { jobs: number; seconds: number }>();
  for (const l of kept) {
    const day = analyticsDay(l);
    const d = days.get(day) ?? { day, finished: 0, succeeded: 0, failed: 0, cancelled: 0, avgProcessSeconds: null, processSum: 0, processCount: 0 };
    d.finished++;
    if (l.state === "SUCCEEDED") {
      d.succeeded++;
      if (typeof l.process_seconds === "number") {
        d.processSum += l.process_seconds;
        d.processCount++;
      }
    } else if (l.state === "FAILED") d.failed++;
    else if (l.state === "CANCELLED") d.cancelled++;
    days.set(day, d);
    if (l.state === "FAILED") {
      const code = String(l.error_code ?? "UNKNOWN");
      const f = failures.get(code) ?? { code, jobs: 0, lastMessage: "", lastAt: "" };
      f.jobs++;
      if (String(l.finished_at) >= f.lastAt) {
        f.lastAt = String(l.finished_at);
        f.lastMessage = String(l.error_message ?? "");
      }
      failures.set(code, f);
    }
    if (l.instance_type && (l.state === "SUCCEEDED" || l.state === "FAILED")) {
      const s = [l.download_seconds, l.process_seconds, l.upload_seconds].reduce<number>((n, v) => n + (typeof v === "number" ? v : 0), 0);
      const c = costs.get(String(l.instance_type)) ?? { jobs: 0, seconds: 0 };
      c.jobs++;
      c.seconds += s;
      costs.set(String(l.instance_type), c);
    }
  }
  return {
    since: from,
    jobs: kept.length,
    days: [...days.values()]
      .sort((a, b) => a.day.localeCompare(b.day))
      .map(({ processSum, processCount, ...d }) => ({ ...d, avgProcessSeconds: processCount > 0 ? processSum / processCount : null })),
    failures: [...failures.values()].sort((a, b) => b.jobs - a.jobs || a.code.localeCompare(b.code)).map(({ lastAt: _t, ...f }) => f),
    costs: [...costs.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([instanceType, c]) => {
        const hours = c.seconds / 3600;
        const price = hourlyUsd[instanceType];
        const costUsd = price === undefined ? null : hours * price;
        return { instanceType, jobs: c.jobs, hours, costUsd, costPerJobUsd: costUsd === null ? null : costUsd / c.jobs };
      }),
  };
}

/** Parses `7d`, `12h`, `30m` (or a date) into the start of the window before `now`. */
export function parseSince(text: string, now = new Date()): Date | undefined {
  const m = /^(\d+)([dhm])$/.exec(text.trim());
  if (m) {
    const n = Number(m[1]);
    const ms = m[2] === "d" ? 86_400_000 : m[2] === "h" ? 3_600_000 : 60_000;
    return new Date(now.getTime() - n * ms);
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const d = new Date(text);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}

/** The UTC days from `since` to `now`, inclusive: the partitions a report reads. */
export function daysBetween(since: Date, now = new Date()): string[] {
  const out: string[] = [];
  const d = new Date(Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), since.getUTCDate()));
  while (d.getTime() <= now.getTime()) {
    out.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}
