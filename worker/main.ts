/**
 * The worker's entry: what the Windows service (and the local fleet) runs on each instance.
 *
 *   node --import tsx worker/main.ts        (locally; bundled with esbuild for AWS)
 *
 * Configured by the environment (core/runtime.ts ENV): SPOTQ_CONFIG or SPOTQ_CONFIG_JSON, SPOTQ_TABLE,
 * SPOTQ_QUEUE_URL, SPOTQ_DLQ_URL, SPOTQ_BUCKET, SPOTQ_GROUP (optional: no protection or idle
 * termination without it), SPOTQ_WORK_ROOT, SPOTQ_TELEMETRY (cloudwatch | files) and
 * SPOTQ_TELEMETRY_DIR, SPOTQ_INSTANCE_ID (else IMDS), AWS_EC2_METADATA_SERVICE_ENDPOINT,
 * SPOTQ_ENDPOINT_<SERVICE>, SPOTQ_LOG_LEVEL.
 *
 * Exit codes: 0 after any orderly stop (SIGTERM/SIGINT, Spot notice, rebalance, idle self-termination);
 * 2 for a bad configuration or environment; 1 for anything unexpected (the service manager restarts it).
 */
import { announcedWorkerStore } from "../aws/announcer-wiring.ts";
import { AwsClients } from "../aws/clients.ts";
import { AutoScalingFleetControl } from "../aws/fleet-control.ts";
import { Imdsv2Metadata, IMDS_ENDPOINT_ENV } from "../aws/instance-metadata.ts";
import { SqsJobQueue } from "../aws/job-queue.ts";
import { DynamoJobStore } from "../aws/job-store.ts";
import { SpotqError } from "../core/errors.ts";
import { deploymentFromEnv, ENV, fleetConfigFromEnv, requireEnv } from "../core/runtime.ts";
import { attachEventLog } from "./event-log.ts";
import { CloudWatchTelemetry } from "./telemetry/cloudwatch.ts";
import { FileTelemetry } from "./telemetry/files.ts";
import { createWorkerLogger } from "./telemetry/logger.ts";
import type { Telemetry } from "./telemetry/telemetry.ts";
import { Worker } from "./worker.ts";

export const EXIT = { stopped: 0, unexpected: 1, badConfig: 2 } as const;

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
  const worker = new Worker(
    {
      queue: new SqsJobQueue(clients.sqs(), {
        queueUrl: names.queueUrl,
        dlqUrl: names.dlqUrl,
        onMalformed: (messageId, reason) => log.warn(`message ${messageId} is not a job (${reason}): sent to the DLQ`),
      }),
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

  const onSignal = (signal: NodeJS.Signals) => {
    log.info(`${signal} received: handing back any job and stopping`);
    void worker.stop("shutdown");
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);

  await worker.start();
  await worker.done;
  await telemetry.close();
  await new Promise<void>((resolve) => {
    log.on("finish", () => resolve());
    log.end();
    setTimeout(resolve, 2_000).unref();
  });
  clients.destroy();
  return EXIT.stopped;
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
