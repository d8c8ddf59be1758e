import assert from "node:assert/strict";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import type { GroupActivity } from "../../../core/ports.ts";
import { launchTrouble } from "../../../core/status-reason.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../../scripts/local/autoscaling-server.ts";
import { LocalAutoScalingGroup } from "../../../scripts/local/fleet-group.ts";

const GROUP = "spotq-workers";
const T0 = Date.parse("2026-03-02T10:00:00.000Z");

/**
 * The local fleet answers DescribeScalingActivities as Auto Scaling does, so `statusReason` works
 * locally (issue 11 §4): a launch is one activity from the moment the instance is launched
 * (`PreInService`, `MidLifecycleAction` in the launch hook) to InService (`Successful`); a launch
 * EC2 refuses is `Failed` with EC2's message; an instance that leaves before it was in service ends
 * its launch `Cancelled`; a termination is `InProgress` until the instance is gone. Read through
 * the production adapter (`AutoScalingFleetControl.describeScalingActivities`) over the wire.
 */
describe("Auto Scaling: DescribeScalingActivities of the local fleet through AutoScalingFleetControl", () => {
  let now = T0;
  let server: AutoScalingServer;
  let clients: AwsClients;
  let fleet: AutoScalingFleetControl;
  let group: LocalAutoScalingGroup;
  let seq = 0;

  beforeEach(async () => {
    now = T0;
    seq = 0;
    group = new LocalAutoScalingGroup({
      name: GROUP,
      minSize: 0,
      maxSize: 3,
      managed: true,
      instanceTypes: ["g4dn.xlarge"],
      availabilityZones: ["us-east-1a"],
      clock: () => now,
      newInstanceId: () => `i-0${String(++seq).padStart(16, "0")}`,
    });
    server = await startAutoScalingServer({ group });
    clients = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: server.endpoint } });
    fleet = new AutoScalingFleetControl(clients.autoscaling(), { groupName: GROUP });
  });
  afterEach(async () => {
    clients.destroy();
    await server.stop();
  });

  const brief = (a: GroupActivity) => [a.description, a.statusCode];

  it("a launch: PreInService while Pending, Successful once InService, with the instance's id and zone", async () => {
    group.setDesiredCapacity(1);
    const id = group.instances()[0]!.instanceId;

    const starting = await fleet.describeScalingActivities();
    now += 30_000;
    group.bootCompleted(id);
    const done = await fleet.describeScalingActivities();

    assert.deepEqual(starting.map(brief), [[`Launching a new EC2 instance: ${id}`, "PreInService"]]);
    assert.equal(starting[0]!.endTime, undefined, "not over yet");
    assert.match(starting[0]!.cause ?? "", /in response to a difference between desired and actual capacity, increasing the capacity from 0 to 1\.$/);
    assert.deepEqual(JSON.parse(starting[0]!.details!), { "Availability Zone": "us-east-1a", "Instance Type": "g4dn.xlarge" });
    assert.deepEqual(done.map(brief), [[`Launching a new EC2 instance: ${id}`, "Successful"]], "the same activity, now over");
    assert.equal(done[0]!.activityId, starting[0]!.activityId);
    assert.equal(done[0]!.startTime, new Date(T0).toISOString());
    assert.equal(done[0]!.endTime, new Date(T0 + 30_000).toISOString());
  });

  it("launches EC2 refuses (InsufficientInstanceCapacity): Failed activities with EC2's message, newest first, which status reasons read as Spot capacity short", async () => {
    group.injectLaunchFailure({ code: "InsufficientInstanceCapacity", count: 2 });
    group.setDesiredCapacity(1);
    now += 60_000;
    group.tick(); // the retry, after its backoff: fails again
    now += 120_000;
    group.tick(); // the next one launches
    const id = group.instances()[0]!.instanceId;

    const acts = await fleet.describeScalingActivities({ maxRecords: 10 });

    assert.deepEqual(acts.map((a) => a.statusCode), ["PreInService", "Failed", "Failed"], "newest first");
    assert.equal(acts[0]!.description, `Launching a new EC2 instance: ${id}`);
    const failed = acts[1]!;
    assert.match(failed.description, /^Launching a new EC2 instance\. {2}Status Reason: We currently do not have sufficient g4dn\.xlarge capacity in the Availability Zone you requested \(us-east-1a\)/);
    assert.match(failed.statusMessage ?? "", /^We currently do not have sufficient g4dn\.xlarge capacity/);
    assert.equal(failed.endTime, failed.startTime);
    assert.deepEqual(
      launchTrouble(acts.slice(1), now),
      {
        kind: "capacity",
        count: 2,
        since: T0,
        text: "We currently do not have sufficient g4dn.xlarge capacity in the Availability Zone you requested (us-east-1a).",
        instanceType: "g4dn.xlarge",
        zone: "us-east-1a",
      },
      "the failures alone: launches failing for capacity",
    );
    assert.equal(launchTrouble(acts, now), undefined, "a launch that got an instance since ends the streak, although it is not in service yet");
  });

  it("a termination: InProgress until the instance is gone, then Successful; its launch stays Successful", async () => {
    group.setDesiredCapacity(1);
    const id = group.instances()[0]!.instanceId;
    group.bootCompleted(id);
    now += 60_000;
    group.terminateInstance(id, true);

    const terminating = await fleet.describeScalingActivities();
    now += 10_000;
    group.removeInstance(id);
    const gone = await fleet.describeScalingActivities();

    assert.deepEqual(terminating.map(brief), [
      [`Terminating EC2 instance: ${id}`, "InProgress"],
      [`Launching a new EC2 instance: ${id}`, "Successful"],
    ]);
    assert.deepEqual(gone.map(brief), [
      [`Terminating EC2 instance: ${id}`, "Successful"],
      [`Launching a new EC2 instance: ${id}`, "Successful"],
    ]);
    assert.equal(gone[0]!.endTime, new Date(T0 + 70_000).toISOString());
  });

  it("an instance that fails to boot: its launch ends Cancelled with the cause, and a failed boot is not a launch that worked", async () => {
    group.setDesiredCapacity(1);
    const id = group.instances()[0]!.instanceId;
    now += 5_000;
    group.serviceFailed(id, "user data exited 3 (preflight failed)");

    const acts = await fleet.describeScalingActivities();

    const launch = acts.find((a) => a.description === `Launching a new EC2 instance: ${id}`);
    assert.equal(launch?.statusCode, "Cancelled");
    assert.match(launch?.statusMessage ?? "", /left before it was in service: .*user data exited 3 \(preflight failed\)/);
    const replacement = group.instances().find((i) => i.instanceId !== id)!;
    assert.deepEqual(brief(acts[0]!), [`Launching a new EC2 instance: ${replacement.instanceId}`, "PreInService"], "a replacement is launched at once");
    assert.equal(launchTrouble(acts.slice(1), now)?.kind, "other", "before the replacement: status reasons see launches failing");
  });

  it("a launch through the launch hook is MidLifecycleAction while it waits", async () => {
    const hooked = new LocalAutoScalingGroup({
      name: "hooked",
      minSize: 0,
      maxSize: 1,
      managed: true,
      lifecycleHooks: { launch: { name: "launch-hook", heartbeatTimeoutSeconds: 600, defaultResult: "ABANDON" } },
      clock: () => now,
    });
    const s = await startAutoScalingServer({ group: hooked });
    try {
      const port = new AutoScalingFleetControl(clients.autoscaling(), { groupName: "hooked" });
      const other = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: s.endpoint } });
      try {
        const hookedPort = new AutoScalingFleetControl(other.autoscaling(), { groupName: "hooked" });
        hooked.setDesiredCapacity(1);
        hooked.bootCompleted(hooked.instances()[0]!.instanceId);
        assert.deepEqual((await hookedPort.describeScalingActivities()).map((a) => a.statusCode), ["MidLifecycleAction"]);
        assert.deepEqual(await port.describeScalingActivities(), [], "another group's endpoint: none of its activities");
      } finally {
        other.destroy();
      }
    } finally {
      await s.stop();
    }
  });
});
