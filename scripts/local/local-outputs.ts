import { triggerDepsFromEnv } from "../../api/trigger-lambda.ts";
import { jsonLineLog, silentLog } from "../../api/log.ts";
import { AwsClients, awsSettingsFromEnv } from "../../aws/clients.ts";
import { ensureEventsQueue, EVENTS_ENV } from "../../aws/job-events.ts";
import type { FleetConfig } from "../../core/fleet-config.ts";
import type { LocalEmulators } from "./emulators.ts";
import { LocalS3Trigger } from "./s3-trigger.ts";

/**
 * The local stack's ways in and out beyond the API (issue 10), kept apart from the stack's own
 * wiring: the events queue `<name>-events` and the S3 trigger's notification path.
 */

/** Creates the events queue (when `events.enabled`); returns the variables that make every process publish to it. */
export async function provisionLocalEvents(emulators: Pick<LocalEmulators, "clients">, config: FleetConfig): Promise<{ env: Record<string, string>; queueUrl?: string }> {
  if (!config.events.enabled) return { env: {} };
  const queueUrl = await ensureEventsQueue(emulators.clients.sqs(), config.name);
  return { env: { [EVENTS_ENV.queueUrl]: queueUrl }, queueUrl };
}

/** A running local S3 trigger with its own SDK clients. */
export interface LocalTrigger {
  trigger: LocalS3Trigger;
  stop(): Promise<void>;
}

/**
 * Starts the S3 trigger's local notification path (when `triggers.s3.enabled`), with the same
 * environment as the API (endpoints, group, events queue), so its submits are the API's.
 */
export function startLocalTrigger(emulators: LocalEmulators, env: NodeJS.ProcessEnv, config: FleetConfig): LocalTrigger | undefined {
  if (!config.triggers.s3.enabled) return undefined;
  const clients = new AwsClients(awsSettingsFromEnv(env));
  const level = env.SPOTQ_LOG_LEVEL ?? "warn";
  const log = level === "silent" ? silentLog : jsonLineLog(undefined, level === "info" || level === "error" ? level : "warn");
  const trigger = new LocalS3Trigger({ emulators, deps: triggerDepsFromEnv(env, clients, log), log });
  return {
    trigger,
    async stop() {
      await trigger.stop();
      clients.destroy();
    },
  };
}
