import assert from "node:assert/strict";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { JobAnnouncer, type DeliveryKind } from "../../../aws/announcing-job-store.ts";
import { ensureEventsQueue, SqsJobEvents } from "../../../aws/job-events.ts";
import { S3JobResults } from "../../../aws/job-results.ts";
import { DynamoJobStore } from "../../../aws/job-store.ts";
import { StaleTransitionError } from "../../../core/errors.ts";
import { parseJobEvent, type JobEventEnvelope, type JobEvents } from "../../../core/job-events.ts";
import { ANALYTICS_COLUMNS, RESULT_FILE_NAME } from "../../../core/job-result.ts";
import { newJobId, type JobRecord } from "../../../core/job.ts";
import { useLocalAws } from "../../support/local-aws.ts";

const BUCKET = "spotq-announce-test";
let clock = Date.now();
function queued(target: string, overrides: Partial<JobRecord> = {}): JobRecord {
  clock += 1;
  const at = new Date(clock).toISOString();
  return {
    jobId: newJobId(clock),
    state: "QUEUED",
    request: { "Source Folder Path": `s3://${BUCKET}/scans/a`, "Target Folder Path": `s3://${BUCKET}/${target}` },
    submittedAt: at,
    updatedAt: at,
    attempts: 0,
    interruptions: 0,
    ...overrides,
  };
}

describe("aws: JobAnnouncer (events, result file, analytics line) around the jobs table", () => {
  const aws = useLocalAws({ name: "announce" }, BUCKET);
  let raw: DynamoJobStore;
  let queueUrl: string;
  const failures: { kind: DeliveryKind; jobId: string; message: string }[] = [];
  const s3 = () => aws().emulators.clients.s3();
  const sqs = () => aws().emulators.clients.sqs();

  before(async () => {
    raw = new DynamoJobStore(aws().emulators.clients.dynamo(), { tableName: aws().resources.tableName });
    queueUrl = await ensureEventsQueue(sqs(), "announce");
  });
  beforeEach(() => (failures.length = 0));

  function announcer(events: JobEvents = new SqsJobEvents(sqs(), { queueUrl, region: "us-east-1" }), eventTimeoutMs = 3000) {
    return new JobAnnouncer({
      deployment: "announce",
      events,
      results: new S3JobResults(s3(), { bucket: BUCKET, prefix: "analytics/jobs/", deployment: "announce", resultFile: true, analytics: true }),
      instanceType: async () => "g4dn.xlarge",
      onFailure: (kind, jobId, error) => failures.push({ kind, jobId, message: error.message }),
      eventTimeoutMs,
    });
  }

  /** Every event on the queue (drained), in the order sent. */
  async function drainEvents(): Promise<JobEventEnvelope[]> {
    const out: JobEventEnvelope[] = [];
    for (;;) {
      const r = await sqs().send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      if (!r.Messages?.length) return out;
      for (const m of r.Messages) {
        const e = parseJobEvent(m.Body);
        assert.ok(e, `not a job event: ${m.Body}`);
        out.push(e);
        await sqs().send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
      }
    }
  }

  async function object(key: string): Promise<string | undefined> {
    const r = await s3().send(new GetObjectCommand({ Bucket: BUCKET, Key: key })).catch(() => undefined);
    return r?.Body ? r.Body.transformToString() : undefined;
  }

  it("publishes each state a job enters, with the one it left, in order", async () => {
    const store = announcer().wrap(raw);
    const r = queued("results/a");
    await store.create(r); // a QUEUED create is announced by the submit, once enqueued
    await store.transition(r.jobId, { state: "QUEUED" }, "RUNNING", { attempts: 1, instanceId: "i-1" });
    await store.transition(r.jobId, { state: "RUNNING", attempts: 1 }, "SUCCEEDED", { outputs: { target: `s3://${BUCKET}/results/a`, objects: 3 }, exitCode: 0 });
    const events = (await drainEvents()).filter((e) => e.detail.jobId === r.jobId);
    assert.deepEqual(
      events.map((e) => [e.detail.previousState, e.detail.state, e.detail.attempt]),
      [
        ["QUEUED", "RUNNING", 1],
        ["RUNNING", "SUCCEEDED", 1],
      ],
    );
    assert.deepEqual(events[1]!.detail.output, { target: `s3://${BUCKET}/results/a`, objects: 3 });
    assert.deepEqual(failures, []);
  });

  it("announces nothing for a write that lost (a stale worker)", async () => {
    const store = announcer().wrap(raw);
    const r = queued("results/b");
    await raw.create(r);
    await assert.rejects(store.transition(r.jobId, { state: "RUNNING", attempts: 1 }, "SUCCEEDED"), StaleTransitionError);
    assert.deepEqual((await drainEvents()).filter((e) => e.detail.jobId === r.jobId), []);
  });

  it("writes spotq-result.json into the target and one analytics line when a job finishes", async () => {
    const store = announcer().wrap(raw);
    const r = queued("results/c", { state: "RUNNING", attempts: 1, instanceId: "i-9", startedAt: new Date().toISOString() });
    await raw.create(r);
    const done = await store.transition(r.jobId, { state: "RUNNING", attempts: 1 }, "SUCCEEDED", {
      outputs: { target: `s3://${BUCKET}/results/c`, objects: 2 },
      timings: { processMs: 4000 },
      exitCode: 0,
    });
    const result = JSON.parse((await object(`results/c/${RESULT_FILE_NAME}`)) ?? "null");
    assert.equal(result?.jobId, r.jobId);
    assert.deepEqual([result.state, result.instance, result.timings.processSeconds], ["SUCCEEDED", { id: "i-9", type: "g4dn.xlarge" }, 4]);
    const key = `analytics/jobs/dt=${done.finishedAt!.slice(0, 10)}/${r.jobId}.json`;
    const text = (await object(key)) ?? "";
    assert.equal(text.trim().split("\n").length, 1, "one JSON line");
    const line = JSON.parse(text);
    assert.deepEqual(Object.keys(line), ANALYTICS_COLUMNS.map((c) => c.name));
    assert.deepEqual([line.state, line.instance_type, line.process_seconds], ["SUCCEEDED", "g4dn.xlarge", 4]);
  });

  it("leaves a cancelled job's target alone, but still writes its analytics line", async () => {
    const store = announcer().wrap(raw);
    const r = queued("results/d");
    await raw.create(r);
    const done = await store.transition(r.jobId, { state: "QUEUED" }, "CANCELLED");
    const listed = await s3().send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "results/d/" }));
    assert.equal(listed.KeyCount ?? 0, 0);
    assert.ok(await object(`analytics/jobs/dt=${done.finishedAt!.slice(0, 10)}/${r.jobId}.json`));
  });

  it("announces a record created FAILED (a refused upload), with no previous state", async () => {
    const store = announcer().wrap(raw);
    const r = queued("results/e", { state: "FAILED", error: { code: "INVALID_REQUEST", message: "spotq.json: Use GPU: must be a JSON boolean" } });
    await store.create(r);
    const [e] = (await drainEvents()).filter((x) => x.detail.jobId === r.jobId);
    assert.deepEqual([e?.detail.previousState, e?.detail.state, e?.detail.reasonCode], [null, "FAILED", "INVALID_REQUEST"]);
  });

  it("never fails or undoes a transition when publishing fails or hangs: it reports the failure", async () => {
    const broken: JobEvents = { publish: async () => Promise.reject(new Error("ThrottlingException: rate exceeded")) };
    const hanging: JobEvents = { publish: (_c, o) => new Promise((_, reject) => o?.signal?.addEventListener("abort", () => reject(o.signal!.reason))) };
    for (const [events, expected] of [
      [broken, /ThrottlingException/],
      [hanging, /no answer within 50 ms/],
    ] as const) {
      const store = announcer(events, 50).wrap(raw);
      const r = queued("results/f");
      await raw.create(r);
      const moved = await store.transition(r.jobId, { state: "QUEUED" }, "RUNNING", { attempts: 1 });
      assert.equal(moved.state, "RUNNING");
      assert.equal((await raw.get(r.jobId))?.state, "RUNNING", "the transition stands");
      assert.equal(failures.length, 1, JSON.stringify(failures));
      assert.equal(failures[0]!.kind, "event");
      assert.match(failures[0]!.message, expected);
      failures.length = 0;
    }
  });
});
