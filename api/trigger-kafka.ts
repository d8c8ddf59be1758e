import type { MSKEvent, MSKRecord, SelfManagedKafkaEvent } from "aws-lambda";
import type { Problem } from "../core/errors.ts";
import { kafkaIdempotencyKey } from "../core/intake.ts";
import type { JobOrigin } from "../core/job-events.ts";
import type { JobState } from "../core/job-state.ts";
import type { ApiDeps } from "./deps.ts";
import { ApiError } from "./http-errors.ts";
import { parseIdempotencyKey } from "./idempotency.ts";
import { parseJobLabels, type JobLabels } from "./job-labels.ts";
import type { ApiLog } from "./log.ts";
import { recordRefusedRequest, submitRequest } from "./submit-job.ts";
import { tenantOfRequestBody } from "./tenancy.ts";
import { pathsOf } from "./trigger-s3.ts";
import { parseJobRequest, PATH_KEYS } from "../core/request.ts";

/** The record header a producer may set to choose the idempotency key (else the record's position). */
export const KAFKA_IDEMPOTENCY_HEADER = "idempotency-key";
/** The record headers that name and tag the job, as `Spotq-Job-Name` / `Spotq-Job-Tags` do on `POST /jobs`. */
export const KAFKA_NAME_HEADER = "spotq-job-name";
export const KAFKA_TAGS_HEADER = "spotq-job-tags";

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
 * request, submitted through the same path as `POST /jobs` (named and tagged by its
 * `spotq-job-name` / `spotq-job-tags` headers; with tenants, the job is the tenant's whose prefixes
 * hold its source folder, and a source under none is refused). A bad record (not JSON, invalid
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
  let labels: JobLabels = {};
  const refuse = async (problems: Problem[], request: unknown = undefined, idempotencyKey = positionKey): Promise<KafkaRecordOutcome> => {
    const tenant = tenantOfRequestBody(deps.config.api.tenants, deps.bucket, request);
    const s = await recordRefusedRequest(deps, log, {
      paths: pathsOf(request, { source: "", target: "" }),
      problems,
      what,
      idempotencyKey,
      origin,
      labels,
      ...(tenant ? { tenant: tenant.name } : {}),
    });
    return { record: name, jobId: s.record.jobId, state: s.record.state, replayed: s.replayed };
  };
  // The body first (without refusing yet): a refusal for a bad header still goes to the tenant of its source.
  let body: unknown;
  let bodyProblem: Problem | undefined;
  if (!r.value) bodyProblem = { field: "value", reason: "is empty: a record must hold the job request as JSON" };
  else
    try {
      body = JSON.parse(Buffer.from(r.value, "base64").toString("utf8"));
    } catch (err) {
      bodyProblem = { field: "value", reason: `is not valid JSON: ${(err as Error).message}` };
    }
  const parsedLabels = parseJobLabels(
    { name: headerValue(r, KAFKA_NAME_HEADER), tags: headerValue(r, KAFKA_TAGS_HEADER) },
    { name: `${KAFKA_NAME_HEADER} header`, tags: `${KAFKA_TAGS_HEADER} header` },
  );
  if (!parsedLabels.ok) return refuse(parsedLabels.problems, body);
  labels = parsedLabels.value;

  let idempotencyKey = positionKey;
  if (header !== undefined) {
    const k = parseIdempotencyKey(header);
    if (!k.ok) return refuse([{ field: `${KAFKA_IDEMPOTENCY_HEADER} header`, reason: k.problem.reason }], body);
    if (k.key) idempotencyKey = k.key;
  }
  if (bodyProblem) return refuse([bodyProblem]);
  const tenants = deps.config.api.tenants;
  const tenant = tenantOfRequestBody(tenants, deps.bucket, body);
  if (tenants.length > 0 && !tenant) {
    // Whose job it is comes from its source folder: an invalid request is refused for what is wrong
    // with it; a valid one under no tenant's prefixes belongs to nobody.
    const parsed = parseJobRequest(body, { servedBuckets: [deps.bucket], extraOptions: deps.config.jobs.extraOptions });
    return refuse(
      parsed.ok ? [{ field: PATH_KEYS.source, reason: `lies under no tenant's prefixes (${tenants.flatMap((t) => t.prefixes).join(", ")}), so the record belongs to nobody` }] : parsed.problems,
      body,
    );
  }
  try {
    const s = await submitRequest(deps, log, { body, idempotencyKey, origin, labels, ...(tenant ? { tenant } : {}) });
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
