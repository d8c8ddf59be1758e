/**
 * Resource names derived from the deployment name, shared by infra (which creates them),
 * the local stack (which emulates them) and the processes (which log and emit metrics to them).
 */
export function resourceNames(name: string) {
  return {
    table: `${name}-jobs`,
    queue: `${name}-jobs`,
    dlq: `${name}-jobs-dlq`,
    group: `${name}-workers`,
    /** Launch lifecycle hook (Pending:Wait): the worker completes it CONTINUE once its preflight passed. */
    launchHook: `${name}-launching`,
    /** Terminate lifecycle hook (Terminating:Wait): the worker finishes or hands back, then completes it. */
    terminateHook: `${name}-terminating`,
    /** SNS topic of every alarm and of the boot breaker. */
    alarmTopic: `${name}-alarms`,
    /** A log stream per job attempt: `<jobId>/<attempt>`. */
    jobLogGroup: `/spotq/${name}/jobs`,
    /** A log stream per instance: the worker daemon's own log. */
    workerLogGroup: `/spotq/${name}/workers`,
    /**
     * Evidence of each instance's boot, shipped by the instance itself: the bootstrap transcript
     * (stream `<instanceId>`) and the worker service's output file (stream `<instanceId>/service`).
     */
    bootLogGroup: `/spotq/${name}/boot`,
    /** The Lambda the boot breaker's alarm invokes: suspends Launch, tags the group, notifies. */
    bootBreakerFunction: `${name}-boot-breaker`,
  } as const;
}

/** CloudWatch metric namespace of every spotq metric; each carries the dimension `Deployment=<name>`. */
export const METRIC_NAMESPACE = "spotq";
export const METRIC_DIMENSION = "Deployment";

/** Metric names the worker emits per job, and the dashboard and alarms read. */
export const METRICS = {
  processSeconds: "ProcessSeconds",
  downloadSeconds: "DownloadSeconds",
  uploadSeconds: "UploadSeconds",
  queueWaitSeconds: "QueueWaitSeconds",
  bytesIn: "BytesIn",
  bytesOut: "BytesOut",
  jobsSucceeded: "JobsSucceeded",
  jobsFailed: "JobsFailed",
  /** An attempt failed and the job will be retried. */
  jobsRetried: "JobsRetried",
  jobsInterrupted: "JobsInterrupted",
  /** An instance left before it was booted (user data failed, worker exit 2 or 3, a crash loop before the launch hook completed): counted by the boot breaker. */
  bootstrapFailed: "BootstrapFailed",
  /** A booted worker crashed more than the service manager restarts (CONTRACTS §4) and its instance left. */
  workerCrashLoop: "WorkerCrashLoop",
  /** A job state change whose event could not be published (the transition stands). */
  jobEventsNotPublished: "JobEventsNotPublished",
  /** A finished job whose result file or analytics line could not be written. */
  jobResultsNotWritten: "JobResultsNotWritten",
} as const;

/** The tag on the group and its instances that the worker role's IAM conditions rely on. */
export const GROUP_TAG = "spotq:group";

/**
 * The group tag where the boot breaker records why it suspended launches: JSON
 * `{ "trippedAt": ISO time, "failures": n, "windowSeconds": s, "reason": text }`. Absent when closed.
 */
export const BREAKER_TAG = "spotq:breaker";
