import assert from "node:assert/strict";
import { PurgeQueueCommand } from "@aws-sdk/client-sqs";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import type { FleetControl, GroupState } from "../../../core/ports.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../../scripts/local/autoscaling-server.ts";
import { fixtureRequest, postJob, useApiHarness } from "./api-harness.ts";

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

describe("api: the submit's fast path raises desired capacity", () => {
  const h = useApiHarness({ scaling: { fastPath: true } });

  beforeEach(async () => {
    await h().aws.emulators.clients.sqs().send(new PurgeQueueCommand({ QueueUrl: h().aws.resources.queueUrl }));
    assert.equal(await h().queuedMessages(), 0);
  });

  it("asks for as many instances as jobs are queued or running, the new one included", async () => {
    const fleet = new CountingFleet(0, 10);
    const app = h().app({ fleet });

    for (let i = 1; i <= 3; i++) assert.equal((await postJob(app, fixtureRequest())).status, 202);

    assert.deepEqual(fleet.asked, [1, 2, 3]);
    assert.equal(fleet.desired, 3);
    assert.ok(app.log.lines.some((l) => l.event === "fast path" && l.raised === true && l.after === 3));
  });

  it("counts messages in flight (running jobs) too", async () => {
    await postJob(h().app(), fixtureRequest());
    const taken = await h().deps.queue.receive({ waitSeconds: 0, visibilitySeconds: 300 });
    assert.ok(taken, "a worker holds one job");
    const fleet = new CountingFleet(0, 10);

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
    const app = h().app({ fleet });
    assert.equal((await postJob(app, fixtureRequest({ "Use GPU": "yes" }))).status, 400);
    assert.equal((await postJob(app, fixtureRequest(), { "Idempotency-Key": "fast-path-once" })).status, 202);
    assert.equal((await postJob(app, fixtureRequest(), { "Idempotency-Key": "fast-path-once" })).status, 202);
    assert.deepEqual(fleet.asked, [1]);
  });

  it("never fails the submit: a throttled Auto Scaling call is logged and the job stays queued", async () => {
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

  it("does not hold the submit when Auto Scaling does not answer", async () => {
    const hanging: FleetControl = { ...throttledFleet, raiseDesired: () => new Promise(() => undefined) };
    const app = h().app({ fleet: hanging, fastPathTimeoutMs: 20 });

    const res = await postJob(app, fixtureRequest());

    assert.equal(res.status, 202);
    assert.ok(app.log.lines.some((l) => l.level === "warn" && /did not answer within 20 ms/.test(String(l.reason))));
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
      const changes: number[] = [];
      server.group.on("desired_changed", (e) => changes.push(e.after));
      const app = h().app({ fleet });

      for (let i = 0; i < 3; i++) assert.equal((await postJob(app, fixtureRequest())).status, 202);

      assert.equal(server.group.desiredCapacity, 2);
      assert.deepEqual(changes, [1, 2]);
      assert.equal(server.calls.get("SetDesiredCapacity"), 2, "no call once at max");
    });

    it("never lowers desired capacity", async () => {
      const fleet = await groupOf({ minSize: 0, maxSize: 10, desiredCapacity: 4 });

      assert.equal((await postJob(h().app({ fleet }), fixtureRequest())).status, 202);

      assert.equal(server.group.desiredCapacity, 4);
      assert.equal(server.calls.get("SetDesiredCapacity") ?? 0, 0);
    });

    it("an unknown group fails only the fast path, not the submit", async () => {
      await groupOf({ minSize: 0, maxSize: 2, desiredCapacity: 0 });
      const wrong = new AutoScalingFleetControl(clients.autoscaling(), { groupName: "no-such-group" });
      const app = h().app({ fleet: wrong });

      assert.equal((await postJob(app, fixtureRequest())).status, 202);

      assert.ok(app.log.lines.some((l) => l.level === "warn" && /no-such-group/.test(String(l.reason))));
      assert.equal(server.group.desiredCapacity, 0);
    });
  });
});
