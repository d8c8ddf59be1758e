import { CreateTableCommand, DescribeTableCommand, ResourceNotFoundException, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { SpotqError, StaleTransitionError } from "../core/errors.ts";
import { JOB_TABLE, type JobRecord } from "../core/job.ts";
import { canTransition, isTerminal, type JobState } from "../core/job-state.ts";
import type { Expected, JobListPage, JobStore } from "../core/ports.ts";
import { withContext } from "./clients.ts";

export interface DynamoJobStoreOptions {
  tableName: string;
  /** Days a finished record (and an idempotency key) is kept before TTL removes it. @default 90 */
  recordRetentionDays?: number;
  /** How long a submit waits for another submit with the same idempotency key to write its record. @default 5000 */
  idempotencyWaitMs?: number;
}

/** An idempotency key older than this that names no record is an orphan of a submit that died. */
export const ORPHAN_KEY_MS = 10_000;

/** The jobs table on DynamoDB: every state change is a conditional UpdateItem. */
export class DynamoJobStore implements JobStore {
  readonly #db: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #retentionSeconds: number;
  readonly #idempotencyWaitMs: number;

  constructor(db: DynamoDBDocumentClient, options: DynamoJobStoreOptions) {
    this.#db = db;
    this.#table = options.tableName;
    this.#retentionSeconds = (options.recordRetentionDays ?? 90) * 86_400;
    this.#idempotencyWaitMs = options.idempotencyWaitMs ?? 5_000;
  }

  /**
   * Writes a new QUEUED record. With an idempotency key, first claims the key (an item
   * `idem#<key>` naming the job): when the key already names a job, returns that job instead.
   * When the key's first submit is still writing its record, waits up to `idempotencyWaitMs`,
   * then throws a SpotqError `IDEMPOTENCY_KEY_IN_USE` rather than create a second job; a key
   * whose submit died before writing its record is taken over after {@link ORPHAN_KEY_MS}.
   * If the record's own write fails, the key is given back so a retry is not blocked.
   */
  async create(record: JobRecord): Promise<{ created: boolean; record: JobRecord }> {
    const keyId = record.idempotencyKey ? JOB_TABLE.idempotencyPrefix + record.idempotencyKey : undefined;
    if (keyId) {
      const existing = await this.#claimKey(keyId, record);
      if (existing) return { created: false, record: existing };
    }
    try {
      await this.#db.send(
        new PutCommand({
          TableName: this.#table,
          Item: { ...record, [JOB_TABLE.listKeyAttribute]: JOB_TABLE.listKeyValue },
          ConditionExpression: "attribute_not_exists(#pk)",
          ExpressionAttributeNames: { "#pk": JOB_TABLE.partitionKey },
        }),
      );
    } catch (err) {
      if (keyId) await this.#releaseKey(keyId, record.jobId).catch(() => undefined); // best effort: it expires as an orphan otherwise
      throw withContext(`DynamoDB put job ${record.jobId}`, err);
    }
    return { created: true, record };
  }

  /** Claims an idempotency key for `record`; returns the job the key already names, if any. */
  async #claimKey(keyId: string, record: JobRecord): Promise<JobRecord | undefined> {
    const deadline = Date.now() + this.#idempotencyWaitMs;
    for (let round = 0; round < 1000; round++) {
      try {
        await this.#db.send(
          new PutCommand({
            TableName: this.#table,
            Item: {
              [JOB_TABLE.partitionKey]: keyId,
              targetJobId: record.jobId,
              createdAt: new Date().toISOString(),
              [JOB_TABLE.ttlAttribute]: Math.floor(Date.now() / 1000) + this.#retentionSeconds,
            },
            ConditionExpression: "attribute_not_exists(#pk)",
            ExpressionAttributeNames: { "#pk": JOB_TABLE.partitionKey },
          }),
        );
        return undefined;
      } catch (err) {
        if (!isConditionFailure(err)) throw withContext("DynamoDB put idempotency key", err);
      }
      const existing = await this.#getRaw(keyId);
      if (!existing) continue; // given back in between: claim it again
      const jobId = existing.targetJobId as string | undefined;
      const job = jobId ? await this.get(jobId) : undefined;
      if (job) return job;
      const age = Date.now() - Date.parse(String(existing.createdAt));
      if (!(age <= ORPHAN_KEY_MS)) {
        // Its submit died between the key and the record: take the key over (only if nobody else just did).
        await this.#releaseKey(keyId, jobId ?? "");
        continue;
      }
      // Its submit is still writing the record: wait for it, a little longer each round.
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise((r) => setTimeout(r, Math.min(left, 50 + round * 25)));
    }
    throw new SpotqError(
      "IDEMPOTENCY_KEY_IN_USE",
      `idempotency key ${record.idempotencyKey} is in use by a submit still in progress; retry in a few seconds`,
    );
  }

  /** Deletes an idempotency key item, only while it still names `jobId`. */
  async #releaseKey(keyId: string, jobId: string): Promise<void> {
    try {
      await this.#db.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: { [JOB_TABLE.partitionKey]: keyId },
          ConditionExpression: "targetJobId = :j",
          ExpressionAttributeValues: { ":j": jobId },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw withContext(`DynamoDB delete ${keyId}`, err);
    }
  }

  async get(jobId: string): Promise<JobRecord | undefined> {
    if (jobId.startsWith(JOB_TABLE.idempotencyPrefix)) return undefined;
    const item = await this.#getRaw(jobId);
    return item ? toRecord(item) : undefined;
  }

  async transition(jobId: string, expected: Expected, to: JobState, patch: Partial<JobRecord> = {}): Promise<JobRecord> {
    const from = states(expected);
    const illegal = from.filter((s) => !canTransition(s, to));
    if (illegal.length > 0) throw new Error(`illegal job transition ${illegal.join("|")} -> ${to} for job ${jobId}`);
    const now = new Date().toISOString();
    const extra: Partial<JobRecord> = { ...patch, state: to, updatedAt: now };
    if (isTerminal(to)) {
      extra.finishedAt ??= now;
      extra.expiresAt ??= Math.floor(Date.now() / 1000) + this.#retentionSeconds;
      extra.progress = undefined;
    } else if (!("expiresAt" in patch)) {
      extra.expiresAt = undefined; // a redriven job must not be expired by TTL while it runs again
    }
    return this.#conditionalUpdate(jobId, expected, extra, `move job ${jobId} to ${to}`);
  }

  async update(jobId: string, expected: Expected, patch: Partial<JobRecord>): Promise<JobRecord> {
    const { state: _ignored, ...rest } = patch;
    return this.#conditionalUpdate(jobId, expected, { ...rest, updatedAt: new Date().toISOString() }, `update job ${jobId}`);
  }

  async list(query: { state?: JobState; limit: number; next?: string }): Promise<JobListPage> {
    const byState = query.state !== undefined;
    let startKey: Record<string, unknown> | undefined;
    if (query.next) {
      try {
        startKey = JSON.parse(Buffer.from(query.next, "base64url").toString("utf8")) as Record<string, unknown>;
      } catch {
        throw new RangeError("next: not a cursor from a previous page");
      }
    }
    try {
      const r = await this.#db.send(
        new QueryCommand({
          TableName: this.#table,
          IndexName: byState ? JOB_TABLE.byStateIndex : JOB_TABLE.byTimeIndex,
          KeyConditionExpression: "#k = :k",
          ExpressionAttributeNames: { "#k": byState ? "state" : JOB_TABLE.listKeyAttribute },
          ExpressionAttributeValues: { ":k": byState ? query.state : JOB_TABLE.listKeyValue },
          ScanIndexForward: false,
          Limit: query.limit,
          ExclusiveStartKey: startKey,
        }),
      );
      const items = (r.Items ?? []).map(toRecord);
      const next = r.LastEvaluatedKey ? Buffer.from(JSON.stringify(r.LastEvaluatedKey)).toString("base64url") : undefined;
      return next ? { items, next } : { items };
    } catch (err) {
      throw withContext("DynamoDB query jobs", err);
    }
  }

  async remove(jobId: string): Promise<void> {
    const job = await this.get(jobId);
    await this.#deleteRaw(jobId);
    if (job?.idempotencyKey) await this.#releaseKey(JOB_TABLE.idempotencyPrefix + job.idempotencyKey, jobId);
  }

  async #conditionalUpdate(jobId: string, expected: Expected, patch: Partial<JobRecord>, what: string): Promise<JobRecord> {
    const names: Record<string, string> = { "#state": "state", "#pk": JOB_TABLE.partitionKey };
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    let i = 0;
    for (const [k, v] of Object.entries(patch)) {
      if (k === JOB_TABLE.partitionKey) continue;
      const n = `#f${i}`;
      names[n] = k;
      if (v === undefined) removes.push(n);
      else {
        values[`:v${i}`] = v;
        sets.push(`${n} = :v${i}`);
      }
      i++;
    }
    const from = states(expected);
    from.forEach((s, j) => (values[`:s${j}`] = s));
    let condition = `attribute_exists(#pk) AND #state IN (${from.map((_, j) => `:s${j}`).join(", ")})`;
    if (expected.attempts !== undefined) {
      names["#attempts"] = "attempts";
      values[":attempts"] = expected.attempts;
      condition += " AND #attempts = :attempts";
    }
    if (expected.dispatchId !== undefined) {
      names["#dispatchId"] = "dispatchId";
      values[":dispatchId"] = expected.dispatchId;
      condition += " AND #dispatchId = :dispatchId";
    }
    const expression = [sets.length ? `SET ${sets.join(", ")}` : "", removes.length ? `REMOVE ${removes.join(", ")}` : ""]
      .filter(Boolean)
      .join(" ");
    try {
      const r = await this.#db.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { [JOB_TABLE.partitionKey]: jobId },
          UpdateExpression: expression,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: "ALL_NEW",
        }),
      );
      return toRecord(r.Attributes ?? {});
    } catch (err) {
      if (!isConditionFailure(err)) throw withContext(`DynamoDB ${what}`, err);
      const current = await this.get(jobId);
      const found = current
        ? `it is ${current.state} at attempt ${current.attempts}${expected.dispatchId !== undefined ? ` with dispatch ${current.dispatchId ?? "(none)"}` : ""}`
        : "it does not exist";
      const wanted = `${from.join("|")}${expected.attempts !== undefined ? ` at attempt ${expected.attempts}` : ""}${expected.dispatchId !== undefined ? ` with dispatch ${expected.dispatchId}` : ""}`;
      throw new StaleTransitionError(jobId, `cannot ${what}: expected ${wanted}, but ${found}`, { cause: err });
    }
  }

  async #getRaw(id: string): Promise<Record<string, unknown> | undefined> {
    try {
      const r = await this.#db.send(new GetCommand({ TableName: this.#table, Key: { [JOB_TABLE.partitionKey]: id }, ConsistentRead: true }));
      return r.Item;
    } catch (err) {
      throw withContext(`DynamoDB get ${id}`, err);
    }
  }

  async #deleteRaw(id: string): Promise<void> {
    try {
      await this.#db.send(new DeleteCommand({ TableName: this.#table, Key: { [JOB_TABLE.partitionKey]: id } }));
    } catch (err) {
      throw withContext(`DynamoDB delete ${id}`, err);
    }
  }
}

function states(expected: Expected): JobState[] {
  return (Array.isArray(expected.state) ? [...expected.state] : [expected.state]) as JobState[];
}

function toRecord(item: Record<string, unknown>): JobRecord {
  const { [JOB_TABLE.listKeyAttribute]: _listKey, ...rest } = item;
  return rest as unknown as JobRecord;
}

function isConditionFailure(err: unknown): boolean {
  return (err as { name?: string })?.name === "ConditionalCheckFailedException";
}

/**
 * Creates the jobs table as infra does (same keys and indexes), for the local stack and tests.
 * Does nothing if it exists.
 */
export async function ensureJobTable(db: DynamoDBDocumentClient, tableName: string): Promise<void> {
  try {
    await db.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException) && (err as { name?: string }).name !== "ResourceNotFoundException")
      throw withContext(`DynamoDB describe table ${tableName}`, err);
  }
  const projection = { ProjectionType: "ALL" as const };
  await db.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [
        { AttributeName: JOB_TABLE.partitionKey, AttributeType: "S" },
        { AttributeName: "state", AttributeType: "S" },
        { AttributeName: JOB_TABLE.listKeyAttribute, AttributeType: "S" },
      ],
      KeySchema: [{ AttributeName: JOB_TABLE.partitionKey, KeyType: "HASH" }],
      GlobalSecondaryIndexes: [
        {
          IndexName: JOB_TABLE.byStateIndex,
          KeySchema: [
            { AttributeName: "state", KeyType: "HASH" },
            { AttributeName: JOB_TABLE.partitionKey, KeyType: "RANGE" },
          ],
          Projection: projection,
        },
        {
          IndexName: JOB_TABLE.byTimeIndex,
          KeySchema: [
            { AttributeName: JOB_TABLE.listKeyAttribute, KeyType: "HASH" },
            { AttributeName: JOB_TABLE.partitionKey, KeyType: "RANGE" },
          ],
          Projection: projection,
        },
      ],
    }),
  );
  for (let i = 0; i < 100; i++) {
    const d = await db.send(new DescribeTableCommand({ TableName: tableName }));
    if (d.Table?.TableStatus === "ACTIVE") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await db
    .send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { Enabled: true, AttributeName: JOB_TABLE.ttlAttribute } }))
    .catch(() => undefined); // dynalite has no TTL API; AWS gets it from infra
}
