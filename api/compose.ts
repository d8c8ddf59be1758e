import { announcerFromEnv, type AnnouncingProcess } from "../aws/announcer-wiring.ts";
import type { DeliveryFailureHandler } from "../aws/announcing-job-store.ts";
import { AwsClients, awsSettingsFromEnv } from "../aws/clients.ts";
import { emfDeliveryFailures } from "../aws/delivery-failures.ts";
import { AutoScalingFleetControl } from "../aws/fleet-control.ts";
import { DynamoJobStore } from "../aws/job-store.ts";
import { SqsJobQueue } from "../aws/job-queue.ts";
import { S3ObjectStore } from "../aws/object-store.ts";
import { deploymentFromEnv, fleetConfigFromEnv } from "../core/runtime.ts";
import { consoleDepsFromEnv } from "./console/compose.ts";
import type { ApiDeps } from "./deps.ts";
import { jsonLineLog, silentLog, type ApiLog } from "./log.ts";

/** The variable that sets the API's log level: info (default), warn, error or silent. */
export const LOG_LEVEL_ENV = "SPOTQ_LOG_LEVEL";

/**
 * The composition root of the API: the AWS adapters wired from the process environment
 * (core/runtime.ts ENV, and `SPOTQ_ENDPOINT_<SERVICE>` for local endpoints). The fast path gets the
 * Auto Scaling group when `SPOTQ_GROUP` is set. Throws naming a missing variable or a bad config.
 * Without `log`, JSON lines on stdout at the level `SPOTQ_LOG_LEVEL` names. The store announces
 * job events and analytics lines as `announcingProcess` may (aws/announcer-wiring.ts).
 */
export function apiDepsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  clients: AwsClients = new AwsClients(awsSettingsFromEnv(env)),
  log?: ApiLog,
  announcingProcess: AnnouncingProcess = "api",
): ApiDeps {
  const config = fleetConfigFromEnv(env);
  const names = deploymentFromEnv(env);
  const apiLog = log ?? logFromEnv(env);
  const fleet = names.groupName ? new AutoScalingFleetControl(clients.autoscaling(), { groupName: names.groupName }) : undefined;
  const store = new DynamoJobStore(clients.dynamo(), { tableName: names.tableName, recordRetentionDays: config.jobs.recordRetentionDays });
  // Job events and analytics lines (issue 10): announced after each transition, never failing it.
  const announcer = announcerFromEnv({ env, clients, config, bucket: names.bucket, process: announcingProcess, ...(fleet ? { fleet } : {}), onFailure: deliveryFailures(env, config.name, apiLog) });
  return {
    store: announcer ? announcer.wrap(store) : store,
    queue: new SqsJobQueue(clients.sqs(), { queueUrl: names.queueUrl, dlqUrl: names.dlqUrl }),
    objects: new S3ObjectStore(clients.s3()),
    ...(fleet ? { fleet } : {}),
    ...(announcer ? { announcer } : {}),
    config,
    bucket: names.bucket,
    log: apiLog,
    // The web console's logs, alarms and queue depth: CloudWatch in AWS, local stand-ins with local endpoints.
    console: consoleDepsFromEnv({ env, clients, config, names, log: apiLog }),
  };
}

/**
 * A failed delivery (event, analytics line) is a warning line; on Lambda also an Embedded Metric
 * Format line that CloudWatch counts as a metric.
 */
function deliveryFailures(env: NodeJS.ProcessEnv, deployment: string, log: ApiLog): DeliveryFailureHandler {
  const line = (kind: string, jobId: string, error: Error) =>
    log.warn(kind === "event" ? "job event not published; the transition stands" : "job result not written; the transition stands", { jobId, error });
  return env.AWS_LAMBDA_FUNCTION_NAME ? emfDeliveryFailures(deployment, line) : line;
}

function logFromEnv(env: NodeJS.ProcessEnv): ApiLog {
  const level = env[LOG_LEVEL_ENV] ?? "info";
  if (level === "silent") return silentLog;
  if (level === "info" || level === "warn" || level === "error") return jsonLineLog(undefined, level);
  throw new Error(`${LOG_LEVEL_ENV} must be one of info, warn, error, silent; got ${JSON.stringify(level)}`);
}
