import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { FleetConfig } from "../core/fleet-config.ts";
import type { FleetControl, JobStore } from "../core/ports.ts";
import { instanceTypeFromGroup, JobAnnouncer, type DeliveryFailureHandler } from "./announcing-job-store.ts";
import type { AwsClients } from "./clients.ts";
import { cloudWatchDeliveryFailures, type DeliveryLog } from "./delivery-failures.ts";
import { jobEventsFromEnv } from "./job-events.ts";
import { S3JobResults } from "./job-results.ts";

/**
 * Which process announces: the API (submits, cancels of queued jobs, enqueue failures), a trigger
 * (submits and refused uploads: it may only submit, so it writes no files), or the worker
 * (everything a run does, and the result file in the target it may write).
 */
export type AnnouncingProcess = "api" | "trigger" | "worker";

export interface AnnouncerWiring {
  env: NodeJS.ProcessEnv;
  clients: AwsClients;
  config: FleetConfig;
  /** The data bucket (analytics lines). */
  bucket: string;
  process: AnnouncingProcess;
  /** The group, to name the instance type in result files and analytics lines. */
  fleet?: FleetControl;
  onFailure: DeliveryFailureHandler;
}

/**
 * The announcer of one process (events per config and environment, result files and analytics
 * lines per its role), or undefined when it has nothing to announce.
 */
export function announcerFromEnv(w: AnnouncerWiring): JobAnnouncer | undefined {
  const events = jobEventsFromEnv(w.env, w.clients, w.config.events);
  const a = w.config.analytics;
  const writesLines = a.enabled && w.process !== "trigger";
  const writesFiles = a.enabled && a.resultFile && w.process === "worker";
  const results =
    writesLines || writesFiles
      ? new S3JobResults(w.clients.s3(), { bucket: w.bucket, prefix: a.prefix, deployment: w.config.name, resultFile: writesFiles, analytics: writesLines })
      : undefined;
  if (!events && !results) return undefined;
  return new JobAnnouncer({
    deployment: w.config.name,
    ...(events ? { events } : {}),
    ...(results ? { results } : {}),
    ...(w.fleet ? { instanceType: instanceTypeFromGroup(w.fleet) } : {}),
    onFailure: w.onFailure,
  });
}

/**
 * The worker's jobs table, announcing (issue 10): events, the result file and the analytics line
 * after each transition, never failing it. A failed delivery is a warning in the worker's log and,
 * on CloudWatch telemetry, a `JobEventsNotPublished` / `JobResultsNotWritten` metric.
 */
export function announcedWorkerStore(
  store: JobStore,
  w: Omit<AnnouncerWiring, "process" | "onFailure"> & { warn: (message: string) => void; metrics?: CloudWatchClient },
): JobStore {
  const line: DeliveryLog = (kind, jobId, error) =>
    w.warn(`job ${jobId}: ${kind === "event" ? "state change event not published" : "result file or analytics line not written"} (the transition stands): ${error.message}`);
  const onFailure = w.metrics ? cloudWatchDeliveryFailures(w.metrics, w.config.name, line) : line;
  const announcer = announcerFromEnv({ ...w, process: "worker", onFailure });
  return announcer ? announcer.wrap(store) : store;
}
