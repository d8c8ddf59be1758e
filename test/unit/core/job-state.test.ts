import assert from "node:assert/strict";
import { JOB_STATES, canTransition, isTerminal, statesLeadingTo } from "../../../core/job-state.ts";
import { isJobId, jobIdTime, newJobId } from "../../../core/job.ts";

describe("core/job-state", () => {
  it("allows the design's transitions and, out of a finished state, only the operator's redrive", () => {
    assert.ok(canTransition("QUEUED", "RUNNING"));
    assert.ok(canTransition("RUNNING", "QUEUED"), "retry or Spot interruption");
    assert.ok(canTransition("QUEUED", "CANCELLED"));
    assert.ok(canTransition("RUNNING", "CANCELLING"));
    assert.ok(canTransition("CANCELLING", "CANCELLED"));
    assert.equal(canTransition("QUEUED", "SUCCEEDED"), false);
    assert.equal(canTransition("CANCELLING", "SUCCEEDED"), false);
    for (const s of JOB_STATES.filter(isTerminal))
      for (const t of JOB_STATES) assert.equal(canTransition(s, t), s === "FAILED" && t === "QUEUED", `${s}->${t}`);
    assert.deepEqual(JOB_STATES.filter(isTerminal).sort(), ["CANCELLED", "FAILED", "SUCCEEDED"]);
    assert.deepEqual(statesLeadingTo("CANCELLED").sort(), ["CANCELLING", "QUEUED"]);
    assert.deepEqual(statesLeadingTo("QUEUED").sort(), ["FAILED", "RUNNING"]);
  });

  it("makes job ids that sort by submit time", () => {
    const a = newJobId(1_700_000_000_000);
    const b = newJobId(1_700_000_000_001);
    assert.ok(isJobId(a) && isJobId(b));
    assert.ok(a < b);
    assert.equal(jobIdTime(a), 1_700_000_000_000);
  });

  it("makes distinct job ids within one millisecond", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newJobId(1_700_000_000_000)));
    assert.equal(ids.size, 1000);
    for (const id of ids) assert.equal(jobIdTime(id), 1_700_000_000_000);
  });
});
