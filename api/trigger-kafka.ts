import type { MSKEvent, MSKRecord, SelfManagedKafkaEvent } from "aws-lambda";
import type { Problem } from "../core/errors.ts";
import { kafkaIdempotencyKey } from "../core/intake.ts";
import type { JobOrigin } from "../core/job-events.ts";
import type { JobState } from "../core/job-state.ts";
import type { ApiDeps } from "./deps.ts";
import { ApiError } from "./http-errors.ts";
import { parseIdempotencyKey } from "./idempotency.ts";
import type { ApiLog } from "./log.ts";
import { recordRefusedRequest, submitRequest } from "./submit-job.ts";
import { pathsOf } from "./trigger-s3.ts";

/** The record header a producer may set to choose the idempotency key (else the record's position). */
export const KAFKA_IDEMPOTENCY_HEADER = "idempotency-key";

/**
 * The answer to Lambda when `ReportBatchItemFailures` is on for a Kafka event source mapping:
 * per topic-partition, the offset to resume from. An empty list means the whole batch is done.
 */
export interface KafkaBatchResponse {
  batchItemFailures: { itemIdentifier: { partition: string; offset: number } }[];
}

/** What one record led to. */
export type KafkaRecordOutcome =
  | { record: string; jobId: string; state: JobState; replayed: boolean }
  | { record: string; retry: string };

/**
 * The Kafka trigger (issue 10): each record of an MSK or self-managed Kafka batch is one job
 * request, submitted through the same path as `POST /jobs`. A bad record (not JSON, invalid
 * request) is reported on its own, as a FAILED job record naming the field; it never fails the
 * batch. A record that hit a failing dependency is reported in `batchItemFailures`, so Lambda
 * retries from it (the records after it in its partition come again, as idempotent replays).
 */
export async function handleKafkaEvent(
  deps: ApiDeps,
  log: ApiLog,
  event: MSKEvent | SelfManagedKafkaEvent,
): Promise<KafkaBatchResponse & { outcomes: KafkaRecordOutcome[] }> {
  const cluster = "eventSourceArn" in event && event.eventSourceArn ? event.eventSourceArn : (event.bootstrapServers ?? "");
  const outcomes: KafkaRecordOutcome[] = [];
  const lowestFailed = new Map<string, number>();
  for (const [topicPartition, records] of Object.entries(event.records ?? {})) {
    for (const r of records ?? []) {
      const name = `${r.topic}/${r.partition}@${r.offset}`;
      try {
        outcomes.push(await handleRecord(deps, log, cluster, name, r));
      } catch (err) {
        log.error("kafka trigger: the record could not be handled; Lambda retries from it", { record: name, error: err });
        outcomes.push({ record: name, retry: (err as Error)?.message ?? String(err) });
        const low = lowestFailed.get(topicPartition);
        if (low === undefined || r.offset < low) lowestFailed.set(topicPartition, r.offset);
      }
    }
  }
  return {
    batchItemFailures: [...lowestFailed].map(([partition, offset]) => ({ itemIdentifier: { partition, offset } })),
    outcomes,
  };
}

async function handleRecord(deps: ApiDeps, log: ApiLog, cluster: string, name: string, r: MSKRecord): Promise<KafkaRecordOutcome> {
  const origin: JobOrigin = { kind: "kafka", topic: r.topic, partition: r.partition, offset: r.offset };
  const positionKey = kafkaIdempotencyKey(cluster, r.topic, r.partition, r.offset);
  const what = `Kafka record ${name}`;
  const header = headerValue(r, KAFKA_IDEMPOTENCY_HEADER);
  const refuse = async (problems: Problem[], request: unknown = undefined, idempotencyKey = positionKey): Promise<KafkaRecordOutcome> => {
    const s = await recordRefusedRequest(deps, log, { paths: pathsOf(request, { source: "", target: "" }), problems, what, idempotencyKey, origin });
    return { record: name, jobId: s.record.jobId, state: s.record.state, replayed: s.replayed };
  };

  let idempotencyKey = positionKey;
  if (header !== undefined) {
    const k = parseIdempotencyKey(header);
    if (!k.ok) return refuse([{ field: `${KAFKA_IDEMPOTENCY_HEADER} header`, reason: k.problem.reason }]);
    if (k.key) idempotencyKey = k.key;
  }
  if (!r.value) return refuse([{ field: "value", reason: "is empty: a record must hold the job request as JSON" }]);
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(r.value, "base64").toString("utf8"));
  } catch (err) {
    return refuse([{ field: "value", reason: `is not valid JSON: ${(err as Error).message}` }]);
  }
  try {
    const s = await submitRequest(deps, log, { body, idempotencyKey, origin });
    log.info("kafka trigger: job submitted", { record: name, jobId: s.record.jobId, replayed: s.replayed });
    return { record: name, jobId: s.record.jobId, state: s.record.state, replayed: s.replayed };
  } catch (err) {
    if (err instanceof ApiError && err.status === 400) return refuse(err.body.error.problems ?? [{ field: "value", reason: err.message }], body);
    if (err instanceof ApiError && err.status === 422)
      // The producer's key names another request: refuse this record under its own position.
      return refuse([{ field: `${KAFKA_IDEMPOTENCY_HEADER} header`, reason: err.message }], body, positionKey);
    throw err;
  }
}

/** A record header's value as text (Lambda gives each header as an array of byte values). */
function headerValue(r: MSKRecord, name: string): string | undefined {
  for (const h of r.headers ?? []) {
    for (const [k, bytes] of Object.entries(h)) if (k.toLowerCase() === name && Array.isArray(bytes)) return Buffer.from(bytes).toString("utf8");
  }
  return undefined;
}
