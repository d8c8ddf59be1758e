import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { isAlive } from "../../support/worker-fixtures.ts";
import { useWorkerTestBed } from "../../support/worker-stack.ts";

describe("worker: failures, retries, interruptions and cancel", function () {
  this.timeout(90_000);
  const { bed } = useWorkerTestBed();

  it("retries a failing processor, then records FAILED with the reason and each attempt's log, and dead-letters the message", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "fail" });
    const w = await b.startWorker();
    const retried = await w.events.waitFor("job_retried", (e) => e.jobId === job.jobId);
    assert.equal(retried.attempt, 1);
    assert.equal(retried.error.code, "PROCESS_EXIT");
    const failed = await w.events.waitFor("job_failed", (e) => e.jobId === job.jobId);
    assert.equal(failed.attempt, 2, "maxAttempts is 2");

    const stored = await b.record(job.jobId);
    assert.equal(stored.state, "FAILED");
    assert.equal(stored.error?.code, "PROCESS_EXIT");
    assert.match(stored.error!.message, /exited with code 1; last stderr: fake-medit: failing as told \(attempt 2\)/);
    assert.equal(stored.exitCode, 1);
    assert.deepEqual(
      stored.attemptHistory?.map((a) => [a.attempt, a.outcome, a.error?.code, a.logs?.stream]),
      [
        [1, "FAILED", "PROCESS_EXIT", `${job.jobId}/1.log`],
        [2, "FAILED", "PROCESS_EXIT", `${job.jobId}/2.log`],
      ],
    );
    // Each attempt's log is where the record says, with that attempt's stderr.
    for (const a of stored.attemptHistory!) {
      const log = await readFile(path.join(a.logs!.group, a.logs!.stream), "utf8");
      assert.match(log, new RegExp(`\\[stderr\\] fake-medit: failing as told \\(attempt ${a.attempt}\\)`));
    }
    const dlq = await b.deadLetters();
    assert.deepEqual(dlq.map((m) => m.body.jobId), [job.jobId]);
    assert.match(dlq[0]!.reason!, /^PROCESS_EXIT: the processor exited with code 1/);
    assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
  });

  it("retries after the backoff, and succeeds when only the first attempt fails", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "fail-attempts=1" });
    const w = await b.startWorker({ config: { jobs: { retryBackoffSeconds: 3 } } });
    const retried = await w.events.waitFor("job_retried", (e) => e.jobId === job.jobId);
    assert.equal(retried.delaySeconds, 3);
    // Held back for the backoff: not visible yet.
    assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 1, delayed: 0 });
    assert.equal((await b.record(job.jobId)).state, "QUEUED");
    await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    const stored = await b.record(job.jobId);
    assert.equal(stored.attempts, 2);
    assert.deepEqual(stored.attemptHistory?.map((a) => a.outcome), ["FAILED", "SUCCEEDED"]);
    assert.equal(stored.error, undefined, "the earlier error stays in the history, not on the succeeded job");
  });

  it("kills a processor that runs past the job timeout, and a crashing one is a crash: both retried, then FAILED", async () => {
    const b = bed();
    const slow = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "hang" });
    const w = await b.startWorker({ options: { jobTimeoutSeconds: 2 } });
    const failed = await w.events.waitFor("job_failed", (e) => e.jobId === slow.jobId);
    assert.equal(failed.error.code, "PROCESS_TIMEOUT");
    assert.match(failed.error.message, /longer than jobs.timeoutSeconds \(2 s\)/);
    assert.equal(w.events.all("job_retried", (e) => e.jobId === slow.jobId).length, 1);
    for (const { pid } of w.events.all("processor_started", (e) => e.jobId === slow.jobId)) assert.equal(isAlive(pid), false);

    const crash = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "crash" });
    const crashed = await w.events.waitFor("job_failed", (e) => e.jobId === crash.jobId);
    assert.equal(crashed.error.code, "PROCESS_CRASH");
    assert.match(crashed.error.message, /SIGABRT/);
    assert.equal((await b.record(crash.jobId)).attempts, 2);
  });

  it("does not burn retries on a request the processor rejects as invalid (an exit code the config lists)", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "exit=2" });
    const w = await b.startWorker();
    const failed = await w.events.waitFor("job_failed", (e) => e.jobId === job.jobId);
    assert.equal(failed.attempt, 1);
    assert.equal(failed.error.code, "INVALID_REQUEST");
    assert.deepEqual(w.events.all("job_retried"), []);
    assert.deepEqual((await b.deadLetters()).map((m) => m.body.jobId), [job.jobId]);
  });

  it("fails without retry when the source folder is empty", async () => {
    const b = bed();
    const job = await b.submit({});
    const w = await b.startWorker();
    const failed = await w.events.waitFor("job_failed", (e) => e.jobId === job.jobId);
    assert.equal(failed.error.code, "SOURCE_EMPTY");
    assert.equal(failed.attempt, 1);
  });

  it("on a Spot notice mid-job: kills the processor, puts the message back at once, records the interruption; the next worker completes the job", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a", "b.txt": "b" });
    const a = await b.startWorker({ label: "a", config: { processor: { env: { FAKE_MEDIT_SLEEP_MS: "60000" } } } });
    await a.events.waitFor("processor_output", (e) => e.jobId === job.jobId && /processing/.test(e.line));
    a.imds.setSpotInterruption("terminate", 120);

    const interrupted = await a.events.waitFor("job_interrupted", (e) => e.jobId === job.jobId);
    assert.match(interrupted.reason, /spot-interruption/);
    // Visible again right away, not after the 30 s visibility timeout.
    assert.deepEqual(await b.queue.depth(), { visible: 1, inFlight: 0, delayed: 0 });
    const queued = await b.record(job.jobId);
    assert.equal(queued.state, "QUEUED");
    assert.equal(queued.interruptions, 1);
    assert.deepEqual(queued.attemptHistory?.map((h) => [h.attempt, h.outcome, h.error?.code]), [[1, "INTERRUPTED", "INTERRUPTED"]]);
    const { pid } = await a.events.waitFor("processor_started");
    assert.equal(isAlive(pid), false, "the processor was killed");
    assert.equal(await a.worker.done, "spot-interruption");

    const next = await b.startWorker({ label: "b" });
    await next.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    const done = await b.record(job.jobId);
    assert.equal(done.state, "SUCCEEDED");
    assert.equal(done.interruptions, 1);
    assert.deepEqual(done.attemptHistory?.map((h) => h.outcome), ["INTERRUPTED", "SUCCEEDED"]);
    assert.equal(done.error, undefined);
  });

  it("a handed-back job gets capacity at once: the fast path raises desired capacity for it, without waiting for the alarm", async () => {
    const b = bed();
    const g = b.asg.group;
    const job = await b.submit({ "a.txt": "a" });
    const a = await b.startWorker({ label: "a", config: { processor: { env: { FAKE_MEDIT_SLEEP_MS: "60000" } } } });
    await a.events.waitFor("processor_output", (e) => e.jobId === job.jobId && /processing/.test(e.line));
    // Desired capacity went to 0 under the busy (protected) worker: nothing would replace this instance.
    g.setDesiredCapacity(0);
    a.imds.setSpotInterruption("terminate", 120);

    const raised = await a.events.waitFor("hand_back_capacity", (e) => e.jobId === job.jobId);
    assert.equal(raised.failed, undefined);
    assert.deepEqual([raised.before, raised.after], [0, 1]);
    assert.equal(g.desiredCapacity, 1, "one instance is on its way for the returned job");
  });

  it("with scaling.fastPath off, a hand-back leaves capacity to the alarm", async () => {
    const b = bed();
    const g = b.asg.group;
    const job = await b.submit({ "a.txt": "a" });
    const a = await b.startWorker({ label: "a", config: { scaling: { fastPath: false }, processor: { env: { FAKE_MEDIT_SLEEP_MS: "60000" } } } });
    await a.events.waitFor("processor_output", (e) => e.jobId === job.jobId && /processing/.test(e.line));
    g.setDesiredCapacity(0);
    a.imds.setSpotInterruption("terminate", 120);
    await a.events.waitFor("job_interrupted", (e) => e.jobId === job.jobId);
    assert.equal(await a.worker.done, "spot-interruption");
    assert.deepEqual(a.events.all("hand_back_capacity"), []);
    assert.equal(g.desiredCapacity, 0);
  });

  it("interruptions do not use up attempts: a job interrupted more often than maxAttempts still runs", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" });
    for (let i = 0; i < 3; i++) {
      const w = await b.startWorker({ config: { processor: { env: { FAKE_MEDIT_SLEEP_MS: "60000" } } } });
      await w.events.waitFor("processor_output", (e) => /processing/.test(e.line));
      await w.worker.stop();
      await w.events.waitFor("job_interrupted");
    }
    const w = await b.startWorker();
    await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    const stored = await b.record(job.jobId);
    assert.equal(stored.interruptions, 3);
    assert.equal(stored.attempts, 4);
  });

  it("cancel: the heartbeat sees CANCELLING, kills the processor tree, records CANCELLED and deletes the message", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "hang" });
    const w = await b.startWorker();
    const line = await w.events.waitFor("processor_output", (e) => /helper pid \d+/.test(e.line));
    const helperPid = Number(/helper pid (\d+)/.exec(line.line)![1]);
    // What the API's cancel does to a running job.
    await b.store.transition(job.jobId, { state: "RUNNING" }, "CANCELLING");

    const cancelled = await w.events.waitFor("job_cancelled", (e) => e.jobId === job.jobId);
    assert.equal(cancelled.attempt, 1);
    const stored = await b.record(job.jobId);
    assert.equal(stored.state, "CANCELLED");
    assert.deepEqual(stored.attemptHistory?.map((h) => h.outcome), ["CANCELLED"]);
    // What the attempt did before the cancel stays on the record (issue 11 §6).
    assert.equal(typeof stored.timings?.queueWaitMs, "number");
    assert.equal(typeof stored.timings?.downloadMs, "number");
    assert.equal(typeof stored.timings?.processMs, "number");
    assert.equal(stored.bytes?.in, 1);
    const { pid } = await w.events.waitFor("processor_started");
    assert.equal(isAlive(pid), false, "the processor is gone");
    for (let i = 0; i < 40 && isAlive(helperPid); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(isAlive(helperPid), false, "and so is the helper it started");
    assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
    assert.deepEqual(await b.deadLetters(), []);
  });

  it("deletes the message of a job already finished, and closes a cancel whose worker was lost", async () => {
    const b = bed();
    const done = await b.submit({ "a.txt": "a" });
    await b.store.transition(done.jobId, { state: "QUEUED" }, "CANCELLED");
    const cancelling = await b.submit({ "a.txt": "a" });
    // A worker took it, then the API asked to cancel, then that worker died.
    await b.store.transition(cancelling.jobId, { state: "QUEUED", attempts: 0 }, "RUNNING", { attempts: 1, instanceId: "i-0dead" });
    await b.store.transition(cancelling.jobId, { state: "RUNNING" }, "CANCELLING");

    const w = await b.startWorker();
    const discarded = await w.events.waitFor("message_discarded", (e) => e.jobId === done.jobId);
    assert.equal(discarded.state, "CANCELLED");
    await w.events.waitFor("job_cancelled", (e) => e.jobId === cancelling.jobId);
    assert.equal((await b.record(cancelling.jobId)).state, "CANCELLED");
    assert.deepEqual(w.events.all("job_started"), [], "nothing ran");
    assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
  });
});
