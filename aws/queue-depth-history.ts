import { GetMetricDataCommand, type CloudWatchClient, type MetricDataQuery } from "@aws-sdk/client-cloudwatch";
import type { QueueDepthHistory, QueueDepthPoint, QueueDepthSeries } from "../core/console-ports.ts";
import { withContext } from "./clients.ts";

/** One datapoint a minute: SQS sends its metrics to CloudWatch every minute. */
const PERIOD_SECONDS = 60;
const HOUR_MS = 3_600_000;

/**
 * The jobs queue's depth over the last hour from CloudWatch (`GetMetricData` on `AWS/SQS`
 * `ApproximateNumberOfMessagesVisible` and `…NotVisible`, dimension `QueueName`, Maximum per minute).
 * SQS metrics reach CloudWatch a minute or more late, so the newest minutes may be missing.
 */
export class CloudWatchQueueDepthHistory implements QueueDepthHistory {
  readonly #cloudwatch: CloudWatchClient;
  readonly #queueName: string;
  readonly #now: () => number;

  constructor(cloudwatch: CloudWatchClient, options: { queueUrl: string; now?: () => number }) {
    this.#cloudwatch = cloudwatch;
    this.#queueName = queueNameOf(options.queueUrl);
    this.#now = options.now ?? Date.now;
  }

  async lastHour(): Promise<QueueDepthSeries> {
    const end = Math.floor(this.#now() / 60_000) * 60_000;
    const query = (id: string, metric: string): MetricDataQuery => ({
      Id: id,
      MetricStat: {
        Metric: { Namespace: "AWS/SQS", MetricName: metric, Dimensions: [{ Name: "QueueName", Value: this.#queueName }] },
        Period: PERIOD_SECONDS,
        Stat: "Maximum",
      },
      ReturnData: true,
    });
    const byTime = new Map<number, QueueDepthPoint>();
    let token: string | undefined;
    try {
      do {
        const r = await this.#cloudwatch.send(
          new GetMetricDataCommand({
            StartTime: new Date(end - HOUR_MS),
            EndTime: new Date(end),
            MetricDataQueries: [query("visible", "ApproximateNumberOfMessagesVisible"), query("inflight", "ApproximateNumberOfMessagesNotVisible")],
            ScanBy: "TimestampAscending",
            NextToken: token,
          }),
        );
        for (const result of r.MetricDataResults ?? []) {
          (result.Timestamps ?? []).forEach((t, i) => {
            const at = t.getTime();
            const point = byTime.get(at) ?? { at: t.toISOString(), visible: 0 };
            const v = result.Values?.[i] ?? 0;
            if (result.Id === "visible") point.visible = v;
            else point.inFlight = v;
            byTime.set(at, point);
          });
        }
        token = r.NextToken;
      } while (token);
    } catch (err) {
      throw withContext(`CloudWatch get metric data of queue ${this.#queueName}`, err);
    }
    return { periodSeconds: PERIOD_SECONDS, points: [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p) };
  }
}

/** The queue name, the SQS metrics' dimension, from a queue URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`). */
export function queueNameOf(queueUrl: string): string {
  const name = new URL(queueUrl).pathname.split("/").filter(Boolean).at(-1);
  if (!name) throw new Error(`no queue name in the queue URL ${queueUrl}`);
  return name;
}
