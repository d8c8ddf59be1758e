import { PutMetricDataCommand, type CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { METRIC_DIMENSION, METRIC_NAMESPACE, METRICS } from "../core/names.ts";
import type { DeliveryFailureHandler, DeliveryKind } from "./announcing-job-store.ts";

/** The metric each kind of failed delivery counts on. */
export const DELIVERY_FAILURE_METRIC: Readonly<Record<DeliveryKind, string>> = {
  event: METRICS.jobEventsNotPublished,
  result: METRICS.jobResultsNotWritten,
};

/** Logs a failed delivery (one line naming the job, what failed and why). */
export type DeliveryLog = (kind: DeliveryKind, jobId: string, error: Error) => void;

/**
 * For a Lambda: the log line, plus a CloudWatch Embedded Metric Format line on stdout, which
 * Lambda's log pipeline turns into the metric without any PutMetricData permission.
 */
export function emfDeliveryFailures(deployment: string, log: DeliveryLog, write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): DeliveryFailureHandler {
  return (kind, jobId, error) => {
    log(kind, jobId, error);
    const metric = DELIVERY_FAILURE_METRIC[kind];
    write(
      JSON.stringify({
        _aws: { Timestamp: Date.now(), CloudWatchMetrics: [{ Namespace: METRIC_NAMESPACE, Dimensions: [[METRIC_DIMENSION]], Metrics: [{ Name: metric, Unit: "Count" }] }] },
        [METRIC_DIMENSION]: deployment,
        [metric]: 1,
        jobId,
      }),
    );
  };
}

/** For the worker on an instance: the log line, plus PutMetricData (its role may put `spotq` metrics). Never throws. */
export function cloudWatchDeliveryFailures(cloudwatch: CloudWatchClient, deployment: string, log: DeliveryLog): DeliveryFailureHandler {
  return (kind, jobId, error) => {
    log(kind, jobId, error);
    void cloudwatch
      .send(
        new PutMetricDataCommand({
          Namespace: METRIC_NAMESPACE,
          MetricData: [{ MetricName: DELIVERY_FAILURE_METRIC[kind], Value: 1, Unit: "Count", Dimensions: [{ Name: METRIC_DIMENSION, Value: deployment }] }],
        }),
      )
      .catch((err: Error) => log(kind, jobId, new Error(`and its metric could not be put either: ${err.message}`)));
  };
}
