import assert from "node:assert/strict";
import { StaleTransitionError } from "../../../core/errors.ts";
import type { JobRecord } from "../../../core/job.ts";
import type { JobQueue, JobStore } from "../../../core/ports.ts";
import type { StopRequest } from "../../../worker/errors.ts";
import { Heartbeat } from "../../../worker/heartbeat.ts";

/**
 * The heartbeat against stand-ins that fail the way SQS and DynamoDB do (a network blip, a receipt
 * SQS no longer knows, a conditional write that loses): failures the emulators cannot be told to make.
 */
function setup(o: { extend?: () => Promise<void>; record?: Partial<JobRecord>; updateFails?: boolean }) {
  const calls: string[] = [];
  const queue = {
    extend: async (_r: string, seconds: number) => {
      calls.push(`extend ${seconds}`);
      await o.extend?.();
    },
  } as unknown as JobQueue;
  const store = {
    update: async () => {
      calls.push("update");
      if (o.updateFails) throw new StaleTransitionError("J", "stale");
      return {} as JobRecord;
    },
    get: async () => ({ jobId: "J", state: "RUNNING", attempts: 1, ...o.record }) as JobRecord,
  } as unknown as JobStore;
  const stops: StopRequest[] = [];
  const warnings: string[] = [];
  const hb = new Heartbeat(queue, store, {
    jobId: "J",
    attempt: 1,
    receiptHandle: "r",
    receivedAt: Date.now(),
    visibilitySeconds: 30,
    intervalMs: 1_000,
    progress: () => ({ phase: "process", updatedAt: "now" }),
    onStop: (s) => stops.push(s),
    onWarning: (e) => warnings.push(e.message),
  });
  return { hb, calls, stops, warnings };
}

describe("worker/heartbeat", () => {
  it("extends the message's visibility and writes progress, conditional on this attempt", async () => {
    const { hb, calls, stops } = setup({});
    await hb.beat();
    assert.deepEqual(calls, ["extend 30", "update"]);
    assert.deepEqual(stops, []);
  });

  it("rides out a transient SQS failure (the next beat may succeed)", async () => {
    const { hb, stops, warnings } = setup({ extend: async () => Promise.reject(Object.assign(new Error("socket hang up"), { name: "TimeoutError" })) });
    await hb.beat();
    assert.deepEqual(stops, []);
    assert.deepEqual(warnings, ["socket hang up"]);
  });

  it("calls the job lost when SQS no longer knows the receipt (the message went back to the queue)", async () => {
    const { hb, stops } = setup({
      extend: async () => Promise.reject(Object.assign(new Error("SQS extend visibility failed: ReceiptHandleIsInvalid: The receipt handle has expired"), { name: "ReceiptHandleIsInvalid" })),
    });
    await hb.beat();
    assert.equal(stops[0]?.kind, "lost");
  });

  it("turns a refused write into a cancel when the record is CANCELLING at this attempt", async () => {
    const { hb, stops } = setup({ updateFails: true, record: { state: "CANCELLING", attempts: 1 } });
    await hb.beat();
    assert.equal(stops[0]?.kind, "cancel");
  });

  it("turns a refused write into a loss when a newer attempt owns the record", async () => {
    const { hb, stops } = setup({ updateFails: true, record: { state: "RUNNING", attempts: 2 } });
    await hb.beat();
    assert.equal(stops[0]?.kind, "lost");
    assert.match(stops[0]!.message, /RUNNING at attempt 2/);
  });

  it("refuses an interval that is not shorter than the visibility timeout", () => {
    assert.throws(
      () =>
        new Heartbeat({} as JobQueue, {} as JobStore, {
          jobId: "J",
          attempt: 1,
          receiptHandle: "r",
          receivedAt: 0,
          visibilitySeconds: 5,
          intervalMs: 5_000,
          progress: () => undefined,
          onStop: () => undefined,
        }),
      /must be less than the visibility timeout/,
    );
  });
});
