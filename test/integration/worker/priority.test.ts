import assert from "node:assert/strict";
import { useWorkerTestBed } from "../../support/worker-stack.ts";

/**
 * Issue 11 §3: a high job waits on its own queue, which a worker asks first every time it asks for
 * work. Issue 9 §8: a job handed back `afterInterruptions` times moves to the On-Demand queue, which
 * the On-Demand group's workers serve.
 */
describe("worker: the high-priority queue first, and where a hand-back sends a job", function () {
  this.timeout(120_000);
  const { bed } = useWorkerTestBed();

  it("a high job submitted behind 20 normal ones starts next, with one worker", async () => {
    const b = bed();
    // 20 normal jobs, each running a few seconds: the high one is submitted while the first of them runs.
    const normal = [];
    for (let i = 0; i < 20; i++) normal.push(await b.submit({ "a.txt": `n${i}` }, { "Fake Medit Behaviour": "sleep=8000" }));
    const w = await b.startWorker({ lanes: "spot" });
    const first = await w.events.waitFor("job_started");
    await w.events.waitFor("processor_output", (e) => e.jobId === first.jobId && /processing/.test(e.line));
    const high = await b.submit({ "a.txt": "h" }, {}, { priority: "high" });
    assert.equal((await b.record(first.jobId)).state, "RUNNING", "the high job was queued while the first normal job still ran (else this test proves nothing)");
    assert.equal((await b.queue.depth()).visible, 19, "19 normal jobs wait ahead of the high one");

    const second = await w.events.waitFor("job_started", (e) => e.jobId !== first.jobId);
    const started = w.events.all("job_started").map((e) => e.jobId);
    assert.equal(second.jobId, high.jobId, `the job started after the running one was ${second.jobId}, not the high job ${high.jobId}; started: ${started.join(", ")}`);
    assert.deepEqual(started, [first.jobId, high.jobId]);
    assert.deepEqual(
      w.events.all("message_received").map((e) => e.queue),
      ["normal", "high"],
    );
    await w.events.waitFor("job_succeeded", (e) => e.jobId === high.jobId);
    const rec = await b.record(high.jobId);
    assert.deepEqual([rec.priority, rec.state], ["high", "SUCCEEDED"]);
    assert.ok(normal.some((n) => n.jobId === first.jobId));
    // Then the normal ones again.
    const third = await w.events.waitFor("job_started", (e) => e.jobId !== first.jobId && e.jobId !== high.jobId);
    assert.ok(normal.some((n) => n.jobId === third.jobId));
  });

  it("a high job handed back goes back to the high queue (not behind the normal ones)", async () => {
    const b = bed();
    const high = await b.submit({ "a.txt": "h" }, { "Fake Medit Behaviour": "sleep=60000" }, { priority: "high" });
    await b.submit({ "a.txt": "n" });
    const a = await b.startWorker({ lanes: "spot", label: "a" });
    await a.events.waitFor("processor_output", (e) => e.jobId === high.jobId && /processing/.test(e.line));
    a.imds.setSpotInterruption("terminate", 120);
    const interrupted = await a.events.waitFor("job_interrupted", (e) => e.jobId === high.jobId);
    assert.equal(interrupted.queue, "high");
    assert.equal((await b.highQueue.depth()).visible, 1);
    assert.equal((await b.queue.depth()).visible, 1, "the normal job is still waiting");
    const rec = await b.record(high.jobId);
    assert.deepEqual([rec.state, rec.queue, rec.interruptions], ["QUEUED", "high", 1]);
  });

  it("On-Demand fallback: past afterInterruptions a hand-back moves the job to the On-Demand queue, an On-Demand worker takes it from there, and its own hand-backs keep it there", async () => {
    const b = bed();
    const fallback = { scaling: { onDemandFallback: { afterInterruptions: 2, maxSize: 1 } } };
    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "sleep=60000" });
    const interruptOnce = async (label: string, lanes: "spot" | "on-demand") => {
      const w = await b.startWorker({ lanes, label, config: fallback });
      await w.events.waitFor("processor_output", (e) => e.jobId === job.jobId && /processing/.test(e.line));
      w.imds.setSpotInterruption("terminate", 120);
      const e = await w.events.waitFor("job_interrupted", (x) => x.jobId === job.jobId);
      await w.worker.done;
      return e;
    };
    const first = await interruptOnce("spot-1", "spot");
    assert.equal(first.queue, "normal", "below the threshold it stays on the Spot queue");
    const second = await interruptOnce("spot-2", "spot");
    assert.equal(second.queue, "ondemand");
    assert.match(second.route ?? "", /afterInterruptions is 2/);
    assert.deepEqual(await b.onDemandQueue.depth(), { visible: 1, inFlight: 0, delayed: 0 });
    assert.equal((await b.queue.depth()).visible, 0);
    assert.equal((await b.record(job.jobId)).queue, "ondemand");

    const third = await interruptOnce("od-1", "on-demand");
    assert.equal(third.queue, "ondemand", "a job on the On-Demand queue stays there");
    const od = await b.startWorker({ lanes: "on-demand", label: "od-2", config: fallback });
    const received = await od.events.waitFor("message_received", (e) => e.jobId === job.jobId);
    assert.equal(received.queue, "ondemand");
    await od.events.waitFor("job_started", (e) => e.jobId === job.jobId);
    const rec = await b.record(job.jobId);
    assert.deepEqual([rec.state, rec.queue, rec.interruptions, rec.attempts], ["RUNNING", "ondemand", 3, 4]);
  });
});
