import assert from "node:assert/strict";
import { resourceNames } from "../../../core/names.ts";
import type { FleetControl } from "../../../core/ports.ts";
import { TEST_CONFIG, useWorkerTestBed } from "../../support/worker-stack.ts";
import { awsError, interceptQueue, lifecycleMetadata, recordingFleet, type FleetCall } from "../../support/worker-stubs.ts";

const HOOKS = resourceNames("wtest");

/** The calls a test cares about, as short strings: "complete wtest-launching CONTINUE", "heartbeat ...". */
function shown(calls: FleetCall[]): string[] {
  return calls.flatMap((c) =>
    c.call === "complete" ? [`complete ${c.hook} ${c.result}`] : c.call === "heartbeat" ? [`heartbeat ${c.hook}`] : c.call === "terminate" ? [`terminate decrement=${c.decrement}`] : c.call === "setHealth" ? [`setHealth ${c.status}`] : [],
  );
}

describe("worker: lifecycle hooks, the target lifecycle state and what a terminating group gets (stubs of the new Auto Scaling calls)", function () {
  this.timeout(90_000);
  const { bed } = useWorkerTestBed(TEST_CONFIG);

  describe("launch hook", () => {
    it("completes it CONTINUE after the preflight passed and before the first poll", async () => {
      const b = bed();
      const timeline: string[] = [];
      let fleet: ReturnType<typeof recordingFleet> | undefined;
      const w = await b.startWorker({
        deps: (d) => {
          fleet = recordingFleet(d.fleet!, {
            completeLifecycleAction: async (hook, _id, result) => void timeline.push(`complete ${hook} ${result}`),
          });
          return {
            ...d,
            fleet,
            queue: interceptQueue(d.queue, { receive: (o) => (timeline.push("receive"), d.queue.receive(o)) }),
          };
        },
        beforeStart: (tw) => void tw.worker.on("preflight", (e) => timeline.push(`preflight ${e.trigger} ${e.ok}`)),
      });
      const job = await b.submit({ "a.txt": "a" });
      await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
      assert.deepEqual(timeline.slice(0, 3), ["preflight boot true", `complete ${HOOKS.launchHook} CONTINUE`, "receive"]);
      const action = await w.events.waitFor("lifecycle_action");
      assert.deepEqual(action, { hook: HOOKS.launchHook, result: "CONTINUE", outcome: "completed" });
      assert.deepEqual(shown(fleet!.calls), [`complete ${HOOKS.launchHook} CONTINUE`]);
    });

    it("runs on a group without lifecycle hooks: the refusal is logged as nothing to complete", async () => {
      const b = bed();
      // The local Auto Scaling endpoint answers as AWS does for a group without a launch hook.
      const w = await b.startWorker();
      const action = await w.events.waitFor("lifecycle_action");
      assert.equal(action.outcome, "no-action");
      assert.match(action.message!, /^ValidationError: .*No active Lifecycle Action found/);
      const job = await b.submit({ "a.txt": "a" });
      await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    });

    it("tolerates an endpoint that does not serve CompleteLifecycleAction at all (InvalidAction)", async () => {
      const b = bed();
      const w = await b.startWorker({
        deps: (d) => ({
          ...d,
          fleet: recordingFleet(d.fleet!, {
            completeLifecycleAction: async () => {
              throw awsError("InvalidAction", "The action CompleteLifecycleAction is not valid for this web service.");
            },
          }),
        }),
      });
      assert.equal((await w.events.waitFor("lifecycle_action")).outcome, "no-action");
      const job = await b.submit({ "a.txt": "a" });
      await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    });

    it("tries a completion that failed for another reason again, before it polls", async () => {
      const b = bed();
      let calls = 0;
      const timeline: string[] = [];
      const w = await b.startWorker({
        deps: (d) => ({
          ...d,
          fleet: recordingFleet(d.fleet!, {
            completeLifecycleAction: async () => {
              timeline.push(`complete ${++calls}`);
              if (calls === 1) throw awsError("Throttling", "Rate exceeded");
            },
          }),
          queue: interceptQueue(d.queue, { receive: (o) => (timeline.push("receive"), d.queue.receive(o)) }),
        }),
      });
      await w.events.waitFor("lifecycle_action", (e) => e.outcome === "completed");
      assert.deepEqual(
        w.events.all("lifecycle_action").map((e) => e.outcome),
        ["failed", "completed"],
      );
      await w.events.waitFor("protection_changed");
      const job = await b.submit({ "a.txt": "a" });
      await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
      assert.deepEqual(timeline.slice(0, 3), ["complete 1", "complete 2", "receive"]);
    });

    it("a failed preflight completes it ABANDON, says why, takes no work and stops (main exits 3)", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" });
      let fleet: ReturnType<typeof recordingFleet> | undefined;
      const w = await b.startWorker({
        config: { fleet: { preflight: { gpuCheck: [process.execPath, "-e", "console.error('NVIDIA-SMI has failed'); process.exit(9)"], minFreeDiskGiB: 0 } } },
        deps: (d) => ({ ...d, fleet: (fleet = recordingFleet(d.fleet!)) }),
      });
      assert.equal(await w.worker.done, "preflight-failed");
      const preflight = await w.events.waitFor("preflight");
      assert.equal(preflight.ok, false);
      assert.match(preflight.checks.find((c) => c.name === "gpu")!.detail, /exited with code 9: NVIDIA-SMI has failed/);
      assert.ok(w.events.all("warning").some((e) => /preflight failed, taking no work: gpu: /.test(e.message)));
      assert.deepEqual(shown(fleet!.calls), [`complete ${HOOKS.launchHook} ABANDON`]);
      assert.deepEqual(w.events.all("message_received"), []);
      assert.deepEqual(await b.queue.depth(), { visible: 1, inFlight: 0, delayed: 0 });
      assert.equal((await b.record(job.jobId)).state, "QUEUED");
    });

    it("with fleet.debugKeepFailedInstances, a failed preflight leaves the launch hook alone (the instance is kept)", async () => {
      const b = bed();
      let fleet: ReturnType<typeof recordingFleet> | undefined;
      const w = await b.startWorker({
        config: { fleet: { debugKeepFailedInstances: true, preflight: { gpuCheck: [process.execPath, "-e", "process.exit(9)"], minFreeDiskGiB: 0 } } },
        deps: (d) => ({ ...d, fleet: (fleet = recordingFleet(d.fleet!)) }),
      });
      assert.equal(await w.worker.done, "preflight-failed");
      assert.deepEqual(shown(fleet!.calls), []);
      assert.ok(w.events.all("warning").some((e) => /debugKeepFailedInstances is on/.test(e.message)));
    });
  });

  describe("terminate hook (IMDS target lifecycle state Terminated)", () => {
    /** A worker whose IMDS serves the target lifecycle state and whose group has its hooks. */
    async function hooked(b: ReturnType<typeof bed>, o: Parameters<ReturnType<typeof bed>["startWorker"]>[0] = {}, fleetOverrides: Partial<FleetControl> = {}) {
      let fleet: ReturnType<typeof recordingFleet> | undefined;
      let metadata: ReturnType<typeof lifecycleMetadata> | undefined;
      const w = await b.startWorker({
        ...o,
        deps: (d) => ({ ...d, fleet: (fleet = recordingFleet(d.fleet!, fleetOverrides)), metadata: (metadata = lifecycleMetadata(d.metadata!)) }),
      });
      return { w, fleet: fleet!, metadata: metadata! };
    }

    it("idle: completes it CONTINUE and stops", async () => {
      const b = bed();
      const { w, fleet, metadata } = await hooked(b);
      await w.events.waitFor("target_lifecycle", (e) => e.state === "InService");
      metadata.target = "Terminated";
      assert.equal(await w.worker.done, "instance-terminating");
      assert.deepEqual(shown(fleet.calls), [`complete ${HOOKS.launchHook} CONTINUE`, `complete ${HOOKS.terminateHook} CONTINUE`]);
    });

    it("mid-job without a Spot notice: finishes the job, heartbeating the hook, then completes it CONTINUE", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "sleep=2500" });
      const { w, fleet, metadata } = await hooked(b, { options: { lifecycleHeartbeatSeconds: 0.3 } });
      await w.events.waitFor("job_phase", (e) => e.jobId === job.jobId && e.phase === "process");
      metadata.target = "Terminated";
      const draining = await w.events.waitFor("draining");
      assert.equal(draining.reason, "terminating");
      const second = await b.submit({ "a.txt": "a" });
      assert.equal(await w.worker.done, "instance-terminating");
      assert.equal((await b.record(job.jobId)).state, "SUCCEEDED");
      assert.deepEqual(w.events.all("job_interrupted"), []);
      const calls = shown(fleet.calls);
      assert.ok(calls.filter((c) => c === `heartbeat ${HOOKS.terminateHook}`).length >= 1, calls.join(", "));
      assert.equal(calls.at(-1), `complete ${HOOKS.terminateHook} CONTINUE`);
      assert.deepEqual(w.events.all("message_received", (e) => e.jobId === second.jobId), [], "no new job under the hook");
    });

    it("with a Spot notice up: hands the job back at once, then completes the hook", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "sleep=600000" });
      const { w, fleet, metadata } = await hooked(b);
      await w.events.waitFor("job_phase", (e) => e.jobId === job.jobId && e.phase === "process");
      w.imds.setSpotInterruption("terminate", 120);
      metadata.target = "Terminated";
      const interrupted = await w.events.waitFor("job_interrupted", (e) => e.jobId === job.jobId);
      assert.match(interrupted.reason, /spot-interruption/);
      assert.equal(await w.worker.done, "spot-interruption");
      assert.equal((await b.record(job.jobId)).state, "QUEUED");
      assert.equal(shown(fleet.calls).at(-1), `complete ${HOOKS.terminateHook} CONTINUE`);
    });

    it("when the job may outlast what the hook allows: hands it back at once", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "sleep=600000" });
      // 100 heartbeat timeouts of 30 s = 3000 s, less than the job's 5000 s limit.
      const { w, fleet, metadata } = await hooked(b, { options: { jobTimeoutSeconds: 5000, terminateHookTimeoutSeconds: 30 } });
      await w.events.waitFor("job_phase", (e) => e.jobId === job.jobId && e.phase === "process");
      metadata.target = "Terminated";
      await w.events.waitFor("job_interrupted", (e) => e.jobId === job.jobId);
      assert.ok(w.events.all("warning").some((e) => /terminate hook: handing job .* back: the job may run 5000 s more, but the terminate hook holds the instance at most 3000 s/.test(e.message)));
      assert.equal(await w.worker.done, "instance-terminating");
      assert.equal(shown(fleet.calls).at(-1), `complete ${HOOKS.terminateHook} CONTINUE`);
    });

    it("a hook heartbeat refused because the action is gone (it timed out) hands the job back at once", async () => {
      const b = bed();
      const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "sleep=600000" });
      const { w, metadata } = await hooked(b, { options: { lifecycleHeartbeatSeconds: 0.2 } }, {
        recordLifecycleHeartbeat: async (_h, id) => {
          throw awsError("ValidationError", `No active Lifecycle Action found with instance ID ${id}`);
        },
      });
      await w.events.waitFor("job_phase", (e) => e.jobId === job.jobId && e.phase === "process");
      metadata.target = "Terminated";
      await w.events.waitFor("job_interrupted", (e) => e.jobId === job.jobId);
      assert.equal(await w.worker.done, "instance-terminating");
      assert.equal((await b.record(job.jobId)).state, "QUEUED");
    });

    it("after terminating itself when idle, completes the hook as soon as IMDS shows Terminated, not at the hook's timeout", async () => {
      const b = bed();
      b.asg.group.setDesiredCapacity(1);
      let metadata: ReturnType<typeof lifecycleMetadata> | undefined;
      let fleet: ReturnType<typeof recordingFleet> | undefined;
      const w = await b.startWorker({
        options: { idleTimeoutSeconds: 1 },
        deps: (d) => {
          metadata = lifecycleMetadata(d.metadata!);
          fleet = recordingFleet(d.fleet!, {
            terminate: async (id, decrement) => {
              await d.fleet!.terminate(id, decrement);
              metadata!.target = "Terminated"; // Terminating:Wait: the hook holds the instance
            },
          });
          return { ...d, fleet, metadata };
        },
      });
      assert.equal(await w.worker.done, "idle-terminated");
      assert.deepEqual(shown(fleet!.calls), [`complete ${HOOKS.launchHook} CONTINUE`, "terminate decrement=true", `complete ${HOOKS.terminateHook} CONTINUE`]);
      assert.equal(b.asg.group.desiredCapacity, 0);
    });
  });

  describe("self-termination refused for a reason other than the minimum size", () => {
    it("backs off (doubling, capped), says why, and keeps serving", async () => {
      const b = bed();
      b.asg.group.setDesiredCapacity(1);
      const w = await b.startWorker({
        options: { idleTimeoutSeconds: 0.5, terminateRetrySeconds: 0.3, terminateRetryMaxSeconds: 1 },
        deps: (d) => ({
          ...d,
          fleet: recordingFleet(d.fleet!, {
            terminate: async (id) => {
              throw awsError("AccessDenied", `User: arn:aws:sts::1:assumed-role/spotq-worker is not authorized to perform: autoscaling:TerminateInstanceInAutoScalingGroup on ${id}`);
            },
          }),
        }),
      });
      await w.events.waitFor("terminate_refused", (e) => e.attempt === 4, 30_000);
      const refused = w.events.all("terminate_refused");
      assert.deepEqual(
        refused.slice(0, 4).map((e) => e.retryInSeconds),
        [0.3, 0.6, 1, 1],
      );
      assert.match(refused[0]!.error, /^AccessDenied: .*not authorized/);
      // Still serving between refusals.
      const job = await b.submit({ "a.txt": "a" });
      await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
      assert.equal(b.asg.group.instance(w.instanceId)?.lifecycleState, "InService");
    });
  });

  describe("rollouts", () => {
    it("a warm standby launched from an older launch template version retires itself when idle, without decrement", async () => {
      const b = bed();
      const g = b.asg.group;
      g.minSize = 1;
      g.setDesiredCapacity(1);
      let fleet: ReturnType<typeof recordingFleet> | undefined;
      const w = await b.startWorker({
        options: { idleTimeoutSeconds: 1 },
        deps: (d) => ({
          ...d,
          // The group launches version 8 now; this instance came from version 7 (GroupState's new fields).
          fleet: (fleet = recordingFleet(d.fleet!, {
            describeGroup: async () => {
              const s = await d.fleet!.describeGroup();
              return { ...s, launchTemplateVersion: "8", instances: s.instances.map((i) => ({ ...i, launchTemplateVersion: "7" })) };
            },
          })),
        }),
      });
      const check = await w.events.waitFor("idle_check", (e) => e.decision.action === "terminate");
      assert.match(check.decision.reason, /launch template version 7, but the group launches version 8: retiring without decrement/);
      assert.equal(await w.worker.done, "idle-terminated");
      assert.ok(shown(fleet!.calls).includes("terminate decrement=false"));
      assert.equal(g.desiredCapacity, 1, "the group replaces it with a fresh instance");
      assert.equal(g.instance(w.instanceId)?.lifecycleState, "Terminating");
    });
  });
});
