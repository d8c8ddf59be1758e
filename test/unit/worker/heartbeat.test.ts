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
function setup(o: { extend?: () => Promise<void>; record?: Partial<JobRecord>; updateFails?: boolean; receivedAt?: number; update?: () => Promise<void> }) {
  const calls: string[] = [];
  let phase = "process";
  const queue = {
    extend: async (_r: string, seconds: number) => {
      calls.push(`extend ${seconds}`);
      await o.extend?.();
    },
  } as unknown as JobQueue;
  const store = {
    update: async (_id: string, expected: { state: string; attempts?: number }, patch: Partial<JobRecord>) => {
      calls.push(`update ${expected.state}@${expected.attempts}${patch.progress ? ` ${patch.progress.phase}` : ""}`);
      await o.update?.();
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
    receivedAt: o.receivedAt ?? Date.now(),
    visibilitySeconds: 30,
    intervalMs: 1_000,
    progress: () => ({ phase: phase as "process", updatedAt: "now" }),
    onStop: (s) => stops.push(s),
    onWarning: (e) => warnings.push(e.message),
  });
  return { hb, calls, stops, warnings, setPhase: (p: string) => (phase = p) };
}

describe("worker/heartbeat", () => {
  it("extends the message's visibility and writes progress, conditional on this attempt", async () => {
    const { hb, calls, stops } = setup({});
    await hb.beat();
    assert.deepEqual(calls, ["extend 30", "update RUNNING@1 process"]);
    assert.deepEqual(stops, []);
  });

  it("never asks SQS for visibility past 12 h from the receive: the last beats shrink, then only the record is written", async () => {
    const HOUR = 3_600_000;
    const near = setup({ receivedAt: Date.now() - 12 * HOUR + 20_000 });
    await near.hb.beat();
    const extended = Number(/^extend (\d+)$/.exec(near.calls[0]!)![1]);
    assert.ok(extended >= 17 && extended <= 19, `asked for ${extended} s, 12 h minus the 20 s left`);
    const past = setup({ receivedAt: Date.now() - 12 * HOUR - 5_000 });
    await past.hb.beat();
    assert.deepEqual(past.calls, ["update RUNNING@1 process"], "no ChangeMessageVisibility SQS would refuse");
    assert.deepEqual(past.stops, []);
  });

  it("writes a new phase at once, conditional on this attempt, without waiting for the next beat; writes behind a slow one collapse", async () => {
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    let first = true;
    const { hb, calls, setPhase } = setup({ update: () => (first ? ((first = false), slow) : Promise.resolve()) });
    hb.start();
    setPhase("download");
    hb.progressChanged();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(calls, ["update RUNNING@1 download"], "written at once, not after the 1 s interval");
    // Two more changes while the first write hangs: one write follows it, with the latest progress.
    setPhase("process");
    hb.progressChanged();
    setPhase("upload");
    hb.progressChanged();
    release();
    await hb.stop();
    assert.deepEqual(calls, ["update RUNNING@1 download", "update RUNNING@1 upload"]);
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
