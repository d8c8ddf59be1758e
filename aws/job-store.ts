import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, ResourceNotFoundException, UpdateTimeToLiveCommand, type CreateTableCommandInput, type TableDescription } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from "@aws-sdk/lib-dynamodb";
import { SpotqError, StaleTransitionError } from "../core/errors.ts";
import {
  idempotencyItemId,
  isJobId,
  JOB_LIST_INDEXES,
  JOB_TABLE,
  jobIndexAttributes,
  listKeyOf,
  stateSortOf,
  tenantKeyOf,
  type JobRecord,
} from "../core/job.ts";
import { canTransition, isTerminal, type JobState } from "../core/job-state.ts";
import { priorityOf } from "../core/priority.ts";
import type { Expected, JobListPage, JobListQuery, JobStore } from "../core/ports.ts";
import { withContext } from "./clients.ts";

export interface DynamoJobStoreOptions {
  tableName: string;
  /** Days a finished record (and an idempotency key) is kept before TTL removes it. @default 90 */
  recordRetentionDays?: number;
  /** How long a submit waits for another submit with the same idempotency key to write its record. @default 5000 */
  idempotencyWaitMs?: number;
  /** Index items a filtered listing reads at most per request. @default {@link LIST_MAX_EVALUATED} */
  listMaxEvaluated?: number;
  /** Index items one shard query of a filtered listing reads. @default {@link LIST_FILTERED_QUERY_LIMIT} */
  listFilteredQueryLimit?: number;
}

/** An idempotency key older than this that names no record is an orphan of a submit that died. */
export const ORPHAN_KEY_MS = 10_000;

/** Index items one shard query of a filtered listing reads at a time. */
export const LIST_FILTERED_QUERY_LIMIT = 100;
/**
 * Index items one filtered listing reads at most before it answers with what it found and a
 * cursor to go on from (a rare name or tag must not read a whole index in one request).
 */
export const LIST_MAX_EVALUATED = 2_000;

/** Attributes of a job item that no write may change after its creation (or that only the adapter writes). */
const FIXED_ATTRIBUTES: ReadonlySet<string> = new Set([
  JOB_TABLE.partitionKey,
  "tenant",
  "name",
  "tags",
  "priority",
  JOB_TABLE.listKeyAttribute,
  JOB_TABLE.tenantKeyAttribute,
  JOB_TABLE.stateSortAttribute,
]);

/** The jobs table on DynamoDB: every state change is a conditional UpdateItem. */
export class DynamoJobStore implements JobStore {
  readonly #db: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #retentionSeconds: number;
  readonly #idempotencyWaitMs: number;
  readonly #listMaxEvaluated: number;
  readonly #listFilteredQueryLimit: number;

  constructor(db: DynamoDBDocumentClient, options: DynamoJobStoreOptions) {
    this.#db = db;
    this.#table = options.tableName;
    this.#retentionSeconds = (options.recordRetentionDays ?? 90) * 86_400;
    this.#idempotencyWaitMs = options.idempotencyWaitMs ?? 5_000;
    this.#listMaxEvaluated = options.listMaxEvaluated ?? LIST_MAX_EVALUATED;
    this.#listFilteredQueryLimit = options.listFilteredQueryLimit ?? LIST_FILTERED_QUERY_LIMIT;
  }

  /**
   * Writes a new QUEUED record with its listing index keys (core/job.ts `jobIndexAttributes`). With
   * an idempotency key, first claims the key (an item `idem#<key>`, `idem#<tenant>#<key>` for a
   * tenant's job: keys are per tenant) naming the job: when the key already names a job, returns
   * that job instead.
   * When the key's first submit is still writing its record, waits up to `idempotencyWaitMs`,
   * then throws a SpotqError `IDEMPOTENCY_KEY_IN_USE` rather than create a second job; a key
   * whose submit died before writing its record is taken over after {@link ORPHAN_KEY_MS}.
   * If the record's own write fails, the key is given back so a retry is not blocked.
   */
  async create(record: JobRecord): Promise<{ created: boolean; record: JobRecord }> {
    const keyId = record.idempotencyKey ? idempotencyItemId(record.idempotencyKey, record.tenant) : undefined;
    if (keyId) {
      const existing = await this.#claimKey(keyId, record);
      if (existing) return { created: false, record: existing };
    }
    try {
      await this.#db.send(
        new PutCommand({
          TableName: this.#table,
          Item: { ...record, ...jobIndexAttributes(record) },
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
    const extra: Record<string, unknown> = { ...patch, state: to, updatedAt: now, [JOB_TABLE.stateSortAttribute]: stateSortOf(to, jobId) };
    if (isTerminal(to)) {
      extra.finishedAt ??= now;
      extra.expiresAt ??= Math.floor(Date.now() / 1000) + this.#retentionSeconds;
      extra.progress = undefined;
    } else if (!("expiresAt" in patch)) {
      extra.expiresAt = undefined; // a redriven job must not be expired by TTL while it runs again
    }
    return this.#conditionalUpdate(jobId, expected, extra, `move job ${jobId} to ${to}`, true);
  }

  async update(jobId: string, expected: Expected, patch: Partial<JobRecord>): Promise<JobRecord> {
    const { state: _ignored, ...rest } = patch;
    return this.#conditionalUpdate(jobId, expected, { ...rest, updatedAt: new Date().toISOString() }, `update job ${jobId}`);
  }

  /**
   * Newest first, from the listing indexes (core/job.ts JOB_TABLE): the tenant's own indexes when
   * `tenant` is given, else the global ones; the state indexes when `state` is. Each of the N
   * shards is queried below its own bound and the results are merged by job id (time order), so a
   * page is the newest `limit` matches over all shards. `name`/`namePrefix`/`tags` filter on the
   * index (they are projected there); a filtered listing reads at most {@link LIST_MAX_EVALUATED}
   * index items, then answers with what it found and a cursor. The page's records come from one
   * BatchGetItem; a record that left the listing in between (another state, removed) is left out.
   * `next` is an opaque cursor of per-shard bounds; a cursor that is not one is a RangeError.
   */
  async list(query: JobListQuery): Promise<JobListPage> {
    const shards = decodeShardCursor(query.next);
    const filtered = query.name !== undefined || query.namePrefix !== undefined || (query.tags?.length ?? 0) > 0 || query.priority !== undefined;
    const fetchLimit = filtered ? Math.max(query.limit + 1, this.#listFilteredQueryLimit) : query.limit + 1;
    let evaluated = 0;
    const fetch = async (s: ShardScan) => {
      const r = await this.#queryShard(query, s, fetchLimit);
      evaluated += r.ScannedCount ?? r.Count ?? 0;
      for (const item of r.Items ?? []) {
        const id = item[JOB_TABLE.partitionKey] as string;
        if (id !== s.bound) s.buffer.push(id); // the state indexes' bound is inclusive (BETWEEN)
      }
      s.startKey = r.LastEvaluatedKey;
      s.exhausted = !r.LastEvaluatedKey;
      if (r.LastEvaluatedKey) s.scannedTo = r.LastEvaluatedKey[JOB_TABLE.partitionKey] as string;
    };

    const ids: string[] = [];
    while (ids.length < query.limit) {
      const empty = shards.filter((s) => !s.exhausted && s.buffer.length === 0);
      if (empty.length > 0 && (evaluated < this.#listMaxEvaluated || !filtered)) {
        await Promise.all(empty.map(fetch));
        continue;
      }
      let best: ShardScan | undefined;
      for (const s of shards) if (s.buffer.length > 0 && (!best || s.buffer[0]! > best.buffer[0]!)) best = s;
      if (!best) break;
      const head = best.buffer[0]!;
      // Only when no shard can still hold a newer match: each is exhausted, has a head of its own
      // (older, since this is the newest), or was read down below this one.
      const open = shards.some((t) => t !== best && !t.exhausted && t.buffer.length === 0 && !(t.scannedTo !== undefined && t.scannedTo < head));
      if (open) break;
      best.buffer.shift();
      best.lastTaken = head;
      ids.push(head);
    }

    const bounds = shards.map((s): ShardBound => {
      if (s.exhausted && s.buffer.length === 0) return 0;
      if (s.buffer.length === 0) return s.scannedTo ?? s.bound;
      return s.lastTaken ?? s.bound; // matches read but not taken: read them again next time
    });
    const items = (await this.#getMany(ids)).filter((r) => matchesListQuery(r, query));
    const next = bounds.every((b) => b === 0) ? undefined : encodeShardCursor(bounds);
    return next ? { items, next } : { items };
  }

  /** One query of one shard of the index `query` lists by, below the shard's bound. */
  async #queryShard(query: JobListQuery, s: ShardScan, limit: number) {
    const names: Record<string, string> = { "#h": "", "#r": "" };
    const values: Record<string, unknown> = {};
    let keyCondition: string;
    const hashName = query.tenant !== undefined ? JOB_TABLE.tenantKeyAttribute : JOB_TABLE.listKeyAttribute;
    names["#h"] = hashName;
    values[":h"] = query.tenant !== undefined ? tenantKeyOf(query.tenant, s.shard) : listKeyOf(s.shard);
    let index: string;
    if (query.state !== undefined) {
      index = query.tenant !== undefined ? JOB_TABLE.byTenantStateIndex : JOB_TABLE.byStateIndex;
      names["#r"] = JOB_TABLE.stateSortAttribute;
      values[":lo"] = stateSortOf(query.state, "");
      // "~" sorts after every id character: no bound means the whole state.
      values[":hi"] = stateSortOf(query.state, s.bound ?? "~");
      keyCondition = "#h = :h AND #r BETWEEN :lo AND :hi";
    } else {
      index = query.tenant !== undefined ? JOB_TABLE.byTenantIndex : JOB_TABLE.byTimeIndex;
      names["#r"] = JOB_TABLE.partitionKey;
      if (s.bound !== null) values[":b"] = s.bound;
      keyCondition = s.bound !== null ? "#h = :h AND #r < :b" : "#h = :h";
      if (s.bound === null) delete names["#r"];
    }
    const filters: string[] = [];
    if (query.name !== undefined) {
      names["#name"] = "name";
      values[":name"] = query.name;
      filters.push("#name = :name");
    }
    if (query.namePrefix !== undefined) {
      names["#name"] = "name";
      values[":namePrefix"] = query.namePrefix;
      filters.push("begins_with(#name, :namePrefix)");
    }
    if (query.priority !== undefined) {
      names["#priority"] = "priority";
      values[":priority"] = query.priority;
      // A record from before priorities has none: it is normal.
      filters.push(query.priority === "normal" ? "(attribute_not_exists(#priority) OR #priority = :priority)" : "#priority = :priority");
    }
    (query.tags ?? []).forEach((t, i) => {
      names["#tags"] = "tags";
      names[`#tk${i}`] = t.key;
      if (t.value === undefined) filters.push(`attribute_exists(#tags.#tk${i})`);
      else {
        values[`:tv${i}`] = t.value;
        filters.push(`#tags.#tk${i} = :tv${i}`);
      }
    });
    try {
      return await this.#db.send(
        new QueryCommand({
          TableName: this.#table,
          IndexName: index,
          KeyConditionExpression: keyCondition,
          ...(filters.length ? { FilterExpression: filters.join(" AND ") } : {}),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ScanIndexForward: false,
          Limit: limit,
          ...(s.startKey ? { ExclusiveStartKey: s.startKey } : {}),
        }),
      );
    } catch (err) {
      throw withContext(`DynamoDB query jobs (${index}, shard ${s.shard})`, err);
    }
  }

  /** The records of these ids, in this order (one BatchGetItem of up to 100 keys; unprocessed keys retried). */
  async #getMany(ids: string[]): Promise<JobRecord[]> {
    const found = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < ids.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = ids.slice(i, i + 100).map((id) => ({ [JOB_TABLE.partitionKey]: id }));
      for (let round = 0; keys && keys.length > 0; round++) {
        if (round > 0) {
          if (round > 5) throw new SpotqError("DYNAMODB_UNPROCESSED", `DynamoDB batch get jobs: ${keys.length} keys still unprocessed after ${round} rounds`);
          await new Promise((r) => setTimeout(r, 25 * 2 ** round));
        }
        let r;
        try {
          r = await this.#db.send(new BatchGetCommand({ RequestItems: { [this.#table]: { Keys: keys } } }));
        } catch (err) {
          throw withContext("DynamoDB batch get jobs", err);
        }
        for (const item of r.Responses?.[this.#table] ?? []) found.set(item[JOB_TABLE.partitionKey] as string, item);
        keys = r.UnprocessedKeys?.[this.#table]?.Keys as Record<string, unknown>[] | undefined;
      }
    }
    return ids.flatMap((id) => {
      const item = found.get(id);
      return item ? [toRecord(item)] : [];
    });
  }

  async remove(jobId: string): Promise<void> {
    const job = await this.get(jobId);
    await this.#deleteRaw(jobId);
    if (job?.idempotencyKey) await this.#releaseKey(idempotencyItemId(job.idempotencyKey, job.tenant), jobId);
  }

  /**
   * The conditional UpdateItem of every state change and progress write. It never touches a fixed
   * attribute (tenant, name, tags, the listing shard keys), so a heartbeat writes no index at all;
   * `stateSort` is written by transitions only (`withStateSort`).
   */
  async #conditionalUpdate(jobId: string, expected: Expected, patch: Record<string, unknown>, what: string, withStateSort = false): Promise<JobRecord> {
    const names: Record<string, string> = { "#state": "state", "#pk": JOB_TABLE.partitionKey };
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    let i = 0;
    for (const [k, v] of Object.entries(patch)) {
      if (FIXED_ATTRIBUTES.has(k) && !(withStateSort && k === JOB_TABLE.stateSortAttribute)) continue;
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
  const { [JOB_TABLE.listKeyAttribute]: _l, [JOB_TABLE.tenantKeyAttribute]: _t, [JOB_TABLE.stateSortAttribute]: _s, ...rest } = item;
  return rest as unknown as JobRecord;
}

/** Whether a record (read after its index entry) still answers the listing: its state may have moved on. */
export function matchesListQuery(r: JobRecord, q: JobListQuery): boolean {
  if (q.state !== undefined && r.state !== q.state) return false;
  if (q.tenant !== undefined && r.tenant !== q.tenant) return false;
  if (q.name !== undefined && r.name !== q.name) return false;
  if (q.namePrefix !== undefined && !(r.name ?? "").startsWith(q.namePrefix)) return false;
  if (q.priority !== undefined && priorityOf(r) !== q.priority) return false;
  for (const t of q.tags ?? []) {
    const v = r.tags?.[t.key];
    if (v === undefined || (t.value !== undefined && v !== t.value)) return false;
  }
  return true;
}

/** Where one shard's listing goes on: below this job id, from the newest (null), or done (0). */
type ShardBound = string | null | 0;

/** One shard's side of a listing in progress. */
interface ShardScan {
  shard: number;
  /** Exclusive upper bound of this request (null: from the newest). */
  bound: string | null;
  /** Matches read and not yet taken, newest first. */
  buffer: string[];
  /** Where the next query of this request starts (DynamoDB's LastEvaluatedKey). */
  startKey?: Record<string, unknown>;
  /** No more items in this shard. */
  exhausted: boolean;
  /** The last index item read: everything above it (below the bound) has been seen. */
  scannedTo?: string;
  /** The last id this page took from the shard. */
  lastTaken?: string;
}

const CURSOR_VERSION = 1;

function encodeShardCursor(bounds: ShardBound[]): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, b: bounds })).toString("base64url");
}

function decodeShardCursor(next: string | undefined): ShardScan[] {
  const fresh = (shard: number, bound: ShardBound): ShardScan => ({ shard, bound: bound === 0 ? null : bound, buffer: [], exhausted: bound === 0 });
  if (next === undefined) return Array.from({ length: JOB_TABLE.listShards }, (_, i) => fresh(i, null));
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(next, "base64url").toString("utf8"));
  } catch {
    throw new RangeError("next: not a cursor from a previous page");
  }
  const c = v as { v?: unknown; b?: unknown };
  const ok =
    c !== null &&
    typeof c === "object" &&
    c.v === CURSOR_VERSION &&
    Array.isArray(c.b) &&
    c.b.length === JOB_TABLE.listShards &&
    c.b.every((b) => b === 0 || b === null || isJobId(b));
  if (!ok) throw new RangeError("next: not a cursor from a previous page");
  return (c.b as ShardBound[]).map((b, i) => fresh(i, b));
}

function isConditionFailure(err: unknown): boolean {
  return (err as { name?: string })?.name === "ConditionalCheckFailedException";
}

/**
 * Creates the jobs table as infra does (same key, the listing indexes of core/job.ts
 * JOB_LIST_INDEXES, the same projection), for the local stack and tests. Does nothing if it exists
 * in this shape. A local table of the shape before the sharded indexes (a `.spotq/local` from
 * before) is rebuilt in place, keeping every item and giving job items their index keys: dynalite
 * cannot add an index to a table (AWS can: docs/capacity.md has the migration there).
 */
export async function ensureJobTable(db: DynamoDBDocumentClient, tableName: string): Promise<void> {
  let existing: TableDescription | undefined;
  try {
    existing = (await db.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException) && (err as { name?: string }).name !== "ResourceNotFoundException")
      throw withContext(`DynamoDB describe table ${tableName}`, err);
  }
  if (existing) {
    const names = new Set((existing.GlobalSecondaryIndexes ?? []).map((g) => g.IndexName));
    // A table whose indexes project other attributes (e.g. from before `priority`) is rebuilt too: a filter on an attribute an index lacks matches nothing.
    const wanted = [...JOB_TABLE.listProjection].sort().join(",");
    const projected = (existing.GlobalSecondaryIndexes ?? []).every((g) => [...(g.Projection?.NonKeyAttributes ?? [])].sort().join(",") === wanted);
    if (JOB_LIST_INDEXES.every((g) => names.has(g.name)) && projected) return;
    await rebuildLocalTable(db, tableName);
    return;
  }
  await createJobTable(db, tableName);
}

/** Copies a local table's items out, creates the table anew and writes them back with their index keys. */
async function rebuildLocalTable(db: DynamoDBDocumentClient, tableName: string): Promise<void> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  await db.send(new DeleteTableCommand({ TableName: tableName }));
  for (let i = 0; i < 100; i++) {
    try {
      await db.send(new DescribeTableCommand({ TableName: tableName }));
      await new Promise((r) => setTimeout(r, 50));
    } catch {
      break;
    }
  }
  await createJobTable(db, tableName);
  const rewritten = items.map((item) => {
    const id = String(item[JOB_TABLE.partitionKey]);
    if (id.startsWith(JOB_TABLE.idempotencyPrefix) || typeof item.state !== "string") return item;
    const { [JOB_TABLE.listKeyAttribute]: _old, ...rest } = item;
    return { ...rest, ...jobIndexAttributes({ jobId: id, state: item.state as JobState, ...(typeof item.tenant === "string" ? { tenant: item.tenant } : {}) }) };
  });
  for (let i = 0; i < rewritten.length; i += 25) {
    let requests: { PutRequest: { Item: Record<string, unknown> } }[] | undefined = rewritten.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
    for (let round = 0; requests?.length; round++) {
      if (round > 10) throw new SpotqError("DYNAMODB_UNPROCESSED", `rebuilding ${tableName}: items still unprocessed`);
      const r = await db.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
      requests = r.UnprocessedItems?.[tableName] as typeof requests;
    }
  }
}

/**
 * The jobs table's CreateTable input: the key, the list indexes, and what they project
 * (`JOB_TABLE.listProjection`; a test passes an older list to build a table of an earlier shape).
 */
export function jobTableInput(tableName: string, projected: readonly string[] = JOB_TABLE.listProjection): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [JOB_TABLE.partitionKey, JOB_TABLE.listKeyAttribute, JOB_TABLE.tenantKeyAttribute, JOB_TABLE.stateSortAttribute].map((name) => ({
      AttributeName: name,
      AttributeType: "S" as const,
    })),
    KeySchema: [{ AttributeName: JOB_TABLE.partitionKey, KeyType: "HASH" }],
    GlobalSecondaryIndexes: JOB_LIST_INDEXES.map((g) => ({
      IndexName: g.name,
      KeySchema: [
        { AttributeName: g.hashKey, KeyType: "HASH" as const },
        { AttributeName: g.rangeKey, KeyType: "RANGE" as const },
      ],
      Projection: { ProjectionType: "INCLUDE" as const, NonKeyAttributes: [...projected] },
    })),
  };
}

async function createJobTable(db: DynamoDBDocumentClient, tableName: string): Promise<void> {
  await db.send(new CreateTableCommand(jobTableInput(tableName)));
  for (let i = 0; i < 100; i++) {
    const d = await db.send(new DescribeTableCommand({ TableName: tableName }));
    if (d.Table?.TableStatus === "ACTIVE") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await db
    .send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { Enabled: true, AttributeName: JOB_TABLE.ttlAttribute } }))
    .catch(() => undefined); // dynalite has no TTL API; AWS gets it from infra
}

/**
 * The migration of a table written before the sharded listing indexes (docs/capacity.md): gives
 * every job item the index keys of core/job.ts `jobIndexAttributes` (a conditional UpdateItem per
 * item whose keys differ; the old constant `listKey = "job"` is replaced). Idempotent; safe while
 * the API and workers run (a transition racing it writes the same keys). Returns the items updated.
 */
export async function backfillIndexKeys(db: DynamoDBDocumentClient, tableName: string, options: { segments?: number } = {}): Promise<number> {
  const segments = options.segments ?? 4;
  let updated = 0;
  await Promise.all(
    Array.from({ length: segments }, async (_, segment) => {
      let start: Record<string, unknown> | undefined;
      do {
        let page;
        try {
          page = await db.send(new ScanCommand({ TableName: tableName, Segment: segment, TotalSegments: segments, ExclusiveStartKey: start }));
        } catch (err) {
          throw withContext(`DynamoDB scan ${tableName}`, err);
        }
        for (const item of page.Items ?? []) {
          const id = item[JOB_TABLE.partitionKey] as string;
          if (id.startsWith(JOB_TABLE.idempotencyPrefix) || typeof item.state !== "string") continue;
          const want = jobIndexAttributes({ jobId: id, state: item.state as JobState, ...(typeof item.tenant === "string" ? { tenant: item.tenant } : {}) });
          const changes = Object.entries(want).filter(([k, v]) => item[k] !== v);
          if (changes.length === 0) continue;
          const names: Record<string, string> = { "#pk": JOB_TABLE.partitionKey, "#state": "state" };
          const values: Record<string, unknown> = { ":state": item.state };
          changes.forEach(([k, v], i) => {
            names[`#a${i}`] = k;
            values[`:a${i}`] = v;
          });
          try {
            await db.send(
              new UpdateCommand({
                TableName: tableName,
                Key: { [JOB_TABLE.partitionKey]: id },
                UpdateExpression: `SET ${changes.map((_, i) => `#a${i} = :a${i}`).join(", ")}`,
                // The state sort key follows the state read: a transition in between wrote its own.
                ConditionExpression: "attribute_exists(#pk) AND #state = :state",
                ExpressionAttributeNames: names,
                ExpressionAttributeValues: values,
              }),
            );
            updated++;
          } catch (err) {
            if (!isConditionFailure(err)) throw withContext(`DynamoDB backfill ${id}`, err);
          }
        }
        start = page.LastEvaluatedKey;
      } while (start);
    }),
  );
  return updated;
}
