import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Imdsv2Metadata } from "../../../aws/instance-metadata.ts";
import { ValidationError } from "../../../core/errors.ts";
import { fleetConfig } from "../../../core/fleet-config.ts";
import { LocalFleet } from "../../../scripts/local/fleet.ts";
import { TestWorker, isAlive, useLocalFleet, waitForFile, waitUntilGone } from "./fleet-helpers.ts";

describe("local fleet: plays the Auto Scaling group with real worker processes", function () {
  this.timeout(60_000);

  describe("launching to desired capacity", () => {
    const env = useLocalFleet();

    it("starts one worker per instance, each with its own instance id, IMDS, folder and environment", async () => {
      const { fleet, events } = env();
      fleet.setDesired(2);
      const a = await events.waitFor("instance_in_service");
      const b = await events.waitFor("instance_in_service", () => true, { count: 2 });
      assert.notEqual(a.instanceId, b.instanceId);
      for (const { instanceId, pid } of [a, b]) {
        assert.match(instanceId, /^i-0[0-9a-f]{16}$/);
        const view = fleet.instance(instanceId)!;
        assert.equal(view.lifecycleState, "InService");
        assert.equal(view.pid, pid);
        const started = await new TestWorker(view.dir).started(pid!);
        assert.equal(started.instanceId, instanceId, "the worker read its own id from its own IMDS");
        assert.deepEqual(started.env, {
          AWS_EC2_METADATA_SERVICE_ENDPOINT: view.imdsEndpoint,
          SPOTQ_ENDPOINT_AUTOSCALING: fleet.autoscalingEndpoint,
          SPOTQ_GROUP: "spotq-workers",
          SPOTQ_WORK_ROOT: view.dir,
          SPOTQ_TELEMETRY: "files",
          SPOTQ_TELEMETRY_DIR: join(view.dir, "telemetry"),
          SPOTQ_INSTANCE_ID: null,
          FLEET_TEST_MARK: "from-the-caller",
          SPOTQ_STOP_FILE: null,
        });
        assert.ok(existsSync(join(view.dir, "telemetry")), "the telemetry folder exists before the worker starts");
      }
      assert.notEqual(fleet.instance(a.instanceId)!.imdsEndpoint, fleet.instance(b.instanceId)!.imdsEndpoint);
      assert.deepEqual(
        events.all("desired_changed"),
        [{ before: 0, after: 2, reason: "control" }],
      );
    });

    it("shows the group through the SDK as the worker sees it: new instances protected, health, zone, type, template version", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const { instanceId, pid } = await events.waitFor("instance_in_service");
      const worker = new TestWorker(fleet.instance(instanceId)!.dir);
      await worker.started(pid!);
      const r = await worker.send({ do: "describe" });
      assert.equal(r.ok, true);
      const group = r.group as { desiredCapacity: number; instances: Record<string, unknown>[]; launchTemplateVersion: string; suspendedProcesses: string[]; tags: object };
      assert.equal(group.desiredCapacity, 1);
      assert.deepEqual(group.instances, [
        {
          instanceId,
          lifecycleState: "InService",
          protectedFromScaleIn: true,
          healthStatus: "Healthy",
          launchTemplateVersion: "1",
          availabilityZone: "us-east-1a",
          instanceType: "g4dn.xlarge",
        },
      ]);
      assert.equal(group.launchTemplateVersion, "1");
      assert.deepEqual(group.suspendedProcesses, ["AZRebalance"], "as infra suspends it");
      assert.deepEqual(group.tags, {});
    });
  });

  describe("scale-in", () => {
    const env = useLocalFleet();

    it("never picks a protected instance, and waits while every remaining one is protected", async () => {
      const { fleet, events } = env();
      fleet.setDesired(2);
      const first = await events.waitFor("instance_in_service");
      const second = await events.waitFor("instance_in_service", () => true, { count: 2 });
      const idle = new TestWorker(fleet.instance(second.instanceId)!.dir);
      const busy = new TestWorker(fleet.instance(first.instanceId)!.dir);
      await Promise.all([idle.started(second.pid!), busy.started(first.pid!)]);

      // The second (newer) instance lifts its protection; the older one stays protected.
      assert.equal((await idle.send({ do: "protect", value: false })).ok, true);
      fleet.setDesired(1);
      const gone = await events.waitFor("instance_terminated");
      assert.deepEqual(gone, { instanceId: second.instanceId, reason: "scale-in" });

      fleet.setDesired(0);
      const waiting = await events.waitFor("scale_in_waiting");
      assert.deepEqual(waiting, { excess: 1, protectedInstances: [first.instanceId] });
      assert.equal(fleet.instance(first.instanceId)?.lifecycleState, "InService");
      assert.ok(isAlive(first.pid!), "the protected worker keeps running");

      // Once it lifts its protection, the waiting scale-in takes it.
      assert.equal((await busy.send({ do: "protect", value: false })).ok, true);
      assert.deepEqual(await events.waitFor("instance_terminated", (e) => e.instanceId === first.instanceId), {
        instanceId: first.instanceId,
        reason: "scale-in",
      });
      assert.deepEqual(fleet.instances(), []);
      assert.equal(events.all("instance_terminated").length, 2);
    });
  });

  describe("self-termination", () => {
    const env = useLocalFleet();

    it("with decrement: desired goes down, the worker gets SIGTERM, and nothing replaces it", async () => {
      const { fleet, events } = env();
      fleet.setDesired(2);
      const me = await events.waitFor("instance_in_service");
      await events.waitFor("instance_in_service", () => true, { count: 2 });
      const worker = new TestWorker(fleet.instance(me.instanceId)!.dir);
      await worker.started(me.pid!);

      assert.equal((await worker.send({ do: "terminate", decrement: true })).ok, true);
      assert.deepEqual(await events.waitFor("instance_terminated"), { instanceId: me.instanceId, reason: "self-terminate" });
      await waitForFile(join(worker.dir, `sigterm-${me.pid}.json`)); // it was asked to stop, not killed
      assert.deepEqual(events.all("desired_changed").at(-1), { before: 2, after: 1, reason: "self-terminate" });
      assert.equal(fleet.group.desiredCapacity, 1);
      assert.equal(fleet.instances().length, 1);
      assert.equal(events.all("instance_launched").length, 2, "no replacement launched");
      assert.equal(events.all("worker_restarted").length, 0, "a terminating instance's worker is not restarted");
    });

    it("without decrement: a replacement is launched and desired stays", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const me = await events.waitFor("instance_in_service");
      const worker = new TestWorker(fleet.instance(me.instanceId)!.dir);
      await worker.started(me.pid!);

      assert.equal((await worker.send({ do: "terminate", decrement: false })).ok, true);
      const replacement = await events.waitFor("instance_in_service", (e) => e.instanceId !== me.instanceId);
      await events.waitFor("instance_terminated", (e) => e.instanceId === me.instanceId);
      assert.equal(fleet.group.desiredCapacity, 1);
      assert.deepEqual(
        fleet.instances().map((i) => i.instanceId),
        [replacement.instanceId],
      );
    });
  });

  describe("self-termination at the minimum size", () => {
    const env = useLocalFleet({ config: { fleet: { minSize: 1, maxSize: 2, bootSeconds: 0 } } });

    it("refuses the decrement with AWS's ValidationError, and the worker stays", async () => {
      const { fleet, events } = env();
      const me = await events.waitFor("instance_in_service");
      const worker = new TestWorker(fleet.instance(me.instanceId)!.dir);
      await worker.started(me.pid!);
      const r = await worker.send({ do: "terminate", decrement: true });
      assert.equal(r.ok, false);
      assert.equal(r.error?.name, "ValidationError");
      assert.match(r.error!.message, /desiredSize equals minSize \(1\)/);
      assert.equal(fleet.instance(me.instanceId)?.lifecycleState, "InService");
      assert.equal(events.all("instance_terminating").length, 0);
    });
  });

  describe("Spot interruption", () => {
    const env = useLocalFleet({ spotNoticeSeconds: 1 });

    it("posts the notice in the instance's IMDS, terminates the instance at the notice time, and replaces it", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const victim = await events.waitFor("instance_in_service");
      const view = fleet.instance(victim.instanceId)!;
      await new TestWorker(view.dir).started(victim.pid!);
      const imds = new Imdsv2Metadata({ endpoint: view.imdsEndpoint });
      assert.equal(await imds.spotInterruption(), undefined);

      const notice = await fleet.interrupt(victim.instanceId);
      assert.deepEqual(await imds.spotInterruption(), notice, "the notice is visible through IMDSv2");
      assert.equal(notice.action, "terminate");
      assert.deepEqual(fleet.instance(victim.instanceId)?.spotInterruption, notice);
      assert.deepEqual(await waitForFile(join(view.dir, "spot-notice.json")), notice, "the worker saw it through its own IMDS");

      assert.deepEqual(await events.waitFor("instance_terminated"), { instanceId: victim.instanceId, reason: "spot-interruption" });
      await waitForFile(join(view.dir, `sigterm-${victim.pid}.json`));
      const replacement = await events.waitFor("instance_in_service", (e) => e.instanceId !== victim.instanceId);
      assert.equal(fleet.group.desiredCapacity, 1);
      assert.equal(await new Imdsv2Metadata({ endpoint: fleet.instance(replacement.instanceId)!.imdsEndpoint }).spotInterruption(), undefined);
    });
  });

  describe("the service manager", () => {
    const env = useLocalFleet();

    it("restarts a SIGKILLed worker on the same instance and counts it", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const { instanceId, pid } = await events.waitFor("instance_in_service");
      const worker = new TestWorker(fleet.instance(instanceId)!.dir);
      await worker.started(pid!);

      assert.equal(fleet.killProcess(instanceId), pid);
      assert.deepEqual(await events.waitFor("worker_exited"), { instanceId, pid, code: null, signal: "SIGKILL", restart: true });
      const restarted = await events.waitFor("worker_restarted");
      assert.equal(restarted.instanceId, instanceId);
      assert.equal(restarted.restarts, 1);
      assert.notEqual(restarted.pid, pid);
      assert.equal((await worker.started(restarted.pid)).instanceId, instanceId, "the same instance, a new process");
      await waitUntilGone(pid!);
      assert.equal(fleet.instance(instanceId)?.restarts, 1);
      assert.equal(fleet.instance(instanceId)?.pid, restarted.pid);
      assert.equal(events.all("instance_launched").length, 1, "no new instance");
    });

    it("restarts a worker that crashes (exit 1), but not one that exits cleanly", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const { instanceId, pid } = await events.waitFor("instance_in_service");
      const worker = new TestWorker(fleet.instance(instanceId)!.dir);
      await worker.started(pid!);

      await worker.send({ do: "exit", code: 1 });
      assert.deepEqual(await events.waitFor("worker_exited"), { instanceId, pid, code: 1, signal: null, restart: true });
      const again = await events.waitFor("worker_restarted");
      await worker.started(again.pid);

      await worker.send({ do: "exit", code: 0 });
      assert.deepEqual(await events.waitFor("worker_exited", () => true, { count: 2 }), {
        instanceId,
        pid: again.pid,
        code: 0,
        signal: null,
        restart: false,
      });
      assert.equal(fleet.instance(instanceId)?.pid, undefined);
      assert.equal(fleet.instance(instanceId)?.lifecycleState, "InService", "the instance stays; only its service stopped");
    });

    it("kills an instance outright: no SIGTERM, and the group replaces it", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const { instanceId, pid } = await events.waitFor("instance_in_service");
      const worker = new TestWorker(fleet.instance(instanceId)!.dir);
      await worker.started(pid!);

      await fleet.killInstance(instanceId);
      assert.deepEqual(events.all("instance_terminated"), [{ instanceId, reason: "killed" }]);
      await waitUntilGone(pid!);
      assert.equal(existsSync(join(worker.dir, `sigterm-${pid}.json`)), false, "SIGKILL gives no chance to clean up");
      await events.waitFor("instance_in_service", (e) => e.instanceId !== instanceId);
      assert.equal(fleet.group.desiredCapacity, 1);
    });
  });

  describe("boot delay", () => {
    const env = useLocalFleet({ bootSeconds: 0.5 });

    it("keeps a new instance Pending without a worker until it has booted", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const { instanceId } = await events.waitFor("instance_launched");
      const booting = fleet.instance(instanceId)!;
      assert.equal(booting.lifecycleState, "Pending");
      assert.equal(booting.pid, undefined);
      const inService = await events.waitFor("instance_in_service");
      assert.equal(inService.instanceId, instanceId);
      assert.equal(fleet.instance(instanceId)?.lifecycleState, "InService");
    });

    it("never starts the worker of an instance scaled in while booting", async () => {
      const { fleet, events } = env();
      fleet.setDesired(1);
      const { instanceId } = await events.waitFor("instance_launched");
      // Protection is the group's default; lifting it lets desired 0 take the booting instance.
      fleet.group.setInstanceProtection([instanceId], false);
      fleet.setDesired(0);
      assert.deepEqual(await events.waitFor("instance_terminated"), { instanceId, reason: "scale-in" });
      assert.equal(events.all("instance_in_service").length, 0);
    });
  });

  describe("stop()", () => {
    const env = useLocalFleet();

    it("leaves no process behind, including what a worker started", async () => {
      const { fleet, events } = env();
      fleet.setDesired(2);
      const a = await events.waitFor("instance_in_service");
      const b = await events.waitFor("instance_in_service", () => true, { count: 2 });
      const worker = new TestWorker(fleet.instance(a.instanceId)!.dir);
      await worker.started(a.pid!);
      const { childPid } = (await worker.send({ do: "spawn-child" })) as unknown as { childPid: number };
      assert.ok(isAlive(childPid));

      await fleet.stop();
      for (const pid of [a.pid!, b.pid!, childPid]) await waitUntilGone(pid);
      assert.deepEqual(
        events.all("instance_terminated").map((e) => e.reason),
        ["fleet-stop", "fleet-stop"],
      );
      const res = await fetch(`${fleet.autoscalingEndpoint}/`).catch((e: Error) => e);
      assert.ok(res instanceof Error, "the Auto Scaling endpoint is closed");
    });
  });

  describe("options", () => {
    it("refuses options that cannot work, naming each, before starting anything", async () => {
      await assert.rejects(
        LocalFleet.start({
          config: fleetConfig({}),
          launch: { command: "" },
          workRoot: join(tmpdir(), "never-created"),
          timeScale: 0,
          stopGraceSeconds: -1,
          clockStart: new Date("not a date"),
        }),
        (e: Error) => {
          assert.ok(e instanceof ValidationError);
          assert.deepEqual(
            e.problems.map((p) => p.field),
            ["timeScale", "stopGraceSeconds", "clockStart", "launch.command"],
          );
          return true;
        },
      );
      assert.equal(existsSync(join(tmpdir(), "never-created")), false);
    });
  });
});
