import type { JobRecord } from "./job.ts";
import type { JobState } from "./job-state.ts";

/**
 * Job state changes as events, in the shape AWS Batch users already route on EventBridge
 * ("Batch Job State Change"): one event per state a job enters, with the state it left.
 */
export const JOB_EVENT = {
  /** EventBridge `source` of every spotq event. */
  source: "spotq",
  /** EventBridge `detail-type` of a state change. */
  detailType: "spotq Job State Change",
} as const;

/** Where a job came from: the API, an uploaded `spotq.json`, or a Kafka record. */
export type JobOrigin =
  | { kind: "api" }
  | { kind: "s3"; bucket: string; key: string; etag: string }
  | { kind: "kafka"; topic: string; partition: number; offset: number };

/** The `detail` of a `spotq Job State Change` event. */
export interface JobStateChange {
  jobId: string;
  /** The state the job entered. */
  state: JobState;
  /** The state it left; null when the job was created in `state` (QUEUED by a submit, FAILED for a refused upload). */
  previousState: JobState | null;
  /** The attempt number (0 before the first claim). */
  attempt: number;
  /** Why, when there is a reason: `CODE: message` (a failure, a retry, an interruption). */
  reason: string | null;
  /** The machine-readable part of `reason`. */
  reasonCode: string | null;
  /** Where the results are (or will be): the job's target folder, and the objects uploaded once SUCCEEDED. */
  output: { target: string; objects: number | null };
  /** The source folder. */
  source: string;
  instanceId: string | null;
  origin: JobOrigin | null;
  /** When the record changed (the record's `updatedAt`). */
  time: string;
  /** The deployment's name (`config.name`). */
  deployment: string;
}

/**
 * One event as EventBridge delivers it to a target (an SQS queue, an SNS topic): the envelope
 * with `detail-type`, `source`, `time`, `detail`. The local stack sends exactly this to its events
 * queue, so a consumer reads the same JSON from either.
 */
export interface JobEventEnvelope {
  version: "0";
  id: string;
  "detail-type": typeof JOB_EVENT.detailType;
  source: typeof JOB_EVENT.source;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: JobStateChange;
}

/** Publishes job state changes (EventBridge in AWS, an SQS queue locally). */
export interface JobEvents {
  /** Rejects when the event was not accepted; callers decide that this never fails a transition. `signal` aborts the call. */
  publish(change: JobStateChange, options?: { signal?: AbortSignal }): Promise<void>;
}

/**
 * The event of a record that just entered its state. `previousState` is what the conditional
 * write expected (null for a record created in its state).
 */
export function jobStateChange(record: JobRecord, previousState: JobState | null, deployment: string): JobStateChange {
  const reasonOf = (): { reason: string; code: string } | undefined => {
    if (record.state === "SUCCEEDED" || record.state === "RUNNING") return undefined;
    // A hand-back keeps its reason in the attempt it ended; a failure or retry in `error`.
    const last = record.attemptHistory?.at(-1);
    const e = record.state === "QUEUED" && previousState === "RUNNING" && last?.error ? last.error : record.error;
    return e ? { reason: `${e.code}: ${e.message}`, code: e.code } : undefined;
  };
  const why = reasonOf();
  return {
    jobId: record.jobId,
    state: record.state,
    previousState,
    attempt: record.attempts,
    reason: why?.reason ?? null,
    reasonCode: why?.code ?? null,
    output: { target: record.outputs?.target ?? record.request["Target Folder Path"], objects: record.outputs?.objects ?? null },
    source: record.request["Source Folder Path"],
    instanceId: record.instanceId ?? null,
    origin: record.origin ?? null,
    time: record.updatedAt,
    deployment,
  };
}

/** Reads an event back from its JSON (an SQS body): the envelope, or undefined when it is not a spotq job event. */
export function parseJobEvent(body: string | undefined): JobEventEnvelope | undefined {
  if (!body) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return undefined;
  }
  const e = v as Partial<JobEventEnvelope> | null;
  if (!e || e.source !== JOB_EVENT.source || e["detail-type"] !== JOB_EVENT.detailType || typeof e.detail?.jobId !== "string") return undefined;
  return e as JobEventEnvelope;
}

/** One line for a human: `time  jobId  PREV -> STATE  attempt n  reason`. */
export function formatJobEvent(e: JobEventEnvelope): string {
  const d = e.detail;
  const parts = [e.time, d.jobId, `${d.previousState ?? "(new)"} -> ${d.state}`, `attempt ${d.attempt}`];
  if (d.instanceId) parts.push(`on ${d.instanceId}`);
  if (d.reason) parts.push(d.reason);
  if (d.state === "SUCCEEDED") parts.push(`${d.output.objects ?? "?"} objects in ${d.output.target}`);
  return parts.join("  ");
}
