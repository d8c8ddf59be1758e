import assert from "node:assert/strict";
import { useWorkerTestBed } from "../../support/worker-stack.ts";
import { interceptQueue } from "../../support/worker-stubs.ts";

/** Resolves once `probe` holds, looking every 20 ms (a condition, not a sleep racing a timer). */
async function until(probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${probe}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

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

  it("on a rebalance recommendation with capacity rebalancing off: takes no more work, then terminates itself without decrement (the one replacement)", async () => {
    const b = bed();
    const g = b.asg.group;
    g.setDesiredCapacity(1);
    const w = await b.startWorker({ config: { fleet: { capacityRebalance: false } } });
    w.imds.setRebalanceRecommendation();
    assert.equal(await w.worker.done, "rebalance");
    assert.equal(g.instance(w.instanceId)?.lifecycleState, "Terminating");
    assert.equal(g.desiredCapacity, 1, "the group launches a replacement elsewhere");
    assert.equal(b.asg.calls.get("TerminateInstanceInAutoScalingGroup"), 1);
    const job = await b.submit({ "a.txt": "a" });
    assert.deepEqual(w.events.all("message_received", (e) => e.jobId === job.jobId), []);
  });

  it("on a rebalance recommendation with capacity rebalancing on: takes no more work and asks for no replacement; it leaves when the group terminates it", async () => {
    const b = bed();
    const g = b.asg.group;
    g.setDesiredCapacity(1);
    const w = await b.startWorker({ config: { fleet: { capacityRebalance: true } } });
    w.imds.setRebalanceRecommendation();
    await w.events.waitFor("draining", (e) => e.reason === "rebalance");
    const job = await b.submit({ "a.txt": "a" });
    // Still draining after several turns of its loop (each asks the group whether it is being terminated).
    const describes = () => b.asg.calls.get("DescribeAutoScalingGroups") ?? 0;
    const before = describes();
    await until(() => describes() >= before + 5);
    assert.equal(w.worker.currentJob, undefined);
    assert.deepEqual(w.events.all("message_received"), []);
    assert.equal(b.asg.calls.get("TerminateInstanceInAutoScalingGroup") ?? 0, 0, "capacity rebalancing launches the one replacement, not the worker");
    assert.equal(g.instance(w.instanceId)?.lifecycleState, "InService");
    // Capacity rebalancing found the replacement in service and terminates this instance.
    g.terminateInstance(w.instanceId, false);
    assert.equal(await w.worker.done, "instance-terminating");
    assert.equal((await b.record(job.jobId)).state, "QUEUED");
    assert.deepEqual(await b.queue.depth(), { visible: 1, inFlight: 0, delayed: 0 });
  });

  /**
   * The worker's first receive waits at a gate: the test starts the drain while that poll is in
   * flight, then lets the poll run, so the message arrives at a draining worker every time.
   */
  async function drainingWorkerGetsAMessage(b: ReturnType<typeof bed>, o: { releaseFails?: boolean } = {}) {
    b.asg.group.setDesiredCapacity(1);
    let receiving!: () => void;
    const inPoll = new Promise<void>((r) => (receiving = r));
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    let gated = false;
    const w = await b.startWorker({
      config: { fleet: { capacityRebalance: true } },
      deps: (deps) => ({
        ...deps,
        queue: interceptQueue(deps.queue, {
          receive: async (opts) => {
            if (!gated) {
              gated = true;
              receiving();
              await gate;
            }
            return deps.queue.receive(opts);
          },
          ...(o.releaseFails
            ? {
                release: async () => {
                  throw new Error("SQS release message failed: InternalError: injected");
                },
              }
            : {}),
        }),
      }),
    });
    await inPoll;
    w.imds.setRebalanceRecommendation();
    await w.events.waitFor("draining", (e) => e.reason === "rebalance");
    const job = await b.submit({ "a.txt": "a" });
    openGate();
    const returned = await w.events.waitFor("message_returned", (e) => e.jobId === job.jobId);
    return { w, job, returned };
  }

  it("a message that reaches a draining worker goes straight back to the queue, and the worker says which job it was", async () => {
    const b = bed();
    const { w, job, returned } = await drainingWorkerGetsAMessage(b);
    assert.deepEqual(returned, { jobId: job.jobId, messageId: returned.messageId, receiveCount: 1, queue: "normal", why: "was draining (rebalance)" });
    assert.match(returned.messageId, /\S/);
    assert.deepEqual(w.events.all("message_received"), []);
    assert.equal((await b.record(job.jobId)).state, "QUEUED");
    assert.deepEqual(await b.queue.depth(), { visible: 1, inFlight: 0, delayed: 0 });
  });

  it("when putting that message back fails, the worker names the job and the failure, and the message stays in flight for SQS to return", async () => {
    const b = bed();
    const { job, returned } = await drainingWorkerGetsAMessage(b, { releaseFails: true });
    assert.equal(returned.jobId, job.jobId);
    assert.match(returned.failed ?? "", /InternalError: injected/);
    assert.equal((await b.record(job.jobId)).state, "QUEUED");
    assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 1, delayed: 0 });
  });

  it("a rebalance recommendation mid-job does not hand the job back: it finishes, then the worker takes no more", async () => {
    const b = bed();
    const g = b.asg.group;
    g.setDesiredCapacity(1);
    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "sleep=1500" });
    const w = await b.startWorker({ config: { fleet: { capacityRebalance: false } } });
    await w.events.waitFor("job_phase", (e) => e.jobId === job.jobId && e.phase === "process");
    w.imds.setRebalanceRecommendation();
    await w.events.waitFor("draining");
    const second = await b.submit({ "a.txt": "a" });
    assert.equal(await w.worker.done, "rebalance");
    assert.equal((await b.record(job.jobId)).state, "SUCCEEDED");
    assert.deepEqual(w.events.all("job_interrupted"), []);
    assert.deepEqual(w.events.all("message_received", (e) => e.jobId === second.jobId), []);
    assert.equal(g.desiredCapacity, 1);
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
