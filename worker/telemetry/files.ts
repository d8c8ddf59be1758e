import { createWriteStream, type WriteStream } from "node:fs";
import { appendFile, mkdir } from "node:fs/promises";
import path from "node:path";
import winston from "winston";
import type TransportStream from "winston-transport";
import { METRIC_DIMENSION, METRIC_NAMESPACE } from "../../core/names.ts";
import { formatJobLine, metricData, type JobLog, type JobMetrics, type LogSource, type Telemetry } from "./telemetry.ts";

export interface FileTelemetryOptions {
  /** The local stack's telemetry folder (SPOTQ_TELEMETRY_DIR). */
  dir: string;
  /** The deployment name, the metrics' dimension. */
  deployment: string;
  instanceId: string;
  onError?: (err: Error) => void;
}

/**
 * Local-mode telemetry: the same records CloudWatch would get, as files under `dir`:
 * - `jobs/<jobId>/<attempt>.log`: one job attempt's log; the record's `logs` is
 *   `{ group: "<dir>/jobs", stream: "<jobId>/<attempt>.log" }`, so `path.join(group, stream)` is the file;
 * - `workers/<instanceId>.log`: the worker's own log (JSON lines);
 * - `metrics/<instanceId>.jsonl`: one line per attempt with its data points.
 */
export class FileTelemetry implements Telemetry {
  readonly dir: string;
  readonly #o: FileTelemetryOptions;

  constructor(options: FileTelemetryOptions) {
    this.#o = options;
    this.dir = path.resolve(options.dir);
  }

  async openJobLog(jobId: string, attempt: number): Promise<JobLog> {
    const group = path.join(this.dir, "jobs");
    const stream = `${jobId}/${attempt}.log`;
    const file = path.join(group, jobId, `${attempt}.log`);
    await mkdir(path.dirname(file), { recursive: true });
    const out: WriteStream = createWriteStream(file, { flags: "a" });
    out.on("error", (err) => this.#o.onError?.(err));
    return {
      location: { group, stream },
      write(source: LogSource, line: string) {
        out.write(`${new Date().toISOString()} ${formatJobLine(source, line)}\n`);
      },
      close: () => new Promise<void>((resolve) => out.end(() => resolve())),
    };
  }

  async putJobMetrics(m: JobMetrics): Promise<void> {
    const file = path.join(this.dir, "metrics", `${this.#o.instanceId}.jsonl`);
    const line = {
      time: new Date().toISOString(),
      namespace: METRIC_NAMESPACE,
      dimensions: { [METRIC_DIMENSION]: this.#o.deployment },
      jobId: m.jobId,
      attempt: m.attempt,
      outcome: m.outcome,
      metrics: metricData(m),
    };
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await appendFile(file, `${JSON.stringify(line)}\n`);
    } catch (err) {
      this.#o.onError?.(err as Error);
    }
  }

  workerTransport(): TransportStream {
    return new winston.transports.File({
      filename: path.join(this.dir, "workers", `${this.#o.instanceId}.log`),
      format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    });
  }

  async close(): Promise<void> {}
}
