import assert from "node:assert/strict";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import type { MSKEvent, S3Event, SelfManagedKafkaEvent } from "aws-lambda";
import { readFileSync } from "node:fs";
import { JobAnnouncer } from "../../../aws/announcing-job-store.ts";
import { ensureEventsQueue, SqsJobEvents } from "../../../aws/job-events.ts";
import { S3MarkerReader } from "../../../aws/marker-reader.ts";
import { handleKafkaEvent } from "../../../api/trigger-kafka.ts";
import { handleS3Event, type S3TriggerDeps } from "../../../api/trigger-s3.ts";
import { parseJobEvent } from "../../../core/job-events.ts";
import type { JobRecord } from "../../../core/job.ts";
import { BUCKET, captureLog, FIXTURE, overriding, useApiHarness } from "./api-harness.ts";

const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")) as T;
const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64");

/** The Medit fixture without its two paths: what a lab puts in spotq.json next to the scan. */
const OPTIONS_ONLY = Object.fromEntries(Object.entries(FIXTURE).filter(([k]) => !k.endsWith("Folder Path")));

describe("triggers: jobs from an uploaded spotq.json and from Kafka records, through the submit path", () => {
  const h = useApiHarness({ name: "trig", triggers: { s3: { enabled: true } } });
  let deps: S3TriggerDeps;
  let eventsUrl: string;
  const log = captureLog();

  before(async () => {
    const clients = h().aws.emulators.clients;
    eventsUrl = await ensureEventsQueue(clients.sqs(), "trig");
    const announcer = new JobAnnouncer({ deployment: "trig", events: new SqsJobEvents(clients.sqs(), { queueUrl: eventsUrl, region: "us-east-1" }) });
    deps = { ...h().deps, store: announcer.wrap(h().deps.store), announcer, markers: new S3MarkerReader(clients.s3()), log };
  });

  /** Uploads a scan folder and its marker as a lab would; returns the S3 event of the marker's upload (the fixture, re-aimed). */
  async function uploadCase(folder: string, marker: string | object): Promise<S3Event> {
    await h().upload({ [`${folder}/raw/scan-001.ply`]: "x".repeat(200), [`${folder}/scan-info.json`]: "{}" });
    const key = `${folder}/spotq.json`;
    await h().upload({ [key]: typeof marker === "string" ? marker : JSON.stringify(marker) });
    const head = await h().aws.emulators.clients.s3().send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    const event = fixture<S3Event>("s3-put-marker.json");
    event.Records[0]!.s3.object.key = encodeURIComponent(key).replace(/%2F/g, "/").replace(/%20/g, "+");
    event.Records[0]!.s3.object.eTag = head.ETag!.replace(/"/g, "");
    return event;
  }

  async function eventsFor(jobId: string) {
    const sqs = h().aws.emulators.clients.sqs();
    const out = [];
    for (;;) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: eventsUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 30 }));
      if (!r.Messages?.length) break;
      for (const m of r.Messages) {
        const e = parseJobEvent(m.Body);
        if (e?.detail.jobId === jobId) {
          out.push(e.detail);
          await sqs.send(new DeleteMessageCommand({ QueueUrl: eventsUrl, ReceiptHandle: m.ReceiptHandle! }));
        }
      }
    }
    return out;
  }

  const job = async (jobId: string) => (await h().deps.store.get(jobId)) as JobRecord;

  describe("S3: spotq.json under inbox/", () => {
    it("submits the folder as the source, with the default target, once per upload: a duplicate event creates nothing", async () => {
      const event = await uploadCase("inbox/case-1", OPTIONS_ONLY);
      const before = await h().queuedMessages();
      const [first] = await handleS3Event(deps, log, event);
      assert.ok(first && "jobId" in first, JSON.stringify(first));
      assert.equal(first.state, "QUEUED");
      const record = await job(first.jobId);
      assert.equal(record.request["Source Folder Path"], `s3://${BUCKET}/inbox/case-1`);
      assert.equal(record.request["Target Folder Path"], `s3://${BUCKET}/results/case-1`);
      assert.equal(record.request["Use GPU"], FIXTURE["Use GPU"]);
      assert.deepEqual(record.origin, { kind: "s3", bucket: BUCKET, key: "inbox/case-1/spotq.json", etag: event.Records[0]!.s3.object.eTag });
      assert.ok(record.bytes?.in && record.bytes.in > 200, "the folder's size, spotq.json included");

      const [again] = await handleS3Event(deps, log, event);
      assert.deepEqual(again, { ...first, replayed: true }, "the same event again is a replay");
      assert.equal(await h().queuedMessages(), before + 1, "one message for the two events");
      assert.deepEqual((await eventsFor(first.jobId)).map((e) => [e.previousState, e.state]), [[null, "QUEUED"]]);
    });

    it("treats a new upload of the marker (another ETag) as a new job", async () => {
      const one = await uploadCase("inbox/case-2", OPTIONS_ONLY);
      const [a] = await handleS3Event(deps, log, one);
      const two = await uploadCase("inbox/case-2", { ...OPTIONS_ONLY, "Complete Type": 2 });
      const [b] = await handleS3Event(deps, log, two);
      assert.ok(a && b && "jobId" in a && "jobId" in b);
      assert.notEqual(a.jobId, b.jobId);
    });

    it("keeps the paths a marker names, and decodes a key with spaces", async () => {
      const event = await uploadCase("inbox/lab a/case 3", { ...OPTIONS_ONLY, "Target Folder Path": `s3://${BUCKET}/out/case-3` });
      const [o] = await handleS3Event(deps, log, event);
      assert.ok(o && "jobId" in o, JSON.stringify(o));
      const r = await job(o.jobId);
      assert.deepEqual([r.request["Source Folder Path"], r.request["Target Folder Path"]], [`s3://${BUCKET}/inbox/lab a/case 3`, `s3://${BUCKET}/out/case-3`]);
    });

    it("records a bad spotq.json as a FAILED job whose error names each field, listed, with no message and no second record", async () => {
      const event = await uploadCase("inbox/bad-1", { ...OPTIONS_ONLY, "Use GPU": "yes", "Use Gpu": true });
      const before = await h().queuedMessages();
      const [o] = await handleS3Event(deps, log, event);
      assert.ok(o && "jobId" in o);
      assert.equal(o.state, "FAILED");
      const r = await job(o.jobId);
      assert.equal(r.error?.code, "INVALID_REQUEST");
      assert.match(r.error!.message, /inbox\/bad-1\/spotq.json: .*Use Gpu: unknown key \(did you mean "Use GPU"\?\).*Use GPU: must be a JSON boolean/);
      assert.equal(r.request["Source Folder Path"], `s3://${BUCKET}/inbox/bad-1`);
      const listed = await h().app().request("/jobs?state=FAILED&limit=100");
      assert.ok(((await listed.json()) as { jobs: JobRecord[] }).jobs.some((j) => j.jobId === o.jobId), "GET /jobs lists it");
      const [again] = await handleS3Event(deps, log, event);
      assert.deepEqual(again, { ...o, replayed: true });
      assert.equal(await h().queuedMessages(), before, "nothing enqueued");
      assert.deepEqual((await eventsFor(o.jobId)).map((e) => [e.previousState, e.state, e.reasonCode]), [[null, "FAILED", "INVALID_REQUEST"]]);
    });

    it("says why a marker is no job: not JSON, directly in the prefix", async () => {
      const [notJson] = await handleS3Event(deps, log, await uploadCase("inbox/bad-2", "{ 'Use GPU': true"));
      const [flat] = await handleS3Event(deps, log, await uploadCase("inbox", OPTIONS_ONLY));
      for (const [o, field] of [
        [notJson, "spotq.json: is not valid JSON"],
        [flat, "Source Folder Path: inbox/spotq.json lies directly in the trigger prefix"],
      ] as const) {
        assert.ok(o && "jobId" in o, JSON.stringify(o));
        assert.equal(o.state, "FAILED");
        assert.ok((await job(o.jobId)).error?.message.includes(field), (await job(o.jobId)).error?.message);
      }
    });

    it("skips what is not a marker, and a marker replaced since its event", async () => {
      const lookAlike = await uploadCase("inbox/case-4", OPTIONS_ONLY);
      lookAlike.Records[0]!.s3.object.key = "inbox/case-4/notspotq.json";
      const elsewhere = await uploadCase("scans/case-5", OPTIONS_ONLY);
      const replaced = await uploadCase("inbox/case-6", OPTIONS_ONLY);
      await h().upload({ "inbox/case-6/spotq.json": JSON.stringify({ ...OPTIONS_ONLY, "Complete Type": 7 }) });
      const outcomes = await handleS3Event(deps, log, { Records: [lookAlike.Records[0]!, elsewhere.Records[0]!, replaced.Records[0]!] });
      assert.deepEqual(
        outcomes.map((o) => ("skipped" in o ? o.skipped.replace(/\(.*/, "").trim() : o)),
        ["not a spotq.json", "scans/case-5/spotq.json is not under a trigger prefix", "replaced since this event"],
      );
    });

    it("throws when a dependency fails, leaving no job behind, and a retry of the event submits it", async () => {
      const event = await uploadCase("inbox/case-7", OPTIONS_ONLY);
      const failing = { ...deps, queue: overriding(deps.queue, { send: async () => Promise.reject(new Error("SQS is down")) }) };
      const jobsBefore = await h().jobItems();
      await assert.rejects(handleS3Event(failing, log, event), /could not be queued/);
      assert.equal(await h().jobItems(), jobsBefore, "the record was removed with its key");
      const [o] = await handleS3Event(deps, log, event);
      assert.ok(o && "jobId" in o && o.state === "QUEUED" && !o.replayed, JSON.stringify(o));
    });
  });

  describe("Kafka: one job request per record", () => {
    const request = (name: string) => ({ ...FIXTURE, "Source Folder Path": `s3://${BUCKET}/scans/case-1`, "Target Folder Path": `s3://${BUCKET}/results/kafka-${name}` });

    function mskBatch(): MSKEvent {
      const e = fixture<MSKEvent>("msk-event.json");
      e.records["scan-jobs-0"]![0]!.value = b64(request("a"));
      e.records["scan-jobs-1"]![0]!.value = b64({ ...request("b"), "Complete Type": -1 });
      return e;
    }

    it("submits good records and records each bad one as FAILED naming the field; the batch never fails", async () => {
      const before = await h().queuedMessages();
      const r = await handleKafkaEvent(deps, log, mskBatch());
      assert.deepEqual(r.batchItemFailures, []);
      const byRecord = new Map(r.outcomes.map((o) => [o.record, o]));
      const good = byRecord.get("scan-jobs/0@15")!;
      assert.ok("jobId" in good && good.state === "QUEUED", JSON.stringify(good));
      const notJson = byRecord.get("scan-jobs/0@16")!;
      const invalid = byRecord.get("scan-jobs/1@7")!;
      assert.ok("jobId" in notJson && "jobId" in invalid);
      assert.match((await job(notJson.jobId)).error!.message, /^Kafka record scan-jobs\/0@16: value: is not valid JSON/);
      assert.match((await job(invalid.jobId)).error!.message, /Complete Type: must be an integer/);
      assert.deepEqual((await job(good.jobId)).origin, { kind: "kafka", topic: "scan-jobs", partition: 0, offset: 15 });
      assert.equal(await h().queuedMessages(), before + 1);

      const again = await handleKafkaEvent(deps, log, mskBatch());
      assert.ok(again.outcomes.every((o) => "replayed" in o && o.replayed), "Lambda's redelivery of the batch creates nothing");
      assert.equal(await h().queuedMessages(), before + 1);
    });

    it("reports a record that met a failing dependency, per partition from its offset, and handles the rest", async () => {
      const e = mskBatch();
      e.records["scan-jobs-0"]![0]!.offset = 115;
      e.records["scan-jobs-1"]![0]!.value = b64(request("c"));
      e.records["scan-jobs-1"]![0]!.offset = 107;
      let sends = 0;
      const flaky = { ...deps, queue: overriding(deps.queue, { send: async (m, o) => (++sends === 1 ? Promise.reject(new Error("SQS is down")) : deps.queue.send(m, o)) }) };
      const r = await handleKafkaEvent(flaky, log, e);
      assert.deepEqual(r.batchItemFailures, [{ itemIdentifier: { partition: "scan-jobs-0", offset: 115 } }]);
      const other = r.outcomes.find((o) => o.record === "scan-jobs/1@107")!;
      assert.ok("jobId" in other && other.state === "QUEUED", JSON.stringify(other));
    });

    it("takes a self-managed Kafka batch, and the producer's idempotency-key header", async () => {
      const e = fixture<SelfManagedKafkaEvent>("self-managed-kafka-event.json");
      e.records["scan-jobs-0"]![0]!.value = b64(request("d"));
      const r = await handleKafkaEvent(deps, log, e);
      const [o] = r.outcomes;
      assert.ok(o && "jobId" in o && o.state === "QUEUED", JSON.stringify(o));
      assert.equal((await job(o.jobId)).idempotencyKey, "lab-a-case-4");
      e.records["scan-jobs-0"]![0]!.offset = 43; // the producer sent it again: same key, same request
      const [dup] = (await handleKafkaEvent(deps, log, e)).outcomes;
      assert.deepEqual(dup, { ...o, record: "scan-jobs/0@43", replayed: true });
    });
  });
});
