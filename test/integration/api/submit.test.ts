import assert from "node:assert/strict";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { DynamoJobStore } from "../../../aws/job-store.ts";
import type { JobRecord } from "../../../core/job.ts";
import type { JobQueue, JobStore, ObjectStore } from "../../../core/ports.ts";
import { BUCKET, fixtureRequest, overriding, postJob, SOURCE, useApiHarness, type ErrorAnswer } from "./api-harness.ts";

describe("api: POST /jobs on the emulators", () => {
  const h = useApiHarness();

  it("accepts the fixture request: 202, a QUEUED record that GET shows, and one message on the queue", async () => {
    const app = h().app();
    const [messagesBefore, itemsBefore] = [await h().queuedMessages(), await h().jobItems()];

    const res = await postJob(app, fixtureRequest());

    assert.equal(res.status, 202);
    const body = (await res.json()) as { jobId: string; state: string; statusUrl: string };
    assert.equal(body.state, "QUEUED");
    assert.equal(body.statusUrl, `http://localhost/jobs/${body.jobId}`);
    assert.equal(res.headers.get("location"), body.statusUrl);
    assert.equal(await h().queuedMessages(), messagesBefore + 1);
    assert.equal(await h().jobItems(), itemsBefore + 1);

    const status = await app.request(new URL(body.statusUrl).pathname);
    assert.equal(status.status, 200);
    const job = (await status.json()) as JobRecord;
    assert.equal(job.jobId, body.jobId);
    assert.equal(job.state, "QUEUED");
    assert.deepEqual(job.request, fixtureRequest());
    assert.equal(job.attempts, 0);
    assert.deepEqual(job.bytes, { in: SOURCE.bytes });

    // The message a worker will get carries the job and the request as submitted.
    const { queueUrl } = h().aws.resources;
    const got = await h().aws.emulators.clients.sqs().send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));
    const mine = (got.Messages ?? []).map((m) => JSON.parse(m.Body!)).find((m) => m.jobId === body.jobId);
    assert.ok(mine, "the job's message is on the queue");
    // ... and the dispatch token the record names as its one live message (CONTRACTS §5).
    assert.match(String(job.dispatchId), /^[\w-]{22}$/);
    assert.deepEqual(mine, { jobId: body.jobId, request: fixtureRequest(), submittedAt: job.submittedAt, dispatchId: job.dispatchId });
  });

  it("accepts a body sent without a Content-Type", async () => {
    const res = await h().app().request("/jobs", { method: "POST", body: new TextEncoder().encode(JSON.stringify(fixtureRequest())) });
    assert.equal(res.status, 202, await res.clone().text());
  });

  describe("Idempotency-Key", () => {
    it("returns the same job for a retried submit and enqueues nothing more", async () => {
      const app = h().app();
      const key = "7c0e5c1e-1d7e-4a43-9a55-2f1f0c7e9d10";
      const first = await postJob(app, fixtureRequest(), { "Idempotency-Key": key });
      assert.equal(first.status, 202);
      const { jobId } = (await first.json()) as { jobId: string };
      const [messages, items] = [await h().queuedMessages(), await h().jobItems()];

      // Same keys in another order: the same request.
      const reordered = Object.fromEntries(Object.entries(fixtureRequest()).reverse());
      const retry = await postJob(app, reordered, { "Idempotency-Key": key });

      assert.equal(retry.status, 202);
      assert.equal(retry.headers.get("idempotent-replayed"), "true");
      assert.equal(((await retry.json()) as { jobId: string }).jobId, jobId);
      assert.equal(await h().queuedMessages(), messages, "nothing more enqueued");
      assert.equal(await h().jobItems(), items, "nothing more stored");
    });

    it("refuses the key with a different body (422 naming the header), storing nothing", async () => {
      const app = h().app();
      const key = "reused-key-1";
      const first = await postJob(app, fixtureRequest(), { "Idempotency-Key": key });
      const { jobId } = (await first.json()) as { jobId: string };
      const [messages, items] = [await h().queuedMessages(), await h().jobItems()];

      const res = await postJob(app, fixtureRequest({ "Use GPU": false }), { "Idempotency-Key": key });

      assert.equal(res.status, 422);
      const { error } = (await res.json()) as ErrorAnswer;
      assert.equal(error.code, "IDEMPOTENCY_KEY_REUSED");
      assert.equal(error.problems?.[0]?.field, "Idempotency-Key");
      assert.match(error.message, new RegExp(jobId));
      assert.equal(await h().queuedMessages(), messages);
      assert.equal(await h().jobItems(), items);
    });

    it("answers 409 with Retry-After while the key's first submit is still writing its record", async () => {
      const { emulators, resources } = h().aws;
      // The first submit has claimed the key and not yet written its job.
      await emulators.clients.dynamo().send(
        new PutCommand({
          TableName: resources.tableName,
          Item: { jobId: "idem#in-flight-key", targetJobId: "01ARZ3NDEKTSV4RRFFQ69G5FAV", createdAt: new Date().toISOString() },
        }),
      );
      const store = new DynamoJobStore(emulators.clients.dynamo(), { tableName: resources.tableName, idempotencyWaitMs: 50 });
      const [messages, items] = [await h().queuedMessages(), await h().jobItems()];

      const res = await postJob(h().app({ store }), fixtureRequest(), { "Idempotency-Key": "in-flight-key" });

      assert.equal(res.status, 409);
      assert.equal(res.headers.get("retry-after"), "2");
      const { error } = (await res.json()) as ErrorAnswer;
      assert.equal(error.problems?.[0]?.field, "Idempotency-Key");
      assert.equal(await h().queuedMessages(), messages);
      assert.equal(await h().jobItems(), items);
    });

    for (const [what, key] of [
      ["empty", ""],
      ["with spaces", "my key"],
      ["too long", "k".repeat(256)],
    ] as const) {
      it(`refuses a key that is ${what} (400 naming the header)`, async () => {
        const [messages, items] = [await h().queuedMessages(), await h().jobItems()];
        const res = await postJob(h().app(), fixtureRequest(), { "Idempotency-Key": key });
        assert.equal(res.status, 400);
        const { error } = (await res.json()) as ErrorAnswer;
        assert.deepEqual(error.problems?.map((p) => p.field), ["Idempotency-Key"]);
        assert.equal(await h().queuedMessages(), messages);
        assert.equal(await h().jobItems(), items);
      });
    }
  });

  describe("refuses a bad request with a 4xx naming the field, storing and enqueueing nothing", () => {
    const long = "x".repeat(20_000);
    const cases: { name: string; body: unknown; headers?: Record<string, string>; status: number; fields: string[]; reason?: RegExp }[] = [
      { name: "a string boolean", body: fixtureRequest({ "Use GPU": "true" }), status: 400, fields: ["Use GPU"], reason: /JSON boolean/ },
      { name: "a negative integer", body: fixtureRequest({ "Complete Type": -1 }), status: 400, fields: ["Complete Type"] },
      { name: "a fractional integer", body: fixtureRequest({ "File Size": 1.5 }), status: 400, fields: ["File Size"] },
      { name: "an array for a path", body: fixtureRequest({ "Source Folder Path": ["s3://x/y"] }), status: 400, fields: ["Source Folder Path"] },
      { name: "a misspelt key", body: fixtureRequest({ "Use Gpu": true }), status: 400, fields: ["Use Gpu"], reason: /did you mean "Use GPU"/ },
      { name: "a missing target", body: { "Source Folder Path": `s3://${BUCKET}/${SOURCE.prefix}` }, status: 400, fields: ["Target Folder Path"] },
      { name: "an https URL as source", body: fixtureRequest({ "Source Folder Path": `https://${BUCKET}.s3.amazonaws.com/scans` }), status: 400, fields: ["Source Folder Path"] },
      { name: "a bucket-only URI", body: fixtureRequest({ "Target Folder Path": `s3://${BUCKET}` }), status: 400, fields: ["Target Folder Path"], reason: /not the whole bucket/ },
      { name: "a '..' segment", body: fixtureRequest({ "Target Folder Path": `s3://${BUCKET}/results/../scans` }), status: 400, fields: ["Target Folder Path"] },
      { name: "a foreign bucket (the fixture's own)", body: fixtureRequest({ "Source Folder Path": "s3://pointcloud.test.until.20240607/test/src" }), status: 400, fields: ["Source Folder Path"], reason: /not served by this deployment/ },
      { name: "a source folder that does not exist", body: fixtureRequest({ "Source Folder Path": `s3://${BUCKET}/scans/nothing-here` }), status: 400, fields: ["Source Folder Path"], reason: /holds no objects/ },
      { name: "a source prefix that only matches a sibling folder", body: fixtureRequest({ "Source Folder Path": `s3://${BUCKET}/scans/case` }), status: 400, fields: ["Source Folder Path"], reason: /holds no objects/ },
      { name: "a target inside the source", body: fixtureRequest({ "Target Folder Path": `s3://${BUCKET}/${SOURCE.prefix}/out` }), status: 400, fields: ["Target Folder Path"], reason: /overlap/ },
      { name: "a source inside the target", body: fixtureRequest({ "Target Folder Path": `s3://${BUCKET}/scans` }), status: 400, fields: ["Target Folder Path"], reason: /overlap/ },
      { name: "invalid JSON", body: '{"Source Folder Path": ', status: 400, fields: ["body"], reason: /not valid JSON/ },
      { name: "an empty body", body: "", status: 400, fields: ["body"], reason: /empty/ },
      { name: "a JSON array", body: "[1,2]", status: 400, fields: ["body"] },
      { name: "JSON null", body: "null", status: 400, fields: ["body"] },
      { name: "a body over api.maxBodyBytes", body: fixtureRequest({ "Target Folder Path": `s3://${BUCKET}/${long}` }), status: 413, fields: ["body"], reason: /at most 16384 bytes/ },
      { name: "a form-encoded body", body: "a=b", headers: { "Content-Type": "application/x-www-form-urlencoded" }, status: 415, fields: ["Content-Type"] },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const [messages, items] = [await h().queuedMessages(), await h().jobItems()];

        const res = await postJob(h().app(), c.body, c.headers);

        assert.equal(res.status, c.status, await res.clone().text());
        const { error } = (await res.json()) as ErrorAnswer;
        assert.deepEqual(error.problems?.map((p) => p.field).sort(), [...c.fields].sort());
        if (c.reason) assert.match(error.problems!.map((p) => p.reason).join("; "), c.reason);
        assert.equal(await h().queuedMessages(), messages, "nothing enqueued");
        assert.equal(await h().jobItems(), items, "nothing stored");
      });
    }

    it("lists every problem at once", async () => {
      const res = await postJob(h().app(), { "Use GPU": 1, Colour: "red", "Target Folder Path": "s3://Bad_Bucket/x" }, { "Idempotency-Key": "a b" });
      assert.equal(res.status, 400);
      const { error } = (await res.json()) as ErrorAnswer;
      assert.deepEqual(error.problems!.map((p) => p.field).sort(), ["Colour", "Idempotency-Key", "Source Folder Path", "Target Folder Path", "Use GPU"]);
    });

    it("a source folder larger than storage.maxSourceBytes", async () => {
      const config = { ...h().deps.config, storage: { ...h().deps.config.storage, maxSourceBytes: SOURCE.bytes - 1 } };
      const [messages, items] = [await h().queuedMessages(), await h().jobItems()];
      const res = await postJob(h().app({ config }), fixtureRequest());
      assert.equal(res.status, 400);
      const { error } = (await res.json()) as ErrorAnswer;
      assert.equal(error.problems?.[0]?.field, "Source Folder Path");
      assert.match(error.problems![0]!.reason, /more than 599 bytes \(storage\.maxSourceBytes\)/);
      assert.equal(await h().queuedMessages(), messages);
      assert.equal(await h().jobItems(), items);
    });

    it("paths outside the deployment's storage.sourcePrefixes / targetPrefixes", async () => {
      const config = { ...h().deps.config, storage: { ...h().deps.config.storage, sourcePrefixes: ["inbox/"], targetPrefixes: ["outbox/"] } };
      const res = await postJob(h().app({ config }), fixtureRequest());
      assert.equal(res.status, 400);
      const { error } = (await res.json()) as ErrorAnswer;
      assert.deepEqual(error.problems!.map((p) => p.field).sort(), ["Source Folder Path", "Target Folder Path"]);
      assert.match(error.problems![0]!.reason, /s3:\/\/spotq-api-test\/inbox\//);

      await h().upload({ "inbox/case-9/scan.ply": "x" });
      const ok = await postJob(h().app({ config }), fixtureRequest({ "Source Folder Path": `s3://${BUCKET}/inbox/case-9`, "Target Folder Path": `s3://${BUCKET}/outbox/case-9` }));
      assert.equal(ok.status, 202);
    });
  });

  describe("when a dependency fails", () => {
    /** The real queue, except that send fails like an SQS outage. */
    function failingSend(queue: JobQueue): JobQueue {
      return overriding(queue, {
        send: async () => {
          throw Object.assign(new Error("SQS send message failed: service unavailable"), { name: "ServiceUnavailable" });
        },
      });
    }

    it("a failed enqueue removes the record and answers 503 to retry; the retry with the same key then succeeds", async () => {
      const log = h().app().log;
      const app = h().app({ queue: failingSend(h().deps.queue), log });
      const [messages, items] = [await h().queuedMessages(), await h().jobItems()];

      const res = await postJob(app, fixtureRequest(), { "Idempotency-Key": "enqueue-fails-once" });

      assert.equal(res.status, 503);
      assert.equal(res.headers.get("retry-after"), "2");
      const { error } = (await res.json()) as ErrorAnswer;
      assert.equal(error.code, "ENQUEUE_FAILED");
      assert.equal(error.retryable, true);
      assert.equal(await h().jobItems(), items, "no QUEUED record left behind");
      assert.equal(await h().queuedMessages(), messages);
      assert.ok(log.lines.some((l) => l.level === "error" && l.event.includes("job record removed")));

      const retry = await postJob(h().app(), fixtureRequest(), { "Idempotency-Key": "enqueue-fails-once" });
      assert.equal(retry.status, 202);
      assert.equal(retry.headers.get("idempotent-replayed"), null, "a new job, not the removed one");
      assert.equal(await h().queuedMessages(), messages + 1);
    });

    it("when the record cannot be removed either, it is marked FAILED with the ENQUEUE reason", async () => {
      const store = h().deps.store;
      const stuckRemove = overriding<JobStore>(store, {
        remove: async () => {
          throw new Error("DynamoDB delete failed: throttled");
        },
      });
      const items = await h().jobItems();
      const res = await postJob(h().app({ queue: failingSend(h().deps.queue), store: stuckRemove }), fixtureRequest());
      assert.equal(res.status, 503);
      assert.equal(await h().jobItems(), items + 1);
      const { jobs } = (await (await h().app().request("/jobs?state=FAILED")).json()) as { jobs: JobRecord[] };
      assert.equal(jobs.length, 1);
      assert.equal(jobs[0]!.error?.code, "ENQUEUE");
      assert.match(jobs[0]!.error!.message, /service unavailable/);
    });

    it("a jobs table outage answers 503 SERVICE_UNAVAILABLE and enqueues nothing", async () => {
      const store = overriding<JobStore>(h().deps.store, {
        create: async () => {
          throw Object.assign(new Error("DynamoDB put job failed"), { name: "ProvisionedThroughputExceededException" });
        },
      });
      const messages = await h().queuedMessages();
      const res = await postJob(h().app({ store }), fixtureRequest());
      assert.equal(res.status, 503);
      const { error } = (await res.json()) as ErrorAnswer;
      assert.equal(error.code, "SERVICE_UNAVAILABLE");
      assert.match(error.message, /jobs table is unavailable \(ProvisionedThroughputExceededException\)/);
      assert.equal(await h().queuedMessages(), messages);
    });

    it("a bucket listing failure answers 503 and stores nothing", async () => {
      const objects: ObjectStore = {
        summarizeFolder: async () => {
          throw Object.assign(new Error("S3 list failed"), { name: "SlowDown" });
        },
      };
      const items = await h().jobItems();
      const res = await postJob(h().app({ objects }), fixtureRequest());
      assert.equal(res.status, 503);
      assert.equal(await h().jobItems(), items);
    });
  });
});
