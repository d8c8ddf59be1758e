import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FileJobLogReader } from "../../../api/console/file-job-logs.ts";
import type { JobLogAnswer } from "../../../api/job-logs.ts";
import type { JobRecord, LogLocation, QueueMessage } from "../../../core/job.ts";
import type { JobQueue } from "../../../core/ports.ts";
import { fixtureRequest, overriding, postJob, useApiHarness, type ErrorAnswer } from "./api-harness.ts";

describe("api: the web console's page and its routes (logs, redrive) on the emulators", () => {
  const h = useApiHarness();
  let logDir: string;

  before(() => {
    logDir = mkdtempSync(path.join(os.tmpdir(), "spotq-console-logs-"));
  });
  after(() => rmSync(logDir, { recursive: true, force: true }));

  /** The app with the local log reader, as the local stack wires it. */
  const app = (overrides = {}) => h().app({ console: { logs: new FileJobLogReader() }, ...overrides });

  async function submit(): Promise<string> {
    const res = await postJob(h().app(), fixtureRequest());
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { jobId: string }).jobId;
  }

  /** A log file where the worker's files telemetry puts it, and the location a record holds. */
  function logFile(jobId: string, attempt: number, text = ""): { location: LogLocation; file: string } {
    const group = path.join(logDir, "i-0123456789abcdef0", "telemetry", "jobs");
    const file = path.join(group, jobId, `${attempt}.log`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    return { location: { group, stream: `${jobId}/${attempt}.log` }, file };
  }

  /** Runs a job's first attempt as a worker does, up to RUNNING with its log location recorded. */
  async function running(jobId: string, logs: LogLocation): Promise<void> {
    await h().deps.store.transition(jobId, { state: "QUEUED", attempts: 0 }, "RUNNING", { attempts: 1, instanceId: "i-0123456789abcdef0", logs, startedAt: new Date().toISOString() });
  }

  /** Fails the running attempt for good, as the worker does after the last attempt. */
  async function failed(jobId: string, logs: LogLocation): Promise<JobRecord> {
    return h().deps.store.transition(jobId, { state: "RUNNING", attempts: 1 }, "FAILED", {
      exitCode: 3,
      error: { code: "PROCESS_EXIT", message: "Medit exited with code 3" },
      attemptHistory: [{ attempt: 1, instanceId: "i-0123456789abcdef0", outcome: "FAILED", exitCode: 3, error: { code: "PROCESS_EXIT", message: "Medit exited with code 3" }, logs }],
    });
  }

  const getLog = async (jobId: string, query = ""): Promise<{ status: number; body: JobLogAnswer & ErrorAnswer }> => {
    const res = await app().request(`/jobs/${jobId}/logs${query}`);
    return { status: res.status, body: (await res.json()) as JobLogAnswer & ErrorAnswer };
  };

  describe("GET /console", () => {
    it("serves the page with its scripts and styles from this origin only, and no data in it", async () => {
      const res = await app().request("/console");
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
      const csp = res.headers.get("content-security-policy") ?? "";
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'/);
      assert.match(csp, /connect-src 'self'/);
      assert.match(csp, /frame-ancestors 'none'/);
      const html = await res.text();
      assert.match(html, /<meta name="spotq-api-base" content="">/);
      assert.match(html, /<script type="module" src="\/console\/assets\/app\.js">/);
      assert.match(html, /<link rel="stylesheet" href="\/console\/assets\/console\.css">/);
      assert.doesNotMatch(html, /\{\{base\}\}/);
    });

    it("serves every module the page imports, transitively, as JavaScript; and its stylesheet as CSS", async () => {
      const seen = new Set<string>();
      const queue = ["app.js"];
      while (queue.length > 0) {
        const name = queue.shift()!;
        if (seen.has(name)) continue;
        seen.add(name);
        const res = await app().request(`/console/assets/${name}`);
        assert.equal(res.status, 200, name);
        assert.match(res.headers.get("content-type") ?? "", /^text\/javascript/, name);
        const text = await res.text();
        for (const m of text.matchAll(/^import [^"]*"\.\/([\w-]+\.js)";$/gm)) queue.push(m[1]!);
      }
      assert.ok(seen.size >= 6, `the page's module graph: ${[...seen].join(", ")}`);
      const css = await app().request("/console/assets/console.css");
      assert.equal(css.status, 200);
      assert.match(css.headers.get("content-type") ?? "", /^text\/css/);
    });

    it("puts an API Gateway stage in front of every URL of the page, so it works behind /v1", async () => {
      // A REST API proxy event: the app routes on `path`, the client called `requestContext.path`.
      const env = { event: { path: "/console", requestContext: { path: "/v1/console" } } };
      const html = await (await app().request("/console", {}, env)).text();
      assert.match(html, /<meta name="spotq-api-base" content="\/v1">/);
      assert.match(html, /src="\/v1\/console\/assets\/app\.js"/);
      assert.match(html, /href="\/v1\/console\/assets\/console\.css"/);
    });

    it("answers an unchanged asset with 304 to its ETag, and 404 for any other name", async () => {
      const first = await app().request("/console/assets/app.js");
      const etag = first.headers.get("etag");
      assert.ok(etag, "an ETag");
      assert.equal(first.headers.get("cache-control"), "no-cache");
      const again = await app().request("/console/assets/app.js", { headers: { "If-None-Match": etag } });
      assert.equal(again.status, 304);
      for (const name of ["nope.js", "index.html", "..%2F..%2Fcompose.ts", "%2e%2e%2fdeps.ts"]) {
        const res = await app().request(`/console/assets/${name}`);
        assert.equal(res.status, 404, name);
        assert.equal(((await res.json()) as ErrorAnswer).error.code, "NOT_FOUND");
      }
    });

    it("answers 405 with Allow for other methods on the console's routes", async () => {
      for (const [route, method, allow] of [
        ["/console", "POST", "GET, HEAD"],
        ["/fleet", "DELETE", "GET, HEAD"],
        ["/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/logs", "POST", "GET, HEAD"],
        ["/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/redrive", "GET", "POST"],
      ] as const) {
        const res = await app().request(route, { method });
        assert.equal(res.status, 405, `${method} ${route}`);
        assert.equal(res.headers.get("allow"), allow, route);
      }
    });
  });

  describe("GET /jobs/{id}/logs", () => {
    it("answers 404 for an unknown job, and an empty, unfinished log for one no worker took yet", async () => {
      assert.equal((await getLog("01ARZ3NDEKTSV4RRFFQ69G5FAV")).status, 404);
      const jobId = await submit();
      const { status, body } = await getLog(jobId);
      assert.equal(status, 200);
      assert.deepEqual(body, { jobId, attempt: 0, attempts: 0, lines: [], done: false });
    });

    it("refuses a bad query, naming every parameter and why", async () => {
      const jobId = await submit();
      const { status, body } = await getLog(jobId, "?attempt=0&limit=5000&follow=1");
      assert.equal(status, 400);
      assert.deepEqual(body.error.problems!.map((p) => p.field).sort(), ["attempt", "follow", "limit"]);
      const beyond = await getLog(jobId, "?attempt=2");
      assert.equal(beyond.status, 400);
      assert.deepEqual(beyond.body.error.problems, [{ field: "attempt", reason: `job ${jobId} has 0 attempt(s) (it has not started)` }]);
    });

    it("follows a running attempt page by page: each whole line once, a half-written line only once it is whole", async () => {
      const jobId = await submit();
      const { location, file } = logFile(jobId, 1, "2026-01-01T10:00:00.000Z [spotq] attempt 1 of job\n2026-01-01T10:00:01.000Z [stdout] fake-medit: reading\n");
      await running(jobId, location);

      const first = await getLog(jobId, "?limit=1");
      assert.equal(first.status, 200);
      assert.deepEqual(first.body.lines, [{ at: "2026-01-01T10:00:00.000Z", source: "spotq", text: "attempt 1 of job" }]);
      assert.equal(first.body.attempt, 1);
      assert.equal(first.body.done, false);
      assert.deepEqual(first.body.location, location);

      const second = await getLog(jobId, `?after=${first.body.next}`);
      assert.deepEqual(second.body.lines.map((l) => l.text), ["fake-medit: reading"]);
      assert.equal(second.body.done, false, "the attempt still runs");

      appendFileSync(file, "2026-01-01T10:00:02.000Z [stderr] warn: slow disk\n2026-01-01T10:00:03.000Z [stdout] half a li");
      const third = await getLog(jobId, `?after=${second.body.next}`);
      assert.deepEqual(third.body.lines, [{ at: "2026-01-01T10:00:02.000Z", source: "stderr", text: "warn: slow disk" }]);

      appendFileSync(file, "ne\n");
      const fourth = await getLog(jobId, `?after=${third.body.next}`);
      assert.deepEqual(fourth.body.lines.map((l) => l.text), ["half a line"]);
      const nothing = await getLog(jobId, `?after=${fourth.body.next}`);
      assert.deepEqual(nothing.body.lines, []);
      assert.equal(nothing.body.next, fourth.body.next, "the cursor stays put until more is written");
      assert.equal(nothing.body.done, false);
    });

    it("is done once the attempt is over and its last line was read; an earlier attempt reads from the history", async () => {
      const jobId = await submit();
      const { location } = logFile(jobId, 1, "2026-01-01T10:00:00.000Z [spotq] attempt 1\n2026-01-01T10:00:05.000Z [spotq] failed: exit 3\n");
      await running(jobId, location);
      await failed(jobId, location);

      const all = await getLog(jobId, "?attempt=1");
      assert.deepEqual(all.body.lines.map((l) => l.text), ["attempt 1", "failed: exit 3"]);
      assert.equal(all.body.done, true);

      const partial = await getLog(jobId, "?attempt=1&limit=1");
      assert.equal(partial.body.done, false, "not done while lines remain to be read");
    });

    it("refuses a cursor it did not issue, naming `after`", async () => {
      const jobId = await submit();
      await running(jobId, logFile(jobId, 1, "x\n").location);
      const { status, body } = await getLog(jobId, "?after=not-a-cursor");
      assert.equal(status, 400);
      assert.equal(body.error.problems![0]!.field, "after");
    });

    it("reads nothing a record names outside the worker's log layout (503, nothing leaks)", async () => {
      const jobId = await submit();
      await running(jobId, { group: "/etc", stream: "passwd" });
      const { status, body } = await getLog(jobId);
      assert.equal(status, 503);
      assert.doesNotMatch(JSON.stringify(body), /root:/);
    });
  });

  describe("POST /jobs/{id}/redrive", () => {
    it("puts a FAILED job back: 202 QUEUED, a fresh attempt budget, its attempts kept, and a new message on the queue", async () => {
      const jobId = await submit();
      const { location } = logFile(jobId, 1, "");
      await running(jobId, location);
      // The worker took the message; the record is what a worker leaves after the last attempt.
      const before = await h().queuedMessages();
      const wasFailed = await failed(jobId, location);
      const sent: QueueMessage[] = [];
      const queue = overriding<JobQueue>(h().deps.queue, {
        send: (m, o) => {
          sent.push(m);
          return h().deps.queue.send(m, o);
        },
      });

      const res = await app({ queue }).request(`/jobs/${jobId}/redrive`, { method: "POST" });

      assert.equal(res.status, 202);
      assert.deepEqual(await res.json(), { jobId, state: "QUEUED", statusUrl: `http://localhost/jobs/${jobId}` });
      const job = await h().deps.store.get(jobId);
      assert.equal(job!.state, "QUEUED");
      assert.equal(job!.attempts, 1, "the attempt counter keeps counting (it guards writes and names logs)");
      assert.deepEqual(job!.attemptHistory!.map((a) => [a.attempt, a.outcome, a.redriven]), [[1, "FAILED", true]], "no longer counted against maxAttempts");
      assert.equal(job!.finishedAt, undefined);
      assert.equal(job!.instanceId, undefined);
      assert.equal(await h().queuedMessages(), before + 1, "one new message for the worker");
      // CONTRACTS §5: a fresh dispatch token on the record and the message; the old one adoptable.
      assert.equal(sent.length, 1);
      assert.ok(job!.dispatchId && job!.dispatchId !== wasFailed.dispatchId, "a fresh token");
      assert.equal(sent[0]!.dispatchId, job!.dispatchId, "the message carries the record's token");
      assert.equal(job!.previousDispatchId, wasFailed.dispatchId ?? "legacy");
    });

    it("answers 409 naming the state for a job that is not FAILED, and 404 for an unknown one", async () => {
      const jobId = await submit();
      const queued = await app().request(`/jobs/${jobId}/redrive`, { method: "POST" });
      assert.equal(queued.status, 409);
      const { error } = (await queued.json()) as ErrorAnswer;
      assert.equal(error.code, "CONFLICT");
      assert.equal(error.message, "job is QUEUED; it is already queued");
      assert.equal(error.state, "QUEUED");
      assert.equal((await app().request("/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/redrive", { method: "POST" })).status, 404);
    });

    it("leaves the job FAILED as it was when the message cannot be sent (503, retryable)", async () => {
      const jobId = await submit();
      const { location } = logFile(jobId, 1, "");
      await running(jobId, location);
      const wasFailed = await failed(jobId, location);
      const queue = overriding<JobQueue>(h().deps.queue, {
        send: async () => {
          throw Object.assign(new Error("SQS send failed: AWS.SimpleQueueService.NonExistentQueue"), { name: "QueueDoesNotExist" });
        },
      });
      const messages = await h().queuedMessages();

      const res = await app({ queue }).request(`/jobs/${jobId}/redrive`, { method: "POST" });

      assert.equal(res.status, 503);
      assert.equal(res.headers.get("retry-after"), "2");
      assert.equal(((await res.json()) as ErrorAnswer).error.code, "ENQUEUE_FAILED");
      const job = await h().deps.store.get(jobId);
      assert.equal(job!.state, "FAILED");
      assert.deepEqual(job!.attemptHistory, wasFailed.attemptHistory, "still counted: nothing was redriven");
      assert.equal(job!.dispatchId, wasFailed.dispatchId, "the token it had");
      assert.equal(job!.previousDispatchId, wasFailed.previousDispatchId);
      assert.equal(job!.finishedAt, wasFailed.finishedAt);
      assert.equal(await h().queuedMessages(), messages);
    });
  });
});
