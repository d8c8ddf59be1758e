import assert from "node:assert/strict";
import type { JobRecord } from "../../../core/job.ts";
import { isAlive } from "../../support/worker-fixtures.ts";
import { TEST_CONFIG, useWorkerTestBed, type WorkerTestBed } from "../../support/worker-stack.ts";
import { awsError, interceptQueue, interceptStore, recordingFleet } from "../../support/worker-stubs.ts";

/** Every copy of a job's message, wherever it is: the queue (visible, in flight, delayed) and the DLQ. */
async function messagesOf(b: WorkerTestBed): Promise<number> {
  const d = await b.queue.depth();
  return d.visible + d.inFlight + d.delayed + (await b.deadLetters()).length;
}

/**
 * Issue 8 §11: small changes that once went unnoticed by every test. Each test here was seen to
 * fail with its guarantee broken on purpose (see docs/worker.md, "Which orderings are load-bearing").
 */
describe("worker: guarantees that must fail a test when broken", function () {
  this.timeout(120_000);
  const { bed } = useWorkerTestBed(TEST_CONFIG);

  it("an upload that fails never loses or deletes the message: it is retried, then FAILED and dead-lettered", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" }, { "Target Folder Path": "s3://spotq-no-such-bucket-8/out" });
    const w = await b.startWorker();
    const retried = await w.events.waitFor("job_retried", (e) => e.jobId === job.jobId);
    assert.equal(retried.error.code, "TRANSFER");
    const between = await b.record(job.jobId);
    assert.notEqual(between.state, "SUCCEEDED");
    assert.equal(between.outputs, undefined);
    assert.equal(await messagesOf(b), 1, "the message is still there for the retry");
    const failed = await w.events.waitFor("job_failed", (e) => e.jobId === job.jobId);
    assert.equal(failed.error.code, "TRANSFER");
    assert.equal((await b.record(job.jobId)).state, "FAILED");
    assert.deepEqual((await b.deadLetters()).map((m) => m.body.jobId), [job.jobId]);
    assert.equal(await messagesOf(b), 1);
  });

  describe("a stale worker touches nothing: the record taken over through the store while its receipt is still valid", () => {
    it("its heartbeat's conditional write is refused: it kills the processor, leaves the record and the message alone", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "sleep=600000" });
      const w = await b.startWorker({ options: { heartbeatSeconds: 0.5 } });
      const { pid } = await w.events.waitFor("processor_started", (e) => e.jobId === job.jobId);
      // Another attempt takes the job over in the table only: the old worker's receipt stays valid.
      const taken = await b.store.transition(job.jobId, { state: "RUNNING", attempts: 1 }, "RUNNING", { attempts: 2, instanceId: "i-0newer00000000001" });
      const lost = await w.events.waitFor("job_lost", (e) => e.jobId === job.jobId);
      assert.match(lost.reason, /RUNNING at attempt 2/);
      assert.deepEqual(await b.record(job.jobId), taken, "not one attribute written after the takeover");
      assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 1, delayed: 0 }, "neither deleted nor released");
      for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(isAlive(pid), false, "its processor was killed");
      assert.deepEqual([...w.events.all("job_succeeded"), ...w.events.all("job_retried"), ...w.events.all("job_failed")], []);
    });

    it("its final write is refused too: the outputs are up, but SUCCEEDED is not written and the message is not deleted", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" });
      let taken: JobRecord | undefined;
      const w = await b.startWorker({
        deps: (d) => ({
          ...d,
          store: interceptStore(d.store, {
            transition: async (id, expected, to, patch) => {
              // Right before the final write: another attempt takes the job over.
              if (to === "SUCCEEDED") taken = await d.store.transition(id, { state: "RUNNING", attempts: 1 }, "RUNNING", { attempts: 2, instanceId: "i-0newer00000000002" });
              return d.store.transition(id, expected, to, patch);
            },
          }),
        }),
      });
      const lost = await w.events.waitFor("job_lost", (e) => e.jobId === job.jobId);
      assert.match(lost.reason, /expected RUNNING at attempt 1, but it is RUNNING at attempt 2/);
      assert.deepEqual(await b.record(job.jobId), taken);
      assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 1, delayed: 0 });
      assert.deepEqual(w.events.all("job_succeeded"), []);
    });
  });

  it("a failed SetInstanceProtection hands the message back at once, unclaimed", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" });
    const w = await b.startWorker({
      deps: (d) => ({
        ...d,
        fleet: recordingFleet(d.fleet!, {
          protect: async (id, value) => {
            if (value) throw awsError("AccessDenied", "not authorized to perform: autoscaling:SetInstanceProtection");
            return d.fleet!.protect(id, value);
          },
        }),
      }),
    });
    // Stop as soon as it says so, before its next poll could take the message again.
    w.worker.on("warning", (e) => void (/could not protect the instance from scale-in/.test(e.message) && w.worker.stop()));
    const warned = await w.events.waitFor("warning", (e) => /could not protect the instance from scale-in/.test(e.message));
    assert.match(warned.message, new RegExp(`so job ${job.jobId} was handed back: .*AccessDenied|not authorized`));
    await w.worker.done;
    assert.deepEqual(await b.queue.depth(), { visible: 1, inFlight: 0, delayed: 0 }, "visible again at once, not after the visibility timeout");
    const r = await b.record(job.jobId);
    assert.equal(r.state, "QUEUED");
    assert.equal(r.attempts, 0, "never claimed");
    assert.deepEqual(w.events.all("job_started"), []);
  });

  describe("the record shows each phase as it starts (issue 11 §6)", () => {
    /** A heartbeat far longer than the job: any progress write seen comes from a phase change. */
    const RARE_BEATS = { visibilityTimeoutSeconds: 120, heartbeatSeconds: 60 };

    it("writes download → process → upload when each starts, conditional on the attempt, not at the next beat", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "sleep=1500" });
      const writes: string[] = [];
      let extends_ = 0;
      const w = await b.startWorker({
        options: RARE_BEATS,
        deps: (d) => ({
          ...d,
          queue: interceptQueue(d.queue, { extend: (r, s) => (extends_++, d.queue.extend(r, s)) }),
          store: interceptStore(d.store, {
            update: (id, e, p) => {
              if (p.progress) writes.push(`${p.progress.phase} if ${JSON.stringify(e)}`);
              return d.store.update(id, e, p);
            },
          }),
        }),
      });
      await w.events.waitFor("job_phase", (e) => e.jobId === job.jobId && e.phase === "process");
      const mid = await until(async () => {
        const r = await b.record(job.jobId);
        return r.progress?.phase === "process" ? r : undefined;
      });
      assert.equal(mid.state, "RUNNING");
      await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
      assert.deepEqual(writes, ['process if {"state":"RUNNING","attempts":1}', 'upload if {"state":"RUNNING","attempts":1}']);
      assert.equal(extends_, 0, "no heartbeat happened: the phases were written as they changed");
    });

    it("a slow progress write never holds the job up", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" });
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const w = await b.startWorker({
        options: RARE_BEATS,
        deps: (d) => ({
          ...d,
          store: interceptStore(d.store, {
            update: async (id, e, p) => {
              if (p.progress?.phase === "process") await held; // DynamoDB is slow to answer this one
              return d.store.update(id, e, p);
            },
          }),
        }),
      });
      // The processor starts and runs while the write of its phase is still pending.
      await w.events.waitFor("processor_output", (e) => e.jobId === job.jobId && /read 1 files/.test(e.line));
      release();
      await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    });
  });
});

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
