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

/** Names of the deployment's resources, as the processes see them. */
export interface DeploymentNames {
  tableName: string;
  queueUrl: string;
  dlqUrl: string;
  bucket: string;
  /** Absent when no Auto Scaling group is reachable (the API then skips the fast path). */
  groupName?: string;
}

export function deploymentFromEnv(env: NodeJS.ProcessEnv = process.env): DeploymentNames {
  return {
    tableName: requireEnv(env, ENV.table),
    queueUrl: requireEnv(env, ENV.queueUrl),
    dlqUrl: requireEnv(env, ENV.dlqUrl),
    bucket: requireEnv(env, ENV.bucket),
    ...(env[ENV.group] ? { groupName: env[ENV.group] } : {}),
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
  };
}
