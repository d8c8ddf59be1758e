import assert from "node:assert/strict";
import { CreateOrUpdateTagsCommand, SuspendProcessesCommand } from "@aws-sdk/client-auto-scaling";
import { QueueDepthSampler } from "../../../api/console/queue-depth-sampler.ts";
import type { FleetAnswer } from "../../../api/fleet-view.ts";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import type { AlarmStates } from "../../../core/console-ports.ts";
import { BREAKER_TAG } from "../../../core/names.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../../scripts/local/autoscaling-server.ts";
import { LIFECYCLE } from "../../../scripts/local/fleet-group.ts";
import { captureLog, fixtureRequest, postJob, useApiHarness } from "./api-harness.ts";

describe("api: GET /fleet on the emulators and the local Auto Scaling endpoint", () => {
  const h = useApiHarness();
  let server: AutoScalingServer;
  let clients: AwsClients;
  let group: AutoScalingFleetControl;

  before(async () => {
    server = await startAutoScalingServer({ group: { name: "spotq-workers", minSize: 0, maxSize: 4, desiredCapacity: 2 } });
    // A group on its own launches nothing: its two instances are added by hand, one in service.
    server.group.addInstance("i-0aaaaaaaaaaaaaaa1", Date.now());
    server.group.addInstance("i-0bbbbbbbbbbbbbbb2", Date.now());
    server.group.setLifecycleState("i-0bbbbbbbbbbbbbbb2", LIFECYCLE.inService);
    server.group.setInstanceProtection(["i-0aaaaaaaaaaaaaaa1"], false);
    clients = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: server.endpoint } });
    group = new AutoScalingFleetControl(clients.autoscaling(), { groupName: "spotq-workers" });
  });
  after(async () => {
    clients?.destroy();
    await server?.stop();
  });

  const alarms: AlarmStates = {
    list: async () => [{ name: "spotq-backlog-deficit", state: "ALARM", reason: "Threshold Crossed: 1 datapoint [3.0] was >= 1.0", updatedAt: "2026-01-01T10:00:00.000Z" }],
  };

  async function fleet(overrides = {}): Promise<FleetAnswer> {
    const res = await h().app({ console: { group, alarms, ...overrides } }).request("/fleet");
    assert.equal(res.status, 200);
    return (await res.json()) as FleetAnswer;
  }

  it("shows desired, min and max; every instance with state, health, protection; and which job runs where", async () => {
    const instances = ["i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"];
    const res = await postJob(h().app(), fixtureRequest());
    const { jobId } = (await res.json()) as { jobId: string };
    await h().deps.store.transition(jobId, { state: "QUEUED", attempts: 0 }, "RUNNING", { attempts: 1, instanceId: instances[1] });

    const view = await fleet();

    assert.deepEqual(view.group, { name: "spotq-workers", minSize: 0, maxSize: 4, desiredCapacity: 2, launchTemplateVersion: "1", suspendedProcesses: [] });
    assert.deepEqual(
      view.instances.map((i) => [i.instanceId, i.lifecycleState, i.healthStatus, i.protectedFromScaleIn, i.jobId]),
      [
        [instances[0], "Pending", "Healthy", false, undefined],
        [instances[1], "InService", "Healthy", true, jobId],
      ],
    );
    assert.ok(view.instances.every((i) => i.availabilityZone && i.instanceType));
    assert.deepEqual(view.breaker, { open: false, launchSuspended: false });
    assert.deepEqual(view.alarms, await alarms.list());
    assert.deepEqual(view.unavailable, [{ part: "queueHistory", reason: "queue depth history is not configured for this API" }]);
    assert.ok(view.queue.depth && view.queue.depth.visible + view.queue.depth.inFlight + view.queue.depth.delayed >= 0);
  });

  it("shows the boot breaker: Launch suspended and the reason from its tag", async () => {
    const trip = { trippedAt: "2026-01-01T10:00:00.000Z", failures: 3, windowSeconds: 900, reason: "3 failed boots in 900 s: preflight failed (exit 3)" };
    const as = clients.autoscaling();
    await as.send(new SuspendProcessesCommand({ AutoScalingGroupName: "spotq-workers", ScalingProcesses: ["Launch"] }));
    await as.send(
      new CreateOrUpdateTagsCommand({
        Tags: [{ ResourceId: "spotq-workers", ResourceType: "auto-scaling-group", Key: BREAKER_TAG, Value: JSON.stringify(trip), PropagateAtLaunch: false }],
      }),
    );

    const view = await fleet();

    assert.deepEqual(view.breaker, { open: true, launchSuspended: true, ...trip });
    assert.deepEqual(view.group?.suspendedProcesses, ["Launch"]);
  });

  it("answers the parts it can when one fails, naming the failed part and only the error's kind", async () => {
    const log = captureLog();
    const failing: AlarmStates = {
      list: async () => {
        throw Object.assign(new Error("User: arn:aws:sts::111122223333:assumed-role/spotq-api is not authorized to perform: cloudwatch:DescribeAlarms"), {
          name: "AccessDenied",
        });
      },
    };
    const sampler = new QueueDepthSampler({ sample: async () => ({ visible: 0, inFlight: 0, delayed: 0 }) });
    const app = h().app({ console: { group, alarms: failing, queueHistory: sampler }, log });
    const first = (await (await app.request("/fleet")).json()) as FleetAnswer;
    await app.request("/fleet");

    assert.deepEqual(first.unavailable, [{ part: "alarms", reason: "AccessDenied" }]);
    assert.equal(first.alarms, undefined);
    assert.equal(first.group?.name, "spotq-workers", "the group is still shown");
    assert.doesNotMatch(JSON.stringify(first), /111122223333/, "no account id or role in the answer");
    assert.equal(log.lines.filter((l) => l.event === "fleet view part unavailable").length, 1, "logged once, not at every poll");
  });

  it("says the group is unavailable (and still answers 200) when the API has none", async () => {
    const view = await fleet({ group: undefined });
    assert.equal(view.group, undefined);
    assert.deepEqual(view.instances, []);
    assert.deepEqual(view.unavailable.map((u) => u.part), ["group", "queueHistory"]);
  });

  it("charts the queue's depth from the local sampler: one point per sample, the last hour only", async () => {
    let now = Date.parse("2026-01-01T10:00:00.000Z");
    const depths = [
      { visible: 4, inFlight: 0, delayed: 0 },
      { visible: 1, inFlight: 2, delayed: 1 },
    ];
    const sampler = new QueueDepthSampler({ sample: async () => depths.shift()!, now: () => now, intervalMs: 60_000 });
    await sampler.sampleNow();
    now += 60_000;
    await sampler.sampleNow();

    const view = await fleet({ queueHistory: sampler });
    assert.deepEqual(view.queue.history, {
      periodSeconds: 60,
      points: [
        { at: "2026-01-01T10:00:00.000Z", visible: 4, inFlight: 0 },
        { at: "2026-01-01T10:01:00.000Z", visible: 1, inFlight: 2 },
      ],
    });
    now += 3_600_000;
    assert.deepEqual((await sampler.lastHour()).points, [], "an hour later both are gone");
  });
});
