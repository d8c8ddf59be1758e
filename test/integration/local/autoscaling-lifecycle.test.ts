import assert from "node:assert/strict";
import {
  CancelInstanceRefreshCommand,
  CreateOrUpdateTagsCommand,
  DeleteTagsCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeInstanceRefreshesCommand,
  DescribeLifecycleHooksCommand,
  DescribeScalingActivitiesCommand,
  ResumeProcessesCommand,
  StartInstanceRefreshCommand,
  SuspendProcessesCommand,
  type AutoScalingClient,
} from "@aws-sdk/client-auto-scaling";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import { BREAKER_TAG } from "../../../core/names.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../../scripts/local/autoscaling-server.ts";
import { LocalAutoScalingGroup } from "../../../scripts/local/fleet-group.ts";

const GROUP = "spotq-workers";
const LAUNCH_HOOK = "spotq-launching";
const TERMINATE_HOOK = "spotq-terminating";

describe("Auto Scaling: lifecycle, health, processes, tags and instance refresh through the SDK", () => {
  let server: AutoScalingServer;
  let group: LocalAutoScalingGroup;
  let clients: AwsClients;
  let sdk: AutoScalingClient;
  let fleet: AutoScalingFleetControl;
  let now: number;

  /** A managed group (desired 2, two zones, hooks) on a fake clock; instances i-0…1 and i-0…2 booted, the first launch completed. */
  beforeEach(async () => {
    now = Date.parse("2026-01-05T10:00:00Z");
    let n = 0;
    group = new LocalAutoScalingGroup({
      name: GROUP,
      minSize: 0,
      maxSize: 4,
      desiredCapacity: 2,
      availabilityZones: ["us-east-1a", "us-east-1b"],
      instanceTypes: ["g4dn.xlarge", "g5.xlarge"],
      newInstancesProtectedFromScaleIn: false,
      defaultInstanceWarmup: 0,
      capacityRebalance: true,
      lifecycleHooks: {
        launch: { name: LAUNCH_HOOK, heartbeatTimeoutSeconds: 1800, defaultResult: "ABANDON" },
        terminate: { name: TERMINATE_HOOK, heartbeatTimeoutSeconds: 900, defaultResult: "CONTINUE" },
      },
      managed: true,
      clock: () => now,
      newInstanceId: () => `i-0${String(++n).padStart(16, "0")}`,
    });
    group.tick();
    group.bootCompleted(id(1));
    group.bootCompleted(id(2));
    group.completeLifecycleAction({ hookName: LAUNCH_HOOK, instanceId: id(1), result: "CONTINUE" });
    server = await startAutoScalingServer({ group });
    clients = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: server.endpoint } });
    sdk = clients.autoscaling();
    fleet = new AutoScalingFleetControl(sdk, { groupName: GROUP });
  });
  afterEach(async () => {
    clients.destroy();
    await server.stop();
  });

  const id = (k: number) => `i-0${String(k).padStart(16, "0")}`;

  it("describes per-instance health, zone, type and template version, and the group's version, processes and tags (the adapter's fields)", async () => {
    group.suspendProcesses(["AZRebalance"]);
    group.setTags([{ key: "team", value: "scan" }]);
    const g = await fleet.describeGroup();
    assert.deepEqual(g.instances, [
        { instanceId: id(1), lifecycleState: "InService", protectedFromScaleIn: false, healthStatus: "Healthy", launchTemplateVersion: "1", availabilityZone: "us-east-1a", instanceType: "g4dn.xlarge" },
        { instanceId: id(2), lifecycleState: "Pending:Wait", protectedFromScaleIn: false, healthStatus: "Healthy", launchTemplateVersion: "1", availabilityZone: "us-east-1b", instanceType: "g4dn.xlarge" },
    ]);
    assert.equal(g.launchTemplateVersion, "1");
    assert.deepEqual(g.suspendedProcesses, ["AZRebalance"]);
    assert.deepEqual(g.tags, { team: "scan" });
    const raw = (await sdk.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [GROUP] }))).AutoScalingGroups![0];
    assert.deepEqual(
      raw.MixedInstancesPolicy?.LaunchTemplate?.Overrides?.map((o) => o.InstanceType),
      ["g4dn.xlarge", "g5.xlarge"],
    );
    assert.equal(raw.CapacityRebalance, true);
    assert.match(raw.SuspendedProcesses?.[0]?.SuspensionReason ?? "", /^User suspended at /);
    assert.deepEqual(raw.Tags?.[0], { ResourceId: GROUP, ResourceType: "auto-scaling-group", Key: "team", Value: "scan", PropagateAtLaunch: false });
  });

  it("CompleteLifecycleAction CONTINUE by instance id puts a waiting instance InService; again, it is AWS's ValidationError", async () => {
    await fleet.completeLifecycleAction(LAUNCH_HOOK, id(2), "CONTINUE");
    assert.equal(group.instance(id(2))?.lifecycleState, "InService");
    await assert.rejects(fleet.completeLifecycleAction(LAUNCH_HOOK, id(2), "CONTINUE"), (e: Error) => {
      assert.equal(e.name, "ValidationError");
      assert.match(e.message, /No active Lifecycle Action found with instance ID i-00000000000000002/);
      return true;
    });
  });

  it("RecordLifecycleActionHeartbeat restarts the timeout; ABANDON on launch terminates the instance and a replacement launches", async () => {
    now += 1000 * 1000;
    await fleet.recordLifecycleHeartbeat(LAUNCH_HOOK, id(2));
    assert.equal(group.instance(id(2))?.action?.deadline, now + 1800 * 1000);
    await fleet.completeLifecycleAction(LAUNCH_HOOK, id(2), "ABANDON");
    assert.equal(group.instance(id(2))?.lifecycleState, "Terminating");
    assert.ok(group.instance(id(3)), "desired is still 2: a replacement");
  });

  it("SetInstanceHealth Unhealthy: health shown as Unhealthy / UNHEALTHY, the instance goes through its terminate hook", async () => {
    await fleet.setHealth(id(1), "Unhealthy");
    const g = await fleet.describeGroup();
    assert.deepEqual(
      g.instances.filter((i) => i.instanceId === id(1)).map((i) => [i.lifecycleState, i.healthStatus]),
      [["Terminating:Wait", "Unhealthy"]],
    );
    const d = await sdk.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [id(1)] }));
    assert.equal(d.AutoScalingInstances?.[0]?.HealthStatus, "UNHEALTHY");
    assert.equal(d.AutoScalingInstances?.[0]?.LaunchTemplate?.Version, "1");
    await fleet.completeLifecycleAction(TERMINATE_HOOK, id(1), "CONTINUE");
    assert.equal(group.instance(id(1))?.lifecycleState, "Terminating:Proceed");
    await assert.rejects(fleet.setHealth("i-0ffffffffffffffff", "Unhealthy"), /Instance Id not found/);
  });

  it("describes the lifecycle hooks", async () => {
    const r = await sdk.send(new DescribeLifecycleHooksCommand({ AutoScalingGroupName: GROUP }));
    assert.deepEqual(
      r.LifecycleHooks?.map((h) => [h.LifecycleHookName, h.LifecycleTransition, h.HeartbeatTimeout, h.GlobalTimeout, h.DefaultResult]),
      [
        [LAUNCH_HOOK, "autoscaling:EC2_INSTANCE_LAUNCHING", 1800, 172_800, "ABANDON"],
        [TERMINATE_HOOK, "autoscaling:EC2_INSTANCE_TERMINATING", 900, 90_000, "CONTINUE"],
      ],
    );
  });

  it("SuspendProcesses / ResumeProcesses: Launch suspended stops replacements; an unknown process is refused", async () => {
    await sdk.send(new SuspendProcessesCommand({ AutoScalingGroupName: GROUP, ScalingProcesses: ["Launch", "AZRebalance"] }));
    assert.deepEqual((await fleet.describeGroup()).suspendedProcesses, ["Launch", "AZRebalance"]);
    await fleet.setHealth(id(1), "Unhealthy");
    assert.equal(group.instances().length, 2, "terminated but not replaced while Launch is suspended");
    await sdk.send(new ResumeProcessesCommand({ AutoScalingGroupName: GROUP, ScalingProcesses: ["Launch"] }));
    assert.deepEqual((await fleet.describeGroup()).suspendedProcesses, ["AZRebalance"]);
    assert.equal(group.instances().length, 3, "replaced on resume");
    await assert.rejects(sdk.send(new SuspendProcessesCommand({ AutoScalingGroupName: GROUP, ScalingProcesses: ["Lunch"] })), /Invalid process name: Lunch/);
  });

  it("CreateOrUpdateTags / DeleteTags: the breaker's tag comes and goes", async () => {
    const tag = { ResourceId: GROUP, ResourceType: "auto-scaling-group", Key: BREAKER_TAG, Value: '{"reason":"x"}', PropagateAtLaunch: false };
    await sdk.send(new CreateOrUpdateTagsCommand({ Tags: [tag] }));
    assert.deepEqual((await fleet.describeGroup()).tags, { [BREAKER_TAG]: '{"reason":"x"}' });
    await sdk.send(new DeleteTagsCommand({ Tags: [{ ResourceId: GROUP, ResourceType: "auto-scaling-group", Key: BREAKER_TAG }] }));
    assert.deepEqual((await fleet.describeGroup()).tags, {});
    await assert.rejects(sdk.send(new CreateOrUpdateTagsCommand({ Tags: [{ ...tag, ResourceId: "other" }] })), /AutoScalingGroup name not found/);
  });

  it("StartInstanceRefresh / DescribeInstanceRefreshes / CancelInstanceRefresh with AWS's error codes", async () => {
    await fleet.completeLifecycleAction(LAUNCH_HOOK, id(2), "CONTINUE");
    group.bumpLaunchTemplateVersion();
    const started = await sdk.send(
      new StartInstanceRefreshCommand({
        AutoScalingGroupName: GROUP,
        Preferences: { MinHealthyPercentage: 50, SkipMatching: true, ScaleInProtectedInstances: "Wait", InstanceWarmup: 0 },
      }),
    );
    assert.ok(started.InstanceRefreshId);
    await assert.rejects(sdk.send(new StartInstanceRefreshCommand({ AutoScalingGroupName: GROUP })), (e: Error) => {
      assert.equal(e.name, "InstanceRefreshInProgressFault");
      return true;
    });
    const d = await sdk.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: GROUP }));
    const r = d.InstanceRefreshes?.[0];
    assert.equal(r?.InstanceRefreshId, started.InstanceRefreshId);
    assert.equal(r?.Status, "InProgress");
    assert.equal(r?.InstancesToUpdate, 2);
    assert.equal(r?.Preferences?.MinHealthyPercentage, 50);
    assert.equal(r?.Preferences?.ScaleInProtectedInstances, "Wait");
    assert.equal(r?.DesiredConfiguration?.LaunchTemplate?.Version, "2");
    assert.ok(r?.StartTime instanceof Date);
    const cancelled = await sdk.send(new CancelInstanceRefreshCommand({ AutoScalingGroupName: GROUP }));
    assert.equal(cancelled.InstanceRefreshId, started.InstanceRefreshId);
    await assert.rejects(sdk.send(new CancelInstanceRefreshCommand({ AutoScalingGroupName: GROUP })), (e: Error) => e.name === "ActiveInstanceRefreshNotFoundFault");
  });

  it("DescribeScalingActivities shows a failed launch with EC2's message", async () => {
    group.injectLaunchFailure({ code: "InsufficientInstanceCapacity", availabilityZone: "us-east-1a", instanceType: "g4dn.xlarge" });
    group.setDesiredCapacity(3);
    const r = await sdk.send(new DescribeScalingActivitiesCommand({ AutoScalingGroupName: GROUP, MaxRecords: 5 }));
    const failed = r.Activities?.find((a) => a.StatusCode === "Failed");
    assert.ok(failed);
    assert.match(failed.StatusMessage ?? "", /We currently do not have sufficient g4dn\.xlarge capacity in the Availability Zone you requested \(us-east-1a\)/);
    assert.match(failed.Description ?? "", /^Launching a new EC2 instance\. {2}Status Reason: /);
  });
});
