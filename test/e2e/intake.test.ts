import assert from "node:assert/strict";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { parseJobEvent, type JobStateChange } from "../../core/job-events.ts";
import { ANALYTICS_COLUMNS, RESULT_FILE_NAME } from "../../core/job-result.ts";
import type { JobRecord } from "../../core/job.ts";
import { startE2eStack, type E2eStack } from "../support/e2e-stack.ts";
import { makeScan, meditRequest, MEDIT_FIXTURE, outputProblems, readFolder, SAVE_SOURCE, uploadScan } from "../support/e2e-scans.ts";
import { waitUntil } from "../support/e2e-wait.ts";

/**
 * Issue 10, end to end on the local stack: a job comes in through the API or through an upload of
 * a folder and its spotq.json (any S3 client), runs on the fleet, and both end in the same record
 * shape; every state change is on the events queue, the result file is in the target, and the
 * analytics line is in the data bucket.
 */
describe("e2e: the two intake paths (POST /jobs, and an upload with spotq.json) end in the same job", function () {
  this.timeout(240_000);
  let e: E2eStack;
  const events = new Map<string, JobStateChange[]>();

  before(async function () {
    this.timeout(60_000);
    e = await startE2eStack({ config: (c) => ({ ...c, queue: { ...c.queue, receiveWaitSeconds: 5 } }) });
  });
  after(async function () {
    this.timeout(60_000);
    await e?.stop();
  });

  /** Reads the events queue (as its one consumer here), keeping each job's events in the order they came. */
  async function readEvents(): Promise<void> {
    const sqs = e.stack.emulators.clients.sqs();
    const QueueUrl = e.stack.events!.queueUrl;
    for (;;) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      if (!r.Messages?.length) return;
      for (const m of r.Messages) {
        const ev = parseJobEvent(m.Body);
        assert.ok(ev, `the events queue holds only job events: ${m.Body}`);
        events.set(ev.detail.jobId, [...(events.get(ev.detail.jobId) ?? []), ev.detail]);
      }
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: r.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    }
  }

  async function text(key: string): Promise<string | undefined> {
    const r = await e.stack.emulators.clients.s3().send(new GetObjectCommand({ Bucket: e.stack.resources.bucket, Key: key })).catch(() => undefined);
    return r?.Body?.transformToString();
  }

  /** What every finished job must show: its events, its result file, its analytics line. Returns the record. */
  async function assertAnnounced(jobId: string, targetPrefix: string): Promise<JobRecord> {
    const job = await e.jobs.finished(jobId, 120_000);
    assert.equal(job.state, "SUCCEEDED", `job ended ${job.state}: ${JSON.stringify(job.error)}`);
    const states = await waitUntil(
      "the job's QUEUED, RUNNING and SUCCEEDED events on the events queue",
      async () => {
        await readEvents();
        const s = (events.get(jobId) ?? []).map((x) => `${x.previousState ?? "-"}>${x.state}`);
        return s.includes("RUNNING>SUCCEEDED") ? s : undefined;
      },
      30_000,
      { describe: () => JSON.stringify(events.get(jobId) ?? []) },
    );
    assert.deepEqual(states, ["->QUEUED", "QUEUED>RUNNING", "RUNNING>SUCCEEDED"]);
    const succeeded = events.get(jobId)!.at(-1)!;
    assert.deepEqual(succeeded.output, job.outputs, "the SUCCEEDED event says where the outputs are");
    assert.equal(succeeded.attempt, 1);

    const result = JSON.parse(await waitUntil("spotq-result.json in the target", () => text(`${targetPrefix}/${RESULT_FILE_NAME}`), 30_000));
    assert.deepEqual([result.jobId, result.state, result.attempts, result.request], [jobId, "SUCCEEDED", 1, job.request]);
    assert.equal(result.instance.id, job.instanceId);
    assert.equal(result.instance.type, e.stack.config.fleet.instanceTypes[0], "the instance type the local fleet launched");
    assert.equal(result.timings.processSeconds, job.timings!.processMs! / 1000);

    const day = job.finishedAt!.slice(0, 10);
    const lineText = await waitUntil("the analytics line", () => text(`analytics/jobs/dt=${day}/${jobId}.json`), 30_000);
    const line = JSON.parse(lineText);
    assert.deepEqual(Object.keys(line), ANALYTICS_COLUMNS.map((c) => c.name));
    assert.deepEqual([line.state, line.instance_type, line.bytes_in, line.bytes_out], ["SUCCEEDED", result.instance.type, job.bytes!.in, job.bytes!.out]);
    return job;
  }

  let viaApi: JobRecord;
  let viaUpload: JobRecord;

  it("API: POST /jobs runs to SUCCEEDED, announced on the events queue, with its result file and analytics line", async () => {
    const { bucket } = e.stack.resources;
    const s3 = e.stack.emulators.clients.s3();
    const inputs = makeScan("intake-api", { files: 2 });
    await uploadScan(s3, bucket, "scans/api-1", inputs);
    const res = await fetch(`${e.stack.apiUrl}/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json", "Idempotency-Key": "intake-api-1" },
      body: JSON.stringify(meditRequest(bucket, "scans/api-1", "results/api-1")),
    });
    assert.equal(res.status, 202);
    const { jobId } = (await res.json()) as { jobId: string };
    viaApi = await assertAnnounced(jobId, "results/api-1");
    assert.deepEqual(viaApi.origin, { kind: "api" });
    assert.deepEqual(outputProblems(await readFolder(s3, bucket, "results/api-1"), inputs, SAVE_SOURCE), []);
  });

  it("upload: a folder and its spotq.json under inbox/ (plain PutObject) is listed within 30 s and SUCCEEDS the same way", async () => {
    const { bucket } = e.stack.resources;
    const s3 = e.stack.emulators.clients.s3();
    const inputs = makeScan("intake-upload", { files: 2 });
    await uploadScan(s3, bucket, "inbox/case-1", inputs);
    // The Medit request without its two paths: the folder is the source, results/case-1 the target.
    const marker = Object.fromEntries(Object.entries(MEDIT_FIXTURE).filter(([k]) => !k.endsWith("Folder Path")));
    const uploadedAt = Date.now();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "inbox/case-1/spotq.json", Body: JSON.stringify(marker) }));

    const listed = await waitUntil(
      "a job for the upload in GET /jobs",
      async () => (await e.jobs.list()).find((j) => j.request["Source Folder Path"] === `s3://${bucket}/inbox/case-1`),
      30_000,
    );
    assert.ok(Date.now() - uploadedAt < 30_000);
    viaUpload = await assertAnnounced(listed.jobId, "results/case-1");
    assert.equal(viaUpload.request["Target Folder Path"], `s3://${bucket}/results/case-1`);
    assert.equal(viaUpload.origin?.kind, "s3");
    // The marker is part of the folder: the processor got it with the scan.
    const withMarker = new Map(inputs).set("spotq.json", Buffer.from(JSON.stringify(marker)));
    assert.deepEqual(outputProblems(await readFolder(s3, bucket, "results/case-1"), withMarker, SAVE_SOURCE), []);
    const listing = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "inbox/" }));
    assert.ok((listing.Contents ?? []).every((o) => o.Key!.startsWith("inbox/case-1/")), "nothing else appeared in the inbox");
  });

  it("both paths end in the same record shape", () => {
    assert.ok(viaApi && viaUpload, "both jobs ran");
    const shape = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(shape) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, shape(x)])) : typeof v;
    // The upload is named after its folder; a POST without Spotq-Job-Name has no name.
    const comparable = (j: JobRecord) => ({ ...j, origin: undefined, request: undefined, name: undefined });
    assert.equal(viaUpload.name, "case-1", "the upload is named after its folder");
    assert.deepEqual(shape(comparable(viaUpload)), shape(comparable(viaApi)), "the same fields, of the same types");
    assert.deepEqual(Object.keys(viaUpload.request).sort(), Object.keys(viaApi.request).sort(), "the same request keys");
  });
});
