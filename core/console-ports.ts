import type { LogLocation } from "./job.ts";

/**
 * The ports of the web console's read routes (`GET /jobs/{id}/logs`, `GET /fleet`). Each has an AWS
 * adapter (CloudWatch Logs, CloudWatch alarms and metrics; `aws/`) and a local stand-in (the local
 * stack's telemetry files, the local fleet's alarm, a queue-depth sampler; `api/console/`).
 */

/** Where a log line came from: the processor's two streams, or the worker's own notes. */
export type LogLineSource = "stdout" | "stderr" | "spotq";

/** One line of a job attempt's log. */
export interface LogLine {
  /** When it was written (ISO 8601), when known. */
  at?: string;
  source?: LogLineSource;
  text: string;
}

/** A slice of a log, and where to go on from. */
export interface LogPage {
  lines: LogLine[];
  /** Pass as `after` to read what follows (also once more is written). */
  next: string;
  /** True when this read reached the end of what is written so far. */
  atEnd: boolean;
}

/** Reads the log of one job attempt, in order, a page at a time, so a reader can follow it. */
export interface JobLogReader {
  /**
   * Lines after `after` (a `next` from an earlier page; absent: from the start), at most `limit`.
   * A log not written yet reads as empty. Throws {@link LogCursorError} for a cursor it did not issue.
   */
  read(location: LogLocation, options: { after?: string; limit: number }): Promise<LogPage>;
}

/** A cursor the reader cannot continue from (the route answers 400 naming `after`). */
export class LogCursorError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LogCursorError";
  }
}

/** CloudWatch's alarm states. */
export type AlarmStateValue = "OK" | "ALARM" | "INSUFFICIENT_DATA";

/** One alarm of the deployment. */
export interface AlarmState {
  name: string;
  state: AlarmStateValue;
  /** Why it is in that state, in CloudWatch's words (or the local fleet's). */
  reason?: string;
  /** When the state last changed (ISO 8601). */
  updatedAt?: string;
}

/** The deployment's alarms: CloudWatch `DescribeAlarms`, or the local fleet's queue-depth alarm. */
export interface AlarmStates {
  list(): Promise<AlarmState[]>;
}

/** One datapoint of the jobs queue's depth. */
export interface QueueDepthPoint {
  /** The start of the period (ISO 8601). */
  at: string;
  /** Messages waiting (SQS ApproximateNumberOfMessagesVisible). */
  visible: number;
  /** Messages being worked on (ApproximateNumberOfMessagesNotVisible), when known. */
  inFlight?: number;
}

export interface QueueDepthSeries {
  /** The spacing of the points. */
  periodSeconds: number;
  /** Oldest first. */
  points: QueueDepthPoint[];
}

/** The jobs queue's depth over the last hour: CloudWatch `GetMetricData`, or a local sampler. */
export interface QueueDepthHistory {
  lastHour(): Promise<QueueDepthSeries>;
}
