import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { failedAttempts } from "../../../worker/job-run.ts";
import { tempDir } from "../../support/worker-fixtures.ts";
import { TEST_CONFIG, useWorkerTestBed } from "../../support/worker-stack.ts";
import { awsError, recordingFleet } from "../../support/worker-stubs.ts";

describe("worker: one bad instance cannot drain the queue (instance breaker)", function () {
  this.timeout(120_000);
  const { bed } = useWorkerTestBed(TEST_CONFIG);

  it("after unhealthyAfterFailures instance faults on different jobs: marks itself Unhealthy, takes no more work, and the last job goes back uncharged", async () => {
    const b = bed();
    let fleet: ReturnType<typeof recordingFleet> | undefined;
    const w = await b.startWorker({
      config: { fleet: { unhealthyAfterFailures: 2 } },
      deps: (d) => ({ ...d, fleet: (fleet = recordingFleet(d.fleet!)) }),
    });
    // Job A crashes on both its attempts here: one job failing again adds nothing to the streak.
    const a = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "crash" });
    await w.events.waitFor("job_failed", (e) => e.jobId === a.jobId);
    assert.deepEqual(
      w.events.all("instance_fault").map((e) => [e.jobId, e.code, e.fault, e.streak, e.broken]),
      [
        [a.jobId, "PROCESS_CRASH", "instance", 1, false],
        [a.jobId, "PROCESS_CRASH", "instance", 1, false],
      ],
    );
    // Job B crashes too: the second job in a row. The instance is judged broken.
    const bJob = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "crash" });
    const handedBack = await w.events.waitFor("job_interrupted", (e) => e.jobId === bJob.jobId);
    assert.equal(handedBack.instanceFault, true);
    const c = await b.submit({ "a.txt": "a" });
    assert.equal(await w.worker.done, "unhealthy");

    const unhealthy = await w.events.waitFor("instance_unhealthy");
    assert.equal(unhealthy.marked, "health");
    assert.match(unhealthy.reason, /2 consecutive failures that are not the request's fault \(fleet.unhealthyAfterFailures = 2\), the last PROCESS_CRASH/);
    assert.ok(fleet!.calls.some((x) => x.call === "setHealth" && x.status === "Unhealthy"));

    const bRecord = await b.record(bJob.jobId);
    assert.equal(bRecord.state, "QUEUED");
    assert.equal(failedAttempts(bRecord.attemptHistory), 0, "B's attempt on the broken instance is not charged");
    const last = bRecord.attemptHistory!.at(-1)!;
    assert.equal(last.outcome, "INTERRUPTED");
    assert.equal(last.error?.code, "INSTANCE_FAULT");
    assert.match(last.error!.message, /PROCESS_CRASH on an instance judged broken .*not counted against the job/);
    assert.deepEqual(w.events.all("message_received", (e) => e.jobId === c.jobId), [], "no more work taken");
    assert.equal((await b.record(c.jobId)).state, "QUEUED");
  });

  it("a preflight that fails after a failure judges the instance at once: that very job goes back uncharged", async () => {
    const b = bed();
    const gpuGone = path.join(await tempDir(), "gpu-gone");
    const w = await b.startWorker({
      config: {
        fleet: {
          unhealthyAfterFailures: 3,
          preflight: { gpuCheck: [process.execPath, "-e", `process.exit(require("node:fs").existsSync(${JSON.stringify(gpuGone)}) ? 9 : 0)`], minFreeDiskGiB: 0 },
        },
      },
      deps: (d) => ({ ...d, fleet: recordingFleet(d.fleet!) }),
    });
    await w.events.waitFor("preflight", (e) => e.trigger === "boot" && e.ok);
    writeFileSync(gpuGone, ""); // the GPU falls off the bus
    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "exit=1" });
    await w.events.waitFor("job_interrupted", (e) => e.jobId === job.jobId && e.instanceFault === true);
    const recheck = await w.events.waitFor("preflight", (e) => e.trigger === "after-failure");
    assert.equal(recheck.ok, false);
    const fault = await w.events.waitFor("instance_fault");
    assert.equal(fault.fault, "unclear");
    assert.match(fault.reason!, /the preflight fails after PROCESS_EXIT on job .*: gpu: .*exited with code 9/);
    assert.equal(await w.worker.done, "unhealthy");
    const r = await b.record(job.jobId);
    assert.equal(failedAttempts(r.attemptHistory), 0);
    assert.deepEqual(await b.queue.depth(), { visible: 1, inFlight: 0, delayed: 0 }, "handed back as a fresh message, visible at once");
  });

  it("the request's own failures never count: an instance that only sees invalid requests keeps serving", async () => {
    const b = bed();
    const w = await b.startWorker({ config: { fleet: { unhealthyAfterFailures: 1 } } });
    for (let i = 0; i < 2; i++) {
      const bad = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "exit=2" });
      await w.events.waitFor("job_failed", (e) => e.jobId === bad.jobId);
    }
    const good = await b.submit({ "a.txt": "a" });
    await w.events.waitFor("job_succeeded", (e) => e.jobId === good.jobId);
    assert.deepEqual(
      w.events.all("instance_fault").map((e) => [e.fault, e.broken]),
      [
        ["request", false],
        ["request", false],
      ],
    );
    assert.deepEqual(w.events.all("instance_unhealthy"), []);
  });

  it("against a group that does not serve SetInstanceHealth (an older local fleet), it terminates itself without decrement instead", async () => {
    const b = bed();
    const g = b.asg.group;
    g.setDesiredCapacity(1);
    const w = await b.startWorker({
      config: { fleet: { unhealthyAfterFailures: 1 } },
      // The local endpoint serves SetInstanceHealth; an older one answered InvalidAction.
      deps: (d) => ({
        ...d,
        fleet: recordingFleet(d.fleet!, {
          setHealth: async () => {
            throw awsError("InvalidAction", "The action SetInstanceHealth is not valid for this web service.");
          },
        }),
      }),
    });
    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "crash" });
    await w.events.waitFor("job_interrupted", (e) => e.jobId === job.jobId);
    assert.equal(await w.worker.done, "unhealthy");
    assert.equal((await w.events.waitFor("instance_unhealthy")).marked, "terminate");
    assert.ok(w.events.all("warning").some((e) => /SetInstanceHealth Unhealthy failed \(.*InvalidAction|not valid/.test(e.message)));
    assert.equal(g.instance(w.instanceId)?.lifecycleState, "Terminating");
    assert.equal(g.desiredCapacity, 1, "replaced, not shrunk");
  });
});
