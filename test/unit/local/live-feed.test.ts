import assert from "node:assert/strict";
import type { JobRecord } from "../../../core/job.ts";
import type { JobState } from "../../../core/job-state.ts";
import type { JobStore } from "../../../core/ports.ts";
import { fleetEventLine, jobChangeLine, JobChangeTracker, StorePollingJobChanges, type JobChange } from "../../../scripts/local/live-feed.ts";
import { FLEET_EVENT_NAMES } from "../../../scripts/local/fleet.ts";

let seq = 0;
function job(state: JobState, patch: Partial<JobRecord> = {}): JobRecord {
  const jobId = patch.jobId ?? `01M8SKSG2F16FHS3MRD1DQD${String(seq++).padStart(3, "0")}`;
  return { jobId, state, request: {} as JobRecord["request"], submittedAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z", attempts: 0, interruptions: 0, ...patch };
}
const snap = (...jobs: JobRecord[]) => new Map(jobs.map((j) => [j.jobId, j]));
const lines = (changes: JobChange[]) => changes.map(jobChangeLine);

/** A jobs table in memory, as JobStore lists it: newest first by id, by state through an index. */
class MemoryStore implements Pick<JobStore, "list" | "get"> {
  jobs = new Map<string, JobRecord>();
  put(j: JobRecord): void {
    this.jobs.set(j.jobId, j);
  }
  async list(q: { state?: JobState; limit: number }) {
    const all = [...this.jobs.values()].filter((j) => q.state === undefined || j.state === q.state).sort((a, b) => b.jobId.localeCompare(a.jobId));
    return { items: all.slice(0, q.limit) };
  }
  async get(id: string) {
    return this.jobs.get(id);
  }
}

describe("scripts/local/live-feed", () => {
  it("reports each state, attempt or instance change once, not the jobs already there", () => {
    const t = new JobChangeTracker();
    const old = job("SUCCEEDED");
    const a = job("QUEUED");
    assert.deepEqual(t.observe(snap(old, a)), [], "the first snapshot is the baseline");
    assert.deepEqual(t.observe(snap(old, a)), [], "nothing moved");
    const running = { ...a, state: "RUNNING" as const, attempts: 1, instanceId: "i-01" };
    assert.deepEqual(lines(t.observe(snap(old, running))), [`job ${a.jobId} RUNNING on i-01 (attempt 1), was QUEUED`]);
    assert.deepEqual(t.observe(snap(old, { ...running, progress: { phase: "process", updatedAt: "x" } })), [], "progress alone is no change");
    const takenOver = { ...running, attempts: 2, instanceId: "i-02" };
    assert.deepEqual(lines(t.observe(snap(old, takenOver))), [`job ${a.jobId} RUNNING on i-02 (attempt 2), a new attempt took over`]);
    const failed = { ...takenOver, state: "FAILED" as const, error: { code: "PROCESS_EXIT", message: "exit 1" } };
    assert.deepEqual(lines(t.observe(snap(old, failed))), [`job ${a.jobId} FAILED (attempt 2), was RUNNING: PROCESS_EXIT: exit 1`]);
    assert.deepEqual(t.observe(snap(old, failed)), [], "a finished job listed again is not reported again");
    assert.equal(t.following().size, 0, "finished jobs are forgotten");
  });

  it("reports a job that was submitted and finished between two polls", () => {
    const t = new JobChangeTracker();
    t.observe(snap());
    const quick = job("SUCCEEDED", { attempts: 1 });
    assert.deepEqual(lines(t.observe(snap(quick))), [`job ${quick.jobId} SUCCEEDED (attempt 1), new (seen first in this state)`]);
  });

  it("polls the table: active states, the newest jobs, and the jobs it followed that left those lists", async () => {
    const store = new MemoryStore();
    const feed = new StorePollingJobChanges(store as unknown as JobStore, { newest: 2 });
    const followed = job("RUNNING", { attempts: 1 });
    store.put(followed);
    for (let i = 0; i < 3; i++) store.put(job("SUCCEEDED"));
    const t = new JobChangeTracker();
    t.observe(await feed.snapshot(t.following()));
    // The followed job finishes; three newer jobs push it out of the newest-two list.
    store.put({ ...followed, state: "SUCCEEDED" });
    const s = await feed.snapshot(t.following());
    assert.equal(s.get(followed.jobId)?.state, "SUCCEEDED", "read one by one since no list shows it");
    assert.deepEqual(lines(t.observe(s)), [`job ${followed.jobId} SUCCEEDED (attempt 1), was RUNNING`]);
  });

  it("delivers changes from start() until stopped", async () => {
    const store = new MemoryStore();
    // Each poll lists the table: waiting for the next list call is waiting for the next poll.
    let polls = 0;
    const waiters: (() => void)[] = [];
    const list = store.list.bind(store);
    store.list = (q) => {
      polls++;
      waiters.splice(0).forEach((w) => w());
      return list(q);
    };
    const nextPoll = () => new Promise<void>((r) => waiters.push(r));
    const feed = new StorePollingJobChanges(store as unknown as JobStore, { intervalMs: 1 });
    const got: string[] = [];
    const changed = new Map<string, () => void>();
    const change = (state: string) => new Promise<void>((r) => changed.set(state, r));
    const stop = feed.start((c) => {
      got.push(c.job.state);
      changed.get(c.job.state)?.();
    });
    await nextPoll(); // the baseline poll is done once the second one starts
    await nextPoll();
    const j = job("QUEUED");
    const queued = change("QUEUED");
    store.put(j);
    await queued;
    const running = change("RUNNING");
    store.put({ ...j, state: "RUNNING", attempts: 1 });
    await running;
    await stop();
    const after = polls;
    store.put({ ...j, state: "SUCCEEDED", attempts: 1 });
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(polls, after, "no poll after stop");
    assert.deepEqual(got, ["QUEUED", "RUNNING"]);
  });

  it("has a line for every fleet event but the per-period alarm evaluation", () => {
    const sample: Record<string, unknown> = {
      desired_changed: { before: 0, after: 1, reason: "api" },
      instance_launched: { instanceId: "i-1", dir: "/x" },
      instance_in_service: { instanceId: "i-1" },
      instance_terminating: { instanceId: "i-1", reason: "self-terminate" },
      instance_terminated: { instanceId: "i-1", reason: "self-terminate" },
      worker_exited: { instanceId: "i-1", code: 1, signal: null, restart: true },
      worker_restarted: { instanceId: "i-1", pid: 3, restarts: 1 },
      spot_interruption: { instanceId: "i-1", action: "terminate", time: "t" },
      rebalance_recommendation: { instanceId: "i-1", noticeTime: "t" },
      scale_in_waiting: { excess: 1, protectedInstances: ["i-1"] },
      alarm_evaluated: {},
      alarm_fired: { value: 3, step: "small", addInstances: 1, currentCapacity: 0, before: 0, after: 1 },
      scaling_error: new Error("boom"),
    };
    for (const name of FLEET_EVENT_NAMES) {
      const line = fleetEventLine(name, (sample[name] ?? {}) as never);
      if (name === "alarm_evaluated") assert.equal(line, undefined);
      else assert.match(line ?? "", /^fleet: \S/, name);
    }
    assert.equal(fleetEventLine("desired_changed", sample.desired_changed as never), "fleet: desired capacity 0 -> 1 (api)");
    assert.equal(fleetEventLine("worker_exited", sample.worker_exited as never), "fleet: worker on i-1 exited (code 1), restarting");
  });
});
