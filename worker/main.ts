/**
 * The worker's entry: what the Windows service (and the local fleet) runs on each instance.
 *
 *   node --import tsx worker/main.ts        (locally; bundled with esbuild for AWS)
 *
 * Configured by the environment (core/runtime.ts ENV): SPOTQ_CONFIG or SPOTQ_CONFIG_JSON, SPOTQ_TABLE,
 * SPOTQ_QUEUE_URL, SPOTQ_DLQ_URL, SPOTQ_BUCKET, SPOTQ_GROUP (optional: no protection or idle
 * termination without it), SPOTQ_WORK_ROOT, SPOTQ_TELEMETRY (cloudwatch | files) and
 * SPOTQ_TELEMETRY_DIR, SPOTQ_INSTANCE_ID (else IMDS), AWS_EC2_METADATA_SERVICE_ENDPOINT,
 * SPOTQ_ENDPOINT_<SERVICE>, SPOTQ_LOG_LEVEL, SPOTQ_STOP_FILE (a graceful stop on Windows, CONTRACTS §9),
 * SPOTQ_HIGH_QUEUE_URL (polled first), SPOTQ_ONDEMAND_QUEUE_URL and SPOTQ_ONDEMAND_GROUP (the
 * On-Demand fallback), SPOTQ_GROUP_KIND (`on-demand`: SPOTQ_QUEUE_URL is the On-Demand queue).
 *
 * Exit codes (CONTRACTS §4): 0 after any orderly stop (signal, stop file, Spot notice, rebalance,
 * idle self-termination, terminate hook, marked Unhealthy): no restart; 1 for anything unexpected
 * (restart with backoff); 2 for a bad configuration or environment (the message names the variable
 * or key): no restart, a failed boot; 3 when the preflight failed (the launch hook was completed
 * ABANDON): no restart, a failed boot.
 */
import { announcedWorkerStore } from "../aws/announcer-wiring.ts";
import { AwsClients, awsSettingsFromEnv } from "../aws/clients.ts";
import { AutoScalingFleetControl } from "../aws/fleet-control.ts";
import { Imdsv2Metadata, IMDS_ENDPOINT_ENV } from "../aws/instance-metadata.ts";
import { SqsJobQueue } from "../aws/job-queue.ts";
import { DynamoJobStore } from "../aws/job-store.ts";
import { platformOf } from "../core/config-json.ts";
import { SpotqError } from "../core/errors.ts";
import { deploymentFromEnv, ENV, fleetConfigFromEnv, requireEnv } from "../core/runtime.ts";
import { attachEventLog } from "./event-log.ts";
import { CloudWatchTelemetry } from "./telemetry/cloudwatch.ts";
import { FileTelemetry } from "./telemetry/files.ts";
import { gracefulStop, StopFileWatcher } from "./stop-file.ts";
import { createWorkerLogger, endWorkerLogger } from "./telemetry/logger.ts";
import type { Telemetry } from "./telemetry/telemetry.ts";
import { Worker } from "./worker.ts";

/** The worker's exit codes and what the service manager does with each (CONTRACTS §4). */
export const EXIT = {
  /** An orderly stop: no restart. */
  stopped: 0,
  /** A crash: restart with backoff. */
  unexpected: 1,
  /** Bad config or environment: no restart; the instance leaves (a failed boot). */
  badConfig: 2,
  /** The preflight failed (GPU, processor, disk, licence): no restart; a failed boot. */
  preflightFailed: 3,
} as const;

async function main(env: NodeJS.ProcessEnv): Promise<number> {
  let config, names;
  try {
    config = fleetConfigFromEnv(env);
    names = deploymentFromEnv(env);
  } catch (err) {
    process.stderr.write(`spotq worker: ${(err as Error).message}\n`);
    return EXIT.badConfig;
  }
  const clients = new AwsClients();
  // IMDS is asked unless a fixed instance id is given without an IMDS endpoint (a developer machine).
  const metadata = !env[ENV.instanceId] || env[IMDS_ENDPOINT_ENV] ? new Imdsv2Metadata() : undefined;
  const instanceId = env[ENV.instanceId] || (await metadata!.instanceId());

  let telemetry: Telemetry;
  const onError = (err: Error) => process.stderr.write(`spotq worker telemetry: ${err.message}\n`);
  const kind = env[ENV.telemetry] ?? "cloudwatch";
  if (kind === "files") {
    telemetry = new FileTelemetry({ dir: requireEnv(env, ENV.telemetryDir), deployment: config.name, instanceId, onError });
  } else if (kind === "cloudwatch") {
    telemetry = new CloudWatchTelemetry(clients.logs(), clients.cloudwatch(), { deployment: config.name, instanceId, onError });
  } else {
    throw new SpotqError("BAD_ENV", `${ENV.telemetry} must be "cloudwatch" or "files", got "${kind}"`);
  }
  const log = createWorkerLogger(telemetry, { instanceId, level: env.SPOTQ_LOG_LEVEL });

  const fleet = names.groupName ? new AutoScalingFleetControl(clients.autoscaling(), { groupName: names.groupName }) : undefined;
  // Job events, result file and analytics line after each transition (issue 10; aws/announcer-wiring.ts).
  const store = announcedWorkerStore(new DynamoJobStore(clients.dynamo(), { tableName: names.tableName, recordRetentionDays: config.jobs.recordRetentionDays }), {
    env, clients, config, bucket: names.bucket, ...(fleet ? { fleet } : {}), warn: (m) => log.warn(m), ...(kind === "cloudwatch" ? { metrics: clients.cloudwatch() } : {}),
  });
  const sqsQueue = (queueUrl: string) =>
    new SqsJobQueue(clients.sqs(), {
      queueUrl,
      dlqUrl: names.dlqUrl,
      onMalformed: (messageId, reason) => log.warn(`message ${messageId} is not a job (${reason}): sent to the DLQ`),
    });
  // An On-Demand group's worker serves the On-Demand queue only; a Spot worker the high queue first, then the jobs queue.
  const onDemandGroup = names.groupKind === "on-demand";
  const onDemandEndpoint = env[ENV.onDemandAutoscalingEndpoint];
  const onDemandFleet =
    !onDemandGroup && names.onDemandGroupName
      ? new AutoScalingFleetControl(
          onDemandEndpoint ? new AwsClients({ ...awsSettingsFromEnv(env), endpoints: { ...awsSettingsFromEnv(env).endpoints, autoscaling: onDemandEndpoint } }).autoscaling() : clients.autoscaling(),
          { groupName: names.onDemandGroupName },
        )
      : undefined;
  const worker = new Worker(
    {
      queue: sqsQueue(names.queueUrl),
      ...(onDemandGroup ? { queueKind: "ondemand" as const } : {}),
      ...(!onDemandGroup && names.highQueueUrl && config.queue.highPriority.enabled ? { highQueue: sqsQueue(names.highQueueUrl) } : {}),
      ...(!onDemandGroup && names.onDemandQueueUrl && config.scaling.onDemandFallback ? { onDemandQueue: sqsQueue(names.onDemandQueueUrl) } : {}),
      ...(onDemandFleet ? { onDemandFleet } : {}),
      store,
      s3: clients.s3(),
      telemetry,
      ...(fleet ? { fleet } : {}),
      ...(metadata ? { metadata } : {}),
    },
    { instanceId, config, ...(env[ENV.workRoot] ? { workRoot: env[ENV.workRoot] } : {}) },
  );
  attachEventLog(worker, log);
  if (!names.groupName) log.warn(`${ENV.group} is not set: no scale-in protection and no idle termination`);

  const graceful = gracefulStop(platformOf(process.platform), env);
  const onSignal = (signal: NodeJS.Signals) => {
    log.info(`${signal} received: handing back any job and stopping`);
    void worker.stop("shutdown");
  };
  for (const signal of graceful.signals) process.once(signal, onSignal);
  if (graceful.warning) log.warn(graceful.warning);
  let stopFile: StopFileWatcher | undefined;
  if (graceful.stopFile) {
    stopFile = new StopFileWatcher(graceful.stopFile, {
      onStop: () => {
        log.info(`stop file ${graceful.stopFile} appeared (service stop): handing back any job and stopping`);
        void worker.stop("shutdown");
      },
    });
    if (stopFile.start()) log.info(`removed a stale stop file ${graceful.stopFile} left by the last stop`);
  }

  await worker.start();
  const reason = await worker.done;
  stopFile?.stop();
  await telemetry.close();
  await endWorkerLogger(log);
  clients.destroy();
  return reason === "preflight-failed" ? EXIT.preflightFailed : EXIT.stopped;
}

main(process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as Error;
    process.stderr.write(`spotq worker failed: ${e?.stack ?? String(err)}\n`);
    process.exitCode = e instanceof SpotqError && (e.code === "BAD_ENV" || e.code === "VALIDATION" || e.code === "MISSING_ENV") ? EXIT.badConfig : EXIT.unexpected;
  },
);
