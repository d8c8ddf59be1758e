import type { FleetConfig } from "../core/fleet-config.ts";
import type { FleetControl } from "../core/ports.ts";
import { instanceTypeFromGroup, JobAnnouncer, type DeliveryFailureHandler } from "./announcing-job-store.ts";
import type { AwsClients } from "./clients.ts";
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
