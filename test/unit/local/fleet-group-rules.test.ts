import assert from "node:assert/strict";
import { BREAKER_TAG } from "../../../core/names.ts";
import { attachBootBreaker } from "../../../scripts/local/fleet-breaker.ts";
import {
  AutoScalingError,
  LIFECYCLE,
  LocalAutoScalingGroup,
  TERMINATING,
  type GroupEvents,
  type LifecycleActionEvent,
  type LocalGroupOptions,
} from "../../../scripts/local/fleet-group.ts";

const T0 = Date.parse("2026-01-05T10:00:00Z");
const S = 1000;

/**
 * A managed group on a fake clock, with what the fleet would do: instances are removed once their
 * termination proceeds (`settle()`), and booted on demand (`boot(id)`).
 */
function harness(options: Partial<LocalGroupOptions> = {}) {
  let now = T0;
  let n = 0;
  const g = new LocalAutoScalingGroup({
    name: "g",
    minSize: 0,
    maxSize: 4,
    availabilityZones: ["za", "zb"],
    instanceTypes: ["t1", "t2"],
    newInstancesProtectedFromScaleIn: false,
    managed: true,
    clock: () => now,
    newInstanceId: () => `i-${++n}`,
    ...options,
  });
  const log: { name: keyof GroupEvents; e: any }[] = [];
  for (const name of [
    "instance_launched",
    "launch_failed",
    "lifecycle_action",
    "instance_in_service",
    "termination_started",
    "termination_proceed",
    "instance_removed",
    "boot_failed",
    "capacity_rebalance",
    "az_rebalance",
    "instance_refresh",
    "health_changed",
    "processes_suspended",
    "processes_resumed",
  ] as const)
    g.on(name, ((e: unknown) => log.push({ name, e })) as never);
  const proceeding = new Set<string>();
  g.on("termination_proceed", (e) => proceeding.add(e.instanceId));
  const h = {
    g,
    log,
    now: () => now,
    events: (name: keyof GroupEvents) => log.filter((l) => l.name === name).map((l) => l.e),
    /** Moves the clock and runs what is due. */
    advance(ms: number) {
      now += ms;
      g.tick();
    },
    /** The fleet's part: instances whose termination proceeded are gone. */
    settle() {
      for (const id of [...proceeding]) {
        proceeding.delete(id);
        g.removeInstance(id);
      }
    },
    boot(...ids: string[]) {
      for (const id of ids) g.bootCompleted(id);
    },
    /** Boots every Pending instance (and completes launch actions CONTINUE when asked). */
    bootAll(options: { complete?: boolean } = {}) {
      for (const i of g.instances())
        if (i.lifecycleState === LIFECYCLE.pending) {
          g.bootCompleted(i.instanceId);
          if (options.complete && g.hooks.launch) g.completeLifecycleAction({ hookName: g.hooks.launch.name, instanceId: i.instanceId, result: "CONTINUE" });
        }
    },
    states: () => g.instances().map((i) => `${i.instanceId}:${i.lifecycleState}`),
  };
  return h;
}

const HOOKS = {
  launch: { name: "spotq-launching", heartbeatTimeoutSeconds: 600, defaultResult: "ABANDON" as const },
  terminate: { name: "spotq-terminating", heartbeatTimeoutSeconds: 300, defaultResult: "CONTINUE" as const },
};

describe("local fleet: the group's rules on a fake clock", () => {
  describe("lifecycle hooks", () => {
    it("launch: Pending → Pending:Wait at boot, InService only after CONTINUE; IMDS target is InService", () => {
      const h = harness({ lifecycleHooks: HOOKS });
      h.g.setDesiredCapacity(1);
      assert.deepEqual(h.states(), ["i-1:Pending"]);
      h.boot("i-1");
      assert.deepEqual(h.states(), ["i-1:Pending:Wait"]);
      const i = h.g.instance("i-1")!;
      assert.equal(i.targetLifecycleState, "InService");
      assert.equal(i.action?.deadline, T0 + 600 * S);
      assert.deepEqual(h.events("instance_in_service"), []);
      h.g.completeLifecycleAction({ hookName: "spotq-launching", instanceId: "i-1", result: "CONTINUE" });
      assert.deepEqual(h.states(), ["i-1:InService"]);
      assert.deepEqual(h.events("instance_in_service"), [{ instanceId: "i-1" }]);
    });

    it("launch timeout: the default result ABANDON terminates it (no terminate hook), counts a failed boot, and a replacement launches", () => {
      const h = harness({ lifecycleHooks: HOOKS });
      h.g.setDesiredCapacity(1);
      h.boot("i-1");
      h.advance(599 * S);
      assert.equal(h.g.instance("i-1")?.lifecycleState, "Pending:Wait");
      h.advance(1 * S);
      assert.deepEqual(h.events("boot_failed"), [{ instanceId: "i-1", cause: "launch lifecycle action timed out (default result ABANDON)", kept: false }]);
      assert.deepEqual(h.events("termination_started"), [{ instanceId: "i-1", reason: "launch-abandoned", hook: false }]);
      assert.equal(h.g.instance("i-1")?.targetLifecycleState, "Terminated");
      assert.ok(h.g.instance("i-2"), "a replacement launched: desired is still 1");
      assert.equal(h.g.desiredCapacity, 1);
    });

    it("a heartbeat restarts the timeout, never past the global timeout (100 × heartbeat)", () => {
      const h = harness({ lifecycleHooks: { ...HOOKS, launch: { ...HOOKS.launch, heartbeatTimeoutSeconds: 60 } } });
      h.g.setDesiredCapacity(1);
      h.boot("i-1");
      for (let k = 0; k < 119; k++) {
        h.advance(50 * S);
        h.g.recordLifecycleActionHeartbeat({ hookName: "spotq-launching", instanceId: "i-1" });
      }
      assert.equal(h.g.instance("i-1")?.lifecycleState, "Pending:Wait", "119 heartbeats kept it waiting 5950 s");
      assert.equal(h.g.instance("i-1")?.action?.deadline, T0 + 6000 * S, "capped at the global timeout of 6000 s");
      h.advance(50 * S);
      assert.equal(h.g.instance("i-1")?.lifecycleState, "Terminating");
    });

    it("terminate: Terminating:Wait with IMDS target Terminated; the default CONTINUE proceeds at the timeout", () => {
      const h = harness({ lifecycleHooks: HOOKS, desiredCapacity: 1 });
      h.g.tick();
      h.bootAll({ complete: true });
      h.g.setDesiredCapacity(0);
      assert.deepEqual(h.states(), ["i-1:Terminating:Wait"]);
      assert.equal(h.g.instance("i-1")?.targetLifecycleState, "Terminated");
      assert.deepEqual(h.events("termination_proceed"), []);
      h.advance(300 * S);
      assert.deepEqual(h.states(), ["i-1:Terminating:Proceed"]);
      assert.deepEqual(h.events("termination_proceed"), [{ instanceId: "i-1", reason: "scale-in" }]);
      assert.deepEqual(h.events("lifecycle_action").at(-1), {
        instanceId: "i-1",
        hookName: "spotq-terminating",
        transition: "autoscaling:EC2_INSTANCE_TERMINATING",
        phase: "completed",
        result: "CONTINUE",
        by: "timeout",
      });
    });

    it("completes by token too, and refuses an instance with no active action in AWS's words", () => {
      const h = harness({ lifecycleHooks: HOOKS });
      h.g.setDesiredCapacity(1);
      const err = (f: () => void, message: string) =>
        assert.throws(f, (e: Error) => e instanceof AutoScalingError && e.code === "ValidationError" && e.message === message);
      err(() => h.g.completeLifecycleAction({ hookName: "spotq-launching", instanceId: "i-1", result: "CONTINUE" }), "No active Lifecycle Action found with instance ID i-1");
      h.boot("i-1");
      err(() => h.g.completeLifecycleAction({ hookName: "spotq-terminating", instanceId: "i-1", result: "CONTINUE" }), "No active Lifecycle Action found with instance ID i-1");
      err(() => h.g.completeLifecycleAction({ hookName: "spotq-launching", token: "nope", result: "CONTINUE" }), "No active Lifecycle Action found with token nope");
      assert.throws(() => h.g.completeLifecycleAction({ hookName: "spotq-launching", instanceId: "i-1", result: "MAYBE" }), /lifecycleActionResult/);
      h.g.completeLifecycleAction({ hookName: "spotq-launching", token: h.g.instance("i-1")!.action!.token, result: "CONTINUE" });
      assert.equal(h.g.instance("i-1")?.lifecycleState, "InService");
      err(() => h.g.recordLifecycleActionHeartbeat({ hookName: "spotq-launching", instanceId: "i-1" }), "No active Lifecycle Action found with instance ID i-1");
    });

    it("hook timeouts run on the scaled clock", () => {
      const h = harness({ lifecycleHooks: HOOKS, timeScale: 0.01 });
      h.g.setDesiredCapacity(1);
      h.boot("i-1");
      assert.equal(h.g.instance("i-1")?.action?.deadline, T0 + 6 * S, "600 s at 0.01 is 6 s");
      assert.equal(h.g.nextDeadline(), T0 + 6 * S);
    });

    it("without hooks, a boot goes straight to InService and a termination proceeds at once", () => {
      const h = harness();
      h.g.setDesiredCapacity(1);
      h.boot("i-1");
      assert.deepEqual(h.states(), ["i-1:InService"]);
      h.g.setDesiredCapacity(0);
      assert.deepEqual(h.events("termination_proceed"), [{ instanceId: "i-1", reason: "scale-in" }]);
    });
  });

  describe("failed boots and the breaker", () => {
    it("trips after N failed boots in the window: Launch suspended, the group tagged, no more launches", () => {
      const h = harness({ lifecycleHooks: HOOKS });
      const trips: unknown[] = [];
      const b = attachBootBreaker(h.g, { failures: 3, windowSeconds: 3600, onTrip: (t) => trips.push(t) });
      h.g.setDesiredCapacity(1);
      for (let k = 1; k <= 3; k++) {
        h.boot(`i-${k}`);
        h.g.completeLifecycleAction({ hookName: "spotq-launching", instanceId: `i-${k}`, result: "ABANDON" });
        h.settle();
      }
      assert.equal(trips.length, 1);
      assert.ok(h.g.isSuspended("Launch"));
      const tag = JSON.parse(h.g.tags()[BREAKER_TAG]);
      assert.equal(tag.failures, 3);
      assert.match(tag.reason, /3 failed boots within 1 h \(the last: i-3, launch lifecycle action ABANDON\)/);
      assert.deepEqual(h.g.instances(), [], "the boot loop stopped: nothing relaunches");
      assert.deepEqual(b.trip(), tag);
      // The operator resumes: launches go on, and the count starts afresh.
      h.g.deleteTags([BREAKER_TAG]);
      h.g.resumeProcesses(["Launch"]);
      assert.deepEqual(h.states(), ["i-4:Pending"]);
      assert.equal(b.failuresInWindow(), 0);
    });

    it("counts failures in the deployment's window on a scaled clock", () => {
      const h = harness({ lifecycleHooks: HOOKS, timeScale: 0.01 });
      const b = attachBootBreaker(h.g, { failures: 2, windowSeconds: 3600, timeScale: 0.01 });
      h.g.setDesiredCapacity(1);
      h.boot("i-1");
      h.g.serviceFailed("i-1", "worker exit 3 (preflight failed)");
      h.settle();
      h.advance(37 * S); // 3700 s of the deployment's clock: the first failure is out of the window
      h.boot("i-2");
      h.g.serviceFailed("i-2", "worker exit 3 (preflight failed)");
      assert.equal(b.failuresInWindow(), 1);
      assert.equal(h.g.isSuspended("Launch"), false);
    });

    it("a service failure after the launch completed is not a failed boot: the instance just leaves (a replacement)", () => {
      const h = harness({ lifecycleHooks: HOOKS });
      h.g.setDesiredCapacity(1);
      h.bootAll({ complete: true });
      h.g.serviceFailed("i-1", "worker crashed too often");
      assert.deepEqual(h.events("boot_failed"), []);
      assert.deepEqual(h.events("termination_started"), [{ instanceId: "i-1", reason: "service-failed", hook: true }]);
      // Nothing holds the terminate hook any more: the leave path completes it, the instance does not wait out the timeout.
      assert.ok(
        (h.events("lifecycle_action") as LifecycleActionEvent<number>[]).some((e) => e.transition === TERMINATING && e.phase === "completed" && e.result === "CONTINUE" && e.by === "service"),
        "the terminate hook completed by the leave path",
      );
    });

    it("debug mode keeps a failed instance out of service (Standby) and launches a replacement", () => {
      const h = harness({ lifecycleHooks: HOOKS, keepFailedInstances: true });
      h.g.setDesiredCapacity(1);
      h.boot("i-1");
      h.advance(600 * S);
      assert.deepEqual(h.events("boot_failed"), [{ instanceId: "i-1", cause: "launch lifecycle action timed out (default result ABANDON)", kept: true }]);
      assert.deepEqual(h.states(), ["i-1:Standby", "i-2:Pending"]);
    });

    it("without a launch hook, a boot failure (user data, exit 2/3) terminates without decrement", () => {
      const h = harness();
      h.g.setDesiredCapacity(1);
      h.boot("i-1");
      h.g.serviceFailed("i-1", "user data failed", { bootFailureWithoutHook: true });
      assert.deepEqual(h.events("termination_started"), [{ instanceId: "i-1", reason: "boot-failed", hook: false }]);
      assert.equal(h.events("boot_failed").length, 1);
      assert.ok(h.g.instance("i-2"));
    });
  });

  describe("launch failures", () => {
    it("InsufficientInstanceCapacity in one zone: a failed activity and event, then a retry in another pool after the backoff", () => {
      const h = harness();
      h.g.injectLaunchFailure({ code: "InsufficientInstanceCapacity", availabilityZone: "za" });
      h.g.setDesiredCapacity(1);
      const [failed] = h.events("launch_failed");
      assert.equal(failed.detailType, "EC2 Instance Launch Unsuccessful");
      assert.equal(failed.errorCode, "InsufficientInstanceCapacity");
      assert.equal(failed.availabilityZone, "za");
      assert.equal(failed.instanceType, "t1");
      assert.match(failed.statusMessage, /We currently do not have sufficient t1 capacity in the Availability Zone you requested \(za\)\..*choosing zb\. Launching EC2 instance failed\./);
      assert.equal(failed.retryAt, T0 + 10 * S);
      assert.equal(h.g.activities()[0].statusCode, "Failed");
      assert.deepEqual(h.g.instances(), []);
      h.advance(9 * S);
      assert.deepEqual(h.g.instances(), [], "nothing before the backoff");
      h.advance(1 * S);
      assert.equal(h.events("launch_failed").length, 2, "t2 in za fails too (the rule covers the zone)");
      h.advance(20 * S);
      const [i] = h.g.instances();
      assert.deepEqual([i.availabilityZone, i.instanceType], ["zb", "t1"], "then another zone");
    });

    it("the vCPU quota fails every pool; retries back off 10, 20, 40 ... s up to 300 s; clearing launches at once", () => {
      const h = harness({ desiredCapacity: 1 });
      h.g.injectLaunchFailure({ code: "VcpuLimitExceeded" });
      h.g.tick();
      const waits: number[] = [];
      for (let k = 0; k < 7; k++) {
        const next = h.g.nextDeadline()!;
        waits.push((next - h.now()) / S);
        h.advance(next - h.now());
      }
      assert.deepEqual(waits, [10, 20, 40, 80, 160, 300, 300]);
      assert.match(h.events("launch_failed")[0].statusMessage, /vCPU limit/);
      h.g.clearLaunchFailures();
      h.g.tick();
      assert.equal(h.g.instances().length, 1);
    });

    it("a rule with a count clears itself", () => {
      const h = harness();
      h.g.injectLaunchFailure({ code: "InsufficientInstanceCapacity", count: 1 });
      h.g.setDesiredCapacity(1);
      assert.equal(h.events("launch_failed").length, 1);
      h.advance(10 * S);
      assert.equal(h.g.instances().length, 1);
      assert.deepEqual(h.g.launchFailureRules(), []);
    });

    it("refuses a rule for a zone or type the group does not have", () => {
      const h = harness();
      assert.throws(() => h.g.injectLaunchFailure({ code: "InsufficientInstanceCapacity", availabilityZone: "zz" }), /availabilityZone zz/);
      assert.throws(() => h.g.injectLaunchFailure({ code: "InsufficientInstanceCapacity", instanceType: "p5.48xlarge" }), /instanceType p5/);
    });
  });

  describe("Capacity Rebalancing", () => {
    it("launches a replacement first and terminates the at-risk instance (through its hook) once the replacement is InService", () => {
      const h = harness({ capacityRebalance: true, lifecycleHooks: HOOKS, desiredCapacity: 1 });
      h.g.tick();
      h.bootAll({ complete: true });
      h.g.setInstanceProtection(["i-1"], true);
      h.g.rebalanceRecommended("i-1");
      assert.deepEqual(h.states(), ["i-1:InService", "i-2:Pending"], "launch before terminate");
      assert.deepEqual(h.events("capacity_rebalance"), [{ instanceId: "i-1", phase: "replacement-launched", replacementId: "i-2" }]);
      h.boot("i-2");
      assert.equal(h.g.instance("i-1")?.lifecycleState, "InService", "the old one stays while the replacement waits in Pending:Wait");
      h.g.completeLifecycleAction({ hookName: "spotq-launching", instanceId: "i-2", result: "CONTINUE" });
      assert.deepEqual(h.states(), ["i-1:Terminating:Wait", "i-2:InService"], "scale-in protection does not keep an at-risk instance; its hook gives the worker time");
      assert.equal(h.g.desiredCapacity, 1);
      h.g.completeLifecycleAction({ hookName: "spotq-terminating", instanceId: "i-1", result: "CONTINUE" });
      h.settle();
      assert.deepEqual(h.states(), ["i-2:InService"]);
    });

    it("does nothing but post the notice when Capacity Rebalancing is off", () => {
      const h = harness({ capacityRebalance: false, desiredCapacity: 1 });
      h.g.tick();
      h.bootAll();
      h.g.rebalanceRecommended("i-1");
      assert.deepEqual(h.states(), ["i-1:InService"]);
    });

    it("may exceed max size by one instance (or 10 %) while rebalancing, and waits beyond that", () => {
      const h = harness({ capacityRebalance: true, maxSize: 2, desiredCapacity: 2 });
      h.g.tick();
      h.bootAll();
      h.g.rebalanceRecommended("i-1");
      h.g.rebalanceRecommended("i-2");
      assert.equal(h.g.activeInstances().length, 3, "max 2 + 1");
      assert.deepEqual(
        h.events("capacity_rebalance").map((e) => e.phase),
        ["replacement-launched", "blocked"],
      );
      h.boot("i-3");
      h.settle();
      assert.deepEqual(h.states(), ["i-2:InService", "i-3:InService", "i-4:Pending"], "the second replacement once the first old one left");
    });

    it("a replacement that fails to boot gets another", () => {
      const h = harness({ capacityRebalance: true, lifecycleHooks: HOOKS, desiredCapacity: 1 });
      h.g.tick();
      h.bootAll({ complete: true });
      h.g.rebalanceRecommended("i-1");
      h.boot("i-2");
      h.g.completeLifecycleAction({ hookName: "spotq-launching", instanceId: "i-2", result: "ABANDON" });
      h.settle();
      assert.deepEqual(h.states(), ["i-1:InService", "i-3:Pending"]);
    });
  });

  describe("AZ rebalancing", () => {
    /** Two instances forced into zb by capacity trouble in za, then za recovers. */
    function unbalanced(suspend: string[] = []) {
      const h = harness({ desiredCapacity: 0 });
      h.g.suspendProcesses(suspend.length ? suspend : ["ScheduledActions"]);
      h.g.injectLaunchFailure({ code: "InsufficientInstanceCapacity", availabilityZone: "za" });
      h.g.setDesiredCapacity(2);
      h.advance(10 * S);
      h.advance(20 * S);
      h.bootAll();
      assert.deepEqual(
        h.g.instances().map((i) => i.availabilityZone),
        ["zb", "zb"],
      );
      return h;
    }

    it("launches in the under-represented zone first, then terminates in the over-represented one", () => {
      const h = unbalanced();
      h.g.clearLaunchFailures();
      const launched = h.g.instances().at(-1)!;
      assert.equal(launched.availabilityZone, "za");
      assert.equal(h.g.instances().length, 3, "the old instance stays until the new one is InService");
      h.boot(launched.instanceId);
      const [e] = h.events("az_rebalance").filter((x) => x.phase === "terminating");
      assert.deepEqual(e, { phase: "terminating", fromZone: "zb", toZone: "za", instanceId: "i-1", replacementId: launched.instanceId });
      h.settle();
      assert.deepEqual(
        h.g.instances().map((i) => i.availabilityZone).sort(),
        ["za", "zb"],
      );
    });

    it("does nothing while AZRebalance is suspended", () => {
      const h = unbalanced(["AZRebalance"]);
      h.g.clearLaunchFailures();
      assert.equal(h.g.instances().length, 2);
      assert.deepEqual(h.events("az_rebalance"), []);
    });

    it("never rebalances away a protected instance", () => {
      const h = unbalanced();
      h.g.setInstanceProtection(["i-1", "i-2"], true);
      h.g.clearLaunchFailures();
      assert.equal(h.g.instances().length, 2);
    });
  });

  describe("health", () => {
    it("SetInstanceHealth Unhealthy: terminated through the hook even when protected, and replaced", () => {
      const h = harness({ lifecycleHooks: HOOKS, desiredCapacity: 1, newInstancesProtectedFromScaleIn: true });
      h.g.tick();
      h.bootAll({ complete: true });
      h.g.setInstanceHealth("i-1", "Unhealthy");
      assert.deepEqual(h.states(), ["i-1:Terminating:Wait", "i-2:Pending"]);
      assert.equal(h.g.describe().instances[0].healthStatus, "Unhealthy");
      assert.deepEqual(h.events("termination_started"), [{ instanceId: "i-1", reason: "unhealthy", hook: true }]);
    });

    it("keeps an Unhealthy instance while ReplaceUnhealthy is suspended, and replaces it on resume", () => {
      const h = harness({ desiredCapacity: 1 });
      h.g.tick();
      h.bootAll();
      h.g.suspendProcesses(["ReplaceUnhealthy"]);
      h.g.setInstanceHealth("i-1", "Unhealthy");
      assert.deepEqual(h.states(), ["i-1:InService"]);
      h.g.resumeProcesses(["ReplaceUnhealthy"]);
      assert.equal(h.g.instance("i-1")?.lifecycleState, "Terminating");
    });

    it("refuses an unknown instance or status", () => {
      const h = harness();
      assert.throws(() => h.g.setInstanceHealth("i-9", "Unhealthy"), /Instance Id not found/);
      h.g.addInstance("i-9");
      assert.throws(() => h.g.setInstanceHealth("i-9", "Sick" as never), /healthStatus/);
    });
  });

  describe("instance refresh", () => {
    /** Desired 2, both on version 1 and warm; the template is then bumped to 2. */
    function running(options: Partial<LocalGroupOptions> = {}) {
      const h = harness({ desiredCapacity: 2, defaultInstanceWarmup: 60, ...options });
      h.g.tick();
      h.bootAll();
      h.advance(60 * S);
      h.g.bumpLaunchTemplateVersion();
      return h;
    }
    const refresh = (h: ReturnType<typeof harness>) => h.g.instanceRefreshes()[0];

    it("replaces instances in batches that keep MinHealthyPercentage, waiting for each to warm up", () => {
      const h = running();
      h.g.startInstanceRefresh({ preferences: { minHealthyPercentage: 50 } });
      assert.deepEqual(h.states(), ["i-1:Terminating", "i-2:InService", "i-3:Pending"], "one at a time keeps 50 % of 2 healthy; terminate, then launch");
      h.settle();
      const [n3] = h.g.instances().filter((i) => i.instanceId === "i-3");
      assert.equal(n3.launchTemplateVersion, "2", "replacements launch with the new version");
      h.boot("i-3");
      h.advance(59 * S);
      assert.equal(h.g.instance("i-2")?.lifecycleState, "InService", "not before the warmup ends");
      assert.equal(refresh(h).percentageComplete, 50);
      h.advance(1 * S);
      assert.equal(h.g.instance("i-2")?.lifecycleState, "Terminating");
      h.settle();
      h.boot("i-4");
      h.advance(60 * S);
      assert.equal(refresh(h).status, "Successful");
      assert.equal(refresh(h).percentageComplete, 100);
      assert.equal(h.g.launchTemplateVersion, "2");
      assert.deepEqual(
        h.events("instance_refresh").map((e) => e.status).filter((s, i, a) => a[i - 1] !== s),
        ["Pending", "InProgress", "Successful"],
      );
    });

    it("MinHealthyPercentage 0 replaces everything at once", () => {
      const h = running();
      h.g.startInstanceRefresh({ preferences: { minHealthyPercentage: 0 } });
      assert.deepEqual(h.states(), ["i-1:Terminating", "i-2:Terminating", "i-3:Pending", "i-4:Pending"]);
    });

    it("SkipMatching leaves instances already on the desired version", () => {
      const h = running();
      h.g.setDesiredCapacity(3);
      h.bootAll();
      h.advance(60 * S);
      h.g.startInstanceRefresh({ preferences: { skipMatching: true, minHealthyPercentage: 0 } });
      assert.deepEqual(h.states(), ["i-1:Terminating", "i-2:Terminating", "i-3:InService", "i-4:Pending", "i-5:Pending"]);
      assert.equal(refresh(h).instancesToUpdate, 2);
    });

    it("Wait: a protected (busy) instance is never replaced until it is unprotected", () => {
      const h = running();
      h.g.setInstanceProtection(["i-2"], true);
      h.g.startInstanceRefresh({ preferences: { minHealthyPercentage: 50, scaleInProtectedInstances: "Wait" } });
      h.settle();
      h.boot("i-3");
      h.advance(60 * S);
      h.advance(30 * 60 * S);
      assert.equal(h.g.instance("i-2")?.lifecycleState, "InService", "busy: left alone");
      assert.equal(refresh(h).status, "InProgress");
      h.g.setInstanceProtection(["i-2"], false);
      assert.equal(h.g.instance("i-2")?.lifecycleState, "Terminating", "replaced as soon as it is idle");
    });

    it("Wait: fails after an hour of protected instances", () => {
      const h = running();
      h.g.setInstanceProtection(["i-1", "i-2"], true);
      h.g.startInstanceRefresh({ preferences: { scaleInProtectedInstances: "Wait" } });
      h.advance(3599 * S);
      assert.equal(refresh(h).status, "InProgress");
      h.advance(1 * S);
      assert.equal(refresh(h).status, "Failed");
      assert.match(refresh(h).statusReason!, /protected from scale in/);
      assert.equal(h.g.launchTemplateVersion, "2", "a failed refresh does not roll back the group's template");
    });

    it("Ignore skips protected instances; Refresh replaces them too", () => {
      const ignore = running();
      ignore.g.setInstanceProtection(["i-2"], true);
      ignore.g.startInstanceRefresh({ preferences: { minHealthyPercentage: 0, scaleInProtectedInstances: "Ignore" } });
      assert.deepEqual(ignore.states(), ["i-1:Terminating", "i-2:InService", "i-3:Pending"]);
      const replace = running();
      replace.g.setInstanceProtection(["i-2"], true);
      replace.g.startInstanceRefresh({ preferences: { minHealthyPercentage: 0, scaleInProtectedInstances: "Refresh" } });
      assert.deepEqual(replace.states(), ["i-1:Terminating", "i-2:Terminating", "i-3:Pending", "i-4:Pending"]);
    });

    it("one at a time; cancel lets the replacement under way finish", () => {
      const h = running();
      h.g.startInstanceRefresh({ preferences: { minHealthyPercentage: 100 } });
      assert.throws(() => h.g.startInstanceRefresh(), (e: Error) => e instanceof AutoScalingError && e.code === "InstanceRefreshInProgress");
      h.g.cancelInstanceRefresh();
      assert.equal(refresh(h).status, "Cancelling");
      h.settle();
      h.boot("i-3");
      h.advance(60 * S);
      assert.equal(refresh(h).status, "Cancelled");
      assert.equal(h.g.instance("i-2")?.lifecycleState, "InService", "no new replacement after the cancel");
      assert.throws(() => h.g.cancelInstanceRefresh(), (e: Error) => e instanceof AutoScalingError && e.code === "ActiveInstanceRefreshNotFound");
    });
  });

  describe("processes, scale-in and tags", () => {
    it("suspending Launch stops launches; resuming launches at once", () => {
      const h = harness();
      h.g.suspendProcesses(["Launch"]);
      h.g.setDesiredCapacity(2);
      assert.deepEqual(h.g.instances(), []);
      assert.deepEqual(
        h.g.suspendedProcesses().map((p) => p.processName),
        ["Launch"],
      );
      assert.match(h.g.suspendedProcesses()[0].suspensionReason, /^User suspended at 2026-01-05T10:00:00Z$/);
      h.g.resumeProcesses(["Launch"]);
      assert.equal(h.g.instances().length, 2);
    });

    it("suspends every process when none is named, and refuses an unknown one", () => {
      const h = harness();
      h.g.suspendProcesses();
      assert.equal(h.g.suspendedProcesses().length, 9);
      assert.throws(() => h.g.resumeProcesses(["Lunch"]), /Invalid process name: Lunch/);
    });

    it("scale-in takes from the zone with the most instances first", () => {
      const h = harness({ desiredCapacity: 3 });
      h.g.tick();
      h.bootAll();
      const zones = h.g.instances().map((i) => `${i.instanceId}:${i.availabilityZone}`);
      assert.deepEqual(zones, ["i-1:za", "i-2:zb", "i-3:za"]);
      h.g.setDesiredCapacity(2);
      assert.equal(h.g.instance("i-1")?.lifecycleState, "Terminating", "the oldest of the fuller zone za");
    });

    it("never reports a deadline already passed (the fleet's timer would spin)", () => {
      const h = harness({ desiredCapacity: 1, defaultInstanceWarmup: 0 });
      h.g.injectLaunchFailure({ code: "VcpuLimitExceeded" });
      h.g.tick();
      h.g.setDesiredCapacity(0);
      h.advance(60 * S);
      assert.equal(h.g.nextDeadline(), undefined, "no launch is due any more");
      h.g.clearLaunchFailures();
      h.g.setDesiredCapacity(1);
      h.bootAll();
      h.g.setInstanceProtection(["i-1"], true);
      h.g.bumpLaunchTemplateVersion();
      h.g.startInstanceRefresh({ preferences: { scaleInProtectedInstances: "Wait" } });
      h.g.suspendProcesses(["InstanceRefresh"]);
      h.advance(7200 * S);
      const next = h.g.nextDeadline();
      assert.ok(next === undefined || next > h.now(), `next deadline ${next} is in the past`);
    });

    it("keeps tags: set, overwrite, delete", () => {
      const h = harness();
      h.g.setTags([{ key: "a", value: "1" }]);
      h.g.setTags([{ key: "a", value: "2" }, { key: "b", value: "3" }]);
      h.g.deleteTags(["b", "nope"]);
      assert.deepEqual(h.g.tags(), { a: "2" });
    });
  });
});
