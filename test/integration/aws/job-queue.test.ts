import assert from "node:assert/strict";
import { ReceiveMessageCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { ensureJobQueues, SqsJobQueue } from "../../../aws/job-queue.ts";
import { newDispatchId, newJobId, type QueueMessage } from "../../../core/job.ts";
import { useLocalAws } from "../../support/local-aws.ts";

const REQUEST = { "Source Folder Path": "s3://spotq-test/scans/a", "Target Folder Path": "s3://spotq-test/out/a" };

describe("aws: SqsJobQueue on fauxqs", () => {
  const aws = useLocalAws();
  let sqs: SQSClient;
  let queue: SqsJobQueue;
  let urls: { queueUrl: string; dlqUrl: string };
  let malformed: [string, string][];
  let n = 0;

  const message = (): QueueMessage => ({ jobId: newJobId(), request: REQUEST, submittedAt: new Date().toISOString() });

  /** A fresh queue pair per test, redriving to the DLQ after 3 receives. */
  beforeEach(async () => {
    sqs = aws().emulators.clients.sqs();
    urls = await ensureJobQueues(sqs, { name: `q${++n}`, visibilityTimeoutSeconds: 30, maxReceiveCount: 3, dlqRetentionDays: 1 });
    malformed = [];
    queue = new SqsJobQueue(sqs, { ...urls, onMalformed: (id, reason) => malformed.push([id, reason]) });
  });

  /** Everything on the DLQ, with its attributes, without keeping it invisible. */
  async function deadLetters() {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: urls.dlqUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0, MessageAttributeNames: ["All"] }));
    return r.Messages ?? [];
  }

  it("delivers a sent job with its receive count and send time", async () => {
    const m = message();
    const before = Date.now();
    const id = await queue.send(m);

    const got = await queue.receive({ waitSeconds: 1 });

    assert.ok(got);
    assert.deepEqual(got.message, m);
    assert.equal(got.messageId, id);
    assert.equal(got.receiveCount, 1);
    assert.ok(got.sentAt >= before - 1000 && got.sentAt <= Date.now() + 1000);
  });

  it("carries the dispatch token a writer stamped, and the DLQ keeps it (redrive reads it)", async () => {
    const m = { ...message(), dispatchId: newDispatchId() };
    await queue.send(m);
    const got = await queue.receive({ waitSeconds: 1 });
    assert.deepEqual(got?.message, m);
    await queue.deadLetter(got!, "test");
    const [dead] = await deadLetters();
    assert.equal(JSON.parse(dead!.Body!).dispatchId, m.dispatchId);
  });

  it("answers undefined when nothing comes within the wait", async () => {
    assert.equal(await queue.receive({ waitSeconds: 0 }), undefined);
  });

  it("keeps a received job invisible, and a release gives it back at once with the next receive count", async () => {
    await queue.send(message());
    const first = await queue.receive({ waitSeconds: 1 });
    assert.ok(first);
    await queue.extend(first.receiptHandle, 120);
    assert.equal(await queue.receive({ waitSeconds: 0 }), undefined, "held by the first receiver");
    assert.deepEqual(await queue.depth(), { visible: 0, inFlight: 1, delayed: 0 });

    await queue.release(first.receiptHandle, 0);
    const again = await queue.receive({ waitSeconds: 1 });
    assert.equal(again?.message.jobId, first.message.jobId);
    assert.equal(again?.receiveCount, 2);
  });

  it("a release with a delay keeps the job away for that long", async () => {
    await queue.send(message());
    const got = await queue.receive({ waitSeconds: 1 });
    await queue.release(got!.receiptHandle, 60);
    assert.equal(await queue.receive({ waitSeconds: 0 }), undefined);
  });

  it("delete removes the job for good", async () => {
    await queue.send(message());
    const got = await queue.receive({ waitSeconds: 1 });
    await queue.delete(got!.receiptHandle);
    assert.deepEqual(await queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
  });

  it("counts visible, in-flight and delayed messages", async () => {
    await queue.send(message());
    await queue.send(message());
    await queue.send(message(), { delaySeconds: 60 });
    await queue.receive({ waitSeconds: 1, visibilitySeconds: 60 });
    assert.deepEqual(await queue.depth(), { visible: 1, inFlight: 1, delayed: 1 });
  });

  it("deadLetter moves the job to the DLQ with the reason and the receive count", async () => {
    const m = message();
    await queue.send(m);
    const got = await queue.receive({ waitSeconds: 1 });

    await queue.deadLetter(got!, "attempt 3 of 3 failed: exit code 2");

    assert.deepEqual(await queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
    const [dead] = await deadLetters();
    assert.deepEqual(JSON.parse(dead!.Body!), m);
    assert.equal(dead!.MessageAttributes?.reason?.StringValue, "attempt 3 of 3 failed: exit code 2");
    assert.equal(dead!.MessageAttributes?.receiveCount?.StringValue, "1");
  });

  for (const [what, body, reason] of [
    ["text that is not JSON", "hello", "message body is not JSON"],
    ["JSON without a job id", JSON.stringify({ request: REQUEST, submittedAt: "x" }), "message has no valid jobId"],
    ["a job without its request", JSON.stringify({ jobId: newJobId(), submittedAt: "x" }), "message has no request"],
    ["a job whose dispatch token is not a string", JSON.stringify({ jobId: newJobId(), request: REQUEST, submittedAt: "x", dispatchId: 7 }), "message has a dispatchId that is not a non-empty string"],
  ] as const) {
    it(`parks ${what} in the DLQ, unchanged, and reports it`, async () => {
      await sqs.send(new SendMessageCommand({ QueueUrl: urls.queueUrl, MessageBody: body }));

      assert.equal(await queue.receive({ waitSeconds: 1 }), undefined);

      assert.deepEqual(malformed.map(([, r]) => r), [reason]);
      const [dead] = await deadLetters();
      assert.equal(dead!.Body, body);
      assert.equal(dead!.MessageAttributes?.reason?.StringValue, reason);
      assert.deepEqual(await queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
    });
  }

  it("the queue itself redrives a job received maxReceiveCount times to the DLQ", async () => {
    const m = message();
    await queue.send(m);
    for (let i = 1; i <= 3; i++) {
      const got = await queue.receive({ waitSeconds: 1 });
      assert.equal(got?.receiveCount, i);
      await queue.release(got!.receiptHandle, 0);
    }
    assert.equal(await queue.receive({ waitSeconds: 0 }), undefined);
    const dead = await deadLetters();
    assert.deepEqual(dead.map((d) => JSON.parse(d.Body!).jobId), [m.jobId]);
  });

  it("stops a long poll when its signal is aborted", async () => {
    const abort = new AbortController();
    const polling = queue.receive({ waitSeconds: 20, signal: abort.signal });
    setImmediate(() => abort.abort());
    await assert.rejects(polling, /SQS receive message failed: AbortError/);
  });

  it("names the job when a send fails", async () => {
    const gone = new SqsJobQueue(sqs, { queueUrl: `${urls.queueUrl}-missing`, dlqUrl: urls.dlqUrl });
    const m = message();
    await assert.rejects(gone.send(m), (err: Error) => {
      assert.equal(err.name, "QueueDoesNotExist");
      assert.ok(err.message.startsWith(`SQS send message for job ${m.jobId} failed: `), err.message);
      return true;
    });
  });
});
