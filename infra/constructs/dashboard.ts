import { METRIC_DIMENSION, METRIC_NAMESPACE, METRICS } from "../../core/names.ts";

/** What the dashboard shows, by name. */
export interface DashboardSources {
  region: string;
  deployment: string;
  queueName: string;
  dlqName: string;
  groupName: string;
  apiFunctionName: string;
  apiName: string;
  apiStage: string;
  /** ARNs of the alarms shown in the alarm status widget. */
  alarmArns: string[];
}

type MetricRow = (string | Record<string, unknown>)[];

interface Widget {
  type: "metric" | "alarm";
  x: number;
  y: number;
  width: number;
  height: number;
  properties: Record<string, unknown>;
}

const W = 8;
const H = 6;

/**
 * The CloudWatch dashboard body: backlog, instances, job durations, outcomes and failures,
 * interruptions, the API, and the alarms' states.
 */
export function dashboardBody(s: DashboardSources): { widgets: Widget[] } {
  const spotq = (metric: string, options: Record<string, unknown> = {}): MetricRow => [
    METRIC_NAMESPACE,
    metric,
    METRIC_DIMENSION,
    s.deployment,
    ...(Object.keys(options).length ? [options] : []),
  ];
  const sqs = (metric: string, queue: string, label: string): MetricRow => ["AWS/SQS", metric, "QueueName", queue, { label }];
  const asg = (metric: string, label: string): MetricRow => ["AWS/AutoScaling", metric, "AutoScalingGroupName", s.groupName, { label }];
  const metricWidget = (x: number, y: number, title: string, metrics: MetricRow[], stat: string, period: number, extra: Record<string, unknown> = {}): Widget => ({
    type: "metric",
    x,
    y,
    width: W,
    height: H,
    properties: { title, region: s.region, view: "timeSeries", stacked: false, stat, period, metrics, ...extra },
  });
  return {
    widgets: [
      metricWidget(
        0,
        0,
        "Backlog (jobs queue and DLQ)",
        [
          sqs("ApproximateNumberOfMessagesVisible", s.queueName, "waiting"),
          sqs("ApproximateNumberOfMessagesNotVisible", s.queueName, "running"),
          sqs("ApproximateNumberOfMessagesDelayed", s.queueName, "retry backoff"),
          sqs("ApproximateNumberOfMessagesVisible", s.dlqName, "dead-lettered"),
        ],
        "Maximum",
        60,
      ),
      metricWidget(
        W,
        0,
        "Instances",
        [
          asg("GroupDesiredCapacity", "desired"),
          asg("GroupInServiceInstances", "in service"),
          asg("GroupPendingInstances", "booting"),
          asg("GroupMaxSize", "max"),
        ],
        "Maximum",
        60,
      ),
      metricWidget(2 * W, 0, "Oldest waiting job (seconds)", [sqs("ApproximateAgeOfOldestMessage", s.queueName, "age")], "Maximum", 60),
      metricWidget(
        0,
        H,
        "Job durations (seconds)",
        [
          spotq(METRICS.processSeconds, { label: "process (avg)" }),
          spotq(METRICS.processSeconds, { label: "process (p90)", stat: "p90" }),
          spotq(METRICS.downloadSeconds, { label: "download (avg)" }),
          spotq(METRICS.uploadSeconds, { label: "upload (avg)" }),
          spotq(METRICS.queueWaitSeconds, { label: "queue wait (avg)" }),
        ],
        "Average",
        300,
      ),
      metricWidget(
        W,
        H,
        "Jobs: outcomes and failures",
        [
          spotq(METRICS.jobsSucceeded, { label: "succeeded" }),
          spotq(METRICS.jobsFailed, { label: "failed" }),
          spotq(METRICS.jobsRetried, { label: "retried" }),
        ],
        "Sum",
        300,
      ),
      metricWidget(2 * W, H, "Spot interruptions", [spotq(METRICS.jobsInterrupted, { label: "jobs interrupted" })], "Sum", 300),
      metricWidget(
        0,
        2 * H,
        "API",
        [
          ["AWS/ApiGateway", "Count", "ApiName", s.apiName, "Stage", s.apiStage, { label: "requests" }],
          ["AWS/ApiGateway", "4XXError", "ApiName", s.apiName, "Stage", s.apiStage, { label: "4xx" }],
          ["AWS/ApiGateway", "5XXError", "ApiName", s.apiName, "Stage", s.apiStage, { label: "5xx" }],
          ["AWS/Lambda", "Errors", "FunctionName", s.apiFunctionName, { label: "Lambda errors" }],
          ["AWS/Lambda", "Throttles", "FunctionName", s.apiFunctionName, { label: "Lambda throttles" }],
        ],
        "Sum",
        300,
      ),
      metricWidget(W, 2 * H, "Data moved (bytes)", [spotq(METRICS.bytesIn, { label: "downloaded" }), spotq(METRICS.bytesOut, { label: "uploaded" })], "Sum", 300),
      { type: "alarm", x: 2 * W, y: 2 * H, width: W, height: H, properties: { title: "Alarms", alarms: s.alarmArns } },
      metricWidget(
        0,
        3 * H,
        "Failed boots and crash loops",
        [spotq(METRICS.bootstrapFailed, { label: "failed boots (breaker counts these)" }), spotq(METRICS.workerCrashLoop, { label: "crash loops after boot" })],
        "Sum",
        300,
      ),
      // Issue 10: job events and result files that could not be delivered (the transitions stood).
      metricWidget(
        W,
        3 * H,
        "Job events and results not delivered",
        [spotq(METRICS.jobEventsNotPublished, { label: "events not published" }), spotq(METRICS.jobResultsNotWritten, { label: "results not written" })],
        "Sum",
        300,
      ),
    ],
  };
}
