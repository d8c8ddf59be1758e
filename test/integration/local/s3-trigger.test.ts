import assert from "node:assert/strict";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { once } from "node:events";
import { captureLog, overriding } from "../api/api-harness.ts";
import { S3MarkerReader } from "../../../aws/marker-reader.ts";
import { SqsJobQueue } from "../../../aws/job-queue.ts";
import { DynamoJobStore } from "../../../aws/job-store.ts";
import { S3ObjectStore } from "../../../aws/object-store.ts";
import type { S3TriggerDeps } from "../../../api/trigger-s3.ts";
import { LocalS3Trigger, type LocalS3TriggerEvents } from "../../../scripts/local/s3-trigger.ts";
import { FolderTransfer } from "../../../worker/transfer.ts";
import { useLocalAws } from "../../support/local-aws.ts";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const BUCKET = "spotq-local-trigger";

describe("local S3 event notifications: an upload under inbox/ reaches the trigger's handler as S3 would send it", () => {
  const aws = useLocalAws({ name: "ltrig", triggers: { s3: { enabled: true, prefixes: ["inbox/", "drop/"] } } }, BUCKET);
  let deps: S3TriggerDeps;
  const log = captureLog();
  const triggers: LocalS3Trigger[] = [];
  const put = (key: string, body: string) => aws().emulators.clients.s3().send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));

  before(() => {
    const { emulators, resources, config } = aws();
    const c = emulators.clients;
    deps = {
      store: new DynamoJobStore(c.dynamo(), { tableName: resources.tableName }),
      queue: new SqsJobQueue(c.sqs(), { queueUrl: resources.queueUrl, dlqUrl: resources.dlqUrl }),
      objects: new S3ObjectStore(c.s3()),
      markers: new S3MarkerReader(c.s3()),
      config,
      bucket: BUCKET,
      log,
    };
  });
  afterEach(async () => {
    for (const t of triggers.splice(0)) await t.stop();
  });

  function start(over: Partial<S3TriggerDeps> = {}, retryDelayMs = 10): LocalS3Trigger {
    const t = new LocalS3Trigger({ emulators: aws().emulators, deps: { ...deps, ...over }, log, retryDelayMs });
    triggers.push(t);
    return t;
  }

  /** Every delivery of a trigger, kept in order. */
  function record(t: LocalS3Trigger) {
    const delivered: LocalS3TriggerEvents["delivered"][0][] = [];
    const failed: LocalS3TriggerEvents["failed"][0][] = [];
    t.on("delivered", (d) => delivered.push(d));
    t.on("failed", (f) => failed.push(f));
    return { delivered, failed };
  }

  it("delivers a spotq.json put with a plain S3 client, as a job, and only what passes the filters", async () => {
    const t = start();
    const seen = record(t);
    await put("inbox/case-1/raw/scan-001.ply", "x".repeat(300));
    await put("scans/case-1/spotq.json", "{}"); // not under a trigger prefix
    await put("inbox/case-1/scan-info.json", "{}"); // not a marker
    const delivered = once(t, "delivered");
    await put("inbox/case-1/spotq.json", JSON.stringify({ "Use GPU": true }));
    const [d] = (await delivered) as LocalS3TriggerEvents["delivered"];
    await t.idle();
    assert.deepEqual(seen.delivered.map((x) => x.key), ["inbox/case-1/spotq.json"], "one delivery, for the marker");
    const [o] = d.outcomes;
    assert.ok(o && "jobId" in o && o.state === "QUEUED", JSON.stringify(d.outcomes));
    const job = await deps.store.get(o.jobId);
    assert.equal(job?.request["Source Folder Path"], `s3://${BUCKET}/inbox/case-1`);
    assert.equal(job?.request["Target Folder Path"], `s3://${BUCKET}/results/case-1`);
    assert.equal(job?.origin?.kind, "s3");
  });

  it("hears a second trigger prefix and a key with a space, and sees the folder's multipart object", async () => {
    const t = start();
    const dir = mkdtempSync(path.join(os.tmpdir(), "spotq-trig-"));
    try {
      mkdirSync(path.join(dir, "lab a"), { recursive: true });
      writeFileSync(path.join(dir, "lab a", "big.bin"), Buffer.alloc(6 * 1024 * 1024 + 1, 7));
      const delivered = once(t, "delivered");
      // The worker's transfer engine: a multipart upload of the big file, then the marker (last, as `spotq upload --submit` does).
      await new FolderTransfer(aws().emulators.clients.s3(), { partSizeBytes: 5 * 1024 * 1024 }).upload({ dir: path.join(dir, "lab a"), bucket: BUCKET, prefix: "drop/lab a" });
      await put("drop/lab a/spotq.json", "{}");
      const [d] = (await delivered) as LocalS3TriggerEvents["delivered"];
      assert.equal(d.key, "drop/lab a/spotq.json");
      const [o] = d.outcomes;
      assert.ok(o && "jobId" in o, JSON.stringify(d.outcomes));
      const job = await deps.store.get(o.jobId);
      assert.equal(job?.request["Source Folder Path"], `s3://${BUCKET}/drop/lab a`);
      assert.ok((job?.bytes?.in ?? 0) > 6 * 1024 * 1024, "the multipart object is part of the source");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("retries a failed delivery like Lambda's asynchronous invoke, then gives up after two retries", async () => {
    let sends = 0;
    const flaky = overriding(deps.queue, { send: async (m, o) => (++sends === 1 ? Promise.reject(new Error("SQS is down")) : deps.queue.send(m, o)) });
    const t = start({ queue: flaky });
    await put("inbox/case-2/scan.ply", "y");
    const delivered = once(t, "delivered");
    await put("inbox/case-2/spotq.json", "{}");
    const [d] = (await delivered) as LocalS3TriggerEvents["delivered"];
    assert.equal(d.attempt, 2);
    await t.stop();

    const down = start({ queue: overriding(deps.queue, { send: async () => Promise.reject(new Error("SQS is down")) }) });
    await put("inbox/case-3/scan.ply", "z");
    const failed = once(down, "failed");
    await put("inbox/case-3/spotq.json", "{}");
    const [f] = (await failed) as LocalS3TriggerEvents["failed"];
    assert.equal(f.attempts, 3);
    assert.match(f.error.message, /could not be queued/);
  });

  it("stops hearing uploads once stopped", async () => {
    const t = start();
    const seen = record(t);
    await t.stop();
    await put("inbox/case-4/scan.ply", "z");
    await put("inbox/case-4/spotq.json", "{}");
    await t.idle();
    assert.deepEqual(seen.delivered, []);
  });
});
