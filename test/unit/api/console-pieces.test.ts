import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { renderConsolePage } from "../../../api/console/assets.ts";
import { cachedFor } from "../../../api/console/cached.ts";
import { QueueDepthSampler } from "../../../api/console/queue-depth-sampler.ts";
import { FileJobLogReader, parseLogLine } from "../../../api/console/file-job-logs.ts";
import { breakerOf } from "../../../api/fleet-view.ts";
import { attemptFinished, attemptLogLocation } from "../../../api/job-logs.ts";
import type { JobRecord } from "../../../core/job.ts";
// The console's own browser module: plain JavaScript without the DOM, so Node runs it as it is.
import { matchesSearch, searchedJobId, serverQuery } from "../../../api/console/static/filters.js";

const JOB = "01M8SPQJAG1EJE8TBNVKY2S4XN";
const job = (over: Partial<JobRecord> = {}): JobRecord =>
  ({
    jobId: JOB,
    state: "RUNNING",
    request: { "Source Folder Path": "s3://b/scans/case-4711", "Target Folder Path": "s3://b/results/case-4711" },
    submittedAt: "2026-01-01T10:00:00.000Z",
    updatedAt: "2026-01-01T10:00:00.000Z",
    attempts: 2,
    interruptions: 0,
    ...over,
  }) as JobRecord;

describe("api/console: the pieces of the console's routes and page", () => {
  describe("the jobs list's search and filters (api/console/static/filters.js)", () => {
    it("matches every word against the job id, source and target, case-insensitively", () => {
      assert.equal(matchesSearch(job(), "CASE-4711 results"), true);
      assert.equal(matchesSearch(job(), "01m8spqj"), true);
      assert.equal(matchesSearch(job(), "case-4711 nope"), false);
      assert.equal(matchesSearch(job(), "  "), true);
    });

    it("already searches names and tags once records carry them (issue 11 §3)", () => {
      const named = { ...job(), name: "upper jaw", tags: { clinic: "north", urgent: "" } };
      assert.equal(matchesSearch(named, "jaw"), true);
      assert.equal(matchesSearch(named, "clinic=north"), true);
      assert.equal(matchesSearch(named, "urgent"), true);
      assert.equal(matchesSearch({ ...job(), tags: ["a-tag"] }, "a-tag"), true);
    });

    it("fetches a whole job id directly, and sends the state filter to the API", () => {
      assert.equal(searchedJobId(` ${JOB.toLowerCase()} `), JOB);
      assert.equal(searchedJobId("01M8SPQJ"), undefined);
      assert.deepEqual(serverQuery({ state: "FAILED", q: "x" }), { state: "FAILED" });
      assert.deepEqual(serverQuery({ state: "", q: "" }), {});
    });
  });

  describe("attempt logs", () => {
    it("finds an attempt's log in its history, the current one on the record", () => {
      const first = { group: "/g", stream: `${JOB}/1` };
      const current = { group: "/g", stream: `${JOB}/2` };
      const j = job({ logs: current, attemptHistory: [{ attempt: 1, outcome: "FAILED", logs: first }] });
      assert.deepEqual(attemptLogLocation(j, 1), first);
      assert.deepEqual(attemptLogLocation(j, 2), current);
      assert.equal(attemptLogLocation(j, 3), undefined);
    });

    it("says an attempt is over once a later one started, the job finished, or it waits for a retry", () => {
      assert.equal(attemptFinished(job({ state: "RUNNING", attempts: 2 }), 1), true);
      assert.equal(attemptFinished(job({ state: "RUNNING", attempts: 2 }), 2), false);
      assert.equal(attemptFinished(job({ state: "CANCELLING", attempts: 2 }), 2), false);
      assert.equal(attemptFinished(job({ state: "QUEUED", attempts: 2 }), 2), true);
      assert.equal(attemptFinished(job({ state: "SUCCEEDED", attempts: 2 }), 2), true);
    });

    it("parses the files telemetry's lines, keeping anything else as text", () => {
      assert.deepEqual(parseLogLine("2026-01-01T10:00:00.123Z [stderr] boom [x]"), { at: "2026-01-01T10:00:00.123Z", source: "stderr", text: "boom [x]" });
      assert.deepEqual(parseLogLine("2026-01-01T10:00:00.123Z plain\r"), { at: "2026-01-01T10:00:00.123Z", text: "plain" });
      assert.deepEqual(parseLogLine("no time here"), { text: "no time here" });
    });

    it("delivers a line longer than a page in pieces instead of never", async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "spotq-long-line-"));
      try {
        const group = path.join(dir, "jobs");
        mkdirSync(path.join(group, JOB), { recursive: true });
        writeFileSync(path.join(group, JOB, "1.log"), `${"x".repeat(300 * 1024)}\nend\n`);
        const reader = new FileJobLogReader({ root: dir });
        const location = { group, stream: `${JOB}/1.log` };
        let after: string | undefined;
        const texts: string[] = [];
        for (let i = 0; i < 5; i++) {
          const page = await reader.read(location, { limit: 100, ...(after ? { after } : {}) });
          texts.push(...page.lines.map((l) => l.text));
          after = page.next;
          if (page.atEnd) break;
        }
        assert.equal(texts.join("").length, 300 * 1024 + 3);
        assert.equal(texts.at(-1), "end");
        await assert.rejects(new FileJobLogReader({ root: path.join(dir, "elsewhere") }).read(location, { limit: 1 }), /outside the local stack's folder/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("CloudWatch reads cached for the fleet view", () => {
    it("answers from the last result within the time to live, shares a call in flight, and keeps no failure", async () => {
      let now = 0;
      let calls = 0;
      let fail = false;
      const read = cachedFor(
        60_000,
        async () => {
          calls++;
          if (fail) throw new Error("Throttling");
          return calls;
        },
        () => now,
      );
      assert.deepEqual(await Promise.all([read(), read()]), [1, 1], "one call for two callers");
      now = 59_999;
      assert.equal(await read(), 1);
      now = 60_000;
      fail = true;
      await assert.rejects(read(), /Throttling/);
      fail = false;
      assert.equal(await read(), 3, "the failure was not kept: the next caller asks again");
      assert.equal(calls, 3);
    });
  });

  describe("the local queue-depth sampler", () => {
    it("skips a failed sample and reports a failure once until a sample succeeds again", async () => {
      const answers: (Error | number)[] = [new Error("ECONNREFUSED"), new Error("ECONNREFUSED"), 2, new Error("ECONNREFUSED")];
      const reported: string[] = [];
      const sampler = new QueueDepthSampler({
        sample: async () => {
          const a = answers.shift()!;
          if (a instanceof Error) throw a;
          return { visible: a, inFlight: 0, delayed: 0 };
        },
        onError: (err) => reported.push(err.message),
      });
      for (let i = 0; i < 4; i++) await sampler.sampleNow();
      assert.deepEqual(reported, ["ECONNREFUSED", "ECONNREFUSED"], "once before the success, once after");
      assert.deepEqual((await sampler.lastHour()).points.map((p) => p.visible), [2]);
    });
  });

  describe("the page and the breaker", () => {
    it("fills the base path in, escaped", () => {
      assert.equal(renderConsolePage('<a href="{{base}}/x">{{base}}</a>', '/v1"><script>'), '<a href="/v1&#34;&#62;&#60;script&#62;/x">/v1&#34;&#62;&#60;script&#62;</a>');
    });

    it("reads the breaker's tag, also one written by hand, and tells Launch suspended by hand apart", () => {
      assert.deepEqual(breakerOf({ suspendedProcesses: ["Launch"], tags: {} }), { open: false, launchSuspended: true });
      assert.deepEqual(breakerOf({ tags: { "spotq:breaker": "boot loop on ami-1" } }), { open: true, launchSuspended: false, reason: "boot loop on ami-1" });
    });
  });
});
