import assert from "node:assert/strict";
import {
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  type AutoScalingClient,
} from "@aws-sdk/client-auto-scaling";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../../scripts/local/autoscaling-server.ts";
import { LIFECYCLE, type GroupEvents } from "../../../scripts/local/fleet-group.ts";

const GROUP = "spotq-workers";

describe("Auto Scaling: the SDK and AutoScalingFleetControl against the local endpoint", () => {
  let server: AutoScalingServer;
  let clients: AwsClients;
  let sdk: AutoScalingClient;
  let fleet: AutoScalingFleetControl;

  /** A group of min 1, max 5, desired 3 with three instances: two InService, one Pending. */
  beforeEach(async () => {
    server = await startAutoScalingServer({ group: { name: GROUP, minSize: 1, maxSize: 5, desiredCapacity: 3 } });
    for (const id of ["i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2", "i-0aaaaaaaaaaaaaaa3"]) server.group.addInstance(id);
    server.group.setLifecycleState("i-0aaaaaaaaaaaaaaa1", LIFECYCLE.inService);
    server.group.setLifecycleState("i-0aaaaaaaaaaaaaaa2", LIFECYCLE.inService);
    clients = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: server.endpoint } });
    sdk = clients.autoscaling();
    fleet = new AutoScalingFleetControl(sdk, { groupName: GROUP });
  });
  afterEach(async () => {
    clients.destroy();
    await server.stop();
  });

  /** Collects one kind of group event for the test's duration. */
  function record<K extends keyof GroupEvents>(event: K): GroupEvents[K][0][] {
    const seen: GroupEvents[K][0][] = [];
    server.group.on(event, ((e: GroupEvents[K][0]) => seen.push(e)) as never);
    return seen;
  }

  describe("DescribeAutoScalingGroups", () => {
    it("reports sizes and every instance with its lifecycle state and protection (new ones protected)", async () => {
      const g = await fleet.describeGroup();
      assert.deepEqual(
        { name: g.name, min: g.minSize, max: g.maxSize, desired: g.desiredCapacity },
        { name: GROUP, min: 1, max: 5, desired: 3 },
      );
      assert.deepEqual(
        g.instances.map((i) => [i.instanceId, i.lifecycleState, i.protectedFromScaleIn]),
        [
          ["i-0aaaaaaaaaaaaaaa1", "InService", true],
          ["i-0aaaaaaaaaaaaaaa2", "InService", true],
          ["i-0aaaaaaaaaaaaaaa3", "Pending", true],
        ],
      );
    });

    it("parses every field the SDK requires from the raw response", async () => {
      const r = await sdk.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [GROUP] }));
      const g = r.AutoScalingGroups?.[0];
      assert.ok(g);
      assert.equal(g.AutoScalingGroupName, GROUP);
      assert.match(g.AutoScalingGroupARN ?? "", /^arn:aws:autoscaling:us-east-1:\d{12}:autoScalingGroup:.+:autoScalingGroupName\/spotq-workers$/);
      assert.deepEqual(g.AvailabilityZones, ["us-east-1a"]);
      assert.equal(g.HealthCheckType, "EC2");
      assert.ok(g.CreatedTime instanceof Date && !Number.isNaN(g.CreatedTime.getTime()), "CreatedTime parses as a date");
      assert.equal(g.NewInstancesProtectedFromScaleIn, true);
      assert.equal(g.Instances?.[0]?.HealthStatus, "Healthy");
      assert.equal(g.Instances?.[0]?.InstanceType, "g4dn.xlarge");
      assert.deepEqual(g.TerminationPolicies, ["Default"]);
    });

    it("answers an unknown group with an empty list, which the adapter reports as not found", async () => {
      const r = await sdk.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ["nope"] }));
      assert.deepEqual(r.AutoScalingGroups, []);
      const other = new AutoScalingFleetControl(sdk, { groupName: "nope" });
      await assert.rejects(other.describeGroup(), (e: Error & { code?: string }) => e.code === "GROUP_NOT_FOUND" && /nope/.test(e.message));
    });
  });

  describe("DescribeAutoScalingInstances", () => {
    it("describes the asked instances with their group, state and protection", async () => {
      const r = await sdk.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: ["i-0aaaaaaaaaaaaaaa3", "i-0ffffffffffffffff"] }));
      assert.deepEqual(
        r.AutoScalingInstances?.map((i) => [i.InstanceId, i.AutoScalingGroupName, i.LifecycleState, i.ProtectedFromScaleIn, i.HealthStatus]),
        [["i-0aaaaaaaaaaaaaaa3", GROUP, "Pending", true, "HEALTHY"]],
      );
      const all = await sdk.send(new DescribeAutoScalingInstancesCommand({}));
      assert.equal(all.AutoScalingInstances?.length, 3);
    });
  });

  describe("SetInstanceProtection", () => {
    it("lifts and sets protection of one instance, leaving the others", async () => {
      const changes = record("protection_changed");
      await fleet.protect("i-0aaaaaaaaaaaaaaa2", false);
      let g = await fleet.describeGroup();
      assert.deepEqual(
        g.instances.map((i) => i.protectedFromScaleIn),
        [true, false, true],
      );
      await fleet.protect("i-0aaaaaaaaaaaaaaa2", true);
      g = await fleet.describeGroup();
      assert.equal(g.instances[1].protectedFromScaleIn, true);
      assert.deepEqual(changes, [
        { instanceIds: ["i-0aaaaaaaaaaaaaaa2"], protectedFromScaleIn: false },
        { instanceIds: ["i-0aaaaaaaaaaaaaaa2"], protectedFromScaleIn: true },
      ]);
    });

    it("refuses an instance that is not in the group, naming it, as a ValidationError", async () => {
      await assert.rejects(fleet.protect("i-0ffffffffffffffff", true), (e: Error) => {
        assert.equal(e.name, "ValidationError");
        assert.match(e.message, /unprotect|protect instance i-0ffffffffffffffff/);
        assert.match(e.message, /The instance i-0ffffffffffffffff is not part of Auto Scaling group spotq-workers/);
        return true;
      });
    });

    it("refuses an unknown group", async () => {
      const other = new AutoScalingFleetControl(sdk, { groupName: "nope" });
      await assert.rejects(other.protect("i-0aaaaaaaaaaaaaaa1", true), (e: Error) => e.name === "ValidationError" && /AutoScalingGroup name not found/.test(e.message));
    });
  });

  describe("TerminateInstanceInAutoScalingGroup", () => {
    it("without decrement: the instance is Terminating, desired stays (a replacement is due)", async () => {
      const requests = record("terminate_requested");
      const desired = record("desired_changed");
      await fleet.terminate("i-0aaaaaaaaaaaaaaa1", false);
      const g = await fleet.describeGroup();
      assert.equal(g.desiredCapacity, 3);
      assert.equal(g.instances.find((i) => i.instanceId === "i-0aaaaaaaaaaaaaaa1")?.lifecycleState, "Terminating");
      assert.deepEqual(
        requests.map((r) => [r.instanceId, r.decrement]),
        [["i-0aaaaaaaaaaaaaaa1", false]],
      );
      assert.deepEqual(desired, []);
    });

    it("with decrement: desired goes down by one, reported as self-terminate", async () => {
      const desired = record("desired_changed");
      await fleet.terminate("i-0aaaaaaaaaaaaaaa1", true);
      assert.equal((await fleet.describeGroup()).desiredCapacity, 2);
      assert.deepEqual(desired, [{ before: 3, after: 2, reason: "self-terminate" }]);
    });

    it("returns the scaling activity, which the SDK parses", async () => {
      const r = await sdk.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: "i-0aaaaaaaaaaaaaaa2", ShouldDecrementDesiredCapacity: true }));
      assert.equal(r.Activity?.AutoScalingGroupName, GROUP);
      assert.equal(r.Activity?.StatusCode, "InProgress");
      assert.match(r.Activity?.Cause ?? "", /i-0aaaaaaaaaaaaaaa2 was taken out of service in response to a user request, shrinking the capacity from 3 to 2/);
      assert.ok(r.Activity?.StartTime instanceof Date);
    });

    it("refuses a decrement that would take desired below min, with AWS's message, and changes nothing", async () => {
      server.group.setDesiredCapacity(1);
      await assert.rejects(fleet.terminate("i-0aaaaaaaaaaaaaaa1", true), (e: Error) => {
        assert.equal(e.name, "ValidationError", "callers tell this case by the SDK's error name");
        assert.match(e.message, /Currently, desiredSize equals minSize \(1\)\. Terminating instance without replacement will violate group's min size constraint/);
        assert.match(e.message, /terminate instance i-0aaaaaaaaaaaaaaa1 with decrement/);
        return true;
      });
      const g = await fleet.describeGroup();
      assert.equal(g.desiredCapacity, 1);
      assert.equal(g.instances[0].lifecycleState, "InService");
      // Without decrement the same call is fine: the group replaces the instance.
      await fleet.terminate("i-0aaaaaaaaaaaaaaa1", false);
      assert.equal((await fleet.describeGroup()).instances[0].lifecycleState, "Terminating");
    });

    it("does not decrement twice when asked again for an instance already Terminating", async () => {
      await fleet.terminate("i-0aaaaaaaaaaaaaaa1", true);
      await fleet.terminate("i-0aaaaaaaaaaaaaaa1", true);
      assert.equal((await fleet.describeGroup()).desiredCapacity, 2);
    });

    it("refuses an instance that is not in the group", async () => {
      await assert.rejects(
        fleet.terminate("i-0ffffffffffffffff", false),
        (e: Error) => e.name === "ValidationError" && /Instance Id not found - No managed instance found for instance ID: i-0ffffffffffffffff/.test(e.message),
      );
    });

    it("refuses a call without ShouldDecrementDesiredCapacity, which AWS requires", async () => {
      const res = await fetch(server.endpoint, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "Action=TerminateInstanceInAutoScalingGroup&Version=2011-01-01&InstanceId=i-0aaaaaaaaaaaaaaa1",
      });
      assert.equal(res.status, 400);
      assert.match(await res.text(), /<Code>ValidationError<\/Code>.*shouldDecrementDesiredCapacity/s);
    });
  });

  describe("SetDesiredCapacity and raiseDesired", () => {
    it("raises desired capacity and reports before and after", async () => {
      const desired = record("desired_changed");
      assert.deepEqual(await fleet.raiseDesired(4), { before: 3, after: 4 });
      assert.equal((await fleet.describeGroup()).desiredCapacity, 4);
      assert.deepEqual(desired, [{ before: 3, after: 4, reason: "api" }]);
    });

    it("never lowers desired capacity", async () => {
      const calls = server.calls.get("SetDesiredCapacity") ?? 0;
      assert.deepEqual(await fleet.raiseDesired(1), { before: 3, after: 3 });
      assert.equal((await fleet.describeGroup()).desiredCapacity, 3);
      assert.equal(server.calls.get("SetDesiredCapacity") ?? 0, calls, "no SetDesiredCapacity call when nothing rises");
    });

    it("caps at the group's max size", async () => {
      assert.deepEqual(await fleet.raiseDesired(50), { before: 3, after: 5 });
      assert.deepEqual(await fleet.raiseDesired(50), { before: 5, after: 5 });
    });

    it("refuses a value outside [min, max] with AWS's messages", async () => {
      await assert.rejects(
        sdk.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: GROUP, DesiredCapacity: 6 })),
        (e: Error) => e.name === "ValidationError" && e.message === "New SetDesiredCapacity value 6 is above max value 5 for the AutoScalingGroup.",
      );
      await assert.rejects(
        sdk.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: GROUP, DesiredCapacity: 0 })),
        (e: Error) => e.name === "ValidationError" && e.message === "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup.",
      );
      assert.equal((await fleet.describeGroup()).desiredCapacity, 3);
    });

    it("lowers desired capacity when asked directly (scale-in is then the group's job)", async () => {
      await sdk.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: GROUP, DesiredCapacity: 1, HonorCooldown: false }));
      assert.equal((await fleet.describeGroup()).desiredCapacity, 1);
    });

    it("refuses an unknown group", async () => {
      const other = new AutoScalingFleetControl(sdk, { groupName: "nope" });
      await assert.rejects(other.raiseDesired(2), (e: Error & { code?: string }) => e.code === "GROUP_NOT_FOUND");
      await assert.rejects(
        sdk.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: "nope", DesiredCapacity: 2 })),
        (e: Error) => e.name === "ValidationError" && /AutoScalingGroup name not found/.test(e.message),
      );
    });
  });

  describe("wire protocol", () => {
    it("answers an unknown action with an XML InvalidAction error", async () => {
      const res = await fetch(server.endpoint, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "Action=DeleteAutoScalingGroup&Version=2011-01-01&AutoScalingGroupName=spotq-workers",
      });
      assert.equal(res.status, 400);
      const body = await res.text();
      assert.match(body, /^<ErrorResponse xmlns="http:\/\/autoscaling\.amazonaws\.com\/doc\/2011-01-01\/"><Error><Type>Sender<\/Type><Code>InvalidAction<\/Code>/);
      assert.match(body, /<RequestId>[0-9a-f-]{36}<\/RequestId>/);
    });

    it("escapes values in XML", async () => {
      const evil = await startAutoScalingServer({ group: { name: "a&b<c>", minSize: 0, maxSize: 1 } });
      try {
        const c = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: evil.endpoint } });
        const g = await new AutoScalingFleetControl(c.autoscaling(), { groupName: "a&b<c>" }).describeGroup();
        assert.equal(g.name, "a&b<c>");
        c.destroy();
      } finally {
        await evil.stop();
      }
    });
  });
});
