import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { JobRecord } from "../../../core/job.ts";
import { cliName } from "../../../scripts/cli/cli-name.ts";
import { formatBytes, jobDetails, jobElapsedMs, jobLine } from "../../../scripts/cli/format.ts";
import { ProgressBar } from "../../../scripts/cli/progress-bar.ts";

const submittedAt = "2026-01-01T10:00:00.000Z";
function job(patch: Partial<JobRecord>): JobRecord {
  return { jobId: "01M8SKSG2F16FHS3MRD1DQDTM6", state: "QUEUED", request: {} as JobRecord["request"], submittedAt, updatedAt: submittedAt, attempts: 0, interruptions: 0, ...patch };
}
const at = (iso: string) => Date.parse(iso);

describe("scripts/cli/format", () => {
  it("counts a job's time up while it waits or runs, and stops at its end once finished", () => {
    assert.equal(jobElapsedMs(job({ state: "RUNNING" }), at("2026-01-01T10:01:05Z")), 65_000);
    const done = job({ state: "SUCCEEDED", finishedAt: "2026-01-01T10:00:42.000Z", updatedAt: "2026-01-01T10:00:42.000Z" });
    assert.equal(jobElapsedMs(done, at("2026-01-01T10:00:50Z")), 42_000);
    assert.equal(jobElapsedMs(done, at("2026-01-02T10:00:00Z")), 42_000, "a day later it still took 42 s");
    // A job cancelled while queued has no finishedAt in older records: its last update is the end.
    assert.equal(jobElapsedMs(job({ state: "CANCELLED", updatedAt: "2026-01-01T10:00:07.000Z" }), at("2026-01-03T00:00:00Z")), 7_000);
    assert.match(jobLine(done, at("2026-01-05T00:00:00Z")), / {2}took 42s/);
    assert.match(jobLine(job({ state: "QUEUED" }), at("2026-01-01T10:00:03Z")), / {2}elapsed 3s/);
  });

  it("shows a job's name in its line, and its name, tags and tenant in its details; nothing for a job without them", () => {
    const named = job({ name: "case 4711", tags: { urgent: "yes", clinic: "north" }, tenant: "lab-a" });
    assert.match(jobLine(named, at("2026-01-01T10:00:03Z")), /^01M8SKSG2F16FHS3MRD1DQDTM6 {2}QUEUED {4} {2}"case 4711" {2}elapsed 3s$/);
    const details = jobDetails(named, { now: at("2026-01-01T10:00:03Z") }).split("\n");
    assert.deepEqual(details.slice(1, 4), ["  name     case 4711", "  tags     clinic=north, urgent=yes", "  tenant   lab-a"]);
    const plain = jobDetails(job({}), { now: at("2026-01-01T10:00:03Z") });
    assert.doesNotMatch(plain, /name|tags|tenant/);
  });

  it("shows sizes and speeds with at most one decimal", () => {
    assert.equal(formatBytes(523.4343434343434), "523 B");
    assert.equal(formatBytes(1536), "1.5 KiB");
    const bar = new ProgressBar("upload s3://b/x", { tty: false, write: () => undefined });
    // 1000 bytes in some odd number of milliseconds: the speed is a fraction of bytes per second.
    const line = bar.line({ bytesDone: 1000, bytesTotal: 3000, objectsDone: 1, objectsTotal: 3 }, Date.now() + 3_333);
    assert.doesNotMatch(line, /\d\.\d{2,}/, line);
    assert.match(line, /\d+ B\/s$/, line);
  });
});

describe("scripts/cli/cli-name", () => {
  it("names `npm run spotq --` when run through npm or when spotq is not installed, `spotq` when it is", () => {
    const bin = mkdtempSync(path.join(os.tmpdir(), "spotq-bin-"));
    try {
      assert.equal(cliName({ npm_lifecycle_event: "spotq", PATH: bin }, "/x/tsx"), "npm run spotq --");
      assert.equal(cliName({ PATH: bin }, "/repo/scripts/cli/main.ts"), "npm run spotq --");
      assert.equal(cliName({ PATH: bin }, "/usr/local/bin/spotq"), "spotq", "run as the installed bin");
      writeFileSync(path.join(bin, process.platform === "win32" ? "spotq.cmd" : "spotq"), "");
      assert.equal(cliName({ PATH: bin }, "/repo/scripts/cli/main.ts"), "spotq", "on the PATH after npm link");
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
