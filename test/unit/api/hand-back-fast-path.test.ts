import assert from "node:assert/strict";
import type { Logger } from "winston";
import { fastPathFor, raiseCapacityAfterHandBack } from "../../../api/fast-path.ts";
import type { ApiLog } from "../../../api/log.ts";
import type { FleetControl, GroupState, JobQueue, QueueDepth } from "../../../core/ports.ts";

/** The worker's logger (winston) is what it will pass: it must fit the hook's log. */
const workerLoggerFits: (l: Logger) => ApiLog = (l) => l;
void workerLoggerFits;

/** A group that records every raise and applies it as Auto Scaling would. */
class RecordingFleet implements FleetControl {
  readonly asked: number[] = [];
  constructor(
    public desired: number,
    readonly maxSize = 10,
    readonly fail = false,
  ) {}
  async raiseDesired(atLeast: number) {
    this.asked.push(atLeast);
    if (this.fail) throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    const before = this.desired;
    this.desired = Math.max(before, Math.min(atLeast, this.maxSize));
    return { before, after: this.desired };
  }
  async describeGroup(): Promise<GroupState> {
    return { name: "g", minSize: 0, maxSize: this.maxSize, desiredCapacity: this.desired, instances: [] };
  }
  async protect() {}
  async terminate() {}
  async setHealth() {}
  async completeLifecycleAction() {}
  async recordLifecycleHeartbeat() {}
}

const queue = (depth: QueueDepth) => ({ depth: async () => ({ ...depth }) }) as unknown as JobQueue;
const lines: { level: string; event: string }[] = [];
const log: ApiLog = {
  info: (event) => lines.push({ level: "info", event }),
  warn: (event) => lines.push({ level: "warn", event }),
  error: (event) => lines.push({ level: "error", event }),
};
const on = { scaling: { fastPath: true } };

describe("api: capacity for a handed-back job (the worker's hook)", () => {
  beforeEach(() => (lines.length = 0));

  it("raises desired capacity to every job queued, in flight or delayed: the handed-back job gets an instance", async () => {
    // The leaving instance retired with a decrement (desired 2 → 1); the job it handed back is visible, one other runs.
    const fleet = new RecordingFleet(1);
    const r = await raiseCapacityAfterHandBack({ queue: queue({ visible: 1, inFlight: 1, delayed: 0 }), fleet, config: on }, log, { jobId: "j1" });
    assert.deepEqual(r, { raised: true, wanted: 2, before: 1, after: 2 });
    assert.deepEqual(fleet.asked, [2]);
  });

  it("never lowers desired capacity and asks for nothing more when it already covers the backlog", async () => {
    const fleet = new RecordingFleet(3);
    const r = await raiseCapacityAfterHandBack({ queue: queue({ visible: 1, inFlight: 0, delayed: 0 }), fleet, config: on }, log, { jobId: "j1" });
    assert.deepEqual(r, { raised: false, wanted: 1, before: 3, after: 3 });
  });

  it("does nothing without a group or with scaling.fastPath off (alarms only)", async () => {
    const fleet = new RecordingFleet(0);
    const q = queue({ visible: 1, inFlight: 0, delayed: 0 });
    assert.equal(await raiseCapacityAfterHandBack({ queue: q, config: on }, log, { jobId: "j1" }), undefined);
    assert.equal(await raiseCapacityAfterHandBack({ queue: q, fleet, config: { scaling: { fastPath: false } } }, log, { jobId: "j1" }), undefined);
    assert.deepEqual(fleet.asked, []);
  });

  it("never throws: a refused call is logged, and the deficit alarm remains", async () => {
    const fleet = new RecordingFleet(0, 10, true);
    const r = await raiseCapacityAfterHandBack({ queue: queue({ visible: 1, inFlight: 0, delayed: 0 }), fleet, config: on }, log, { jobId: "j1" });
    assert.ok(r && "failed" in r, JSON.stringify(r));
    assert.ok(lines.some((l) => l.level === "warn" && /fast path failed/.test(l.event)));
  });

  it("shares the process's coalescer with the submit's fast path: one round a second for both", async () => {
    const fleet = new RecordingFleet(0);
    const q = queue({ visible: 2, inFlight: 0, delayed: 0 });
    const submit = await fastPathFor(fleet, q, { minIntervalMs: 50 }).request(log, { jobId: "submitted" });
    assert.ok("raised" in submit && submit.after === 2);
    const handBack = await raiseCapacityAfterHandBack({ queue: q, fleet, config: on }, log, { jobId: "handed-back" });
    assert.ok(handBack && "coalesced" in handBack, JSON.stringify(handBack));
    await fastPathFor(fleet, q).idle();
    assert.equal(fastPathFor(fleet, q).stats.rounds, 2);
  });
});
