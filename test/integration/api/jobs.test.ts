import assert from "node:assert/strict";
import type { JobRecord } from "../../../core/job.ts";
import type { JobStore } from "../../../core/ports.ts";
import { fixtureRequest, overriding, postJob, useApiHarness, type ErrorAnswer } from "./api-harness.ts";

describe("api: GET /jobs/{id}, GET /jobs, DELETE /jobs/{id} on the emulators", () => {
  const h = useApiHarness();

  async function submit(): Promise<string> {
    const res = await postJob(h().app(), fixtureRequest());
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { jobId: string }).jobId;
  }

  /** Moves a job as a worker does when it takes the message. */
  async function startRunning(jobId: string): Promise<void> {
    await h().deps.store.transition(jobId, { state: "QUEUED", attempts: 0 }, "RUNNING", { attempts: 1, instanceId: "i-0123456789abcdef0" });
  }

  describe("GET /jobs/{id}", () => {
    it("answers 404 NOT_FOUND for an unknown id, a malformed id, and an idempotency item's key", async () => {
      for (const id of ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "not-a-job", "idem%23some-key", "x".repeat(3000)]) {
        const res = await h().app().request(`/jobs/${id}`);
        assert.equal(res.status, 404, id);
        const { error } = (await res.json()) as ErrorAnswer;
        assert.equal(error.code, "NOT_FOUND");
        assert.match(error.message, /no job with id/);
      }
    });

    it("reads an id case-insensitively, as ULIDs are", async () => {
      const jobId = await submit();
      const res = await h().app().request(`/jobs/${jobId.toLowerCase()}`);
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as JobRecord).jobId, jobId);
    });
  });

  describe("DELETE /jobs/{id}", () => {
    it("cancels a QUEUED job at once: 200 CANCELLED, finished, its message left for the worker to discard", async () => {
      const jobId = await submit();
      const messages = await h().queuedMessages();

      const res = await h().app().request(`/jobs/${jobId}`, { method: "DELETE" });

      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { jobId, state: "CANCELLED", statusUrl: `http://localhost/jobs/${jobId}` });
      const job = (await (await h().app().request(`/jobs/${jobId}`)).json()) as JobRecord;
      assert.equal(job.state, "CANCELLED");
      assert.ok(job.finishedAt);
      assert.equal(await h().queuedMessages(), messages);
    });

    it("asks a RUNNING job's worker to stop: 202 CANCELLING", async () => {
      const jobId = await submit();
      await startRunning(jobId);

      const res = await h().app().request(`/jobs/${jobId}`, { method: "DELETE" });

      assert.equal(res.status, 202);
      assert.equal(((await res.json()) as JobRecord).state, "CANCELLING");
      const job = (await (await h().app().request(`/jobs/${jobId}`)).json()) as JobRecord;
      assert.equal(job.state, "CANCELLING");
      assert.equal(job.instanceId, "i-0123456789abcdef0");
    });

    it("answers 409 with the reason for a finished or already cancelling job, changing nothing", async () => {
      const done = await submit();
      await startRunning(done);
      await h().deps.store.transition(done, { state: "RUNNING", attempts: 1 }, "SUCCEEDED", { exitCode: 0 });
      const cancelling = await submit();
      await startRunning(cancelling);
      await h().app().request(`/jobs/${cancelling}`, { method: "DELETE" });

      const cases = [
        [done, "SUCCEEDED", "job is SUCCEEDED; only QUEUED or RUNNING jobs can be cancelled"],
        [cancelling, "CANCELLING", "job is CANCELLING; its cancel is already under way (the worker is stopping the processor)"],
      ] as const;
      for (const [jobId, state, message] of cases) {
        const res = await h().app().request(`/jobs/${jobId}`, { method: "DELETE" });
        assert.equal(res.status, 409);
        const { error } = (await res.json()) as ErrorAnswer;
        assert.deepEqual(error, { code: "CONFLICT", message, jobId, state });
        assert.equal(((await (await h().app().request(`/jobs/${jobId}`)).json()) as JobRecord).state, state);
      }
    });

    it("answers 404 for an unknown job", async () => {
      const res = await h().app().request("/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", { method: "DELETE" });
      assert.equal(res.status, 404);
    });

    it("follows the job when a worker takes it between the read and the conditional write", async () => {
      const jobId = await submit();
      let raced = false;
      // The first cancel write finds the job RUNNING: the worker's own conditional write got there first.
      const store = overriding<JobStore>(h().deps.store, {
        transition: async (...args: Parameters<JobStore["transition"]>) => {
          if (!raced) {
            raced = true;
            await startRunning(jobId);
          }
          return h().deps.store.transition(...args);
        },
      });

      const res = await h().app({ store }).request(`/jobs/${jobId}`, { method: "DELETE" });

      assert.ok(raced);
      assert.equal(res.status, 202);
      assert.equal(((await res.json()) as JobRecord).state, "CANCELLING");
      assert.equal(((await (await h().app().request(`/jobs/${jobId}`)).json()) as JobRecord).state, "CANCELLING");
    });
  });

  describe("GET /jobs", () => {
    type Page = { jobs: JobRecord[]; next?: string };
    const list = async (query: string): Promise<Page> => {
      const res = await h().app().request(`/jobs${query}`);
      assert.equal(res.status, 200, await res.clone().text());
      return (await res.json()) as Page;
    };

    it("lists newest first, page by page, until no next cursor is given", async () => {
      const submitted = [await submit(), await submit(), await submit()];
      const all = (await list("?limit=100")).jobs.map((j) => j.jobId);
      assert.deepEqual(all, [...all].sort().reverse(), "newest first");
      // Ids order by submit time to the millisecond; within one, by their random tail.
      assert.deepEqual(new Set(all.slice(0, 3)), new Set(submitted));

      const seen: string[] = [];
      let query = "?limit=2";
      for (let page = 0; page < 100; page++) {
        const p = await list(query);
        assert.ok(p.jobs.length <= 2);
        seen.push(...p.jobs.map((j) => j.jobId));
        if (!p.next) break;
        query = `?limit=2&next=${encodeURIComponent(p.next)}`;
      }
      assert.deepEqual(seen, all);
    });

    it("filters by state", async () => {
      const cancelled = await submit();
      await h().app().request(`/jobs/${cancelled}`, { method: "DELETE" });
      const queued = await submit();

      const c = await list("?state=CANCELLED");
      assert.ok(c.jobs.every((j) => j.state === "CANCELLED"));
      assert.ok(c.jobs.some((j) => j.jobId === cancelled));
      const q = await list("?state=QUEUED&limit=100");
      assert.ok(q.jobs.every((j) => j.state === "QUEUED"));
      assert.equal(q.jobs[0]!.jobId, queued);
    });

    it("defaults to 20 per page", async () => {
      while ((await list("?limit=100")).jobs.length < 21) await submit();
      const p = await list("");
      assert.equal(p.jobs.length, 20);
      assert.ok(p.next);
    });

    it("refuses bad parameters with 400 naming each", async () => {
      const { next } = await list("?state=QUEUED&limit=1");
      assert.ok(next);
      const forged = Buffer.from(JSON.stringify({ s: null, n: Buffer.from(JSON.stringify({ jobId: "x", listKey: 3 })).toString("base64url") })).toString("base64url");
      const cases: [string, string[]][] = [
        ["?state=DONE", ["state"]],
        ["?state=queued", ["state"]],
        ["?limit=0", ["limit"]],
        ["?limit=101", ["limit"]],
        ["?limit=ten", ["limit"]],
        ["?limit=2.5", ["limit"]],
        ["?limit=1&limit=2", ["limit"]],
        ["?next=not-a-cursor", ["next"]],
        [`?next=${forged}`, ["next"]],
        [`?next=${next}`, ["next"]], // issued for state=QUEUED, used without it
        ["?status=QUEUED", ["status"]],
        ["?state=DONE&limit=0&colour=red", ["colour", "limit", "state"]],
      ];
      for (const [query, fields] of cases) {
        const res = await h().app().request(`/jobs${query}`);
        assert.equal(res.status, 400, query);
        const { error } = (await res.json()) as ErrorAnswer;
        assert.equal(error.code, "INVALID_REQUEST");
        assert.deepEqual(error.problems!.map((p) => p.field).sort(), fields, query);
      }
    });
  });

  describe("routes", () => {
    it("answers an unknown route with 404 JSON listing the routes", async () => {
      const res = await h().app().request("/queues");
      assert.equal(res.status, 404);
      const { error } = (await res.json()) as ErrorAnswer;
      assert.equal(error.code, "NOT_FOUND");
      assert.match(error.message, /POST \/jobs, GET \/jobs, GET \/jobs\/\{id\}, DELETE \/jobs\/\{id\}/);
    });

    it("answers a wrong method with 405 JSON and an Allow header", async () => {
      for (const [method, path, allow] of [
        ["PUT", "/jobs", "GET, POST, HEAD"],
        ["PATCH", "/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", "GET, DELETE, HEAD"],
        ["POST", "/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", "GET, DELETE, HEAD"],
      ] as const) {
        const res = await h().app().request(path, { method });
        assert.equal(res.status, 405, `${method} ${path}`);
        assert.equal(res.headers.get("allow"), allow);
        assert.equal(((await res.json()) as ErrorAnswer).error.code, "METHOD_NOT_ALLOWED");
      }
    });

    it("takes /jobs/ with a trailing slash as /jobs", async () => {
      const res = await h().app().request("/jobs/?limit=1");
      assert.equal(res.status, 200);
    });

    it("logs one line per request with method, path, status and duration", async () => {
      const app = h().app();
      await app.request("/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV");
      const lines = app.log.lines.filter((l) => l.event === "request");
      assert.equal(lines.length, 1);
      const { method, path, status, ms } = lines[0]!;
      assert.deepEqual({ method, path, status }, { method: "GET", path: "/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", status: 404 });
      assert.equal(typeof ms, "number");
    });
  });
});
