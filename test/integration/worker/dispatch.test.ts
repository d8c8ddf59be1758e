import assert from "node:assert/strict";
import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { newDispatchId, newJobId, type QueueMessage } from "../../../core/job.ts";
import type { JobRequest } from "../../../core/request.ts";
import { redrive } from "../../../scripts/cli/commands/redrive.ts";
import { TEST_CONFIG, useWorkerTestBed, type TestWorker, type WorkerTestBed } from "../../support/worker-stack.ts";
import { interceptQueue, interceptStore } from "../../support/worker-stubs.ts";

/** A processor that runs until it is stopped: the job is mid-run whenever the test hands it back. */
const SLOW = { processor: { env: { FAKE_MEDIT_SLEEP_MS: "600000" } } };
/** Long enough to be RUNNING while the test plays the other message, short enough to finish. */
const A_WHILE = { processor: { env: { FAKE_MEDIT_SLEEP_MS: "2500" } } };

/** Starts a worker, lets it take the job, and stops it: the job is handed back. Returns the receipt of the message it held. */
async function interruptOnce(b: WorkerTestBed, jobId: string, o: Parameters<WorkerTestBed["startWorker"]>[0] = {}): Promise<{ w: TestWorker; receipt: string; token?: string }> {
  const w = await b.startWorker({ config: SLOW, ...o });
  const received = await w.events.waitFor("message_received", (e) => e.jobId === jobId);
  await w.events.waitFor("job_started", (e) => e.jobId === jobId);
  const token = (await b.record(jobId)).dispatchId;
  await w.worker.stop();
  await w.events.waitFor("job_interrupted", (e) => e.jobId === jobId);
  return { w, receipt: received.receiptHandle, ...(token ? { token } : {}) };
}

describe("worker: hand-backs use neither attempts nor SQS receives (dispatch tokens, CONTRACTS §5)", function () {
  this.timeout(240_000);
  // The queue's redrive threshold as infra sets it by default (maxAttempts 3 + allowance 5).
  const { bed } = useWorkerTestBed(TEST_CONFIG, { maxReceiveCount: 8 });

  it("a job interrupted 10 times, with maxReceiveCount 8, still completes: every hand-back is a fresh message with a fresh token", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" });
    const tokens = new Set<string>();
    for (let i = 1; i <= 10; i++) {
      const { w, token } = await interruptOnce(b, job.jobId);
      assert.deepEqual(
        w.events.all("message_received").map((e) => e.receiveCount),
        [1],
        `hand-back ${i}: the message it got had never been received`,
      );
      tokens.add(token!);
      const queued = await b.record(job.jobId);
      assert.equal(queued.state, "QUEUED");
      assert.notEqual(queued.dispatchId, token, "the record names the fresh message");
      assert.equal(queued.previousDispatchId, token, "and the replaced one, in case the fresh one was never sent");
    }
    const last = await b.startWorker();
    const { record } = await last.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    assert.deepEqual(last.events.all("message_received").map((e) => e.receiveCount), [1]);
    assert.equal(tokens.size, 10);
    assert.equal(record.interruptions, 10);
    assert.equal(record.attempts, 11);
    assert.equal(record.previousDispatchId, undefined, "cleared by the claim");
    assert.deepEqual(
      record.attemptHistory?.map((a) => a.outcome),
      [...Array(10).fill("INTERRUPTED"), "SUCCEEDED"],
    );
    assert.deepEqual(await b.deadLetters(), [], "nothing was dead-lettered by the queue's redrive policy");
    assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
  });

  it("a worker long-polling as the job is handed back gets the fresh message and finds the job QUEUED under its token (the record is written first)", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" });
    let decided: (() => void) | undefined;
    const idleDecided = new Promise<void>((r) => (decided = r));
    // A's hand-back write waits until the idle worker has decided about a message (or 1 s passed
    // without one): were the fresh message sent before the write, the idle worker would see the
    // job RUNNING under the old token, delete the fresh message as stale, and the job would be lost.
    const a = await b.startWorker({
      label: "a",
      config: SLOW,
      deps: (d) => ({
        ...d,
        store: interceptStore(d.store, {
          transition: async (id, e, to, p) => {
            if (to === "QUEUED") await Promise.race([idleDecided, new Promise((r) => setTimeout(r, 1000))]);
            return d.store.transition(id, e, to, p);
          },
        }),
      }),
    });
    await a.events.waitFor("job_started", (e) => e.jobId === job.jobId);
    const idle = await b.startWorker({ label: "c" });
    idle.worker.on("job_started", () => decided?.());
    idle.worker.on("message_discarded", () => decided?.());
    // It lifts its protection right before its first long poll.
    await idle.events.waitFor("protection_changed", (e) => !e.protectedFromScaleIn);
    await a.worker.stop();
    const { record } = await idle.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    assert.deepEqual(record.attemptHistory?.map((h) => h.outcome), ["INTERRUPTED", "SUCCEEDED"]);
    assert.deepEqual(idle.events.all("message_discarded"), []);
  });

  describe("a duplicate left by a failed delete never runs twice", () => {
    /** Worker A hands the job back, but deleting its old message fails: both messages exist. */
    async function handBackWithFailedDelete(b: WorkerTestBed, jobId: string) {
      let deletes = 0;
      const r = await interruptOnce(b, jobId, {
        label: "a",
        deps: (d) => ({
          ...d,
          queue: interceptQueue(d.queue, {
            delete: async (receipt) => {
              if (deletes++ === 0) throw Object.assign(new Error("SQS delete message failed: socket hang up"), { name: "TimeoutError" });
              return d.queue.delete(receipt);
            },
          }),
        }),
      });
      assert.ok(r.w.events.all("warning").some((e) => /could not delete the replaced message of job/.test(e.message)));
      return r;
    }

    it("the fresh message runs; the old one, back while it runs, is deleted as a stale copy", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" });
      const a = await handBackWithFailedDelete(b, job.jobId);
      const runner = await b.startWorker({ label: "b", config: A_WHILE });
      await runner.events.waitFor("job_started", (e) => e.jobId === job.jobId);
      // The old message comes back (as after its visibility timeout) while the job runs on B.
      await b.queue.release(a.receipt, 0);
      const other = await b.startWorker({ label: "c" });
      const discarded = await other.events.waitFor("message_discarded", (e) => e.jobId === job.jobId);
      assert.match(discarded.reason, /a stale copy: its dispatch token \S+ is not the job's \S+; deleted/);
      await runner.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
      assert.deepEqual(other.events.all("job_started"), [], "the stale copy never ran");
      const done = await b.record(job.jobId);
      assert.deepEqual(done.attemptHistory?.map((h) => h.outcome), ["INTERRUPTED", "SUCCEEDED"]);
      assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
      assert.deepEqual(await b.deadLetters(), []);
    });

    it("the old message, back first, is adopted and runs; the fresh one, later, is deleted as a stale copy", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" });
      const a = await handBackWithFailedDelete(b, job.jobId);
      // Hold the fresh message (as if no worker had polled yet), and let the old one come back first.
      const fresh = await b.queue.receive({ waitSeconds: 1, visibilitySeconds: 120 });
      assert.equal(fresh?.message.dispatchId, (await b.record(job.jobId)).dispatchId);
      await b.queue.release(a.receipt, 0);
      const runner = await b.startWorker({ label: "b", config: A_WHILE });
      const started = await runner.events.waitFor("job_started", (e) => e.jobId === job.jobId);
      assert.equal(started.adopted, true);
      assert.equal((await b.record(job.jobId)).dispatchId, a.token, "the old message is the live one now");
      await b.queue.release(fresh!.receiptHandle, 0);
      const other = await b.startWorker({ label: "c" });
      const discarded = await other.events.waitFor("message_discarded", (e) => e.jobId === job.jobId);
      assert.match(discarded.reason, /a stale copy/);
      await runner.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
      assert.deepEqual(other.events.all("job_started"), []);
      assert.deepEqual((await b.record(job.jobId)).attemptHistory?.map((h) => h.outcome), ["INTERRUPTED", "SUCCEEDED"]);
      assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
    });
  });

  describe("a crash between the steps of a hand-back never loses the job", () => {
    /** A's visibility is short, so its old message comes back within seconds after A "dies". */
    const QUICK = { visibilityTimeoutSeconds: 3, heartbeatSeconds: 1 };

    it("after the record write, before the send: the old message comes back and is adopted", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" });
      // The process dies as it sends: nothing reaches SQS afterwards (no send, no release, no delete).
      const dead = async () => {
        throw new Error("the worker process died");
      };
      const a = await interruptOnce(b, job.jobId, {
        options: QUICK,
        deps: (d) => ({ ...d, queue: interceptQueue(d.queue, { send: dead, release: async () => undefined, delete: dead }) }),
      });
      const left = await b.record(job.jobId);
      assert.equal(left.state, "QUEUED");
      assert.equal(left.previousDispatchId, a.token, "the record names the old message as replaced");
      assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 1, delayed: 0 }, "only the old message exists, still in flight");
      const next = await b.startWorker({ label: "b" });
      const started = await next.events.waitFor("job_started", (e) => e.jobId === job.jobId);
      assert.equal(started.adopted, true);
      const { record } = await next.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
      assert.deepEqual(record.attemptHistory?.map((h) => h.outcome), ["INTERRUPTED", "SUCCEEDED"]);
      assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
    });

    it("after the send, before the delete: the fresh message runs once, the old one is deleted when it comes back", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" });
      await interruptOnce(b, job.jobId, {
        options: QUICK,
        deps: (d) => ({ ...d, queue: interceptQueue(d.queue, { delete: async () => undefined }) }),
      });
      const next = await b.startWorker({ label: "b" });
      await next.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
      // The old message returns after A's visibility timeout, and is dropped.
      const discarded = await next.events.waitFor("message_discarded", (e) => e.jobId === job.jobId);
      assert.match(discarded.reason, /stale copy|already SUCCEEDED/);
      assert.equal(next.events.all("job_started").length, 1);
      assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
      assert.deepEqual(await b.deadLetters(), []);
    });

    it("a send that fails (not a crash) releases the old message at once, and it is adopted", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" });
      const a = await interruptOnce(b, job.jobId, {
        deps: (d) => ({
          ...d,
          queue: interceptQueue(d.queue, {
            send: async () => {
              throw Object.assign(new Error("SQS send message failed: Service Unavailable"), { name: "ServiceUnavailable" });
            },
          }),
        }),
      });
      assert.ok(a.w.events.all("warning").some((e) => /could not send the replacement message .* its old message was released instead/.test(e.message)));
      assert.deepEqual(await b.queue.depth(), { visible: 1, inFlight: 0, delayed: 0 }, "visible at once, not after the visibility timeout");
      const next = await b.startWorker({ label: "b" });
      assert.equal((await next.events.waitFor("job_started", (e) => e.jobId === job.jobId)).adopted, true);
      await next.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    });
  });

  describe("messages whose job is gone or failed are dead-lettered, not deleted", () => {
    it("a redelivered message whose record is FAILED goes to the DLQ with the reason", async () => {
      const b = bed();
      const jobId = newJobId();
      const now = new Date().toISOString();
      const dispatchId = newDispatchId();
      const request = { "Source Folder Path": `s3://${b.bucket}/x`, "Target Folder Path": `s3://${b.bucket}/y` } as JobRequest;
      await b.store.create({
        jobId,
        state: "FAILED",
        request,
        submittedAt: now,
        updatedAt: now,
        attempts: 2,
        interruptions: 0,
        dispatchId,
        error: { code: "PROCESS_EXIT", message: "the processor exited with code 1" },
      });
      await b.queue.send({ jobId, request, submittedAt: now, dispatchId });
      const w = await b.startWorker();
      const discarded = await w.events.waitFor("message_discarded", (e) => e.jobId === jobId);
      assert.equal(discarded.state, "FAILED");
      const dlq = await b.deadLetters();
      assert.deepEqual(dlq.map((m) => m.body.jobId), [jobId]);
      assert.equal(dlq[0]!.reason, "PROCESS_EXIT: the processor exited with code 1");
      assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
    });

    it("a message whose job has no record goes to the DLQ", async () => {
      const b = bed();
      const jobId = newJobId();
      const request = { "Source Folder Path": `s3://${b.bucket}/x`, "Target Folder Path": `s3://${b.bucket}/y` } as JobRequest;
      await b.queue.send({ jobId, request, submittedAt: new Date().toISOString(), dispatchId: newDispatchId() });
      const w = await b.startWorker();
      await w.events.waitFor("message_discarded", (e) => e.jobId === jobId);
      const dlq = await b.deadLetters();
      assert.deepEqual(dlq.map((m) => m.body.jobId), [jobId]);
      assert.match(dlq[0]!.reason!, /has no record in the jobs table/);
    });
  });

  describe("spotq redrive stamps a fresh token the same way", () => {
    function target(b: WorkerTestBed, dlqUrl: string) {
      return {
        kind: "local" as const,
        apiUrl: "http://unused",
        aws: b.aws.emulators.settings,
        deployment: { queueUrl: (b.queue as unknown as { queueUrl: string }).queueUrl, dlqUrl, tableName: b.aws.resources.tableName },
      };
    }

    it("a FAILED job goes back with a fresh token, and the next worker runs it; a stale copy of a running job is dropped from the DLQ", async () => {
      const b = bed();
      const dlqUrl = (b.queue as unknown as { dlqUrl: string }).dlqUrl;
      const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "fail-attempts=2" });
      const w = await b.startWorker();
      await w.events.waitFor("job_failed", (e) => e.jobId === job.jobId);
      const failed = await b.record(job.jobId);
      await w.worker.stop();

      // A stale copy of another job that is running (say, a hand-back's old message the queue's redrive policy parked).
      const running = await b.submit({ "a.txt": "a" });
      const live = (await b.record(running.jobId)).dispatchId!;
      await b.store.transition(running.jobId, { state: "QUEUED", attempts: 0 }, "RUNNING", { attempts: 1, instanceId: "i-0running" });
      const stale: QueueMessage = { jobId: running.jobId, request: failed.request, submittedAt: failed.submittedAt, dispatchId: newDispatchId() };
      const sqs = b.aws.emulators.clients.sqs();
      await sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: JSON.stringify(stale) }));
      // The running job's own message, out of the way of the worker below.
      await b.queue.receive({ waitSeconds: 1, visibilitySeconds: 600 });

      const lines: string[] = [];
      const result = await redrive(target(b, dlqUrl), {}, (l) => lines.push(l));
      assert.deepEqual(result.redriven, [job.jobId], lines.join("\n"));
      assert.deepEqual(result.discarded, [running.jobId]);
      assert.equal((await b.record(running.jobId)).dispatchId, live, "the running job is untouched");

      const requeued = await b.record(job.jobId);
      assert.equal(requeued.state, "QUEUED");
      assert.notEqual(requeued.dispatchId, failed.dispatchId);
      assert.equal(requeued.previousDispatchId, failed.dispatchId);
      const peek = await sqs.send(new ReceiveMessageCommand({ QueueUrl: (b.queue as unknown as { queueUrl: string }).queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));
      assert.deepEqual(
        (peek.Messages ?? []).map((m) => JSON.parse(m.Body!) as QueueMessage).map((m) => [m.jobId, m.dispatchId]),
        [[job.jobId, requeued.dispatchId]],
      );
      const next = await b.startWorker();
      const { record } = await next.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
      assert.deepEqual(record.attemptHistory?.map((a) => [a.outcome, Boolean(a.redriven)]), [
        ["FAILED", true],
        ["FAILED", true],
        ["SUCCEEDED", false],
      ]);
      assert.deepEqual(await b.deadLetters(), []);
    });

    it("a FAILED high-priority job goes back on the high-priority queue, where the next worker asks first", async () => {
      const b = bed();
      const dlqUrl = (b.queue as unknown as { dlqUrl: string }).dlqUrl;
      const highQueueUrl = (b.highQueue as unknown as { queueUrl: string }).queueUrl;
      const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "fail-attempts=2" }, { priority: "high" });
      const w = await b.startWorker({ lanes: "spot" });
      await w.events.waitFor("job_failed", (e) => e.jobId === job.jobId);
      await w.worker.stop();

      const lines: string[] = [];
      const t = target(b, dlqUrl);
      const result = await redrive({ ...t, deployment: { ...t.deployment, highQueueUrl } }, {}, (l) => lines.push(l));
      assert.deepEqual(result.redriven, [job.jobId], lines.join("\n"));
      assert.ok(lines.includes(`${job.jobId}: FAILED -> QUEUED, back on the high-priority queue`), lines.join("\n"));
      const requeued = await b.record(job.jobId);
      assert.equal(requeued.queue, "high");
      assert.deepEqual(await b.highQueue.depth(), { visible: 1, inFlight: 0, delayed: 0 });
      assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
      const next = await b.startWorker({ lanes: "spot" });
      const received = await next.events.waitFor("message_received", (e) => e.jobId === job.jobId);
      assert.equal(received.queue, "high");
      await next.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    });
  });
});
