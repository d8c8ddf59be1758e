import { SpotqError } from "./errors.ts";
import { defaultFleetConfig, fleetConfig, loadFleetConfigFile, type FleetConfig } from "./fleet-config.ts";

/**
 * The environment contract of every spotq process (API Lambda, local API server, worker).
 * Infra sets these on the Lambda and in the worker's service; the local stack sets them on its
 * children. AWS endpoints are overridden separately by `SPOTQ_ENDPOINT_<SERVICE>` (aws/clients.ts),
 * and the IMDS endpoint by the SDK's own `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
 */
export const ENV = {
  /** Path of the fleet config JSON file; absent means the embedded defaults. */
  config: "SPOTQ_CONFIG",
  /** The fleet config inline as JSON (the Lambda gets it this way); wins over SPOTQ_CONFIG. */
  configJson: "SPOTQ_CONFIG_JSON",
  table: "SPOTQ_TABLE",
  queueUrl: "SPOTQ_QUEUE_URL",
  dlqUrl: "SPOTQ_DLQ_URL",
  /** The data bucket this deployment serves. */
  bucket: "SPOTQ_BUCKET",
  /** The Auto Scaling group's name. */
  group: "SPOTQ_GROUP",
  /**
   * The high-priority queue (`<name>-jobs-high`, `queue.highPriority`): the API sends `high` jobs
   * there, and a Spot worker drains it before SPOTQ_QUEUE_URL. Absent or empty: no high queue.
   */
  highQueueUrl: "SPOTQ_HIGH_QUEUE_URL",
  /**
   * The On-Demand fallback's queue (`<name>-jobs-ondemand`): a Spot worker hands a job back there
   * once its interruptions reach `scaling.onDemandFallback.afterInterruptions`. Absent or empty: off.
   */
  onDemandQueueUrl: "SPOTQ_ONDEMAND_QUEUE_URL",
  /** The On-Demand group (`<name>-workers-ondemand`): a Spot worker raises its capacity for a job it moved there. */
  onDemandGroup: "SPOTQ_ONDEMAND_GROUP",
  /**
   * Worker: the kind of group its instance is in. `spot` (default): SPOTQ_QUEUE_URL is the jobs
   * queue, drained after SPOTQ_HIGH_QUEUE_URL. `on-demand`: SPOTQ_QUEUE_URL is the On-Demand queue,
   * the only one it serves; its hand-backs stay there.
   */
  groupKind: "SPOTQ_GROUP_KIND",
  /**
   * Local stack only: the On-Demand group's Auto Scaling endpoint, when it is not
   * SPOTQ_ENDPOINT_AUTOSCALING (each local fleet serves one group on its own port; in AWS both
   * groups are on the regional endpoint).
   */
  onDemandAutoscalingEndpoint: "SPOTQ_ENDPOINT_AUTOSCALING_ONDEMAND",
  /**
   * API Lambda with tenants and API keys: JSON `{ "<API Gateway key id>": "<tenant name>" }`, set by
   * infra from the keys it creates, so the Lambda maps `requestContext.identity.apiKeyId` to a
   * tenant without ever holding a key's value.
   */
  tenantKeyIds: "SPOTQ_TENANT_KEY_IDS",
  /** Worker: where job folders are created. */
  workRoot: "SPOTQ_WORK_ROOT",
  /** Worker: `cloudwatch` (default) or `files`. */
  telemetry: "SPOTQ_TELEMETRY",
  /** Worker with files telemetry: the folder that gets logs and metrics. */
  telemetryDir: "SPOTQ_TELEMETRY_DIR",
  /** Worker: a fixed instance id (local fleet); otherwise read from IMDS. */
  instanceId: "SPOTQ_INSTANCE_ID",
  /** Worker: the file whose appearance asks it to hand its job back and exit 0 (Windows has no SIGTERM for a service's child). */
  stopFile: "SPOTQ_STOP_FILE",
  /** Service manager: how long it waits after creating the stop file before it kills the worker's tree. */
  stopGraceSeconds: "SPOTQ_STOP_GRACE_SECONDS",
} as const;

/** Reads a required variable, or throws naming it. */
export function requireEnv(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (v === undefined || v === "") throw new SpotqError("MISSING_ENV", `environment variable ${name} is required but not set`);
  return v;
}

/** The fleet config from SPOTQ_CONFIG_JSON, SPOTQ_CONFIG, or the embedded defaults. */
export function fleetConfigFromEnv(env: NodeJS.ProcessEnv = process.env): FleetConfig {
  const inline = env[ENV.configJson];
  if (inline) {
    let json: unknown;
    try {
      json = JSON.parse(inline);
    } catch (err) {
      throw new SpotqError("BAD_ENV", `${ENV.configJson} is not valid JSON: ${(err as Error).message}`);
    }
    return fleetConfig(json, ENV.configJson);
  }
  const file = env[ENV.config];
  return file ? loadFleetConfigFile(file) : defaultFleetConfig();
}

/** The kinds of Auto Scaling group a worker can be in (ENV.groupKind). */
export const GROUP_KINDS = ["spot", "on-demand"] as const;
export type GroupKind = (typeof GROUP_KINDS)[number];

/** Names of the deployment's resources, as the processes see them. */
export interface DeploymentNames {
  tableName: string;
  /** The queue this process works: the jobs queue, or for an On-Demand group's worker the On-Demand queue. */
  queueUrl: string;
  dlqUrl: string;
  bucket: string;
  /** Absent when no Auto Scaling group is reachable (the API then skips the fast path). */
  groupName?: string;
  /** The high-priority queue; absent when `queue.highPriority` is off. */
  highQueueUrl?: string;
  /** The On-Demand fallback's queue (Spot workers send to it); absent when the fallback is off. */
  onDemandQueueUrl?: string;
  /** The On-Demand group (Spot workers raise its capacity for a job they moved there). */
  onDemandGroupName?: string;
  /** A worker's group kind. @default "spot" */
  groupKind?: GroupKind;
}

export function deploymentFromEnv(env: NodeJS.ProcessEnv = process.env): DeploymentNames {
  const kind = env[ENV.groupKind];
  if (kind && !(GROUP_KINDS as readonly string[]).includes(kind))
    throw new SpotqError("BAD_ENV", `${ENV.groupKind} must be one of ${GROUP_KINDS.join(", ")}, got "${kind}"`);
  return {
    tableName: requireEnv(env, ENV.table),
    queueUrl: requireEnv(env, ENV.queueUrl),
    dlqUrl: requireEnv(env, ENV.dlqUrl),
    bucket: requireEnv(env, ENV.bucket),
    ...(env[ENV.group] ? { groupName: env[ENV.group] } : {}),
    // Empty means absent: user data sets every variable, empty where a deployment has no such queue.
    ...(env[ENV.highQueueUrl] ? { highQueueUrl: env[ENV.highQueueUrl] } : {}),
    ...(env[ENV.onDemandQueueUrl] ? { onDemandQueueUrl: env[ENV.onDemandQueueUrl] } : {}),
    ...(env[ENV.onDemandGroup] ? { onDemandGroupName: env[ENV.onDemandGroup] } : {}),
    ...(kind ? { groupKind: kind as GroupKind } : {}),
  };
}

/** The variables that carry deployment names to a child process. */
export function deploymentToEnv(d: DeploymentNames): Record<string, string> {
  return {
    [ENV.table]: d.tableName,
    [ENV.queueUrl]: d.queueUrl,
    [ENV.dlqUrl]: d.dlqUrl,
    [ENV.bucket]: d.bucket,
    ...(d.groupName ? { [ENV.group]: d.groupName } : {}),
    ...(d.highQueueUrl ? { [ENV.highQueueUrl]: d.highQueueUrl } : {}),
    ...(d.onDemandQueueUrl ? { [ENV.onDemandQueueUrl]: d.onDemandQueueUrl } : {}),
    ...(d.onDemandGroupName ? { [ENV.onDemandGroup]: d.onDemandGroupName } : {}),
    ...(d.groupKind ? { [ENV.groupKind]: d.groupKind } : {}),
  };
}
