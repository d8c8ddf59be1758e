import assert from "node:assert/strict";
import { classifyFailure, failedElsewhere, InstanceBreaker } from "../../../worker/instance-health.ts";
import type { PreflightReport } from "../../../worker/preflight.ts";

const PASS: PreflightReport = { ok: true, checks: [{ name: "gpu", ok: true, detail: "nvidia-smi exited 0", durationMs: 1 }] };
const GPU_GONE: PreflightReport = {
  ok: false,
  checks: [{ name: "gpu", ok: false, detail: "fleet.preflight.gpuCheck (nvidia-smi) exited with code 9: NVIDIA-SMI has failed", durationMs: 1 }],
};

describe("worker/instance-health: whose fault a failure is, and the instance breaker", () => {
  it("classifies each failure code: the request's, the instance's, or unclear", () => {
    for (const code of ["INVALID_REQUEST", "SOURCE_EMPTY", "UNSAFE_KEY"]) assert.equal(classifyFailure(code), "request", code);
    for (const code of ["PROCESS_START", "PROCESS_CRASH", "TRANSFER", "DISK_FULL", "WORKER_ERROR", "SOMETHING_NEW"]) assert.equal(classifyFailure(code), "instance", code);
    for (const code of ["PROCESS_EXIT", "PROCESS_TIMEOUT"]) assert.equal(classifyFailure(code), "unclear", code);
  });

  it("judges the instance broken after K consecutive instance faults on K different jobs", async () => {
    const b = new InstanceBreaker({ threshold: 3, recheck: async () => PASS });
    assert.equal((await b.onFailure("A", "PROCESS_CRASH", "SIGSEGV")).broken, false);
    // The same job again says more about the job than about the instance: no new count.
    assert.equal((await b.onFailure("A", "PROCESS_CRASH", "SIGSEGV")).streak, 1);
    assert.equal((await b.onFailure("B", "TRANSFER", "socket hang up")).broken, false);
    const v = await b.onFailure("C", "PROCESS_START", "spawn ENOENT");
    assert.equal(v.broken, true);
    assert.equal(v.streak, 3);
    assert.match(v.reason!, /3 consecutive failures that are not the request's fault \(fleet.unhealthyAfterFailures = 3\), the last PROCESS_START/);
    assert.equal(b.broken, v.reason, "and stays broken");
  });

  it("a success ends the streak; a request's fault and an unclear one leave it as it is", async () => {
    const b = new InstanceBreaker({ threshold: 2, recheck: async () => PASS });
    await b.onFailure("A", "PROCESS_CRASH", "x");
    b.onSuccess();
    assert.equal((await b.onFailure("B", "PROCESS_CRASH", "x")).streak, 1);
    assert.equal((await b.onFailure("C", "INVALID_REQUEST", "exit 2")).streak, 1);
    assert.equal((await b.onFailure("D", "PROCESS_EXIT", "exit 1")).streak, 1);
    assert.equal((await b.onFailure("E", "PROCESS_CRASH", "x")).broken, true);
  });

  it("runs the preflight again after a failure that may be the instance's, and is broken at once when it fails", async () => {
    let rechecks = 0;
    const b = new InstanceBreaker({ threshold: 3, recheck: async () => (rechecks++, GPU_GONE) });
    const v = await b.onFailure("A", "PROCESS_EXIT", "exit 1");
    assert.equal(rechecks, 1);
    assert.equal(v.broken, true);
    assert.match(v.reason!, /the preflight fails after PROCESS_EXIT on job A: gpu: .*exited with code 9/);
  });

  it("does not run the preflight again for the request's fault", async () => {
    let rechecks = 0;
    const b = new InstanceBreaker({ threshold: 3, recheck: async () => (rechecks++, GPU_GONE) });
    assert.equal((await b.onFailure("A", "INVALID_REQUEST", "exit 2")).broken, false);
    assert.equal(rechecks, 0);
  });

  it("a failure the job already had, with the same code, on another instance is the request's: not counted, but the preflight still runs again", async () => {
    let rechecks = 0;
    const b = new InstanceBreaker({ threshold: 2, recheck: async () => (rechecks++, PASS) });
    for (const job of ["A", "B", "C"]) {
      const v = await b.onFailure(job, "PROCESS_CRASH", "SIGABRT", { failedElsewhere: true });
      assert.deepEqual([v.fault, v.repeated, v.streak, v.broken], ["request", true, 0, false], job);
    }
    assert.equal(rechecks, 3);
    // A first crash still counts; a GPU found gone is still found.
    assert.equal((await b.onFailure("D", "PROCESS_CRASH", "SIGABRT")).streak, 1);
    const gone = new InstanceBreaker({ threshold: 3, recheck: async () => GPU_GONE });
    const v = await gone.onFailure("A", "PROCESS_CRASH", "SIGABRT", { failedElsewhere: true });
    assert.equal(v.broken, true);
    assert.equal(v.fault, "request", "charged: the job failed the same way elsewhere");
  });

  it("failedElsewhere: a FAILED attempt with the same code on another instance", () => {
    const crash = (instanceId: string, code = "PROCESS_CRASH", outcome: "FAILED" | "LOST" | "INTERRUPTED" = "FAILED") => ({ attempt: 1, instanceId, outcome, error: { code, message: "x" } });
    assert.equal(failedElsewhere([crash("i-1")], "i-2", "PROCESS_CRASH"), true);
    assert.equal(failedElsewhere([crash("i-2")], "i-2", "PROCESS_CRASH"), false, "here is not elsewhere");
    assert.equal(failedElsewhere([crash("i-1", "TRANSFER")], "i-2", "PROCESS_CRASH"), false, "another failure");
    assert.equal(failedElsewhere([crash("i-1", "INTERRUPTED", "INTERRUPTED"), crash("i-1", "WORKER_LOST", "LOST")], "i-2", "PROCESS_CRASH"), false, "hand-backs and losses say nothing");
    assert.equal(failedElsewhere([], "i-2", "PROCESS_CRASH"), false);
  });

  it("refuses a threshold that is not a positive integer", () => {
    assert.throws(() => new InstanceBreaker({ threshold: 0 }), /threshold must be a positive integer/);
  });
});
