import assert from "node:assert/strict";
import { useWorkerTestBed } from "../../support/worker-stack.ts";

/** Idle after 1 s, so the idle rule runs within the test. */
const IDLE_FAST = { idleTimeoutSeconds: 1 };

describe("worker: idleness, the decrement rule and notices while idle (local Auto Scaling group)", function () {
  this.timeout(60_000);
  const { bed } = useWorkerTestBed();

  it("terminates its own instance with decrement when desired is above the minimum, and exits", async () => {
    const b = bed();
    const g = b.asg.group;
    g.setDesiredCapacity(1);
    const w = await b.startWorker({ options: IDLE_FAST });
    const t = await w.events.waitFor("idle_terminate");
    assert.equal(t.decrement, true);
    assert.equal(await w.worker.done, "idle-terminated");
    assert.equal(g.desiredCapacity, 0, "the group shrank with it: no replacement is launched");
    assert.equal(g.instance(w.instanceId)?.lifecycleState, "Terminating");
  });

  it("stays as a warm standby when desired equals the minimum, and still takes work", async () => {
    const b = bed();
    const g = b.asg.group;
    g.minSize = 1;
    g.setDesiredCapacity(1);
    const w = await b.startWorker({ options: IDLE_FAST });
    const check = await w.events.waitFor("idle_check");
    assert.equal(check.decision.action, "stay");
    assert.match(check.decision.reason, /warm standby/);
    const job = await b.submit({ "a.txt": "a" });
    await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    assert.deepEqual(w.events.all("idle_terminate"), []);
    assert.equal(g.instance(w.instanceId)?.lifecycleState, "InService");
    assert.equal(g.desiredCapacity, 1);
  });

  it("terminates without decrement when desired is already below the instance count (a scale-in under way)", async () => {
    const b = bed();
    const g = b.asg.group;
    g.setDesiredCapacity(2);
    // Two instances in service; the group then lowers desired to 1 while both are protected (as a scale-in does).
    const w = await b.startWorker({ options: { idleTimeoutSeconds: 3600 } });
    g.addInstance("i-0other00000000001");
    g.setLifecycleState("i-0other00000000001", "InService");
    g.setDesiredCapacity(1);
    const idle = await b.startWorker({ options: IDLE_FAST, inGroup: false });
    // The idle one joins the group as a third instance: desired 1 < 3 instances.
    g.addInstance(idle.instanceId);
    g.setLifecycleState(idle.instanceId, "InService");
    const t = await idle.events.waitFor("idle_terminate");
    assert.equal(t.decrement, false);
    assert.equal(g.desiredCapacity, 1, "desired unchanged: the scale-in already counted this instance");
    assert.deepEqual(w.events.all("idle_terminate"), []);
  });

  it("two idle workers racing to the minimum: one terminates with decrement, the other stays", async () => {
    const b = bed();
    const g = b.asg.group;
    g.minSize = 1;
    g.setDesiredCapacity(2);
    const [a, c] = await Promise.all([b.startWorker({ options: IDLE_FAST }), b.startWorker({ options: IDLE_FAST })]);
    const first = await Promise.race([a.worker.done.then(() => a), c.worker.done.then(() => c)]);
    const other = first === a ? c : a;
    assert.equal(await first.worker.done, "idle-terminated");
    // The other one sees desired at the minimum (or has its decrement refused by Auto Scaling) and stays.
    await other.events.waitFor("idle_check", (e) => e.decision.action === "stay");
    assert.equal(g.desiredCapacity, 1);
    assert.equal(g.instance(other.instanceId)?.lifecycleState, "InService");
    assert.deepEqual(other.events.all("idle_terminate"), []);
  });

  it("on a rebalance recommendation: stops taking work and hands its instance back without shrinking the group", async () => {
    const b = bed();
    const g = b.asg.group;
    g.setDesiredCapacity(1);
    const w = await b.startWorker();
    w.imds.setRebalanceRecommendation();
    assert.equal(await w.worker.done, "rebalance");
    assert.equal(g.instance(w.instanceId)?.lifecycleState, "Terminating");
    assert.equal(g.desiredCapacity, 1, "the group launches a replacement elsewhere");
    const job = await b.submit({ "a.txt": "a" });
    assert.deepEqual(w.events.all("message_received", (e) => e.jobId === job.jobId), []);
  });

  it("a worker started on an instance that already has a Spot notice takes no work", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" });
    const w = await b.startWorker({ beforeStart: (tw) => void tw.imds.setSpotInterruption() });
    assert.equal(await w.worker.done, "spot-interruption");
    assert.deepEqual(w.events.all("message_received"), []);
    assert.equal((await b.record(job.jobId)).state, "QUEUED");
    assert.deepEqual(await b.queue.depth(), { visible: 1, inFlight: 0, delayed: 0 });
  });
});
