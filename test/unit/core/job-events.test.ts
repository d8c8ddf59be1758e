import assert from "node:assert/strict";
import { formatJobEvent, JOB_EVENT, jobStateChange, parseJobEvent } from "../../../core/job-events.ts";
import type { JobRecord } from "../../../core/job.ts";

const base: JobRecord = {
  jobId: "01JZ0000000000000000000000",
  state: "QUEUED",
  request: { "Source Folder Path": "s3://b/inbox/c1", "Target Folder Path": "s3://b/results/c1" },
  submittedAt: "2025-01-01T00:00:00.000Z",
  updatedAt: "2025-01-01T00:00:01.000Z",
  attempts: 0,
  interruptions: 0,
};

describe("core/job-events: the AWS Batch-like state change", () => {
  it("says what a new job is, with no previous state", () => {
    const e = jobStateChange({ ...base, origin: { kind: "api" } }, null, "spotq");
    assert.deepEqual(e, {
      jobId: base.jobId,
      state: "QUEUED",
      previousState: null,
      attempt: 0,
      reason: null,
      reasonCode: null,
      output: { target: "s3://b/results/c1", objects: null },
      source: "s3://b/inbox/c1",
      instanceId: null,
      origin: { kind: "api" },
      time: base.updatedAt,
      deployment: "spotq",
    });
  });

  it("gives a hand-back the reason of the attempt it ended, and a failure its error", () => {
    const handedBack: JobRecord = {
      ...base,
      attempts: 1,
      error: { code: "OLD", message: "an earlier failure" },
      attemptHistory: [{ attempt: 1, outcome: "INTERRUPTED", error: { code: "INTERRUPTED", message: "spot notice" } }],
    };
    assert.equal(jobStateChange(handedBack, "RUNNING", "d").reason, "INTERRUPTED: spot notice");
    const failed = { ...base, state: "FAILED" as const, attempts: 3, error: { code: "PROCESS_EXIT", message: "exit 2" } };
    const e = jobStateChange(failed, "RUNNING", "d");
    assert.equal(e.reason, "PROCESS_EXIT: exit 2");
    assert.equal(e.reasonCode, "PROCESS_EXIT");
  });

  it("puts the uploaded outputs on SUCCEEDED, and no reason even when an earlier attempt left an error", () => {
    const done: JobRecord = { ...base, state: "SUCCEEDED", attempts: 2, error: { code: "X", message: "y" }, outputs: { target: "s3://b/results/c1", objects: 7 } };
    const e = jobStateChange(done, "RUNNING", "d");
    assert.deepEqual([e.reason, e.output], [null, { target: "s3://b/results/c1", objects: 7 }]);
  });

  it("reads back only spotq job events", () => {
    const env = { version: "0", id: "1", "detail-type": JOB_EVENT.detailType, source: JOB_EVENT.source, account: "0", time: "t", region: "r", resources: [], detail: jobStateChange(base, null, "d") };
    assert.deepEqual(parseJobEvent(JSON.stringify(env)), env);
    assert.equal(parseJobEvent(JSON.stringify({ ...env, source: "aws.batch" })), undefined);
    assert.equal(parseJobEvent("not json"), undefined);
    assert.match(formatJobEvent(env as never), /\(new\) -> QUEUED {2}attempt 0/);
  });
});
