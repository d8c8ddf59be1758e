import assert from "node:assert/strict";
import { GetCommand, PutCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { DynamoJobStore } from "../../../aws/job-store.ts";
import { StaleTransitionError } from "../../../core/errors.ts";
import { JOB_TABLE, newJobId, type JobRecord } from "../../../core/job.ts";
import type { JobStore } from "../../../core/ports.ts";
import { useLocalAws } from "../../support/local-aws.ts";

const REQUEST = { "Source Folder Path": "s3://spotq-test/scans/a", "Target Folder Path": "s3://spotq-test/out/a", "Use GPU": true };

let clock = Date.now();
/** A new QUEUED record; ids one millisecond apart so their order is their submit order. */
function queued(overrides: Partial<JobRecord> = {}): JobRecord {
  clock += 1;
  const at = new Date(clock).toISOString();
  return { jobId: newJobId(clock), state: "QUEUED", request: REQUEST, submittedAt: at, updatedAt: at, attempts: 0, interruptions: 0, ...overrides };
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
    it("stores a record and reads it back as written, without the table's own list key", async () => {
      const r = queued({ bytes: { in: 42 } });
      assert.deepEqual(await store.create(r), { created: true, record: r });
      assert.deepEqual(await store.get(r.jobId), r);
      assert.equal((await rawItem(r.jobId))?.[JOB_TABLE.listKeyAttribute], JOB_TABLE.listKeyValue, "listed by the byTime index");
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
  });

  describe("list", () => {
    /** A store on a table of its own, so other tests' jobs do not show. */
    let own: JobStore;
    const made: JobRecord[] = [];
    before(async () => {
      const { ensureJobTable } = await import("../../../aws/job-store.ts");
      await ensureJobTable(db(), "list-test-jobs");
      own = new DynamoJobStore(db(), { tableName: "list-test-jobs" });
      for (let i = 0; i < 7; i++) {
        const r = queued({ ...(i % 3 === 0 ? { idempotencyKey: `list-key-${i}` } : {}) });
        await own.create(r);
        made.push(r);
      }
      await own.transition(made[1]!.jobId, { state: "QUEUED" }, "CANCELLED");
      await own.transition(made[4]!.jobId, { state: "QUEUED" }, "CANCELLED");
    });

    it("lists every job newest first, page by page, without idempotency items", async () => {
      const ids: string[] = [];
      let next: string | undefined;
      let pages = 0;
      do {
        const page = await own.list({ limit: 3, ...(next ? { next } : {}) });
        assert.ok(page.items.length <= 3);
        ids.push(...page.items.map((j) => j.jobId));
        next = page.next;
        pages++;
      } while (next && pages < 10);
      assert.deepEqual(ids, made.map((r) => r.jobId).reverse());
    });

    it("filters by state, newest first", async () => {
      const page = await own.list({ state: "CANCELLED", limit: 10 });
      assert.deepEqual(page.items.map((j) => j.jobId), [made[4]!.jobId, made[1]!.jobId]);
      assert.equal(page.next, undefined);
    });

    it("refuses a cursor that is not one", async () => {
      await assert.rejects(own.list({ limit: 2, next: "%%%" }), RangeError);
    });

    it("keeps idempotency items out of the table's listing index", async () => {
      const items = (await db().send(new ScanCommand({ TableName: "list-test-jobs" }))).Items ?? [];
      const keyItems = items.filter((i) => String(i.jobId).startsWith(JOB_TABLE.idempotencyPrefix));
      assert.equal(keyItems.length, 3);
      assert.ok(keyItems.every((i) => i[JOB_TABLE.listKeyAttribute] === undefined && i.state === undefined));
    });
  });
});
