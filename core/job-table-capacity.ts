import { defaultFleetConfig } from "./fleet-config.ts";
import { idempotencyItemId, JOB_LIST_INDEXES, JOB_TABLE, jobIndexAttributes, type JobRecord } from "./job.ts";
import type { JobState } from "./job-state.ts";
import { BOOLEAN_KEYS, INTEGER_KEYS, PATH_KEYS } from "./request.ts";

/**
 * The capacity model of the jobs table (issue 9 §9, docs/capacity.md): every write a job's life
 * makes, what each costs in the table and in each index, the load on the busiest index partition
 * at a given rate, and the on-demand bill. Pure: the item images it prices are built with the
 * adapter's own helpers (core/job.ts `jobIndexAttributes`, `JOB_LIST_INDEXES`, `listProjection`),
 * and test/integration/aws/job-table-capacity.test.ts checks it against the writes a real job
 * makes through the API and a worker on the emulators, so the doc's figures cannot drift.
 */

/** DynamoDB's figures the model uses (us-east-1, standard table class). */
export const DYNAMODB = {
  /**
   * Per partition, of a table or a GSI alike: 1,000 write units and 3,000 read units per second.
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html
   */
  partitionWriteUnitsPerSecond: 1_000,
  partitionReadUnitsPerSecond: 3_000,
  /** A write unit writes up to 1 KB; a read unit reads up to 4 KB (half a unit eventually consistent). https://aws.amazon.com/dynamodb/pricing/on-demand/ */
  writeUnitBytes: 1_024,
  readUnitBytes: 4_096,
  /** On-demand prices, us-east-1, since November 2024 (https://aws.amazon.com/dynamodb/pricing/on-demand/). */
  usdPerMillionWriteUnits: 0.625,
  usdPerMillionReadUnits: 0.125,
} as const;

/** A DynamoDB item as the model sees it (plain JSON values). */
export type Item = Record<string, unknown>;

/** A global secondary index's shape: its keys and what it projects. */
export interface IndexShape {
  name: string;
  hashKey: string;
  rangeKey: string;
  projection: "ALL" | "KEYS_ONLY" | readonly string[];
}

/** The indexes of this design (core/job.ts). */
export const CURRENT_INDEXES: readonly IndexShape[] = JOB_LIST_INDEXES.map((g) => ({ ...g, projection: JOB_TABLE.listProjection }));

/**
 * The indexes before the reshape, for comparison: `byState` on the state (six values) and `byTime`
 * on one constant, both projecting ALL attributes. Their items carried `listKey = "job"`.
 */
export const PREVIOUS_INDEXES: readonly IndexShape[] = [
  { name: "byState", hashKey: "state", rangeKey: JOB_TABLE.partitionKey, projection: "ALL" },
  { name: "byTime", hashKey: JOB_TABLE.listKeyAttribute, rangeKey: JOB_TABLE.partitionKey, projection: "ALL" },
];

/**
 * An item's size as DynamoDB counts it: attribute names plus values (strings in UTF-8 bytes,
 * numbers 1 byte per two significant digits plus 1, booleans and null 1, lists and maps 3 plus 1
 * per element plus their contents).
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
 */
export function itemSizeBytes(item: Item): number {
  let n = 0;
  for (const [k, v] of Object.entries(item)) if (v !== undefined) n += Buffer.byteLength(k) + valueSize(v);
  return n;
}

function valueSize(v: unknown): number {
  if (v === null || typeof v === "boolean") return 1;
  if (typeof v === "string") return Buffer.byteLength(v);
  if (typeof v === "number") {
    const digits = String(Math.abs(v)).replace(".", "").replace(/^0+/, "").replace(/0+$/, "").length || 1;
    return Math.ceil(digits / 2) + 1;
  }
  if (Array.isArray(v)) return 3 + v.reduce((s: number, x) => s + 1 + valueSize(x), 0);
  if (typeof v === "object") return 3 + Object.entries(v as Item).reduce((s, [k, x]) => (x === undefined ? s : s + 1 + Buffer.byteLength(k) + valueSize(x)), 0);
  return 0;
}

/** Write units of writing an item (or index entry) of this size. */
export function writeUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / DYNAMODB.writeUnitBytes));
}

/** The entry an item makes in an index: its keys (the index's and the table's) and the projected attributes. */
function indexEntry(item: Item, index: IndexShape): Item | undefined {
  if (item[index.hashKey] === undefined || item[index.rangeKey] === undefined) return undefined; // sparse: not in the index
  if (index.projection === "ALL") return item;
  const keep = new Set([index.hashKey, index.rangeKey, JOB_TABLE.partitionKey, ...(index.projection === "KEYS_ONLY" ? [] : index.projection)]);
  return Object.fromEntries(Object.entries(item).filter(([k]) => keep.has(k)));
}

/**
 * The write units one table write costs in one index, by DynamoDB's rules: none when the item is
 * in the index neither before nor after, or when no key or projected attribute changed; one write
 * to add, remove or update the entry; two (a delete and a put) when an index key changed.
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Writes
 */
export function indexWriteUnits(before: Item | undefined, after: Item | undefined, index: IndexShape): number {
  const a = before ? indexEntry(before, index) : undefined;
  const b = after ? indexEntry(after, index) : undefined;
  if (!a && !b) return 0;
  if (!a) return writeUnits(itemSizeBytes(b!));
  if (!b) return writeUnits(itemSizeBytes(a));
  if (a[index.hashKey] !== b[index.hashKey] || a[index.rangeKey] !== b[index.rangeKey]) return writeUnits(itemSizeBytes(a)) + writeUnits(itemSizeBytes(b));
  return canonical(a) === canonical(b) ? 0 : writeUnits(itemSizeBytes(b));
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object")
    return `{${Object.entries(v as Item)
      .filter(([, x]) => x !== undefined)
      .sort(([x], [y]) => (x < y ? -1 : 1))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

/** What a write of a job's life is, for the tables. */
export type WriteStep = "idempotency key" | "record" | "claim" | "phase" | "heartbeat" | "finish";

/** Who makes each step. */
export const STEP_WRITER: Readonly<Record<WriteStep, "api" | "worker">> = {
  "idempotency key": "api",
  record: "api",
  claim: "worker",
  phase: "worker",
  heartbeat: "worker",
  finish: "worker",
};

/** One table write: the item before and after it. */
export interface TableWrite {
  step: WriteStep;
  before?: Item;
  after: Item;
}

/** The shape of a job's life the model prices. */
export interface JobLifeShape {
  /** Seconds from the claim to the finish (download, process, upload). @default 600 */
  runSeconds?: number;
  /** The worker's heartbeat. @default the config's `jobs.heartbeatSeconds` */
  heartbeatSeconds?: number;
  /** Submitted with an Idempotency-Key (every trigger's job is). @default true */
  idempotencyKey?: boolean;
  /** The job belongs to a tenant (it is then in the tenant indexes too). @default true */
  tenant?: boolean;
  /** Model the previous design's items (`listKey = "job"`, no shard or state sort keys). @default false */
  previousDesign?: boolean;
}

/** Heartbeat writes of a run: one per full heartbeat interval. */
export function heartbeatsOf(runSeconds: number, heartbeatSeconds: number): number {
  return Math.floor(runSeconds / heartbeatSeconds);
}

/**
 * The table writes of one job that succeeds on its first attempt, as the API and a worker make
 * them (api/submit-job.ts, aws/job-store.ts; worker/job-run.ts, worker/heartbeat.ts): the key
 * and the record (PutItem), the claim (QUEUED → RUNNING, with the download phase), the process
 * and upload phases, a progress write per heartbeat, and the finish (RUNNING → SUCCEEDED).
 * Events and analytics lines go to EventBridge and S3: no table write. Item images are typical
 * (the Medit fixture's keys, ids and timestamps of real lengths).
 */
export function jobLifeWrites(shape: JobLifeShape = {}): TableWrite[] {
  const runSeconds = shape.runSeconds ?? 600;
  const heartbeatSeconds = shape.heartbeatSeconds ?? defaultFleetConfig().jobs.heartbeatSeconds;
  const jobId = "01M8SNB3V5WBC6R11K7E2C1BP8";
  const at = (s: number) => new Date(Date.UTC(2026, 0, 5, 9, 0, s)).toISOString();
  const keys = (r: Item): Item =>
    shape.previousDesign
      ? { [JOB_TABLE.listKeyAttribute]: JOB_TABLE.listKeyValue }
      : jobIndexAttributes({ jobId, state: r.state as JobState, ...(shape.tenant === false ? {} : { tenant: r.tenant as string }) });
  const withKeys = (r: Item): Item => ({ ...r, ...keys(r) });
  const request: Item = {
    [PATH_KEYS.source]: "s3://spotq-data-123456789012/labs/lab-a/inbox/case-104711",
    [PATH_KEYS.target]: "s3://spotq-data-123456789012/labs/lab-a/results/case-104711",
    ...Object.fromEntries(BOOLEAN_KEYS.map((k) => [k, true])),
    ...Object.fromEntries(INTEGER_KEYS.map((k) => [k, 1])),
  };
  const queued: Item = {
    jobId,
    state: "QUEUED",
    request,
    submittedAt: at(0),
    updatedAt: at(0),
    attempts: 0,
    interruptions: 0,
    dispatchId: "Qm9keTEyMzQ1Njc4OTAxMjM0NQ",
    bytes: { in: 536_870_912 },
    ...(shape.idempotencyKey === false ? {} : { idempotencyKey: "3f1d9a8e-6a54-4f7e-b0a1-1c2d3e4f5a6b" }),
    ...(shape.tenant === false ? {} : { tenant: "lab-a" }),
    name: "case 104711",
    tags: { clinic: "north", scanner: "i700" },
    origin: { kind: "api" },
  } satisfies Partial<Record<keyof JobRecord, unknown>>;
  const logs = { group: "/spotq/spotq/jobs", stream: `${jobId}/1` };
  const running: Item = {
    ...queued,
    state: "RUNNING",
    attempts: 1,
    instanceId: "i-0f3b9fb646b7d84eb",
    startedAt: at(20),
    updatedAt: at(20),
    attemptHistory: [],
    logs,
    timings: { queueWaitMs: 20_000 },
    progress: { phase: "download", updatedAt: at(20) },
  };
  const writes: TableWrite[] = [];
  if (shape.idempotencyKey !== false)
    writes.push({
      step: "idempotency key",
      after: {
        jobId: idempotencyItemId(queued.idempotencyKey as string, shape.tenant === false ? undefined : "lab-a"),
        targetJobId: jobId,
        createdAt: at(0),
        [JOB_TABLE.ttlAttribute]: 1_775_000_000,
      },
    });
  let current = withKeys(queued);
  writes.push({ step: "record", after: current });
  const next = (step: WriteStep, r: Item) => {
    const after = withKeys(r);
    writes.push({ step, before: current, after });
    current = after;
  };
  next("claim", running);
  // In time order: a progress write per heartbeat, and one at each phase change (process at a
  // third of the run, upload at two thirds), each rewriting progress and updatedAt.
  const events = [
    ...Array.from({ length: heartbeatsOf(runSeconds, heartbeatSeconds) }, (_, i) => ({ t: (i + 1) * heartbeatSeconds, step: "heartbeat" as const })),
    { t: runSeconds / 3, step: "phase" as const, phase: "process" },
    { t: (2 * runSeconds) / 3, step: "phase" as const, phase: "upload" },
  ].sort((a, b) => a.t - b.t);
  let phase = "download";
  let record = running;
  for (const e of events) {
    if ("phase" in e) phase = e.phase;
    const when = at(20 + Math.floor(e.t));
    const progress = e.step === "heartbeat" ? { phase, bytesDone: 268_435_456, bytesTotal: 536_870_912, updatedAt: when } : { phase, updatedAt: when };
    record = { ...record, updatedAt: when, progress };
    next(e.step, record);
  }
  const { progress: _done, ...finished } = record;
  next("finish", {
    ...finished,
    state: "SUCCEEDED",
    updatedAt: at(20 + runSeconds),
    finishedAt: at(20 + runSeconds),
    [JOB_TABLE.ttlAttribute]: 1_775_000_000,
    exitCode: 0,
    timings: { queueWaitMs: 20_000, downloadMs: 180_000, processMs: 240_000, uploadMs: 180_000 },
    bytes: { in: 536_870_912, out: 612_368_384 },
    outputs: { target: request[PATH_KEYS.target], objects: 42 },
    attemptHistory: [{ attempt: 1, instanceId: "i-0f3b9fb646b7d84eb", startedAt: at(20), finishedAt: at(20 + runSeconds), outcome: "SUCCEEDED", exitCode: 0, logs }],
  });
  return writes;
}

/** The cost of a list of writes: count, table write units, and each index's write units. */
export interface WriteCost {
  writes: number;
  tableUnits: number;
  indexUnits: Record<string, number>;
}

/** Prices writes against a set of indexes. */
export function costOf(writes: readonly TableWrite[], indexes: readonly IndexShape[]): WriteCost {
  const indexUnits: Record<string, number> = Object.fromEntries(indexes.map((i) => [i.name, 0]));
  let tableUnits = 0;
  for (const w of writes) {
    // A write is billed on the larger of the item's sizes before and after it.
    tableUnits += writeUnits(Math.max(itemSizeBytes(w.after), w.before ? itemSizeBytes(w.before) : 0));
    for (const i of indexes) indexUnits[i.name]! += indexWriteUnits(w.before, w.after, i);
  }
  return { writes: writes.length, tableUnits, indexUnits };
}

/** {@link costOf} per step of a job's life. */
export function costByStep(writes: readonly TableWrite[], indexes: readonly IndexShape[]): Record<WriteStep, WriteCost> {
  const steps: WriteStep[] = ["idempotency key", "record", "claim", "phase", "heartbeat", "finish"];
  return Object.fromEntries(steps.map((s) => [s, costOf(writes.filter((w) => w.step === s), indexes)])) as Record<WriteStep, WriteCost>;
}

/** The load a rate of jobs puts on the table. */
export interface LoadShape extends JobLifeShape {
  /** @default 1,000,000 */
  jobsPerDay?: number;
  /** The busiest hour's rate over the day's average (clinic hours). @default 3 */
  peakFactor?: number;
  /** A burst of submits, per second. @default 200 */
  burstSubmitsPerSecond?: number;
  /** Listing shards. @default JOB_TABLE.listShards */
  shards?: number;
}

/** Write units per second on the busiest partition of each index, and what that is of the 1,000 limit. */
export interface PartitionLoad {
  index: string;
  /** The partition (key value) that takes the most. */
  partition: string;
  average: number;
  peak: number;
  /** Submits only, at the burst rate (the record puts and nothing else). */
  burst: number;
}

/**
 * The busiest partition of each index at a rate of jobs, in write units per second. Every job
 * spreads over `shards` partitions evenly (the id's random tail picks the shard), so the current
 * design's busiest partition takes 1/shards of the index's units; the previous design's `byTime`
 * took all of them in one partition, and `byState`'s RUNNING partition every heartbeat. The
 * tenant indexes are figured for the worst case: one tenant submits every job.
 */
export function partitionLoads(load: LoadShape = {}): { current: PartitionLoad[]; previous: PartitionLoad[] } {
  const perDay = load.jobsPerDay ?? 1_000_000;
  const average = perDay / 86_400;
  const peak = average * (load.peakFactor ?? 3);
  const burst = load.burstSubmitsPerSecond ?? 200;
  const shards = load.shards ?? JOB_TABLE.listShards;
  const perJob = costOf(jobLifeWrites(load), CURRENT_INDEXES).indexUnits;
  const created = costOf(jobLifeWrites(load).filter((w) => w.step === "record"), CURRENT_INDEXES).indexUnits;
  const current = CURRENT_INDEXES.map((i) => ({
    index: i.name,
    partition: i.hashKey === JOB_TABLE.tenantKeyAttribute ? "<tenant>#<shard>" : `${JOB_TABLE.listKeyValue}#<shard>`,
    average: (average * perJob[i.name]!) / shards,
    peak: (peak * perJob[i.name]!) / shards,
    burst: (burst * created[i.name]!) / shards,
  }));
  // Previous design: per state partition of byState, and the one partition of byTime.
  const old = jobLifeWrites({ ...load, previousDesign: true });
  const byStatePartition = (state: string) =>
    old.reduce((n, w) => {
      const idx = PREVIOUS_INDEXES[0]!;
      const inState = (it: Item | undefined) => it?.state === state;
      if (!inState(w.before) && !inState(w.after)) return n;
      // Units landing in this state's partition: the entry written or deleted there.
      const before = inState(w.before) ? w.before : undefined;
      const after = inState(w.after) ? w.after : undefined;
      return n + indexWriteUnits(before, after, idx);
    }, 0);
  const oldPerJob = costOf(old, PREVIOUS_INDEXES).indexUnits;
  const oldCreated = costOf(old.filter((w) => w.step === "record"), PREVIOUS_INDEXES).indexUnits;
  const running = byStatePartition("RUNNING");
  const queued = byStatePartition("QUEUED");
  const previous: PartitionLoad[] = [
    { index: "byState", partition: "RUNNING", average: average * running, peak: peak * running, burst: 0 },
    { index: "byState", partition: "QUEUED", average: average * queued, peak: peak * queued, burst: burst * oldCreated.byState! },
    { index: "byTime", partition: JOB_TABLE.listKeyValue, average: average * oldPerJob.byTime!, peak: peak * oldPerJob.byTime!, burst: burst * oldCreated.byTime! },
  ];
  return { current, previous };
}

/** The on-demand bill of the table's writes for a month (30 days) at a rate. */
export function monthlyWriteCost(load: LoadShape = {}, indexes: readonly IndexShape[] = CURRENT_INDEXES, previousDesign = false): { units: number; usd: number } {
  const c = costOf(jobLifeWrites({ ...load, previousDesign }), indexes);
  const perJob = c.tableUnits + Object.values(c.indexUnits).reduce((a, b) => a + b, 0);
  const units = perJob * (load.jobsPerDay ?? 1_000_000) * 30;
  return { units, usd: (units / 1e6) * DYNAMODB.usdPerMillionWriteUnits };
}

/**
 * Read units of one `GET /jobs` page of `limit` jobs: the current design queries each shard (an
 * eventually consistent query of up to `limit + 1` small index entries) and reads the page with
 * one BatchGetItem (eventually consistent, per item); the previous one read `limit` whole items
 * from one index.
 */
export function listPageReadUnits(limit = 20, load: LoadShape = {}): { current: number; previous: number } {
  const shards = load.shards ?? JOB_TABLE.listShards;
  const writes = jobLifeWrites(load);
  const record = writes.at(-1)!.after;
  const entry = indexEntry(record, CURRENT_INDEXES[0]!)!;
  const half = (bytes: number) => Math.max(1, Math.ceil(bytes / DYNAMODB.readUnitBytes)) / 2;
  const current = shards * half((limit + 1) * itemSizeBytes(entry)) + limit * half(itemSizeBytes(record));
  const previous = half(limit * itemSizeBytes(record));
  return { current, previous };
}

/** The tables of docs/capacity.md, computed here so the doc cannot drift (a test compares them). */
export function capacityReport(load: LoadShape = {}): string {
  const r2 = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));
  const lines: string[] = [];
  const shape = { runSeconds: load.runSeconds ?? 600, heartbeatSeconds: load.heartbeatSeconds ?? defaultFleetConfig().jobs.heartbeatSeconds };
  const writes = jobLifeWrites(load);
  const steps = costByStep(writes, CURRENT_INDEXES);
  const oldSteps = costByStep(jobLifeWrites({ ...load, previousDesign: true }), PREVIOUS_INDEXES);
  const idx = CURRENT_INDEXES.map((i) => i.name);
  lines.push(`Writes of one job (${shape.runSeconds} s run, heartbeat every ${shape.heartbeatSeconds} s, Idempotency-Key, a tenant's job), in write units:`);
  lines.push("");
  lines.push(`| step | by | writes | table | ${idx.join(" | ")} | previous: byState | previous: byTime |`);
  lines.push(`| --- | --- | ---: | ---: | ${idx.map(() => "---:").join(" | ")} | ---: | ---: |`);
  const total: WriteCost = { writes: 0, tableUnits: 0, indexUnits: {} };
  const oldTotal = { byState: 0, byTime: 0 };
  for (const [step, c] of Object.entries(steps) as [WriteStep, WriteCost][]) {
    const o = oldSteps[step];
    lines.push(`| ${step} | ${STEP_WRITER[step]} | ${c.writes} | ${c.tableUnits} | ${idx.map((i) => c.indexUnits[i]).join(" | ")} | ${o.indexUnits.byState} | ${o.indexUnits.byTime} |`);
    total.writes += c.writes;
    total.tableUnits += c.tableUnits;
    for (const i of idx) total.indexUnits[i] = (total.indexUnits[i] ?? 0) + c.indexUnits[i]!;
    oldTotal.byState += o.indexUnits.byState!;
    oldTotal.byTime += o.indexUnits.byTime!;
  }
  lines.push(`| **job** | | **${total.writes}** | **${total.tableUnits}** | ${idx.map((i) => `**${total.indexUnits[i]}**`).join(" | ")} | **${oldTotal.byState}** | **${oldTotal.byTime}** |`);
  const indexSum = Object.values(total.indexUnits).reduce((a, b) => a + b, 0);
  lines.push("");
  lines.push(
    `Index write amplification: ${indexSum} index units per job on top of ${total.tableUnits} table units (${r2(indexSum / total.tableUnits)}×; ${indexSum - (total.indexUnits[JOB_TABLE.byTenantIndex] ?? 0) - (total.indexUnits[JOB_TABLE.byTenantStateIndex] ?? 0)} without tenants), against ${oldTotal.byState + oldTotal.byTime} before (${r2((oldTotal.byState + oldTotal.byTime) / total.tableUnits)}×). Heartbeats and phases write no index.`,
  );
  const loads = partitionLoads(load);
  const perDay = load.jobsPerDay ?? 1_000_000;
  lines.push("");
  lines.push(
    `Busiest partition at ${perDay.toLocaleString("en-US")} jobs/day (${r2(perDay / 86_400)} jobs/s average, ×${load.peakFactor ?? 3} at peak) and a burst of ${load.burstSubmitsPerSecond ?? 200} submits/s, in write units per second (limit ${DYNAMODB.partitionWriteUnitsPerSecond.toLocaleString("en-US")} per partition):`,
  );
  lines.push("");
  lines.push("| design | index | partition | average | peak | burst of submits | peak + burst, % of limit | jobs/day at the limit (peak) |");
  lines.push("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |");
  const pct = (n: number) => `${r2((100 * n) / DYNAMODB.partitionWriteUnitsPerSecond)}%`;
  const ceiling = (p: PartitionLoad) => (p.peak > 0 ? `${r2((perDay * DYNAMODB.partitionWriteUnitsPerSecond) / p.peak / 1e6)} M` : "-");
  const row = (design: string, p: PartitionLoad) =>
    `| ${design} | ${p.index} | \`${p.partition}\` | ${r2(p.average)} | ${r2(p.peak)} | ${r2(p.burst)} | ${pct(p.peak + p.burst)} | ${ceiling(p)} |`;
  for (const p of loads.previous) lines.push(row("previous", p));
  for (const p of loads.current) lines.push(row(`sharded (${load.shards ?? JOB_TABLE.listShards})`, p));
  const now = monthlyWriteCost(load);
  const before = monthlyWriteCost(load, PREVIOUS_INDEXES, true);
  const reads = listPageReadUnits(20, load);
  lines.push("");
  lines.push(
    `On-demand writes for a 30-day month: ${r2(now.units / 1e6)} M write units, $${now.usd.toFixed(0)} at $${DYNAMODB.usdPerMillionWriteUnits} per million (previous design: ${r2(before.units / 1e6)} M, $${before.usd.toFixed(0)}). A page of 20 jobs reads ${r2(reads.current)} read units (previous: ${r2(reads.previous)}).`,
  );
  return lines.join("\n");
}
