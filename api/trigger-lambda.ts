import type { MSKEvent, S3Event, SelfManagedKafkaEvent } from "aws-lambda";
import { AwsClients, awsSettingsFromEnv } from "../aws/clients.ts";
import { S3MarkerReader } from "../aws/marker-reader.ts";
import { apiDepsFromEnv } from "./compose.ts";
import { jsonLineLog, type ApiLog } from "./log.ts";
import { handleKafkaEvent, type KafkaBatchResponse } from "./trigger-kafka.ts";
import { handleS3Event, type S3TriggerDeps } from "./trigger-s3.ts";

/**
 * The triggers' composition root: the submit's ports wired from the environment as the API's,
 * announcing as a trigger (events only: a trigger writes no files), plus the marker reader.
 */
export function triggerDepsFromEnv(env: NodeJS.ProcessEnv = process.env, clients: AwsClients = new AwsClients(awsSettingsFromEnv(env)), log: ApiLog = jsonLineLog()): S3TriggerDeps {
  return { ...apiDepsFromEnv(env, clients, log, "trigger"), markers: new S3MarkerReader(clients.s3()) };
}

let deps: S3TriggerDeps | undefined;
// Built on the first invocation and kept for the container's life (warm invocations reuse the sockets).
const depsOnce = () => (deps ??= triggerDepsFromEnv());

/**
 * Lambda entry of the S3 trigger (an S3 event notification, invoked asynchronously): throws when a
 * marker could not be handled, so Lambda retries the event; handled markers replay idempotently.
 */
export async function s3TriggerHandler(event: S3Event): Promise<{ handled: number }> {
  const d = depsOnce();
  const outcomes = await handleS3Event(d, d.log ?? jsonLineLog(), event);
  return { handled: outcomes.length };
}

/**
 * Lambda entry of the Kafka trigger (an MSK or self-managed Kafka event source mapping with
 * `ReportBatchItemFailures`): bad records become FAILED job records; records that met a failing
 * dependency are reported for a retry.
 */
export async function kafkaTriggerHandler(event: MSKEvent | SelfManagedKafkaEvent): Promise<KafkaBatchResponse> {
  const d = depsOnce();
  const { batchItemFailures } = await handleKafkaEvent(d, d.log ?? jsonLineLog(), event);
  return { batchItemFailures };
}
