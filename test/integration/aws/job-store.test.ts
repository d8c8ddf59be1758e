import assert from "node:assert/strict";
import { CreateTableCommand, DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { GetCommand, PutCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { backfillIndexKeys, DynamoJobStore, ensureJobTable, jobTableInput } from "../../../aws/job-store.ts";
import { StaleTransitionError } from "../../../core/errors.ts";
import { JOB_STATES, type JobState } from "../../../core/job-state.ts";
import { JOB_LIST_INDEXES, JOB_TABLE, listKeyOf, listShardOf, newJobId, stateSortOf, tenantKeyOf, type JobRecord } from "../../../core/job.ts";
import type { JobListQuery, JobStore } from "../../../core/ports.ts";
import { SeededRandom } from "../../support/e2e-random.ts";
import { useLocalAws } from "../../support/local-aws.ts";

const REQUEST = { "Source Folder Path": "s3://spotq-test/scans/a", "Target Folder Path": "s3://spotq-test/out/a", "Use GPU": true };

let clock = Date.now();
/** A new QUEUED record; ids one millisecond apart so their order is their submit order. */
function queued(overrides: Partial<JobRecord> = {}): JobRecord {
  clock += 1;
  const at = new Date(clock).toISOString();
  return { jobId: newJobId(clock), state: "QUEUED", request: REQUEST, submittedAt: at, updatedAt: at, attempts: 0, interruptions: 0, ...overrides };
}

const B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/** A job id of the given listing shard: the id's last character picks it (32 is a multiple of the shard count). */
function idInShard(id: string, shard: number): string {
  const out = `${id.slice(0, -1)}${B32[shard]}`;
  assert.equal(listShardOf(out), shard);
  return out;
}

describe("aws: DynamoJobStore on dynalite", () => {
  const aws = useLocalAws();
  let store: DynamoJobStore;
  const db = () => aws().emulators.clients.dynamo();
  const table = () => aws().resources.tableName;
  const rawItem = async (id: string) => (await db().send(new GetCommand({ TableName: table(), Key: { jobId: id } }))).Item;

  before(() => {
    store = new DynamoJobStore(db(), { tableName: table(), recordRetentionDays: 7, idempotencyWaitMs: 300 });
  });

  describe("create and get", () => {
    it("stores a record and reads it back as written, without the table's own index keys", async () => {
      const r = queued({ bytes: { in: 42 } });
      assert.deepEqual(await store.create(r), { created: true, record: r });
      assert.deepEqual(await store.get(r.jobId), r);
      const item = await rawItem(r.jobId);
      assert.equal(item?.[JOB_TABLE.listKeyAttribute], listKeyOf(listShardOf(r.jobId)), "listed by its shard of the time and state indexes");
      assert.equal(item?.[JOB_TABLE.stateSortAttribute], stateSortOf("QUEUED", r.jobId));
      assert.equal(item?.[JOB_TABLE.tenantKeyAttribute], undefined, "a job without a tenant is not in the tenant indexes");
    });

    it("puts a tenant's job into its shard of the tenant indexes too, and keeps name and tags", async () => {
      const r = queued({ tenant: "lab-a", name: "case 4711", tags: { clinic: "north", "patient:ref": "p-17" } });
      await store.create(r);
      assert.deepEqual(await store.get(r.jobId), r);
      assert.equal((await rawItem(r.jobId))?.[JOB_TABLE.tenantKeyAttribute], tenantKeyOf("lab-a", listShardOf(r.jobId)));
    });

    it("refuses a second record with the same id", async () => {
      const r = queued();
      await store.create(r);
      await assert.rejects(store.create({ ...r, request: { ...REQUEST, "Use GPU": false } }), /ConditionalCheckFailedException/);
      assert.equal((await store.get(r.jobId))?.request["Use GPU"], true);
    });

    it("returns undefined for an unknown id and for an idempotency item's id", async () => {
      assert.equal(await store.get(newJobId()), undefined);
      await store.create(queued({ idempotencyKey: "get-key" }));
      assert.ok(await rawItem(`${JOB_TABLE.idempotencyPrefix}get-key`));
      assert.equal(await store.get(`${JOB_TABLE.idempotencyPrefix}get-key`), undefined);
    });
  });

  describe("idempotency keys", () => {
    it("returns the first job for a reused key and stores no second record", async () => {
      const first = queued({ idempotencyKey: "key-a" });
      await store.create(first);
      const second = queued({ idempotencyKey: "key-a" });
      const r = await store.create(second);
      assert.equal(r.created, false);
      assert.equal(r.record.jobId, first.jobId);
      assert.equal(await store.get(second.jobId), undefined);
    });

    it("lets exactly one of several concurrent creates with one key win", async () => {
      const records = Array.from({ length: 5 }, () => queued({ idempotencyKey: "key-race" }));
      const results = await Promise.all(records.map((r) => store.create(r)));
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.equal(new Set(results.map((r) => r.record.jobId)).size, 1);
      const stored = await Promise.all(records.map((r) => store.get(r.jobId)));
      assert.equal(stored.filter(Boolean).length, 1);
    });

    it("gives the key up when the job's own write fails, so a retry with it is not blocked", async () => {
      const first = queued({ idempotencyKey: "key-put-fails" });
      // A record too large for DynamoDB (400 KB) makes the job's write fail after the key's.
      await assert.rejects(store.create({ ...first, request: { ...REQUEST, Notes: "x".repeat(500_000) } }));
      assert.equal(await rawItem(`${JOB_TABLE.idempotencyPrefix}key-put-fails`), undefined, "no key left pointing at nothing");
      const retry = queued({ idempotencyKey: "key-put-fails" });
      assert.equal((await store.create(retry)).created, true);
    });

    it("does not create a second job while the key's first submit is still writing", async () => {
      // The key is taken a moment ago by a submit whose record is not written yet.
      const pending = newJobId();
      await db().send(
        new PutCommand({ TableName: table(), Item: { jobId: `${JOB_TABLE.idempotencyPrefix}key-pending`, targetJobId: pending, createdAt: new Date().toISOString() } }),
      );
      const other = queued({ idempotencyKey: "key-pending" });
      await assert.rejects(store.create(other), (err: Error & { code?: string }) => {
        assert.equal(err.code, "IDEMPOTENCY_KEY_IN_USE");
        assert.match(err.message, /key-pending/);
        return true;
      });
      assert.equal(await store.get(other.jobId), undefined);
    });

    it("takes over a key whose first submit died before writing its record", async () => {
      await db().send(
        new PutCommand({
          TableName: table(),
          Item: { jobId: `${JOB_TABLE.idempotencyPrefix}key-orphan`, targetJobId: newJobId(), createdAt: new Date(Date.now() - 60_000).toISOString() },
        }),
      );
      const r = queued({ idempotencyKey: "key-orphan" });
      assert.equal((await store.create(r)).created, true);
      assert.equal((await store.create(queued({ idempotencyKey: "key-orphan" }))).record.jobId, r.jobId, "the key now names the new job");
    });

    it("expires key items with the records' retention", async () => {
      await store.create(queued({ idempotencyKey: "key-ttl" }));
      const item = await rawItem(`${JOB_TABLE.idempotencyPrefix}key-ttl`);
      const inDays = ((item?.[JOB_TABLE.ttlAttribute] as number) - Date.now() / 1000) / 86_400;
      assert.ok(inDays > 6.9 && inDays <= 7, `expires in ${inDays} days`);
    });

    it("are per tenant: the same key in two tenants makes two jobs, and each tenant's retry returns its own", async () => {
      const a = queued({ tenant: "lab-a", idempotencyKey: "key-shared" });
      const b = queued({ tenant: "lab-b", idempotencyKey: "key-shared" });
      const none = queued({ idempotencyKey: "key-shared" });
      for (const r of [a, b, none]) assert.equal((await store.create(r)).created, true, r.tenant ?? "no tenant");
      assert.equal((await store.create(queued({ tenant: "lab-a", idempotencyKey: "key-shared" }))).record.jobId, a.jobId);
      assert.equal((await store.create(queued({ tenant: "lab-b", idempotencyKey: "key-shared" }))).record.jobId, b.jobId);
      assert.ok(await rawItem(`${JOB_TABLE.idempotencyPrefix}lab-a#key-shared`));
      await store.remove(a.jobId);
      assert.ok(await rawItem(`${JOB_TABLE.idempotencyPrefix}lab-b#key-shared`), "removing A's job frees A's key only");
      assert.equal(await rawItem(`${JOB_TABLE.idempotencyPrefix}lab-a#key-shared`), undefined);
    });

    it("remove() deletes the record and frees its key", async () => {
      const r = queued({ idempotencyKey: "key-removed" });
      await store.create(r);
      await store.remove(r.jobId);
      assert.equal(await store.get(r.jobId), undefined);
      const again = queued({ idempotencyKey: "key-removed" });
      assert.deepEqual(await store.create(again), { created: true, record: again });
    });
  });

  describe("transitions", () => {
    it("moves a job only from the expected state and attempt, and says what it found otherwise", async () => {
      const r = queued();
      await store.create(r);
      const running = await store.transition(r.jobId, { state: "QUEUED", attempts: 0 }, "RUNNING", { attempts: 1, instanceId: "i-1" });
      assert.equal(running.state, "RUNNING");
      assert.equal(running.attempts, 1);
      assert.ok(running.updatedAt >= r.updatedAt);

      await assert.rejects(store.transition(r.jobId, { state: "RUNNING", attempts: 0 }, "SUCCEEDED"), (err: Error) => {
        assert.ok(err instanceof StaleTransitionError);
        assert.match(err.message, /expected RUNNING at attempt 0, but it is RUNNING at attempt 1/);
        return true;
      });
      await assert.rejects(store.transition(newJobId(), { state: "QUEUED" }, "CANCELLED"), /it does not exist/);
      assert.equal((await store.get(r.jobId))?.state, "RUNNING");
    });

    it("with a dispatch token expected, moves a job only while the record names that token (a claim racing an adoption)", async () => {
      const r = queued({ dispatchId: "fresh", previousDispatchId: "old" });
      await store.create(r);
      // The old message's receiver adopts it first ...
      await store.update(r.jobId, { state: "QUEUED", attempts: 0, dispatchId: "fresh" }, { dispatchId: "old", previousDispatchId: undefined });
      // ... so the fresh message's claim, made against the record it read, loses.
      await assert.rejects(
        store.transition(r.jobId, { state: "QUEUED", attempts: 0, dispatchId: "fresh" }, "RUNNING", { attempts: 1 }),
        (err: Error) => err instanceof StaleTransitionError && /expected QUEUED at attempt 0 with dispatch fresh, but it is QUEUED at attempt 0 with dispatch old/.test(err.message),
      );
      const after = await store.get(r.jobId);
      assert.equal(after?.state, "QUEUED");
      assert.equal(after?.dispatchId, "old");
      assert.equal(after?.previousDispatchId, undefined);
    });

    it("lets only one of two racing workers take a job", async () => {
      const r = queued();
      await store.create(r);
      const results = await Promise.allSettled(
        ["i-a", "i-b"].map((id) => store.transition(r.jobId, { state: "QUEUED", attempts: 0 }, "RUNNING", { attempts: 1, instanceId: id })),
      );
      assert.equal(results.filter((x) => x.status === "fulfilled").length, 1);
      const lost = results.find((x) => x.status === "rejected") as PromiseRejectedResult;
      assert.ok(lost.reason instanceof StaleTransitionError);
    });

    it("refuses a transition the design does not allow, without writing", async () => {
      const r = queued();
      await store.create(r);
      await assert.rejects(store.transition(r.jobId, { state: "QUEUED" }, "SUCCEEDED"), /illegal job transition QUEUED -> SUCCEEDED/);
      assert.equal((await store.get(r.jobId))?.state, "QUEUED");
    });

    it("finishing sets finishedAt and the TTL and drops progress; a redrive clears the TTL", async () => {
      const r = queued();
      await store.create(r);
      await store.transition(r.jobId, { state: "QUEUED" }, "RUNNING", { attempts: 1 });
      await store.update(r.jobId, { state: "RUNNING", attempts: 1 }, { progress: { phase: "process", updatedAt: new Date().toISOString() } });
      const failed = await store.transition(r.jobId, { state: "RUNNING", attempts: 1 }, "FAILED", { error: { code: "PROCESS_EXIT", message: "exit 3" } });
      assert.ok(failed.finishedAt);
      assert.ok(failed.expiresAt && failed.expiresAt > Date.now() / 1000);
      assert.equal(failed.progress, undefined);

      const redriven = await store.transition(r.jobId, { state: "FAILED" }, "QUEUED");
      assert.equal(redriven.expiresAt, undefined);
    });

    it("rewrites the state sort key with each state, and nothing else an index is keyed on", async () => {
      const r = queued({ tenant: "lab-a" });
      await store.create(r);
      const before = await rawItem(r.jobId);
      await store.transition(r.jobId, { state: "QUEUED" }, "RUNNING", { attempts: 1 });
      const after = await rawItem(r.jobId);
      assert.equal(after?.[JOB_TABLE.stateSortAttribute], stateSortOf("RUNNING", r.jobId));
      assert.equal(after?.[JOB_TABLE.listKeyAttribute], before?.[JOB_TABLE.listKeyAttribute]);
      assert.equal(after?.[JOB_TABLE.tenantKeyAttribute], before?.[JOB_TABLE.tenantKeyAttribute]);
    });
  });

  describe("update", () => {
    it("patches without changing state, only when the job matches", async () => {
      const r = queued();
      await store.create(r);
      await store.transition(r.jobId, { state: "QUEUED" }, "RUNNING", { attempts: 1 });
      const progress = { phase: "download" as const, bytesDone: 10, bytesTotal: 100, updatedAt: new Date().toISOString() };
      const u = await store.update(r.jobId, { state: "RUNNING", attempts: 1 }, { progress, state: "SUCCEEDED" });
      assert.equal(u.state, "RUNNING", "a state in the patch is ignored");
      assert.deepEqual(u.progress, progress);
      await assert.rejects(store.update(r.jobId, { state: "RUNNING", attempts: 2 }, { progress }), StaleTransitionError);
    });

    it("a heartbeat or progress write touches no index key or projected attribute, and cannot change tenant, name or tags", async () => {
      const r = queued({ tenant: "lab-a", name: "n1", tags: { k: "v" } });
      await store.create(r);
      await store.transition(r.jobId, { state: "QUEUED" }, "RUNNING", { attempts: 1 });
      const indexed = [JOB_TABLE.listKeyAttribute, JOB_TABLE.tenantKeyAttribute, JOB_TABLE.stateSortAttribute, ...JOB_TABLE.listProjection, "tenant"];
      const pick = (item: Record<string, unknown> | undefined) => Object.fromEntries(indexed.map((k) => [k, item?.[k]]));
      const before = pick(await rawItem(r.jobId));
      await store.update(r.jobId, { state: "RUNNING", attempts: 1 }, {
        progress: { phase: "process", updatedAt: new Date().toISOString() },
        tenant: "lab-b",
        name: "renamed",
        tags: { k: "other" },
      } as Partial<JobRecord>);
      assert.deepEqual(pick(await rawItem(r.jobId)), before);
      assert.equal((await store.get(r.jobId))?.progress?.phase, "process");
    });
  });

  describe("list", () => {
    /** A store on a table of its own, so other tests' jobs do not show. */
    let own: JobStore;
    const made: JobRecord[] = [];
    before(async () => {
      await ensureJobTable(db(), "list-test-jobs");
      own = new DynamoJobStore(db(), { tableName: "list-test-jobs" });
      // Skewed over the shards on purpose: most in shard 3, one each in 0 and 7, none elsewhere.
      const shards = [3, 3, 0, 3, 3, 7, 3, 3, 3];
      for (const [i, shard] of shards.entries()) {
        const base = queued({ ...(i % 3 === 0 ? { idempotencyKey: `list-key-${i}` } : {}) });
        const r = { ...base, jobId: idInShard(base.jobId, shard) };
        await own.create(r);
        made.push(r);
      }
      await own.transition(made[1]!.jobId, { state: "QUEUED" }, "CANCELLED");
      await own.transition(made[5]!.jobId, { state: "QUEUED" }, "CANCELLED");
    });

    it("lists every job newest first across the shards, page by page, without idempotency items", async () => {
      for (const limit of [1, 2, 3, 4, 100]) {
        const ids: string[] = [];
        let next: string | undefined;
        let pages = 0;
        do {
          const page = await own.list({ limit, ...(next ? { next } : {}) });
          assert.ok(page.items.length <= limit);
          ids.push(...page.items.map((j) => j.jobId));
          next = page.next;
          pages++;
        } while (next && pages < 20);
        assert.deepEqual(ids, made.map((r) => r.jobId).reverse(), `limit ${limit}`);
      }
    });

    it("filters by state, newest first", async () => {
      const page = await own.list({ state: "CANCELLED", limit: 10 });
      assert.deepEqual(page.items.map((j) => j.jobId), [made[5]!.jobId, made[1]!.jobId]);
      assert.equal(page.next, undefined);
      const one = await own.list({ state: "CANCELLED", limit: 1 });
      assert.deepEqual(one.items.map((j) => j.jobId), [made[5]!.jobId]);
      const rest = await own.list({ state: "CANCELLED", limit: 1, next: one.next! });
      assert.deepEqual(rest.items.map((j) => j.jobId), [made[1]!.jobId]);
    });

    it("refuses a cursor that is not one", async () => {
      for (const next of ["%%%", Buffer.from(JSON.stringify({ v: 1, b: [null] })).toString("base64url"), Buffer.from(JSON.stringify({ v: 1, b: Array(JOB_TABLE.listShards).fill("idem#x") })).toString("base64url")])
        await assert.rejects(own.list({ limit: 2, next }), RangeError, next);
    });

    it("keeps idempotency items out of the table's listing indexes", async () => {
      const items = (await db().send(new ScanCommand({ TableName: "list-test-jobs" }))).Items ?? [];
      const keyItems = items.filter((i) => String(i.jobId).startsWith(JOB_TABLE.idempotencyPrefix));
      assert.equal(keyItems.length, 3);
      for (const k of keyItems) for (const a of [JOB_TABLE.listKeyAttribute, JOB_TABLE.tenantKeyAttribute, JOB_TABLE.stateSortAttribute, "state"]) assert.equal(k[a], undefined, a);
    });
  });

  describe("list by tenant, name and tags", () => {
    let own: DynamoJobStore;
    const t = (tenant: string, name: string, tags: Record<string, string>, state: JobState = "QUEUED") => ({ tenant, name, tags, state });
    const plan = [
      t("lab-a", "case-1", { clinic: "north" }),
      t("lab-b", "case-1", { clinic: "north" }),
      t("lab-a", "case-2", { clinic: "south", urgent: "yes" }),
      t("lab-a", "implant-7", { clinic: "north" }, "FAILED"),
      t("lab-b", "case-3", {}),
      t("lab-a", "case-10", { clinic: "north", urgent: "no" }),
    ];
    const made: JobRecord[] = [];
    before(async () => {
      await ensureJobTable(db(), "tenant-list-jobs");
      own = new DynamoJobStore(db(), { tableName: "tenant-list-jobs" });
      for (const p of plan) {
        const { state, tags, ...rest } = p;
        const r = queued({ ...rest, ...(Object.keys(tags).length ? { tags } : {}) });
        await own.create(r);
        if (state === "FAILED") await own.transition(r.jobId, { state: "QUEUED" }, "CANCELLED");
        made.push((await own.get(r.jobId))!);
      }
      made.push(...[queued({ name: "case-1" })]);
      await own.create(made.at(-1)!);
    });
    const ids = async (q: Omit<JobListQuery, "limit">) => (await own.list({ limit: 100, ...q })).items.map((j) => made.findIndex((m) => m.jobId === j.jobId));

    it("lists a tenant's jobs only, from its own index", async () => {
      assert.deepEqual(await ids({ tenant: "lab-a" }), [5, 3, 2, 0]);
      assert.deepEqual(await ids({ tenant: "lab-b" }), [4, 1]);
      assert.deepEqual(await ids({ tenant: "lab-c" }), []);
      assert.deepEqual(await ids({}), [6, 5, 4, 3, 2, 1, 0], "without a tenant: every job");
    });

    it("filters by exact name, name prefix, tag value and tag presence, together with tenant and state", async () => {
      assert.deepEqual(await ids({ name: "case-1" }), [6, 1, 0]);
      assert.deepEqual(await ids({ tenant: "lab-a", name: "case-1" }), [0]);
      assert.deepEqual(await ids({ tenant: "lab-a", namePrefix: "case-" }), [5, 2, 0]);
      assert.deepEqual(await ids({ tags: [{ key: "clinic", value: "north" }] }), [5, 3, 1, 0]);
      assert.deepEqual(await ids({ tenant: "lab-a", tags: [{ key: "urgent" }] }), [5, 2]);
      assert.deepEqual(await ids({ tenant: "lab-a", tags: [{ key: "clinic", value: "north" }, { key: "urgent", value: "no" }] }), [5]);
      assert.deepEqual(await ids({ tenant: "lab-a", state: "CANCELLED" }), [3]);
      assert.deepEqual(await ids({ tenant: "lab-b", state: "CANCELLED" }), []);
      assert.deepEqual(await ids({ state: "QUEUED", tags: [{ key: "clinic", value: "north" }] }), [5, 1, 0]);
    });

    it("filters by priority; a record from before priorities counts as normal", async () => {
      const table = "priority-list-jobs";
      await ensureJobTable(db(), table);
      const p = new DynamoJobStore(db(), { tableName: table });
      const jobs = [queued({ priority: "high" }), queued(), queued({ priority: "normal", name: "n" }), queued({ priority: "high", tenant: "lab-a" })];
      for (const j of jobs) await p.create(j);
      const list = async (q: Omit<JobListQuery, "limit">) => (await p.list({ limit: 100, ...q })).items.map((j) => jobs.findIndex((m) => m.jobId === j.jobId));
      assert.deepEqual(await list({ priority: "high" }), [3, 0]);
      assert.deepEqual(await list({ priority: "normal" }), [2, 1]);
      assert.deepEqual(await list({ priority: "high", tenant: "lab-a" }), [3]);
      assert.deepEqual(await list({ priority: "normal", name: "n", state: "QUEUED" }), [2]);
    });

    it("a cursor only narrows the listing it is used on: bounds forged from another tenant's page show none of that tenant's jobs", async () => {
      const pageA = await own.list({ tenant: "lab-a", limit: 1 });
      assert.ok(pageA.next);
      const onB = await own.list({ tenant: "lab-b", limit: 100, next: pageA.next });
      assert.ok(onB.items.every((j) => j.tenant === "lab-b"));
      // A hand-made cursor that starts every shard above the newest job: still only lab-b's.
      const forged = Buffer.from(JSON.stringify({ v: 1, b: Array(JOB_TABLE.listShards).fill("7ZZZZZZZZZZZZZZZZZZZZZZZZZ") })).toString("base64url");
      const all = await own.list({ tenant: "lab-b", limit: 100, next: forged });
      assert.deepEqual(all.items.map((j) => j.jobId), [made[4]!.jobId, made[1]!.jobId]);
    });
  });

  describe("list: a randomized model check (seeded; replay with STORE_SEED)", () => {
    const rnd = process.env.STORE_SEED ? new SeededRandom(Number(process.env.STORE_SEED)) : new SeededRandom(Math.floor(Math.random() * 2 ** 31));
    let own: DynamoJobStore;
    const jobs: JobRecord[] = [];
    before(async function () {
      this.timeout(60_000);
      process.stdout.write(`      list model check seed: STORE_SEED=${rnd.seed}\n`);
      await ensureJobTable(db(), "model-list-jobs");
      // A small read budget, so filtered pages come back short with a cursor and must still add up.
      own = new DynamoJobStore(db(), { tableName: "model-list-jobs", listMaxEvaluated: rnd.int(1, 12), listFilteredQueryLimit: rnd.int(1, 4) });
      const tenants = ["t1", "t2", "t3"];
      for (let i = 0; i < 60; i++) {
        const shard = rnd.next() < 0.5 ? 2 : rnd.int(0, JOB_TABLE.listShards - 1); // skewed
        const base = queued({
          ...(rnd.next() < 0.85 ? { tenant: rnd.pick(tenants) } : {}),
          ...(rnd.next() < 0.8 ? { name: `${rnd.pick(["case", "implant", "crown"])}-${rnd.int(1, 4)}` } : {}),
          ...(rnd.next() < 0.7 ? { tags: Object.fromEntries([["clinic", rnd.pick(["n", "s"])], ...(rnd.next() < 0.4 ? [["urgent", "yes"]] : [])]) } : {}),
        });
        const r = { ...base, jobId: idInShard(base.jobId, shard) };
        await own.create(r);
        const to = rnd.pick(["QUEUED", "QUEUED", "CANCELLED", "RUNNING"] as const);
        if (to !== "QUEUED") await own.transition(r.jobId, { state: "QUEUED" }, to, to === "RUNNING" ? { attempts: 1 } : {});
        jobs.push((await own.get(r.jobId))!);
      }
    });

    it("every paginated query returns exactly the model's matches, newest first, with no duplicates", async function () {
      this.timeout(120_000);
      for (let q = 0; q < 40; q++) {
        const query: Omit<JobListQuery, "limit" | "next"> = {
          ...(rnd.next() < 0.6 ? { tenant: rnd.pick(["t1", "t2", "t3"]) } : {}),
          ...(rnd.next() < 0.4 ? { state: rnd.pick(JOB_STATES.filter((s) => ["QUEUED", "RUNNING", "CANCELLED", "FAILED"].includes(s))) } : {}),
          ...(rnd.next() < 0.3 ? { name: `case-${rnd.int(1, 4)}` } : rnd.next() < 0.3 ? { namePrefix: rnd.pick(["ca", "im", "crown-", "x"]) } : {}),
          ...(rnd.next() < 0.4 ? { tags: rnd.next() < 0.5 ? [{ key: "clinic", value: rnd.pick(["n", "s"]) }] : [{ key: "urgent" }] } : {}),
        };
        const expected = jobs
          .filter((j) => (query.tenant === undefined || j.tenant === query.tenant) && (query.state === undefined || j.state === query.state))
          .filter((j) => (query.name === undefined || j.name === query.name) && (query.namePrefix === undefined || (j.name ?? "").startsWith(query.namePrefix)))
          .filter((j) => (query.tags ?? []).every((t) => j.tags?.[t.key] !== undefined && (t.value === undefined || j.tags[t.key] === t.value)))
          .map((j) => j.jobId)
          .sort()
          .reverse();
        const limit = rnd.int(1, 7);
        const got: string[] = [];
        let next: string | undefined;
        for (let pages = 0; pages < 500; pages++) {
          const page = await own.list({ ...query, limit, ...(next ? { next } : {}) });
          assert.ok(page.items.length <= limit);
          got.push(...page.items.map((j) => j.jobId));
          next = page.next;
          if (!next) break;
        }
        assert.equal(next, undefined, "the listing ends");
        assert.deepEqual(got, expected, `seed ${rnd.seed}, query ${q}: ${JSON.stringify({ ...query, limit })}`);
      }
    });
  });

  describe("backfillIndexKeys (the migration of a table from before the sharded indexes)", () => {
    it("gives old job items their shard and state keys, leaves idempotency items alone, and is idempotent", async () => {
      await ensureJobTable(db(), "legacy-jobs");
      const legacy = queued({ tenant: "lab-a" });
      const { tenant: _t, ...withoutTenant } = queued();
      const old = [legacy, withoutTenant as JobRecord];
      for (const r of old) await db().send(new PutCommand({ TableName: "legacy-jobs", Item: { ...r, [JOB_TABLE.listKeyAttribute]: "job" } }));
      await db().send(new PutCommand({ TableName: "legacy-jobs", Item: { jobId: `${JOB_TABLE.idempotencyPrefix}k`, targetJobId: legacy.jobId } }));
      const s = new DynamoJobStore(db(), { tableName: "legacy-jobs" });
      assert.deepEqual((await s.list({ limit: 10 })).items, [], "invisible before the backfill");

      assert.equal(await backfillIndexKeys(db(), "legacy-jobs", { segments: 2 }), 2);
      assert.deepEqual((await s.list({ limit: 10 })).items.map((j) => j.jobId), old.map((r) => r.jobId).reverse());
      assert.deepEqual((await s.list({ limit: 10, tenant: "lab-a", state: "QUEUED" })).items.map((j) => j.jobId), [legacy.jobId]);
      assert.equal(await backfillIndexKeys(db(), "legacy-jobs"), 0, "a second run changes nothing");
      const key = (await db().send(new GetCommand({ TableName: "legacy-jobs", Key: { jobId: `${JOB_TABLE.idempotencyPrefix}k` } }))).Item;
      assert.equal(key?.[JOB_TABLE.listKeyAttribute], undefined);
    });
  });

  describe("ensureJobTable on a local table from before the sharded indexes", () => {
    it("rebuilds it in the new shape, keeping every item, so an old .spotq/local lists its history", async () => {
      const name = "old-shape-jobs";
      const all = { ProjectionType: "ALL" as const };
      await db().send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: "PAY_PER_REQUEST",
          AttributeDefinitions: ["jobId", "state", "listKey"].map((a) => ({ AttributeName: a, AttributeType: "S" as const })),
          KeySchema: [{ AttributeName: "jobId", KeyType: "HASH" }],
          GlobalSecondaryIndexes: [
            { IndexName: "byState", KeySchema: [{ AttributeName: "state", KeyType: "HASH" }, { AttributeName: "jobId", KeyType: "RANGE" }], Projection: all },
            { IndexName: "byTime", KeySchema: [{ AttributeName: "listKey", KeyType: "HASH" }, { AttributeName: "jobId", KeyType: "RANGE" }], Projection: all },
          ],
        }),
      );
      const old = [queued(), queued({ state: "SUCCEEDED" })];
      for (const r of old) await db().send(new PutCommand({ TableName: name, Item: { ...r, listKey: "job" } }));
      await db().send(new PutCommand({ TableName: name, Item: { jobId: `${JOB_TABLE.idempotencyPrefix}old`, targetJobId: old[0]!.jobId } }));

      await ensureJobTable(db(), name);

      const d = (await db().send(new DescribeTableCommand({ TableName: name }))).Table!;
      assert.deepEqual(d.GlobalSecondaryIndexes?.map((g) => g.IndexName).sort(), ["jobsByState", "jobsByTime", "tenantJobsByState", "tenantJobsByTime"]);
      const s = new DynamoJobStore(db(), { tableName: name });
      assert.deepEqual((await s.list({ limit: 10 })).items, [...old].reverse());
      assert.deepEqual((await s.list({ limit: 10, state: "SUCCEEDED" })).items.map((j) => j.jobId), [old[1]!.jobId]);
      assert.equal(((await db().send(new GetCommand({ TableName: name, Key: { jobId: `${JOB_TABLE.idempotencyPrefix}old` } }))).Item as { targetJobId?: string })?.targetJobId, old[0]!.jobId);
      await ensureJobTable(db(), name); // the new shape is left alone
      assert.equal((await s.list({ limit: 10 })).items.length, 2);
    });

    it("rebuilds a table whose indexes project an older list of attributes (before priority), so the priority filter finds its jobs", async () => {
      const name = "old-projection-jobs";
      // The indexes of a table created before priority: they project name and tags only.
      await db().send(new CreateTableCommand(jobTableInput(name, ["name", "tags"])));
      const high = queued({ priority: "high" });
      await new DynamoJobStore(db(), { tableName: name }).create(high);
      await ensureJobTable(db(), name);
      const d = (await db().send(new DescribeTableCommand({ TableName: name }))).Table!;
      for (const g of d.GlobalSecondaryIndexes ?? []) assert.deepEqual([...(g.Projection?.NonKeyAttributes ?? [])].sort(), [...JOB_TABLE.listProjection].sort(), g.IndexName);
      assert.deepEqual((await new DynamoJobStore(db(), { tableName: name }).list({ limit: 10, priority: "high" })).items.map((j) => j.jobId), [high.jobId]);
    });
  });
});
