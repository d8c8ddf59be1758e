import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import TransportStream from "winston-transport";
import { withContext } from "../../aws/clients.ts";
import { METRIC_DIMENSION, METRIC_NAMESPACE, resourceNames } from "../../core/names.ts";
import { CloudWatchLogStream } from "./cloudwatch-logs.ts";
import { formatJobLine, metricData, type JobLog, type JobMetrics, type LogSource, type Telemetry } from "./telemetry.ts";

export interface CloudWatchTelemetryOptions {
  /** The deployment name: log group names and the metrics' dimension. */
  deployment: string;
  instanceId: string;
  /** @default 1000 */
  flushIntervalMs?: number;
  onError?: (err: Error) => void;
}

/**
 * Telemetry in AWS: a CloudWatch Logs stream per job attempt (`<jobId>/<attempt>` in the jobs log
 * group, stdout and stderr lines marked), a stream per instance in the workers log group for the
 * worker's own log, and the job metrics with PutMetricData (namespace `spotq`, dimension Deployment).
 */
export class CloudWatchTelemetry implements Telemetry {
  readonly #logs: CloudWatchLogsClient;
  readonly #cloudwatch: CloudWatchClient;
  readonly #o: CloudWatchTelemetryOptions;
  readonly #names: ReturnType<typeof resourceNames>;
  #workerStream: CloudWatchLogStream | undefined;

  constructor(logs: CloudWatchLogsClient, cloudwatch: CloudWatchClient, options: CloudWatchTelemetryOptions) {
    this.#logs = logs;
    this.#cloudwatch = cloudwatch;
    this.#o = options;
    this.#names = resourceNames(options.deployment);
  }

  async openJobLog(jobId: string, attempt: number): Promise<JobLog> {
    const stream = new CloudWatchLogStream(this.#logs, {
      group: this.#names.jobLogGroup,
      stream: `${jobId}/${attempt}`,
      flushIntervalMs: this.#o.flushIntervalMs,
      onError: this.#o.onError,
    });
    // Created now but not waited for: the claim's RUNNING write need not follow it (a reader finds no
    // stream for a moment and shows no lines: aws/job-log-reader.ts), and the first flush waits for it.
    void stream.ensure();
    return {
      location: { group: stream.group, stream: stream.stream },
      write: (source: LogSource, line: string) => stream.put(formatJobLine(source, line)),
      close: () => stream.flush(),
    };
  }

  async putJobMetrics(m: JobMetrics): Promise<void> {
    const data = metricData(m);
    const now = new Date();
    try {
      await this.#cloudwatch.send(
        new PutMetricDataCommand({
          Namespace: METRIC_NAMESPACE,
          MetricData: data.map((d) => ({
            MetricName: d.name,
            Value: d.value,
            Unit: d.unit,
            Timestamp: now,
            Dimensions: [{ Name: METRIC_DIMENSION, Value: this.#o.deployment }],
          })),
        }),
      );
    } catch (err) {
      this.#o.onError?.(withContext(`CloudWatch put ${data.length} metrics of job ${m.jobId}`, err));
    }
  }

  workerTransport(): TransportStream {
    this.#workerStream ??= new CloudWatchLogStream(this.#logs, {
      group: this.#names.workerLogGroup,
      stream: this.#o.instanceId,
      flushIntervalMs: this.#o.flushIntervalMs,
      onError: this.#o.onError,
    });
    return new LogStreamTransport(this.#workerStream);
  }

  async close(): Promise<void> {
    await this.#workerStream?.flush();
  }
}

/** A winston transport writing each entry as one JSON event to a CloudWatch Logs stream. */
export class LogStreamTransport extends TransportStream {
  readonly #stream: CloudWatchLogStream;
  constructor(stream: CloudWatchLogStream) {
    super();
    this.#stream = stream;
  }

  override log(info: Record<string | symbol, unknown>, next: () => void): void {
    const { level, message, ...rest } = info;
    this.#stream.put(JSON.stringify({ level, message, ...rest }));
    next();
  }
}
