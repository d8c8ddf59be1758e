import assert from "node:assert/strict";
import { ANALYTICS_COLUMNS, analyticsKey, analyticsLine, analyticsReport, daysBetween, jobResultDocument, parseSince, type AnalyticsLine } from "../../../core/job-result.ts";
import type { JobRecord } from "../../../core/job.ts";

const done: JobRecord = {
  jobId: "01JZ0000000000000000000001",
  state: "SUCCEEDED",
  request: { "Source Folder Path": "s3://b/inbox/c1", "Target Folder Path": "s3://b/results/c1", "Use GPU": true },
  submittedAt: "2025-03-01T23:59:00.000Z",
  updatedAt: "2025-03-02T00:01:00.000Z",
  startedAt: "2025-03-02T00:00:00.000Z",
  finishedAt: "2025-03-02T00:01:00.000Z",
  attempts: 2,
  interruptions: 1,
  instanceId: "i-1",
  exitCode: 0,
  error: { code: "PROCESS_EXIT", message: "attempt 1 failed" },
  timings: { queueWaitMs: 1500, downloadMs: 2000, processMs: 30_000, uploadMs: 1000 },
  bytes: { in: 100, out: 200 },
  outputs: { target: "s3://b/results/c1", objects: 7 },
  origin: { kind: "s3", bucket: "b", key: "inbox/c1/spotq.json", etag: "e" },
};

function line(over: Partial<AnalyticsLine>): AnalyticsLine {
  return { ...analyticsLine(done, "d", { instanceType: "g4dn.xlarge" }), ...over };
}

describe("core/job-result: spotq-result.json and the analytics lines", () => {
  it("writes a line with exactly the table's columns, and no error for a job that SUCCEEDED", () => {
    const l = analyticsLine(done, "spotq", { instanceType: "g5.xlarge" });
    assert.deepEqual(Object.keys(l), ANALYTICS_COLUMNS.map((c) => c.name), "the Glue table and the lines must list the same columns in the same order");
    assert.equal(l.process_seconds, 30);
    assert.equal(l.instance_type, "g5.xlarge");
    assert.equal(l.error_code, null);
    assert.equal(l.origin, "s3");
  });

  it("partitions a line by the UTC day it finished, one object per job", () => {
    assert.equal(analyticsKey("analytics/jobs/", analyticsLine(done, "d")), `analytics/jobs/dt=2025-03-02/${done.jobId}.json`);
  });

  it("puts request, outcome, timings, bytes, attempts and instance type in the result file", () => {
    const r = jobResultDocument(done, { instanceType: "g4dn.xlarge" });
    assert.deepEqual(r.request, done.request);
    assert.equal(r.state, "SUCCEEDED");
    assert.equal(r.error, null);
    assert.deepEqual(r.timings, { queueWaitSeconds: 1.5, downloadSeconds: 2, processSeconds: 30, uploadSeconds: 1 });
    assert.deepEqual([r.bytes, r.attempts, r.instance], [{ in: 100, out: 200 }, 2, { id: "i-1", type: "g4dn.xlarge" }]);
    const failed = jobResultDocument({ ...done, state: "FAILED", exitCode: 3 });
    assert.deepEqual(failed.error, done.error);
  });

  it("reports throughput per day, failure reasons and cost per job within the window", () => {
    const lines = [
      line({ job_id: "a", finished_at: "2025-03-02T10:00:00Z", process_seconds: 30, download_seconds: 0, upload_seconds: 0 }),
      line({ job_id: "b", finished_at: "2025-03-02T11:00:00Z", process_seconds: 90, download_seconds: 0, upload_seconds: 0 }),
      line({ job_id: "c", finished_at: "2025-03-03T09:00:00Z", state: "FAILED", error_code: "PROCESS_EXIT", error_message: "exit 2", process_seconds: 3600, download_seconds: 0, upload_seconds: 0 }),
      line({ job_id: "d", finished_at: "2025-03-03T09:30:00Z", state: "FAILED", error_code: "PROCESS_EXIT", error_message: "exit 3" }),
      line({ job_id: "e", finished_at: "2025-03-03T10:00:00Z", state: "CANCELLED", instance_type: null }),
      line({ job_id: "old", finished_at: "2025-02-01T00:00:00Z" }),
    ];
    const r = analyticsReport(lines, new Date("2025-03-01T00:00:00Z"), { "g4dn.xlarge": 0.5 });
    assert.equal(r.jobs, 5, "the line before the window is left out");
    assert.deepEqual(r.days, [
      { day: "2025-03-02", finished: 2, succeeded: 2, failed: 0, cancelled: 0, avgProcessSeconds: 60 },
      { day: "2025-03-03", finished: 3, succeeded: 0, failed: 2, cancelled: 1, avgProcessSeconds: null },
    ]);
    assert.deepEqual(r.failures, [{ code: "PROCESS_EXIT", jobs: 2, lastMessage: "exit 3" }]);
    const [cost] = r.costs;
    assert.equal(cost!.instanceType, "g4dn.xlarge");
    assert.equal(cost!.jobs, 4);
    const hours = (30 + 90 + 3600 + 33) / 3600;
    assert.ok(Math.abs(cost!.hours - hours) < 1e-9, `${cost!.hours} hours`);
    assert.ok(Math.abs(cost!.costPerJobUsd! - (hours * 0.5) / 4) < 1e-9);
  });

  it("reads --since as days, hours or a date, and lists the partitions to read", () => {
    const now = new Date("2025-03-10T12:00:00Z");
    assert.equal(parseSince("7d", now)?.toISOString(), "2025-03-03T12:00:00.000Z");
    assert.equal(parseSince("2h", now)?.toISOString(), "2025-03-10T10:00:00.000Z");
    assert.equal(parseSince("2025-03-01", now)?.toISOString(), "2025-03-01T00:00:00.000Z");
    assert.equal(parseSince("week", now), undefined);
    assert.deepEqual(daysBetween(new Date("2025-03-08T23:00:00Z"), now), ["2025-03-08", "2025-03-09", "2025-03-10"]);
  });
});
