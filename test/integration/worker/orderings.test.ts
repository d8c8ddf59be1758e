import assert from "node:assert/strict";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { JobAnnouncer } from "../../../aws/announcing-job-store.ts";
import { S3JobResults } from "../../../aws/job-results.ts";
import type { JobEvents, JobStateChange } from "../../../core/job-events.ts";
import { resultFileKey } from "../../../core/job-result.ts";
import { interceptQueue, interceptStore, recordingFleet } from "../../support/worker-stubs.ts";
import { useWorkerTestBed, type WorkerTestBed } from "../../support/worker-stack.ts";

/**
 * The orderings a guarantee depends on (docs/orderings.md), each with a step made slow so that a
 * reordering shows, and the work moved off the critical path: it still happens, after the delete,
 * and its failure does not fail the job.
 */
describe("worker: load-bearing orderings on the critical path (docs/orderings.md)", function () {
  this.timeout(90_000);
  const { bed } = useWorkerTestBed();
  const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Job events kept in memory, each publish held `holdMs` (or failing), with what the test log saw. */
  function slowEvents(steps: string[], o: { holdMs?: number; fail?: boolean } = {}): JobEvents & { published: JobStateChange[] } {
    const published: JobStateChange[] = [];
    return {
      published,
      async publish(change) {
        await delay(o.holdMs ?? 0);
        if (o.fail) throw new Error("EventBridge said no");
        published.push(change);
        steps.push(`event ${change.state} published`);
      },
    };
  }

  /** A worker whose store announces in the background (as worker/main.ts wires it), with the calls recorded in `steps`. */
  async function startRecorded(b: WorkerTestBed, steps: string[], events: JobEvents, o: { slowProtectMs?: number; slowSucceededMs?: number } = {}) {
    const warnings: string[] = [];
    const announcer = new JobAnnouncer({
      deployment: b.config.name,
      events,
      results: new S3JobResults(b.s3, { bucket: b.bucket, prefix: "analytics/jobs/", deployment: b.config.name, resultFile: true, analytics: true }),
      onFailure: (kind, jobId, error) => warnings.push(`${kind} ${jobId}: ${error.message}`),
    });
    const w = await b.startWorker({
      deps: (deps) => {
        const fleet = recordingFleet(deps.fleet!, {
          protect: async (id, value) => {
            if (value) await delay(o.slowProtectMs ?? 0);
            await deps.fleet!.protect(id, value);
            steps.push(`protect ${value}`);
          },
        });
        const raw = interceptStore(deps.store, {
          transition: async (id, e, to, p) => {
            steps.push(`${to} write begins`);
            if (to === "SUCCEEDED") await delay(o.slowSucceededMs ?? 0);
            const r = await deps.store.transition(id, e, to, p);
            steps.push(`${to} written${r.outputs ? " with outputs" : ""}`);
            return r;
          },
        });
        const queue = interceptQueue(deps.queue, {
          delete: async (receipt) => {
            steps.push("delete begins");
            await deps.queue.delete(receipt);
          },
        });
        return { ...deps, fleet, queue, store: announcer.wrap(raw, { background: true }) };
      },
    });
    return { w, warnings };
  }

  async function resultFile(b: WorkerTestBed, targetPrefix: string): Promise<Record<string, unknown>> {
    const r = await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: resultFileKey(targetPrefix) }));
    return JSON.parse(await r.Body!.transformToString()) as Record<string, unknown>;
  }

  it("protection is set before RUNNING, though the record is read while SetInstanceProtection is still on its way", async () => {
    const b = bed();
    const steps: string[] = [];
    const job = await b.submit({ "a.txt": "a" });
    let readDuringProtect = false;
    // The read is not held back by the protect (the chain is shorter), the claim is.
    const origGet = b.store.get.bind(b.store);
    b.store.get = async (id) => {
      if (!steps.includes("protect true")) readDuringProtect = true;
      return origGet(id);
    };
    const { w } = await startRecorded(b, steps, slowEvents(steps), { slowProtectMs: 400 });
    await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    const protectAt = steps.indexOf("protect true");
    const runningAt = steps.indexOf("RUNNING write begins");
    assert.ok(protectAt >= 0 && runningAt >= 0, steps.join(", "));
    assert.ok(protectAt < runningAt, `the RUNNING write began before protection was set: ${steps.join(", ")}`);
    assert.ok(readDuringProtect, "the record was read only after the protect: the two are independent");
  });

  it("SUCCEEDED, with its outputs, is written before the message is deleted, even when the write is slow", async () => {
    const b = bed();
    const steps: string[] = [];
    const job = await b.submit({ "a.txt": "a" });
    const { w } = await startRecorded(b, steps, slowEvents(steps), { slowSucceededMs: 500 });
    await w.events.waitFor("job_settled", (e) => e.jobId === job.jobId);
    const written = steps.indexOf("SUCCEEDED written with outputs");
    const deleted = steps.indexOf("delete begins");
    assert.ok(written >= 0 && deleted >= 0, steps.join(", "));
    assert.ok(written < deleted, `the delete began before SUCCEEDED was written: ${steps.join(", ")}`);
    assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
  });

  it("announcing follows the delete instead of holding it, and is done (event, result file) before the worker polls again", async () => {
    const b = bed();
    const steps: string[] = [];
    const job = await b.submit({ "a.txt": "a" });
    const events = slowEvents(steps, { holdMs: 600 });
    const { w, warnings } = await startRecorded(b, steps, events);
    await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    const settled = w.events.waitFor("job_settled", (e) => e.jobId === job.jobId);
    await settled;
    const deleted = steps.indexOf("delete begins");
    const announced = steps.indexOf("event SUCCEEDED published");
    assert.ok(deleted >= 0 && announced >= 0, steps.join(", "));
    assert.ok(deleted < announced, `the delete waited for the SUCCEEDED event: ${steps.join(", ")}`);
    // In write order: RUNNING's event before SUCCEEDED's.
    assert.deepEqual(
      events.published.filter((e) => e.jobId === job.jobId).map((e) => e.state),
      ["RUNNING", "SUCCEEDED"],
    );
    // Nothing is lost: the result file is there once the job is settled, and protection is lifted only then.
    const result = await resultFile(b, job.targetPrefix);
    assert.equal(result.state, "SUCCEEDED");
    await w.events.waitFor("protection_changed", (e) => !e.protectedFromScaleIn);
    assert.ok(steps.lastIndexOf("protect false") > announced, `protection was lifted before the announcing was done: ${steps.join(", ")}`);
    assert.deepEqual(warnings, []);
  });

  it("a failed announcement after the delete fails nothing: the job is SUCCEEDED, its message gone, the failure reported", async () => {
    const b = bed();
    const steps: string[] = [];
    const job = await b.submit({ "a.txt": "a" });
    const { w, warnings } = await startRecorded(b, steps, slowEvents(steps, { holdMs: 100, fail: true }));
    await w.events.waitFor("job_settled", (e) => e.jobId === job.jobId);
    assert.equal((await b.record(job.jobId)).state, "SUCCEEDED");
    assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
    assert.deepEqual(await b.deadLetters(), []);
    assert.ok(
      warnings.some((m) => m.startsWith(`event ${job.jobId}`) && /EventBridge said no/.test(m)),
      `no failure reported: ${warnings.join("; ")}`,
    );
    // The result file does not depend on the event.
    assert.equal((await resultFile(b, job.targetPrefix)).state, "SUCCEEDED");
    assert.deepEqual(w.events.all("job_failed"), []);
    assert.deepEqual(w.events.all("job_retried"), []);
  });
});
