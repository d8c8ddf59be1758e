import assert from "node:assert/strict";
import { DescribeAutoScalingGroupsCommand, SetDesiredCapacityCommand, type AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { PurgeQueueCommand } from "@aws-sdk/client-sqs";
import { fastPathFor, FastPathCoalescer } from "../../../api/fast-path.ts";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import type { FleetControl, GroupState, JobQueue, QueueDepth } from "../../../core/ports.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../../scripts/local/autoscaling-server.ts";
import { captureLog, fixtureRequest, postJob, useApiHarness } from "./api-harness.ts";

/** Rounds in tests come this often, so a test waits tens of milliseconds, not seconds. */
const INTERVAL_MS = 40;

/** A group of fixed max that records every raiseDesired and applies it as Auto Scaling would. */
class CountingFleet implements FleetControl {
  readonly asked: number[] = [];
  desired: number;
  constructor(
    desired: number,
    readonly maxSize: number,
  ) {
    this.desired = desired;
  }
  async raiseDesired(atLeast: number) {
    this.asked.push(atLeast);
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

/** Auto Scaling refusing the call as it does under load. */
const throttledFleet: FleetControl = {
  async raiseDesired() {
    throw Object.assign(new Error("Auto Scaling raise desired capacity of spotq-workers from 0 to 1 failed: Rate exceeded"), {
      name: "ThrottlingException",
    });
  },
  async describeGroup(): Promise<GroupState> {
    throw new Error("not used");
  },
  async protect() {},
  async terminate() {},
  async setHealth() {},
  async completeLifecycleAction() {},
  async recordLifecycleHeartbeat() {},
};

/** A queue whose depth the test sets. */
function queueOfDepth(depth: QueueDepth): JobQueue & { depth(): Promise<QueueDepth>; reads: number } {
  const q = {
    reads: 0,
    async depth() {
      q.reads++;
      return { ...depth };
    },
  };
  return q as unknown as JobQueue & { depth(): Promise<QueueDepth>; reads: number };
}

describe("api: the submit's fast path raises desired capacity", () => {
  const h = useApiHarness({ scaling: { fastPath: true } });
  /** A coalescer with a short interval for this fleet (the app then uses it). */
  const coalesce = (fleet: FleetControl, options: { timeoutMs?: number } = {}) => fastPathFor(fleet, h().deps.queue, { minIntervalMs: INTERVAL_MS, ...options });
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeEach(async () => {
    await h().aws.emulators.clients.sqs().send(new PurgeQueueCommand({ QueueUrl: h().aws.resources.queueUrl }));
    assert.equal(await h().queuedMessages(), 0);
  });

  it("asks for as many instances as jobs are queued or running, the new one included", async () => {
    const fleet = new CountingFleet(0, 10);
    const fast = coalesce(fleet);
    const app = h().app({ fleet });

    for (let i = 1; i <= 3; i++) {
      assert.equal((await postJob(app, fixtureRequest())).status, 202);
      await fast.idle();
      await pause(INTERVAL_MS); // the next submit starts a round of its own
    }

    assert.deepEqual(fleet.asked, [1, 2, 3]);
    assert.equal(fleet.desired, 3);
    assert.ok(app.log.lines.some((l) => l.event === "fast path" && l.raised === true && l.after === 3));
  });

  it("counts messages in flight (running jobs) too", async () => {
    await postJob(h().app(), fixtureRequest());
    const taken = await h().deps.queue.receive({ waitSeconds: 0, visibilitySeconds: 300 });
    assert.ok(taken, "a worker holds one job");
    const fleet = new CountingFleet(0, 10);
    coalesce(fleet);

    await postJob(h().app({ fleet }), fixtureRequest());

    assert.deepEqual(fleet.asked, [2]);
  });

  it("is off when scaling.fastPath is false", async () => {
    const fleet = new CountingFleet(0, 10);
    const config = { ...h().deps.config, scaling: { ...h().deps.config.scaling, fastPath: false } };
    assert.equal((await postJob(h().app({ fleet, config }), fixtureRequest())).status, 202);
    assert.deepEqual(fleet.asked, []);
  });

  it("does not run for a refused submit or an idempotent replay", async () => {
    const fleet = new CountingFleet(0, 10);
    const fast = coalesce(fleet);
    const app = h().app({ fleet });
    assert.equal((await postJob(app, fixtureRequest({ "Use GPU": "yes" }))).status, 400);
    assert.equal((await postJob(app, fixtureRequest(), { "Idempotency-Key": "fast-path-once" })).status, 202);
    assert.equal((await postJob(app, fixtureRequest(), { "Idempotency-Key": "fast-path-once" })).status, 202);
    await fast.idle();
    assert.deepEqual(fleet.asked, [1]);
    assert.equal(fast.stats.rounds, 1);
  });

  it("never fails the submit: a throttled Auto Scaling call is logged and the job stays queued", async () => {
    coalesce(throttledFleet);
    const app = h().app({ fleet: throttledFleet });

    const res = await postJob(app, fixtureRequest());

    assert.equal(res.status, 202);
    const { jobId } = (await res.json()) as { jobId: string };
    assert.equal((await h().deps.store.get(jobId))?.state, "QUEUED");
    assert.equal(await h().queuedMessages(), 1);
    const warn = app.log.lines.find((l) => l.level === "warn" && l.event.startsWith("fast path failed"));
    assert.ok(warn, JSON.stringify(app.log.lines));
    assert.equal(warn.jobId, jobId);
    assert.match(String(warn.reason), /^ThrottlingException: .*Rate exceeded/);
  });

  it("does not hold the submit when Auto Scaling does not answer, and a later round runs again", async () => {
    let calls = 0;
    const hanging: FleetControl = {
      ...throttledFleet,
      raiseDesired: () => {
        calls++;
        return new Promise(() => undefined);
      },
    };
    const fast = coalesce(hanging, { timeoutMs: 20 });
    const app = h().app({ fleet: hanging });

    const res = await postJob(app, fixtureRequest());

    assert.equal(res.status, 202);
    assert.ok(app.log.lines.some((l) => l.level === "warn" && /did not answer within 20 ms/.test(String(l.reason))));
    await pause(INTERVAL_MS);
    await postJob(app, fixtureRequest());
    await fast.idle();
    assert.equal(calls, 2, "a round that timed out does not block the next");
  });

  describe("coalesced: at most one round per interval under any submit rate, and a burst still gets its capacity", () => {
    it("a burst of concurrent submits makes a handful of rounds and ends at its backlog", async () => {
      const fleet = new CountingFleet(0, 1000);
      const fast = coalesce(fleet);
      const app = h().app({ fleet });
      const started = Date.now();

      const answers = await Promise.all(Array.from({ length: 40 }, () => postJob(app, fixtureRequest())));
      await fast.idle();
      const elapsed = Date.now() - started;

      assert.ok(answers.every((r) => r.status === 202));
      assert.equal(fleet.desired, 40, "the burst got its capacity");
      const bound = Math.ceil(elapsed / INTERVAL_MS) + 1;
      assert.ok(fast.stats.rounds <= bound, `${fast.stats.rounds} rounds in ${elapsed} ms (bound ${bound})`);
      assert.ok(fleet.asked.length <= fast.stats.rounds);
      assert.ok(fast.stats.coalesced >= 40 - fast.stats.rounds);
      console.log(`      40 concurrent submits: ${fast.stats.rounds} rounds, ${fleet.asked.length} Auto Scaling raises in ${elapsed} ms`);
    });

    it("one round per interval, whatever the rate (a stub queue, 500 requests)", async () => {
      const fleet = new CountingFleet(0, 1000);
      const queue = queueOfDepth({ visible: 0, inFlight: 0, delayed: 0 });
      const fast = new FastPathCoalescer(fleet, queue, { minIntervalMs: INTERVAL_MS });
      const log = captureLog();
      const started = Date.now();
      for (let i = 1; i <= 500; i++) {
        (queue as unknown as { depth: () => Promise<QueueDepth> }).depth = async () => ({ visible: i, inFlight: 0, delayed: 0 });
        void fast.request(log, { jobId: `j${i}` });
        if (i % 50 === 0) await pause(5);
      }
      await fast.idle();
      const elapsed = Date.now() - started;
      assert.equal(fleet.desired, 500);
      assert.ok(fast.stats.rounds <= Math.ceil(elapsed / INTERVAL_MS) + 1, `${fast.stats.rounds} rounds in ${elapsed} ms`);
    });

    it("makes no Auto Scaling call while the desired capacity it saw within the interval covers the backlog", async () => {
      const fleet = new CountingFleet(0, 10);
      const queue = queueOfDepth({ visible: 4, inFlight: 0, delayed: 0 });
      const fast = new FastPathCoalescer(fleet, queue, { minIntervalMs: 10, knownDesiredTtlMs: 10_000 });
      const log = captureLog();
      assert.deepEqual(await fast.request(log, { jobId: "a" }), { raised: true, wanted: 4, before: 0, after: 4 });
      await pause(15);
      assert.deepEqual(await fast.request(log, { jobId: "b" }), { raised: false, wanted: 4, before: 4, after: 4, cached: true });
      assert.deepEqual(fleet.asked, [4]);
    });
  });

  describe("through AutoScalingFleetControl and the local Auto Scaling endpoint", () => {
    let server: AutoScalingServer;
    let clients: AwsClients;
    afterEach(async () => {
      clients.destroy();
      await server.stop();
    });

    async function groupOf(options: { minSize: number; maxSize: number; desiredCapacity: number }) {
      server = await startAutoScalingServer({ group: { name: "spotq-workers", ...options } });
      clients = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: server.endpoint } });
      return new AutoScalingFleetControl(clients.autoscaling(), { groupName: "spotq-workers" });
    }

    it("raises a group at zero to the backlog, capped at the group's max", async () => {
      const fleet = await groupOf({ minSize: 0, maxSize: 2, desiredCapacity: 0 });
      const fast = coalesce(fleet);
      const changes: number[] = [];
      server.group.on("desired_changed", (e) => changes.push(e.after));
      const app = h().app({ fleet });

      for (let i = 0; i < 3; i++) assert.equal((await postJob(app, fixtureRequest())).status, 202);
      await fast.idle();

      assert.equal(server.group.desiredCapacity, 2);
      assert.deepEqual(changes, [1, 2]);
      assert.equal(server.calls.get("SetDesiredCapacity"), 2, "no call once at max");
    });

    it("never lowers desired capacity", async () => {
      const fleet = await groupOf({ minSize: 0, maxSize: 10, desiredCapacity: 4 });
      coalesce(fleet);

      assert.equal((await postJob(h().app({ fleet }), fixtureRequest())).status, 202);

      assert.equal(server.group.desiredCapacity, 4);
      assert.equal(server.calls.get("SetDesiredCapacity") ?? 0, 0);
    });

    it("concurrent submits never lower desired capacity, and end at the backlog", async () => {
      const fleet = await groupOf({ minSize: 0, maxSize: 50, desiredCapacity: 0 });
      const fast = coalesce(fleet);
      const seen: { before: number; after: number }[] = [];
      server.group.on("desired_changed", (e) => seen.push({ before: e.before, after: e.after }));
      const app = h().app({ fleet });

      await Promise.all(Array.from({ length: 25 }, () => postJob(app, fixtureRequest())));
      await fast.idle();

      assert.equal(server.group.desiredCapacity, 25);
      for (const c of seen) assert.ok(c.after > c.before, `desired went ${c.before} -> ${c.after}: ${JSON.stringify(seen)}`);
    });

    it("concurrent raiseDesired calls in one process never lower it, and share rounds", async () => {
      const fleet = await groupOf({ minSize: 0, maxSize: 20, desiredCapacity: 0 });
      const seen: { before: number; after: number }[] = [];
      server.group.on("desired_changed", (e) => seen.push({ before: e.before, after: e.after }));

      await Promise.all([5, 3, 7, 1, 6, 2, 4].map((n) => fleet.raiseDesired(n)));

      assert.equal(server.group.desiredCapacity, 7);
      for (const c of seen) assert.ok(c.after > c.before, JSON.stringify(seen));
      assert.ok((server.calls.get("DescribeAutoScalingGroups") ?? 0) <= 2, "seven concurrent calls: at most two rounds");
    });

    it("an unknown group fails only the fast path, not the submit", async () => {
      await groupOf({ minSize: 0, maxSize: 2, desiredCapacity: 0 });
      const wrong = new AutoScalingFleetControl(clients.autoscaling(), { groupName: "no-such-group" });
      coalesce(wrong);
      const app = h().app({ fleet: wrong });

      assert.equal((await postJob(app, fixtureRequest())).status, 202);

      assert.ok(app.log.lines.some((l) => l.level === "warn" && /no-such-group/.test(String(l.reason))));
      assert.equal(server.group.desiredCapacity, 0);
    });
  });

  describe("against a stub Auto Scaling that interleaves describe and set", () => {
    /**
     * Each call yields to the event loop before it answers, so two raises in flight would both
     * describe before either sets: a read-modify-write that is not serialized lowers desired.
     */
    function interleavingClient() {
      const state = { desired: 0, max: 50, history: [] as number[], describes: 0, sets: 0 };
      const client = {
        async send(command: unknown) {
          await new Promise((r) => setImmediate(r));
          if (command instanceof DescribeAutoScalingGroupsCommand) {
            state.describes++;
            const desired = state.desired;
            await new Promise((r) => setImmediate(r));
            return { AutoScalingGroups: [{ AutoScalingGroupName: "g", MinSize: 0, MaxSize: state.max, DesiredCapacity: desired, Instances: [] }] };
          }
          if (command instanceof SetDesiredCapacityCommand) {
            state.sets++;
            state.desired = command.input.DesiredCapacity!;
            state.history.push(state.desired);
            return {};
          }
          throw new Error(`unexpected ${(command as object).constructor.name}`);
        },
      };
      return { state, client: client as unknown as AutoScalingClient };
    }

    it("never lowers desired capacity under concurrent raises", async () => {
      const { state, client } = interleavingClient();
      const fleet = new AutoScalingFleetControl(client, { groupName: "g" });

      // Two waves: the second arrives while the first round is between its describe and its set.
      const first = [9, 4].map((n) => fleet.raiseDesired(n));
      await new Promise((r) => setImmediate(r));
      const second = [2, 12, 3].map((n) => fleet.raiseDesired(n));
      await Promise.all([...first, ...second]);

      assert.equal(state.desired, 12);
      for (let i = 1; i < state.history.length; i++) assert.ok(state.history[i]! > state.history[i - 1]!, `desired history ${state.history.join(" -> ")}`);
      assert.ok(state.describes <= 2, `${state.describes} describes for 5 concurrent raises`);
    });
  });
});
