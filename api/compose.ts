import { announcerFromEnv, type AnnouncingProcess } from "../aws/announcer-wiring.ts";
import type { DeliveryFailureHandler } from "../aws/announcing-job-store.ts";
import { AwsClients, awsSettingsFromEnv } from "../aws/clients.ts";
import { emfDeliveryFailures } from "../aws/delivery-failures.ts";
import { AutoScalingFleetControl } from "../aws/fleet-control.ts";
import { DynamoJobStore } from "../aws/job-store.ts";
import { SqsJobQueue } from "../aws/job-queue.ts";
import { S3ObjectStore } from "../aws/object-store.ts";
import { SpotqError } from "../core/errors.ts";
import type { FleetConfig } from "../core/fleet-config.ts";
import { deploymentFromEnv, ENV, fleetConfigFromEnv } from "../core/runtime.ts";
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
  // Only the HTTP API maps API key ids to tenants; a trigger finds the tenant by the folder's prefix.
  const tenantKeyIds = announcingProcess === "api" ? tenantKeyIdsFromEnv(env, config) : undefined;
  const apiLog = log ?? logFromEnv(env);
  const fleet = names.groupName ? new AutoScalingFleetControl(clients.autoscaling(), { groupName: names.groupName }) : undefined;
  const store = new DynamoJobStore(clients.dynamo(), { tableName: names.tableName, recordRetentionDays: config.jobs.recordRetentionDays });
  // Job events and analytics lines (issue 10): announced after each transition, never failing it.
  const announcer = announcerFromEnv({ env, clients, config, bucket: names.bucket, process: announcingProcess, ...(fleet ? { fleet } : {}), onFailure: deliveryFailures(env, config.name, apiLog) });
  return {
    store: announcer ? announcer.wrap(store) : store,
    queue: new SqsJobQueue(clients.sqs(), { queueUrl: names.queueUrl, dlqUrl: names.dlqUrl }),
    ...(names.highQueueUrl && config.queue.highPriority.enabled ? { highQueue: new SqsJobQueue(clients.sqs(), { queueUrl: names.highQueueUrl, dlqUrl: names.dlqUrl }) } : {}),
    objects: new S3ObjectStore(clients.s3()),
    ...(fleet ? { fleet } : {}),
    ...(announcer ? { announcer } : {}),
    config,
    bucket: names.bucket,
    log: apiLog,
    // The web console's logs, alarms and queue depth: CloudWatch in AWS, local stand-ins with local endpoints.
    console: consoleDepsFromEnv({ env, clients, config, names, log: apiLog }),
    ...(tenantKeyIds ? { tenantKeyIds } : {}),
  };
}

/**
 * The API Gateway key id → tenant map infra gives the API's Lambda (`SPOTQ_TENANT_KEY_IDS`). On
 * Lambda with tenants and API keys it is required: without it no request could be mapped to a
 * tenant, so the container fails at init, naming the variable. The other functions of the bundle
 * (the triggers, returned jobs) serve no request and do not read it. Each tenant it names must be in the config.
 */
export function tenantKeyIdsFromEnv(env: NodeJS.ProcessEnv, config: FleetConfig): Record<string, string> | undefined {
  const raw = env[ENV.tenantKeyIds];
  const onLambda = Boolean(env.AWS_LAMBDA_FUNCTION_NAME);
  if (raw === undefined || raw === "") {
    if (onLambda && config.api.tenants.length > 0 && config.api.auth === "apiKey")
      throw new SpotqError("MISSING_ENV", `environment variable ${ENV.tenantKeyIds} is required: the config has tenants, and the API maps each request's API key id to one through it`);
    return undefined;
  }
  let map: unknown;
  try {
    map = JSON.parse(raw);
  } catch (err) {
    throw new SpotqError("BAD_ENV", `${ENV.tenantKeyIds} is not valid JSON: ${(err as Error).message}`);
  }
  if (map === null || typeof map !== "object" || Array.isArray(map) || !Object.values(map).every((v) => typeof v === "string"))
    throw new SpotqError("BAD_ENV", `${ENV.tenantKeyIds} must be a JSON object of API key id to tenant name`);
  const names = new Set(config.api.tenants.map((t) => t.name));
  const unknown = Object.values(map as Record<string, string>).filter((n) => !names.has(n));
  if (unknown.length) throw new SpotqError("BAD_ENV", `${ENV.tenantKeyIds} names tenants the config does not have: ${unknown.join(", ")}`);
  return map as Record<string, string>;
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
