import type TransportStream from "winston-transport";
import type { LogLocation } from "../../core/job.ts";
import { METRICS } from "../../core/names.ts";

/** Where a job log line came from: the processor's two streams, or the worker itself. */
export type LogSource = "stdout" | "stderr" | "spotq";

/** The log of one job attempt (a CloudWatch Logs stream `<jobId>/<attempt>`, or a file). */
export interface JobLog {
  /** Stored in the job record, so users find the log. */
  readonly location: LogLocation;
  /** Buffers one line; never throws and never waits (a logging hiccup must not fail a job). */
  write(source: LogSource, line: string): void;
  /** Flushes and releases the log. */
  close(): Promise<void>;
}

/** How an attempt ended, as the metrics count it. */
export type JobOutcome = "succeeded" | "failed" | "retried" | "interrupted" | "cancelled";

/** The figures of one attempt. */
export interface JobMetrics {
  jobId: string;
  attempt: number;
  outcome: JobOutcome;
  queueWaitSeconds?: number;
  downloadSeconds?: number;
  processSeconds?: number;
  uploadSeconds?: number;
  bytesIn?: number;
  bytesOut?: number;
}

/** One datum as CloudWatch takes it. */
export interface MetricDatum {
  name: string;
  value: number;
  unit: "Seconds" | "Bytes" | "Count";
}

/**
 * The worker's telemetry port: job logs, job metrics and the worker's own log. In AWS it is
 * CloudWatch (telemetry/cloudwatch.ts); locally the same records go to files (telemetry/files.ts).
 */
export interface Telemetry {
  openJobLog(jobId: string, attempt: number): Promise<JobLog>;
  /** Never rejects: a failure goes to `onError` of the adapter. */
  putJobMetrics(metrics: JobMetrics): Promise<void>;
  /** The winston transport of this instance's own log stream. */
  workerTransport(): TransportStream;
  close(): Promise<void>;
}

const OUTCOME_METRIC: Partial<Record<JobOutcome, string>> = {
  succeeded: METRICS.jobsSucceeded,
  failed: METRICS.jobsFailed,
  retried: METRICS.jobsRetried,
  interrupted: METRICS.jobsInterrupted,
};

/** The data points of one attempt, named as core/names.ts says (the dashboard and alarms read them). */
export function metricData(m: JobMetrics): MetricDatum[] {
  const out: MetricDatum[] = [];
  const add = (name: string, value: number | undefined, unit: MetricDatum["unit"]) => {
    if (value !== undefined && Number.isFinite(value)) out.push({ name, value, unit });
  };
  add(METRICS.queueWaitSeconds, m.queueWaitSeconds, "Seconds");
  add(METRICS.downloadSeconds, m.downloadSeconds, "Seconds");
  add(METRICS.processSeconds, m.processSeconds, "Seconds");
  add(METRICS.uploadSeconds, m.uploadSeconds, "Seconds");
  add(METRICS.bytesIn, m.bytesIn, "Bytes");
  add(METRICS.bytesOut, m.bytesOut, "Bytes");
  const outcome = OUTCOME_METRIC[m.outcome];
  if (outcome) out.push({ name: outcome, value: 1, unit: "Count" });
  return out;
}

/** A job log line as stored: the source marked, so stdout and stderr stay apart in one stream. */
export function formatJobLine(source: LogSource, line: string): string {
  return `[${source}] ${line}`;
}
