import {
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  type CloudWatchLogsClient,
  type InputLogEvent,
} from "@aws-sdk/client-cloudwatch-logs";
import { withContext } from "../../aws/clients.ts";

/** PutLogEvents limits: events per call, bytes per call (each event counts 26 bytes more), bytes per event. */
export const LOG_LIMITS = { maxEvents: 10_000, maxBatchBytes: 1_048_576, eventOverhead: 26, maxEventBytes: 256 * 1024 - 26 } as const;

export interface LogStreamOptions {
  group: string;
  stream: string;
  /** How long a line may wait in the buffer. @default 1000 */
  flushIntervalMs?: number;
  /** A failed call; the stream carries on (logging never stops a job). */
  onError?: (err: Error) => void;
}

/**
 * One CloudWatch Logs stream: lines are buffered and sent with PutLogEvents in batches within
 * the service's limits (10,000 events, 1 MiB), in time order, at most one call at a time.
 * The stream (and the group, if infra has not made it) is created on first use.
 */
export class CloudWatchLogStream {
  readonly group: string;
  readonly stream: string;
  readonly #logs: CloudWatchLogsClient;
  readonly #flushMs: number;
  readonly #onError: (err: Error) => void;
  #buffer: InputLogEvent[] = [];
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> = Promise.resolve();
  #created: Promise<boolean> | undefined;
  #lastTimestamp = 0;

  constructor(logs: CloudWatchLogsClient, options: LogStreamOptions) {
    this.#logs = logs;
    this.group = options.group;
    this.stream = options.stream;
    this.#flushMs = options.flushIntervalMs ?? 1_000;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** Creates the stream now (a job's stream exists before its record points at it). */
  ensure(): Promise<boolean> {
    this.#created ??= this.#create();
    return this.#created;
  }

  /** Buffers one event; oversize messages are cut to CloudWatch's event limit. */
  put(message: string, timestamp = Date.now()): void {
    // Timestamps never go backwards within a stream, so a batch is always in order.
    const ts = Math.max(timestamp, this.#lastTimestamp);
    this.#lastTimestamp = ts;
    this.#buffer.push({ timestamp: ts, message: truncateUtf8(message === "" ? " " : message, LOG_LIMITS.maxEventBytes) });
    if (this.#buffer.length >= LOG_LIMITS.maxEvents) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.#flushMs);
  }

  /** Sends everything buffered so far. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const events = this.#buffer;
    this.#buffer = [];
    if (events.length === 0) return this.#sending;
    this.#sending = this.#sending.then(() => this.#send(events));
    return this.#sending;
  }

  async #send(events: InputLogEvent[]): Promise<void> {
    if (!(await this.ensure())) return;
    for (const batch of batches(events)) {
      try {
        await this.#logs.send(new PutLogEventsCommand({ logGroupName: this.group, logStreamName: this.stream, logEvents: batch }));
      } catch (err) {
        this.#onError(withContext(`CloudWatch Logs put ${batch.length} events to ${this.group}/${this.stream}`, err));
      }
    }
  }

  async #create(): Promise<boolean> {
    const stream = () => this.#logs.send(new CreateLogStreamCommand({ logGroupName: this.group, logStreamName: this.stream }));
    try {
      await stream();
      return true;
    } catch (err) {
      const name = (err as Error).name;
      if (name === "ResourceAlreadyExistsException") return true;
      if (name !== "ResourceNotFoundException") {
        this.#onError(withContext(`CloudWatch Logs create stream ${this.group}/${this.stream}`, err));
        this.#created = undefined; // try again with the next flush
        return false;
      }
    }
    try {
      await this.#logs.send(new CreateLogGroupCommand({ logGroupName: this.group })).catch((err: Error) => {
        if (err.name !== "ResourceAlreadyExistsException") throw err;
      });
      await stream();
      return true;
    } catch (err) {
      if ((err as Error).name === "ResourceAlreadyExistsException") return true;
      this.#onError(withContext(`CloudWatch Logs create group and stream ${this.group}/${this.stream}`, err));
      this.#created = undefined;
      return false;
    }
  }
}

/** Splits events into PutLogEvents calls within the count and size limits. */
export function batches(events: readonly InputLogEvent[]): InputLogEvent[][] {
  const out: InputLogEvent[][] = [];
  let current: InputLogEvent[] = [];
  let bytes = 0;
  for (const e of events) {
    const size = Buffer.byteLength(e.message ?? "", "utf8") + LOG_LIMITS.eventOverhead;
    if (current.length > 0 && (current.length >= LOG_LIMITS.maxEvents || bytes + size > LOG_LIMITS.maxBatchBytes)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length) out.push(current);
  return out;
}

/** Cuts a string to at most `max` UTF-8 bytes, marking the cut, without splitting a character. */
export function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s, "utf8") <= max) return s;
  const marker = Buffer.byteLength(TRUNCATED) < max ? TRUNCATED : "";
  const cut = Buffer.from(s, "utf8")
    .subarray(0, max - Buffer.byteLength(marker))
    .toString("utf8")
    // A cut inside a multi-byte character decodes to U+FFFD at the end: drop it.
    .replace(/\uFFFD$/, "");
  return cut + marker;
}

const TRUNCATED = " …[truncated]";
