import { randomFillSync } from "node:crypto";
import type { JobRequest } from "./request.ts";
import type { JobState } from "./job-state.ts";
import type { JobOrigin } from "./job-events.ts";
import type { JobPriority, JobQueueKind } from "./priority.ts";

/** Where a job's log lines went: a CloudWatch Logs group/stream, or a local file in local mode. */
export interface LogLocation {
  group: string;
  stream: string;
}

export interface JobError {
  /** Machine-readable reason: PROCESS_EXIT, PROCESS_TIMEOUT, PROCESS_CRASH, INVALID_REQUEST, TRANSFER, ENQUEUE, INTERRUPTED, ... */
  code: string;
  message: string;
}

export interface JobTimings {
  queueWaitMs?: number;
  downloadMs?: number;
  processMs?: number;
  uploadMs?: number;
}

/** One attempt's outcome, kept so a retried job still shows why each earlier attempt failed. */
export interface AttemptRecord {
  attempt: number;
  instanceId?: string;
  startedAt?: string;
  finishedAt?: string;
  outcome: "FAILED" | "INTERRUPTED" | "LOST" | "SUCCEEDED" | "CANCELLED";
  exitCode?: number;
  error?: JobError;
  logs?: LogLocation;
  /** Set by an operator's redrive: this attempt no longer counts against `jobs.maxAttempts`. */
  redriven?: boolean;
}

/** What a worker is doing right now, for `GET /jobs/{id}` and `spotq wait`. */
export interface JobProgress {
  phase: "download" | "process" | "upload";
  bytesDone?: number;
  bytesTotal?: number;
  updatedAt: string;
}

/** One item of the jobs table (DESIGN §3). */
export interface JobRecord {
  jobId: string;
  state: JobState;
  request: JobRequest;
  submittedAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Attempts started so far (1 for the first run; every claim counts, also after an interruption). Only failed and lost attempts count against `jobs.maxAttempts`. */
  attempts: number;
  interruptions: number;
  instanceId?: string;
  exitCode?: number;
  error?: JobError;
  timings?: JobTimings;
  bytes?: { in?: number; out?: number };
  outputs?: { target: string; objects: number };
  logs?: LogLocation;
  idempotencyKey?: string;
  /**
   * The tenant the job belongs to (`api.tenants[].name`); absent in a deployment without tenants,
   * and on a refused upload whose folder lies under no tenant's prefixes. Never changes.
   */
  tenant?: string;
  /** A name the submitter gave the job (`Spotq-Job-Name`); listed and filterable. Never changes. */
  name?: string;
  /** Labels the submitter gave the job (`Spotq-Job-Tags: k=v,k2=v2`); listed and filterable. Never change. */
  tags?: Record<string, string>;
  /**
   * `Spotq-Job-Priority` at submit: a `high` job waits on the high-priority queue, which the Spot
   * workers drain first. Absent on records from before priorities: normal. Listed and filterable;
   * never changes.
   */
  priority?: JobPriority;
  /**
   * The queue the job's live message was last sent to: `normal`, `high`, or `ondemand` once a
   * hand-back moved it to the On-Demand fallback's queue. Where a QUEUED job waits. Written at
   * submit, by every hand-back and by a redrive; absent on older records (the queue of its priority).
   */
  queue?: JobQueueKind;
  /** Where the job came from: the API, an uploaded spotq.json, a Kafka record (issue 10). */
  origin?: JobOrigin;
  attemptHistory?: AttemptRecord[];
  progress?: JobProgress;
  /** Epoch seconds after which DynamoDB's TTL removes the record. */
  expiresAt?: number;
  /**
   * The dispatch token of the job's one live queue message ({@link QueueMessage.dispatchId}).
   * A message with another token is a stale copy and is deleted on receive ({@link matchDispatch}).
   * Absent on records written before tokens existed: those match any message.
   */
  dispatchId?: string;
  /**
   * Set while QUEUED after a hand-back or a redrive: the token of the message that was replaced
   * ({@link LEGACY_DISPATCH_ID} when it had none). If the replacement message never got sent (a
   * crash between the record write and the send), the old message comes back and is adopted.
   * Cleared by the next claim.
   */
  previousDispatchId?: string;
}

/** The SQS message body; the table stays the truth for state. */
export interface QueueMessage {
  jobId: string;
  request: JobRequest;
  submittedAt: string;
  /**
   * A random token naming this one message of the job (CONTRACTS §5). Every writer that puts a
   * job (back) into QUEUED sends a fresh message with a fresh token and records the token, so a
   * hand-back uses neither an attempt nor an SQS receive. Absent in messages sent before tokens.
   */
  dispatchId?: string;
}

/**
 * Random bytes for ids and tokens, drawn from the CSPRNG a pool at a time (as Node's own
 * randomUUID does): one randomFillSync per 256 draws of 16 bytes instead of one per id, which cost
 * a submit (a job id and a token) several microseconds of its CPU. Each byte is handed out once.
 * The view is valid until the next draw: callers read it at once.
 */
const RANDOM_POOL = Buffer.alloc(4096);
let randomOffset = RANDOM_POOL.length;
function drawRandom(n: number): Buffer {
  if (randomOffset + n > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomOffset = 0;
  }
  const bytes = RANDOM_POOL.subarray(randomOffset, randomOffset + n);
  randomOffset += n;
  return bytes;
}

/** A fresh dispatch token: 128 random bits, URL-safe. */
export function newDispatchId(): string {
  return drawRandom(16).toString("base64url");
}

/** `previousDispatchId` of a record whose replaced message carried no token (older data). */
export const LEGACY_DISPATCH_ID = "legacy";

/**
 * What a received message is to its job's record:
 * - `live`: the job's one live message (same token, or a record from before tokens);
 * - `adopt`: the record is QUEUED and names this message as the one a hand-back or redrive
 *   replaced: the replacement may never have been sent (a crash between the record write and
 *   the send), so this message takes over (the claim makes it the live one, with a conditional
 *   write that the replacement's own claim races against);
 * - `stale`: a copy whose job has moved on (a failed delete, a hand-back's old message): delete it.
 * A message without a token matches a record without one; against a record with a token it is
 * stale unless the record adopts tokenless messages (`previousDispatchId` = {@link LEGACY_DISPATCH_ID}).
 */
export function matchDispatch(
  token: string | undefined,
  record: Pick<JobRecord, "state" | "dispatchId" | "previousDispatchId">,
): "live" | "adopt" | "stale" {
  if (record.dispatchId === undefined || token === record.dispatchId) return "live";
  if (record.state === "QUEUED" && record.previousDispatchId !== undefined && (token ?? LEGACY_DISPATCH_ID) === record.previousDispatchId) return "adopt";
  return "stale";
}

// Crockford base32: sortable as text, no ambiguous letters.
const B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * A time-sortable job id (ULID layout: 10 characters of milliseconds, 16 of randomness),
 * so newer jobs sort after older ones in the table's indexes.
 */
export function newJobId(now: number = Date.now()): string {
  let t = now;
  let time = "";
  for (let i = 0; i < 10; i++) {
    time = B32[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = drawRandom(16);
  let rand = "";
  for (let i = 0; i < 16; i++) rand += B32[bytes[i]! % 32];
  return time + rand;
}

/** True for a string shaped like an id from {@link newJobId}. */
export function isJobId(v: unknown): v is string {
  return typeof v === "string" && /^[0-9A-HJKMNP-TV-Z]{26}$/.test(v);
}

/** Milliseconds since the epoch encoded in a job id. */
export function jobIdTime(jobId: string): number {
  let t = 0;
  for (let i = 0; i < 10; i++) t = t * 32 + B32.indexOf(jobId[i]!);
  return t;
}

/**
 * Names shared by the jobs table, its adapter and the infra that creates it.
 *
 * Listing indexes (all sparse: idempotency items carry none of their keys). Every partition key is
 * sharded over {@link JOB_TABLE.listShards} values by the job id's random tail, so no index
 * partition takes more than 1/N of the job writes; a listing queries the N shards and merges them
 * newest first (aws/job-store.ts). They project only `name`, `tags` and `priority` (the list
 * filters, which never change), so a heartbeat or a progress write touches no index, and a state change writes
 * only the two state indexes. The page itself is read with one BatchGetItem. See docs/capacity.md.
 *
 * | index | partition key | sort key | on |
 * | --- | --- | --- | --- |
 * | `jobsByTime` | `listKey` = `job#<shard>` | `jobId` | every job |
 * | `jobsByState` | `listKey` | `stateSort` = `<state>#<jobId>` | every job |
 * | `tenantJobsByTime` | `tenantKey` = `<tenant>#<shard>` | `jobId` | jobs of a tenant |
 * | `tenantJobsByState` | `tenantKey` | `stateSort` | jobs of a tenant |
 */
export const JOB_TABLE = {
  partitionKey: "jobId",
  /** Shards of each listing index's partition key (see docs/capacity.md for the figure). Changing it needs a backfill. */
  listShards: 8,
  /** `job#<shard>` on every job item. */
  listKeyAttribute: "listKey",
  /** The prefix of {@link JOB_TABLE.listKeyAttribute}'s value. */
  listKeyValue: "job",
  /** `<tenant>#<shard>` on the items of a tenant's jobs only. */
  tenantKeyAttribute: "tenantKey",
  /** `<state>#<jobId>`: rewritten by every state change (and only by those). */
  stateSortAttribute: "stateSort",
  byTimeIndex: "jobsByTime",
  byStateIndex: "jobsByState",
  byTenantIndex: "tenantJobsByTime",
  byTenantStateIndex: "tenantJobsByState",
  /** The non-key attributes every listing index projects: the filters of `GET /jobs`, which never change. */
  listProjection: ["name", "tags", "priority"],
  ttlAttribute: "expiresAt",
  /** Items that map an Idempotency-Key to a jobId live in the same table under this id prefix (`idem#<tenant>#<key>` for a tenant's key). */
  idempotencyPrefix: "idem#",
} as const;

/** The listing indexes with their keys, as `ensureJobTable` and infra create them. */
export const JOB_LIST_INDEXES = [
  { name: JOB_TABLE.byTimeIndex, hashKey: JOB_TABLE.listKeyAttribute, rangeKey: JOB_TABLE.partitionKey },
  { name: JOB_TABLE.byStateIndex, hashKey: JOB_TABLE.listKeyAttribute, rangeKey: JOB_TABLE.stateSortAttribute },
  { name: JOB_TABLE.byTenantIndex, hashKey: JOB_TABLE.tenantKeyAttribute, rangeKey: JOB_TABLE.partitionKey },
  { name: JOB_TABLE.byTenantStateIndex, hashKey: JOB_TABLE.tenantKeyAttribute, rangeKey: JOB_TABLE.stateSortAttribute },
] as const;

/**
 * The listing shard of a job: its id's last two characters (random in a ULID) modulo
 * {@link JOB_TABLE.listShards}, so jobs spread evenly and any writer can compute it from the id alone.
 */
export function listShardOf(jobId: string, shards: number = JOB_TABLE.listShards): number {
  const a = Math.max(0, B32.indexOf(jobId[jobId.length - 2] ?? "0"));
  const b = Math.max(0, B32.indexOf(jobId[jobId.length - 1] ?? "0"));
  return (a * 32 + b) % shards;
}

/** The `listKey` of one shard. */
export function listKeyOf(shard: number): string {
  return `${JOB_TABLE.listKeyValue}#${shard}`;
}

/** The `tenantKey` of one tenant's shard. */
export function tenantKeyOf(tenant: string, shard: number): string {
  return `${tenant}#${shard}`;
}

/** The `stateSort` of a job in a state. */
export function stateSortOf(state: JobState, jobId: string): string {
  return `${state}#${jobId}`;
}

/**
 * The listing index attributes a job item carries (the adapter writes them; a record never shows
 * them): the shard keys, fixed at creation, and the state sort key, rewritten by each transition.
 */
export function jobIndexAttributes(record: Pick<JobRecord, "jobId" | "state" | "tenant">): Record<string, string> {
  const shard = listShardOf(record.jobId);
  return {
    [JOB_TABLE.listKeyAttribute]: listKeyOf(shard),
    [JOB_TABLE.stateSortAttribute]: stateSortOf(record.state, record.jobId),
    ...(record.tenant ? { [JOB_TABLE.tenantKeyAttribute]: tenantKeyOf(record.tenant, shard) } : {}),
  };
}

/** The id of the item that holds an Idempotency-Key: keys are per tenant. */
export function idempotencyItemId(key: string, tenant?: string): string {
  return `${JOB_TABLE.idempotencyPrefix}${tenant ? `${tenant}#` : ""}${key}`;
}
