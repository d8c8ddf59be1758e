import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DeleteTagsCommand, ResumeProcessesCommand } from "@aws-sdk/client-auto-scaling";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import { Imdsv2Metadata } from "../../../aws/instance-metadata.ts";
import { BREAKER_TAG } from "../../../core/names.ts";
import { IDLE_PROCESS, TEST_WORKER, TestWorker, useLocalFleet, waitForFile } from "./fleet-helpers.ts";

const LAUNCH_HOOK = "spotq-launching";
const TERMINATE_HOOK = "spotq-terminating";
/** A test worker that boots as the real one does (CONTINUE once ready) and hands the terminate hook back. */
const BOOTING_WORKER = {
  ...TEST_WORKER,
  env: { FLEET_TEST_BOOT: "continue", FLEET_TEST_ON_TERMINATE: "continue", FLEET_TEST_LAUNCH_HOOK: LAUNCH_HOOK, FLEET_TEST_TERMINATE_HOOK: TERMINATE_HOOK },
};

describe("local fleet: Auto Scaling's lifecycle with real worker processes", function () {
  this.timeout(90_000);

  describe("with lifecycle hooks and a worker that completes them", () => {
    const env = useLocalFleet({ launch: BOOTING_WORKER, lifecycleHooks: { launchTimeoutSeconds: 60, terminateTimeoutSeconds: 60 } });

    it("an instance is InService only after its worker completes the launch action CONTINUE; IMDS shows the target state", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const started = await events.waitFor("lifecycle_action", (e) => e.phase === "started");
      assert.equal(started.hookName, LAUNCH_HOOK);
      assert.equal(fleet.instance(started.instanceId)?.lifecycleState, "Pending:Wait", "the worker runs while the instance waits");
      const completed = await events.waitFor("lifecycle_action", (e) => e.phase === "completed");
      assert.deepEqual({ ...completed }, { instanceId: started.instanceId, hookName: LAUNCH_HOOK, transition: "autoscaling:EC2_INSTANCE_LAUNCHING", phase: "completed", result: "CONTINUE", by: "api" });
      const inService = await events.waitFor("instance_in_service");
      assert.equal(inService.instanceId, started.instanceId);
      assert.ok(inService.pid);
      const names = events.entries.map((e) => e.name).filter((n) => n === "lifecycle_action" || n === "instance_in_service");
      assert.deepEqual(names, ["lifecycle_action", "lifecycle_action", "instance_in_service"]);
      const imds = new Imdsv2Metadata({ endpoint: fleet.instance(started.instanceId)!.imdsEndpoint });
      assert.equal(await imds.targetLifecycleState(), "InService");
    });

    it("scale-in goes through the terminate hook: target Terminated in IMDS, the worker completes, then the instance goes", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const { instanceId, pid } = await events.waitFor("instance_in_service");
      fleet.group.setInstanceProtection([instanceId], false);
      fleet.setDesired(0);
      await events.waitFor("lifecycle_action", (e) => e.phase === "started" && e.transition === "autoscaling:EC2_INSTANCE_TERMINATING");
      await waitForFile(join(fleet.instance(instanceId)?.dir ?? "", "target-terminated.json"));
      const done = await events.waitFor("lifecycle_action", (e) => e.phase === "completed" && e.transition === "autoscaling:EC2_INSTANCE_TERMINATING");
      assert.equal(done.by, "api", "the worker completed it, the timeout did not");
      assert.deepEqual(await events.waitFor("instance_terminated"), { instanceId, reason: "scale-in" });
      assert.equal(existsSync(join(env().workRoot, instanceId, `sigterm-${pid}.json`)), false, "it left by itself, before any SIGTERM");
    });

    it("Capacity Rebalancing: the replacement is InService first, then the at-risk instance goes through its hook; desired stays", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const old = await events.waitFor("instance_in_service");
      await fleet.recommendRebalance(old.instanceId);
      const launched = await events.waitFor("capacity_rebalance", (e) => e.phase === "replacement-launched");
      const replacement = await events.waitFor("instance_in_service", (e) => e.instanceId === launched.replacementId);
      assert.ok(replacement);
      await events.waitFor("capacity_rebalance", (e) => e.phase === "terminating");
      assert.deepEqual(await events.waitFor("instance_terminated"), { instanceId: old.instanceId, reason: "capacity-rebalance" });
      const order = events.entries
        .filter((e) => (e.name === "instance_in_service" && (e.payload as { instanceId: string }).instanceId === launched.replacementId) || e.name === "instance_terminating")
        .map((e) => e.name);
      assert.deepEqual(order, ["instance_in_service", "instance_terminating"], "launch before terminate");
      assert.equal(fleet.group.desiredCapacity, 1);
      assert.equal(events.all("instance_launched").length, 2, "exactly one replacement");
    });

    it("a Spot notice starts the terminate hook at once (target Terminated while the notice is up)", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const { instanceId } = await events.waitFor("instance_in_service");
      await fleet.interrupt(instanceId, { noticeSeconds: 30 });
      assert.equal(fleet.instance(instanceId)?.lifecycleState, "Terminating:Wait");
      await waitForFile(join(fleet.instance(instanceId)?.dir ?? "", "target-terminated.json"));
      assert.deepEqual(await events.waitFor("instance_terminated"), { instanceId, reason: "spot-interruption" });
    });

    it("SetInstanceHealth Unhealthy from the worker: replaced through the terminate hook", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const { instanceId, pid } = await events.waitFor("instance_in_service");
      const worker = new TestWorker(fleet.instance(instanceId)!.dir);
      await worker.started(pid!);
      assert.equal((await worker.send({ do: "health", status: "Unhealthy" })).ok, true);
      assert.deepEqual(await events.waitFor("health_changed"), { instanceId, status: "Unhealthy" });
      assert.deepEqual(await events.waitFor("instance_terminated"), { instanceId, reason: "unhealthy" });
      await events.waitFor("instance_in_service", (e) => e.instanceId !== instanceId);
    });

    it("an instance refresh replaces every instance with the new template version, one at a time", async () => {
      const { fleet, events } = env();
      fleet.setDesired(2);
      await events.waitFor("instance_in_service", () => true, { count: 2 });
      for (const i of fleet.instances()) fleet.group.setInstanceProtection([i.instanceId], false);
      fleet.bumpLaunchTemplate();
      fleet.startInstanceRefresh({ preferences: { minHealthyPercentage: 50, instanceWarmup: 0 } });
      await events.waitFor("instance_refresh", (e) => e.status === "Successful", { timeoutMs: 60_000 });
      const now = fleet.instances().filter((i) => !i.lifecycleState.startsWith("Terminating"));
      assert.deepEqual(
        now.map((i) => i.launchTemplateVersion),
        ["2", "2"],
      );
      assert.equal(fleet.group.launchTemplateVersion, "2");
      let replacing = 0;
      let most = 0;
      for (const e of events.entries) {
        if (e.name === "instance_terminating" && (e.payload as { reason: string }).reason === "instance-refresh") most = Math.max(most, ++replacing);
        if (e.name === "instance_terminated" && (e.payload as { reason: string }).reason === "instance-refresh") replacing--;
      }
      assert.equal(most, 1, "never more than one replaced at a time (50 % of 2 stays healthy)");
    });
  });

  describe("with a worker that keeps its terminate hook waiting", () => {
    const env = useLocalFleet({
      launch: { ...TEST_WORKER, env: { FLEET_TEST_BOOT: "continue", FLEET_TEST_LAUNCH_HOOK: LAUNCH_HOOK } },
      lifecycleHooks: { launchTimeoutSeconds: 60, terminateTimeoutSeconds: 60 },
    });

    it("a heartbeat moves the terminate hook's timeout; a kill ends the instance at once whatever the hook waits for", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const { instanceId, pid } = await events.waitFor("instance_in_service");
      const worker = new TestWorker(fleet.instance(instanceId)!.dir);
      await worker.started(pid!);
      fleet.group.setInstanceProtection([instanceId], false);
      fleet.setDesired(0);
      assert.equal(fleet.instance(instanceId)?.lifecycleState, "Terminating:Wait");
      const before = Date.parse(fleet.instance(instanceId)!.lifecycleAction!.deadline);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal((await worker.send({ do: "heartbeat", hook: TERMINATE_HOOK })).ok, true);
      const heartbeat = await events.waitFor("lifecycle_action", (e) => e.phase === "heartbeat");
      assert.ok(Date.parse(heartbeat.deadline!) > before, "the timeout restarted");
      assert.deepEqual((await worker.send({ do: "target-state" })).state, "Terminated");
      await fleet.killInstance(instanceId);
      assert.deepEqual(await events.waitFor("instance_terminated"), { instanceId, reason: "killed" });
      assert.equal(existsSync(join(env().workRoot, instanceId, `sigterm-${pid}.json`)), false, "SIGKILL, no SIGTERM");
    });
  });

  describe("failed boots", () => {
    const env = useLocalFleet({ launch: { ...TEST_WORKER, env: { FLEET_TEST_BOOT: "exit:3" } }, lifecycleHooks: { launchTimeoutSeconds: 60 } });

    it("a worker that exits 3 (preflight) before completing: ABANDON, a failed boot; three trip the breaker and launches stop", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const exited = await events.waitFor("worker_exited");
      assert.equal(exited.failure, "preflight");
      assert.equal(exited.restart, false, "no restart loop");
      const abandon = await events.waitFor("lifecycle_action", (e) => e.phase === "completed");
      assert.equal(abandon.result, "ABANDON");
      assert.equal(abandon.by, "service");
      assert.deepEqual(await events.waitFor("boot_failed"), { instanceId: exited.instanceId, cause: "worker exit 3 (preflight failed)", kept: false, failuresInWindow: 1 });
      const trip = await events.waitFor("boot_breaker_tripped");
      assert.equal(trip.failures, 3);
      assert.match(trip.reason, /3 failed boots within 1 h/);
      await events.waitFor("instance_terminated", () => true, { count: 3 });
      assert.equal(events.all("instance_launched").length, 3, "the breaker stopped the boot loop at 3 launches");
      const g = fleet.group.describe();
      assert.ok(g.suspendedProcesses?.includes("Launch"));
      assert.equal(JSON.parse(g.tags![BREAKER_TAG]).failures, 3);
      assert.deepEqual({ open: fleet.breaker().open, failures: fleet.breaker().trip?.failures }, { open: true, failures: 3 });

      // What `spotq fleet resume` does, through the Auto Scaling API: launches resume.
      const clients = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: fleet.autoscalingEndpoint } });
      try {
        const sdk = clients.autoscaling();
        await sdk.send(new ResumeProcessesCommand({ AutoScalingGroupName: fleet.groupName, ScalingProcesses: ["Launch"] }));
        await sdk.send(new DeleteTagsCommand({ Tags: [{ ResourceId: fleet.groupName, ResourceType: "auto-scaling-group", Key: BREAKER_TAG }] }));
        assert.equal(fleet.breaker().open, false);
        assert.deepEqual((await new AutoScalingFleetControl(sdk, { groupName: fleet.groupName }).describeGroup()).tags, {});
      } finally {
        clients.destroy();
      }
      await events.waitFor("instance_launched", () => true, { count: 4 });
    });
  });

  describe("a launch action that times out", () => {
    const env = useLocalFleet({ launch: IDLE_PROCESS, lifecycleHooks: { launchTimeoutSeconds: 1 }, bootBreaker: false });

    it("is abandoned by its default result: a failed boot, and a replacement launches", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const failed = await events.waitFor("boot_failed");
      assert.equal(failed.cause, "launch lifecycle action timed out (default result ABANDON)");
      const completed = await events.waitFor("lifecycle_action", (e) => e.phase === "completed");
      assert.deepEqual([completed.result, completed.by], ["ABANDON", "timeout"]);
      assert.deepEqual(await events.waitFor("instance_terminated"), { instanceId: failed.instanceId, reason: "launch-abandoned" });
      await events.waitFor("instance_launched", () => true, { count: 2 });
    });
  });

  describe("injected failures, without hooks", () => {
    const env = useLocalFleet({ launch: IDLE_PROCESS, launchRetrySeconds: 0.2 });

    it("a user-data failure is a failed boot; the instance leaves and the next launch boots", async () => {
      const { fleet, events } = env();
      fleet.injectBootFailures(1, "user-data");
      fleet.setDesired(1);
      const failed = await events.waitFor("boot_failed");
      assert.equal(failed.cause, "user data failed (injected)");
      assert.deepEqual(await events.waitFor("instance_terminated"), { instanceId: failed.instanceId, reason: "boot-failed" });
      const next = await events.waitFor("instance_in_service", (e) => e.instanceId !== failed.instanceId);
      assert.ok(next.pid, "the second launch's worker runs");
      assert.deepEqual(fleet.bootFailures(), []);
    });

    it("InsufficientInstanceCapacity in one zone: a failed launch event, then the instance launches in the other zone", async () => {
      const { fleet, events } = env();
      fleet.injectLaunchFailure({ code: "InsufficientInstanceCapacity", availabilityZone: "us-east-1a" });
      fleet.setDesired(1);
      const failed = await events.waitFor("launch_failed");
      assert.equal(failed.availabilityZone, "us-east-1a");
      const launched = await events.waitFor("instance_launched");
      assert.equal(launched.availabilityZone, "us-east-1b");
      assert.ok(events.all("launch_failed").every((e) => e.availabilityZone === "us-east-1a"));
    });
  });

  describe("the Windows stop file", () => {
    const env = useLocalFleet({ stopFile: true });

    it("stops a worker through SPOTQ_STOP_FILE instead of SIGTERM", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const { instanceId, pid } = await events.waitFor("instance_in_service");
      const dir = fleet.instance(instanceId)!.dir;
      const started = await new TestWorker(dir).started(pid!);
      assert.equal(started.env.SPOTQ_STOP_FILE, join(dir, "run", "stop"));
      fleet.group.setInstanceProtection([instanceId], false);
      fleet.setDesired(0);
      await events.waitFor("instance_terminated");
      assert.ok(existsSync(join(dir, `stop-file-${pid}.json`)), "the worker saw the stop file");
      assert.equal(existsSync(join(dir, `sigterm-${pid}.json`)), false, "no SIGTERM");
    });
  });
});
