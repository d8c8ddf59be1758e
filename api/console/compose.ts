import { CloudWatchAlarmStates } from "../../aws/alarm-states.ts";
import type { AwsClients } from "../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../aws/fleet-control.ts";
import { CloudWatchJobLogReader } from "../../aws/job-log-reader.ts";
import { queueDepth } from "../../aws/job-queue.ts";
import { CloudWatchQueueDepthHistory } from "../../aws/queue-depth-history.ts";
import type { FleetConfig } from "../../core/fleet-config.ts";
import { resourceNames } from "../../core/names.ts";
import type { DeploymentNames } from "../../core/runtime.ts";
import type { ApiLog } from "../log.ts";
import { cachedCloudWatch } from "./cached.ts";
import type { ConsoleDeps } from "./deps.ts";
import { FileJobLogReader } from "./file-job-logs.ts";
import { LocalFleetAlarmStates } from "./local-fleet-alarms.ts";
import { QueueDepthSampler } from "./queue-depth-sampler.ts";

/** The environment variables the console's local stand-ins read. */
export const CONSOLE_ENV = {
  /** Local: the local fleet's control surface, where its queue-depth alarm shows. */
  fleetControlUrl: "SPOTQ_FLEET_CONTROL_URL",
  /** Local: milliseconds between two queue-depth samples. @default 10000 */
  sampleMs: "SPOTQ_QUEUE_SAMPLE_MS",
} as const;

/**
 * The console's ports wired from the environment. In AWS: CloudWatch Logs for job logs,
 * CloudWatch `DescribeAlarms` and `GetMetricData` for alarms and queue depth (cached 15 s and
 * 60 s per process, api/console/cached.ts). When the process
 * runs against local endpoints (`SPOTQ_ENDPOINT_<SERVICE>`, the local stack), a service that has
 * none is played by its local stand-in: the worker's telemetry files for logs (no
 * `SPOTQ_ENDPOINT_LOGS`), the local fleet's alarm and a queue-depth sampler for CloudWatch (no
 * `SPOTQ_ENDPOINT_CLOUDWATCH`). The group is `SPOTQ_GROUP`, else the deployment's
 * `<name>-workers`, so the fleet view works with the fast path off too.
 */
export function consoleDepsFromEnv(o: { env: NodeJS.ProcessEnv; clients: AwsClients; config: FleetConfig; names: DeploymentNames; log: ApiLog }): ConsoleDeps {
  const { env, clients, config, names } = o;
  const endpoints = clients.settings.endpoints;
  const local = Object.values(endpoints).some(Boolean);
  const resources = resourceNames(config.name);
  const group = new AutoScalingFleetControl(clients.autoscaling(), { groupName: names.groupName ?? resources.group });

  const logs =
    endpoints.logs || !local
      ? new CloudWatchJobLogReader(clients.logs(), { jobLogGroup: resources.jobLogGroup })
      : new FileJobLogReader();

  if (endpoints.cloudwatch || !local)
    return {
      group,
      logs,
      ...cachedCloudWatch({
        alarms: new CloudWatchAlarmStates(clients.cloudwatch(), { alarmNamePrefix: `${config.name}-` }),
        queueHistory: new CloudWatchQueueDepthHistory(clients.cloudwatch(), { queueUrl: names.queueUrl }),
      }),
    };

  // Started by the local server (api/server.ts), which also stops it: a process that only composes
  // the deps (a test importing the Lambda entry, a benchmark) samples nothing.
  const sampler = new QueueDepthSampler({
    sample: () => queueDepth(clients.sqs(), names.queueUrl),
    intervalMs: env[CONSOLE_ENV.sampleMs] ? Number(env[CONSOLE_ENV.sampleMs]) : 10_000,
    onError: (error) => o.log.warn("queue depth sample failed; the console's chart skips it", { error }),
  });
  return {
    group,
    logs,
    alarms: new LocalFleetAlarmStates({
      ...(env[CONSOLE_ENV.fleetControlUrl] ? { controlUrl: env[CONSOLE_ENV.fleetControlUrl] } : {}),
      // Named as infra names the scaling alarm (infra/constructs/scaling.ts).
      alarmName: config.scaling.policy === "deficit" ? `${config.name}-backlog-deficit` : `${config.name}-backlog`,
    }),
    queueHistory: sampler,
    start: () => void sampler.start(),
    close: () => sampler.stop(),
  };
}
