import assert from "node:assert/strict";
import { Imdsv2Metadata } from "../../../aws/instance-metadata.ts";
import { IDLE_PROCESS, useLocalFleet } from "./fleet-helpers.ts";

describe("local fleet: the HTTP control surface", function () {
  this.timeout(60_000);
  const env = useLocalFleet({ launch: IDLE_PROCESS, spotNoticeSeconds: 30 });

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(env().fleet.controlEndpoint + path, {
      method,
      ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
    });
    return { status: res.status, body: await res.json() };
  }

  /** Sets desired to `n` through the API and waits for the instances to be in service. */
  async function scaleTo(n: number) {
    const r = await call("POST", "/desired", { desired: n });
    assert.equal(r.status, 200);
    return Promise.all(Array.from({ length: n }, (_, i) => env().events.waitFor("instance_in_service", () => true, { count: i + 1 })));
  }

  it("lists the instances with state, protection, pid, restarts, folder and IMDS endpoint", async () => {
    const [a] = await scaleTo(1);
    const r = await call("GET", "/instances");
    assert.equal(r.status, 200);
    assert.equal(r.body.instances.length, 1);
    const i = r.body.instances[0];
    assert.equal(i.instanceId, a.instanceId);
    assert.equal(i.lifecycleState, "InService");
    assert.equal(i.protectedFromScaleIn, true);
    assert.equal(i.pid, a.pid);
    assert.equal(i.restarts, 0);
    assert.ok(i.dir.endsWith(a.instanceId));
    assert.match(i.imdsEndpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual((await call("GET", `/instances/${a.instanceId}`)).body, i);
  });

  it("shows the group: sizes, desired, instance count, the Auto Scaling endpoint, template version, processes and breaker", async () => {
    await scaleTo(2);
    const r = await call("GET", "/group");
    assert.equal(r.status, 200);
    const { autoscalingEndpoint, suspendedProcesses, ...rest } = r.body;
    assert.deepEqual(rest, {
      name: "spotq-workers",
      minSize: 0,
      maxSize: 4,
      desiredCapacity: 2,
      instances: 2,
      newInstancesProtectedFromScaleIn: true,
      availabilityZones: ["us-east-1a", "us-east-1b"],
      instanceTypes: ["g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge", "g5.2xlarge"],
      launchTemplateVersion: "1",
      capacityRebalance: true,
      lifecycleHooks: [],
      tags: {},
      breaker: { open: false, failuresInWindow: 0, failures: 3, windowSeconds: 3600 },
    });
    assert.equal(autoscalingEndpoint, env().fleet.autoscalingEndpoint);
    assert.deepEqual(
      suspendedProcesses.map((p: { processName: string }) => p.processName),
      ["AZRebalance"],
    );
    assert.match(suspendedProcesses[0].suspensionReason, /^User suspended at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it("sets desired capacity, refusing what AWS refuses", async () => {
    assert.deepEqual(await call("POST", "/desired", { desired: 1 }), { status: 200, body: { before: 0, after: 1 } });
    const tooMany = await call("POST", "/desired", { desired: 9 });
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.body.error.code, "ValidationError");
    assert.equal(tooMany.body.error.message, "New SetDesiredCapacity value 9 is above max value 4 for the AutoScalingGroup.");
    const notNumber = await call("POST", "/desired", { desired: "two" });
    assert.equal(notNumber.status, 400);
    assert.deepEqual(notNumber.body.error.problems, [{ field: "desired", reason: 'must be a whole number, got "two"' }]);
    const badJson = await call("POST", "/desired", "{desired");
    assert.deepEqual(badJson.body.error.problems, [{ field: "body", reason: "is not valid JSON" }]);
    assert.equal(env().fleet.group.desiredCapacity, 1);
  });

  it("kills a worker process, which its service manager restarts", async () => {
    const [a] = await scaleTo(1);
    const r = await call("POST", `/instances/${a.instanceId}/kill`);
    assert.deepEqual(r, { status: 202, body: { instanceId: a.instanceId, killedPid: a.pid } });
    const restarted = await env().events.waitFor("worker_restarted");
    assert.equal(restarted.instanceId, a.instanceId);
    assert.equal((await call("GET", `/instances/${a.instanceId}`)).body.restarts, 1);
  });

  it("injects a Spot interruption: the notice is in IMDS at once and the instance goes at its time", async () => {
    const [a] = await scaleTo(1);
    const r = await call("POST", `/instances/${a.instanceId}/interrupt`, { action: "stop", noticeSeconds: 0.5 });
    assert.equal(r.status, 202);
    assert.equal(r.body.action, "stop");
    const imds = new Imdsv2Metadata({ endpoint: env().fleet.instance(a.instanceId)!.imdsEndpoint });
    assert.deepEqual(await imds.spotInterruption(), { action: "stop", time: r.body.time });
    assert.deepEqual(await env().events.waitFor("instance_terminated"), { instanceId: a.instanceId, reason: "spot-interruption" });
    await env().events.waitFor("instance_in_service", (e) => e.instanceId !== a.instanceId);
  });

  it("posts a rebalance recommendation", async () => {
    const [a] = await scaleTo(1);
    const r = await call("POST", `/instances/${a.instanceId}/rebalance`);
    assert.equal(r.status, 202);
    const imds = new Imdsv2Metadata({ endpoint: env().fleet.instance(a.instanceId)!.imdsEndpoint });
    assert.deepEqual(await imds.rebalanceRecommendation(), { noticeTime: r.body.noticeTime });
  });

  it("kills an instance outright, and the group replaces it", async () => {
    const [a] = await scaleTo(1);
    assert.equal((await call("POST", `/instances/${a.instanceId}/kill-instance`)).status, 202);
    assert.deepEqual(await env().events.waitFor("instance_terminated"), { instanceId: a.instanceId, reason: "killed" });
    await env().events.waitFor("instance_in_service", (e) => e.instanceId !== a.instanceId);
  });

  it("answers 404 for an unknown instance or route, and 400 for a bad Spot action", async () => {
    const unknown = await call("POST", "/instances/i-0ffffffffffffffff/interrupt");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, "UNKNOWN_INSTANCE");
    assert.equal((await call("GET", "/nothing")).status, 404);
    const [a] = await scaleTo(1);
    const bad = await call("POST", `/instances/${a.instanceId}/interrupt`, { action: "reboot" });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.problems, [{ field: "action", reason: "must be one of terminate, stop, hibernate" }]);
    assert.equal(env().fleet.instance(a.instanceId)?.spotInterruption, undefined);
  });

  it("injects launch failures, validates them, lists and clears them", async () => {
    const bad = await call("POST", "/launch-failures", { code: "Nope" });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.problems, [{ field: "code", reason: "must be one of InsufficientInstanceCapacity, VcpuLimitExceeded" }]);
    const zone = await call("POST", "/launch-failures", { code: "InsufficientInstanceCapacity", availabilityZone: "us-east-9z" });
    assert.equal(zone.status, 400);
    assert.match(zone.body.error.message, /availabilityZone us-east-9z is not a zone of group spotq-workers/);
    const r = await call("POST", "/launch-failures", { code: "VcpuLimitExceeded", count: 2 });
    assert.equal(r.status, 201);
    assert.deepEqual(r.body.rules, [{ code: "VcpuLimitExceeded", remaining: 2 }]);
    assert.deepEqual((await call("GET", "/launch-failures")).body.rules, [{ code: "VcpuLimitExceeded", remaining: 2 }]);
    await call("POST", "/desired", { desired: 1 });
    const failed = await env().events.waitFor("launch_failed");
    assert.equal(failed.errorCode, "VcpuLimitExceeded");
    assert.deepEqual((await call("DELETE", "/launch-failures")).body.rules, []);
    await env().events.waitFor("instance_in_service");
  });

  it("injects boot failures: the next launch fails at user data; the breaker shows the failed boot", async () => {
    assert.equal((await call("POST", "/boot-failures", { count: 0 })).status, 400);
    assert.deepEqual((await call("POST", "/boot-failures", { mode: "melt" })).body.error.problems, [{ field: "mode", reason: "must be one of user-data, hang" }]);
    const r = await call("POST", "/boot-failures", { count: 1 });
    assert.deepEqual(r, { status: 201, body: { pending: [{ mode: "user-data", remaining: 1 }] } });
    await call("POST", "/desired", { desired: 1 });
    const failed = await env().events.waitFor("boot_failed");
    assert.equal(failed.cause, "user data failed (injected)");
    const b = (await call("GET", "/breaker")).body;
    assert.deepEqual({ open: b.open, failuresInWindow: b.failuresInWindow }, { open: false, failuresInWindow: 1 });
    assert.deepEqual((await call("GET", "/boot-failures")).body.pending, []);
  });

  it("marks an instance Unhealthy, and the group replaces it", async () => {
    const [a] = await scaleTo(1);
    assert.equal((await call("POST", `/instances/${a.instanceId}/health`, { status: "Sick" })).status, 400);
    assert.deepEqual(await call("POST", `/instances/${a.instanceId}/health`, { status: "Unhealthy" }), {
      status: 202,
      body: { instanceId: a.instanceId, healthStatus: "Unhealthy" },
    });
    assert.deepEqual(await env().events.waitFor("instance_terminated"), { instanceId: a.instanceId, reason: "unhealthy" });
  });

  it("bumps the launch template version and runs an instance refresh; a second one is refused", async () => {
    const [a] = await scaleTo(1);
    env().fleet.group.setInstanceProtection([a.instanceId], false);
    assert.deepEqual((await call("POST", "/launch-template")).body, { before: "1", after: "2" });
    assert.equal((await call("POST", "/instance-refresh", { scaleInProtectedInstances: "Never" })).status, 400);
    const r = await call("POST", "/instance-refresh", { minHealthyPercentage: 0, instanceWarmup: 0 });
    assert.equal(r.status, 201);
    const again = await call("POST", "/instance-refresh", {});
    assert.equal(again.status, 400);
    assert.equal(again.body.error.code, "InstanceRefreshInProgress");
    await env().events.waitFor("instance_refresh", (e) => e.status === "Successful");
    const list = (await call("GET", "/instance-refresh")).body.instanceRefreshes;
    assert.equal(list[0].instanceRefreshId, r.body.instanceRefreshId);
    assert.equal(list[0].status, "Successful");
    assert.equal((await call("GET", "/group")).body.launchTemplateVersion, "2");
    assert.equal((await call("DELETE", "/instance-refresh")).body.error.code, "ActiveInstanceRefreshNotFound");
  });
});
