import assert from "node:assert/strict";
import { classifyFailure, InstanceBreaker } from "../../../worker/instance-health.ts";
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

  it("refuses a threshold that is not a positive integer", () => {
    assert.throws(() => new InstanceBreaker({ threshold: 0 }), /threshold must be a positive integer/);
  });
});
