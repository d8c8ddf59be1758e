import assert from "node:assert/strict";
import { PurgeQueueCommand, ReceiveMessageCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { raiseCapacityAfterHandBack } from "../../../api/fast-path.ts";
import { silentLog } from "../../../api/log.ts";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import { SqsJobQueue } from "../../../aws/job-queue.ts";
import { fleetConfig, type FleetConfigInput } from "../../../core/fleet-config.ts";
import { LocalFleet, type LocalFleetOptions } from "../../../scripts/local/fleet.ts";
import { useLocalAws } from "../../support/local-aws.ts";
import { FleetEventLog, IDLE_PROCESS } from "./fleet-helpers.ts";

/**
 * The local fleet runs the scaling model (core/scaling/) against the local queue (fauxqs): the alarm
 * and policy of `scaling.policy`, capacity for returned jobs, and `scaling.schedule`, on its scaled
 * clock. Instances run a process that never takes a job, so the backlog stands.
 */
describe("local fleet: the scaling model drives the group like AWS", function () {
  this.timeout(60_000);
  const aws = useLocalAws({ name: "alarmtest" });
  let running: { fleet: LocalFleet; workRoot: string } | undefined;

  afterEach(async () => {
    await running?.fleet.stop();
    if (running) rmSync(running.workRoot, { recursive: true, force: true });
    running = undefined;
    await aws().emulators.clients.sqs().send(new PurgeQueueCommand({ QueueUrl: aws().resources.queueUrl }));
  });

  async function backlog(n: number): Promise<void> {
    const sqs = aws().emulators.clients.sqs();
    for (let i = 0; i < n; i += 10) {
      const batch = Array.from({ length: Math.min(10, n - i) }, (_, k) => ({ Id: `m${i + k}`, MessageBody: `{"n":${i + k}}` }));
      await sqs.send(new SendMessageBatchCommand({ QueueUrl: aws().resources.queueUrl, Entries: batch }));
    }
  }

  /** A 10 s period at time scale 0.01: the alarm runs every 100 ms. Metric delay 0 unless given. */
  async function start(options: Partial<Omit<LocalFleetOptions, "config" | "scaling">> & { config?: FleetConfigInput; metricDelaySeconds?: number; returnedJobs?: boolean } = {}) {
    const { config = {}, metricDelaySeconds = 0, returnedJobs, ...rest } = options;
    const workRoot = mkdtempSync(join(tmpdir(), "spotq-alarm-"));
    const fleet = await LocalFleet.start({
      config: fleetConfig({
        ...config,
        name: "alarmtest",
        fleet: { minSize: 0, maxSize: 4, bootSeconds: 60, ...config.fleet },
        scaling: { periodSeconds: 10, evaluationPeriods: 1, ...config.scaling },
      }),
      launch: IDLE_PROCESS,
      workRoot,
      timeScale: 0.01,
      scaling: { sqs: aws().emulators.clients.sqs(), queueUrl: aws().resources.queueUrl, metricDelaySeconds, ...(returnedJobs !== undefined ? { returnedJobs } : {}) },
      stopGraceSeconds: 2,
      controlPort: false,
      ...rest,
    });
    running = { fleet, workRoot };
    return { fleet, events: new FleetEventLog(fleet) };
  }

  /** The policy's decision without the clocks: what a user reads in `alarm_fired`. */
  const decision = (e: { value: number; step?: string; addInstances?: number; currentCapacity: number; before: number; after: number }) => ({
    value: e.value,
    step: e.step,
    addInstances: e.addInstances,
    currentCapacity: e.currentCapacity,
    before: e.before,
    after: e.after,
  });

  describe("deficit (the default policy)", () => {
    it("a backlog of 3 from zero gets exactly 3 instances in one evaluation", async () => {
      await backlog(3);
      const { fleet, events } = await start();
      const fired = await events.waitFor("alarm_fired");
      assert.equal(fired.policy, "deficit");
      assert.deepEqual(decision(fired), { value: 3, step: "deficit-3", addInstances: 3, currentCapacity: 0, before: 0, after: 3 });
      assert.deepEqual(events.all("desired_changed")[0], { before: 0, after: 3, reason: "alarm" });
      await events.waitFor("instance_in_service", () => true, { count: 3 });
      // Once they are in service the deficit is 0: the alarm goes back to OK and nothing more launches.
      await events.waitFor("alarm_evaluated", (e) => e.state === "OK");
      assert.equal(fleet.group.desiredCapacity, 3);
      assert.equal(events.all("instance_launched").length, 3);
    });

    it("caps at the max size", async () => {
      await backlog(25);
      const { fleet, events } = await start();
      assert.deepEqual(decision(await events.waitFor("alarm_fired")), { value: 25, step: "deficit-4", addInstances: 4, currentCapacity: 0, before: 0, after: 4 });
      await events.waitFor("instance_in_service", () => true, { count: 4 });
      assert.equal(fleet.group.desiredCapacity, 4);
    });

    it("alarm-only scale-out of 10 jobs from 0: 10 instances within 2 alarm periods plus warmup, none more", async function () {
      // AWS's cadence on the scaled clock: 60 s periods, datapoints a period late, a 150 s boot; max 20
      // so that an overshoot would show. Time scale 0.05: a period is 3 s of wall clock.
      const P = 60;
      const BOOT = 150;
      const { fleet, events } = await start({
        config: { fleet: { maxSize: 20, bootSeconds: BOOT }, scaling: { periodSeconds: P, fastPath: false } },
        bootSeconds: BOOT,
        timeScale: 0.05,
        metricDelaySeconds: P,
      });
      const inServiceAt: number[] = [];
      const launchedAt: number[] = [];
      fleet.on("instance_in_service", () => inServiceAt.push(fleet.clock.now()));
      fleet.on("instance_launched", () => launchedAt.push(fleet.clock.now()));
      const before = await events.waitFor("alarm_evaluated");
      await backlog(10);
      const burstAt = fleet.clock.now();
      const fired = await events.waitFor("alarm_fired");
      await events.waitFor("instance_in_service", () => true, { count: 10 });
      // Two more periods after they came in service: a stale datapoint must not add instances again.
      const settled = await events.waitFor("alarm_evaluated", (e) => e.period >= fired.period + 5);
      const last = Math.max(...inServiceAt);
      const periods = (last - burstAt) / 1000 / P;
      const inPeriods = (from: number, to: number) => ((to - from) / 1000 / P).toFixed(2);
      process.stdout.write(
        `      10 jobs from 0, alarms only (scaled periods of ${P} s): the burst came ${inPeriods(before.scaledAt, burstAt)} into period ${before.period}; ` +
          `decided at the boundary of period ${fired.period} (+${fired.period - before.period}), launched ${inPeriods(fired.scaledAt, Math.max(...launchedAt))} later, ` +
          `10th in service ${inPeriods(fired.scaledAt, last)} after the decision (boot ${(BOOT / P).toFixed(2)}); burst to 10 in service ${periods.toFixed(2)} periods` +
          ` (bound 2 + boot = ${(2 + BOOT / P).toFixed(2)})\n`,
      );
      assert.deepEqual(decision(fired), { value: 10, step: "deficit-10", addInstances: 10, currentCapacity: 0, before: 0, after: 10 });
      assert.ok(fired.period - before.period <= 2, `the alarm decided ${fired.period - before.period} periods after the burst`);
      // From the decision, the instances' own boot. Slack: half a period (1.5 s of wall clock) for a loaded
      // machine, where starting ten processes at once takes a few hundred milliseconds of the fleet's event loop.
      assert.ok((last - fired.scaledAt) / 1000 <= BOOT + P / 2, `the 10th instance came in service ${((last - fired.scaledAt) / 1000).toFixed(1)} s after the decision`);
      assert.equal(settled.state, "OK", JSON.stringify(settled));
      assert.deepEqual(events.all("desired_changed"), [{ before: 0, after: 10, reason: "alarm" }]);
      assert.equal(events.all("instance_launched").length, 10);
    });

    it("a job in flight whose instance left gets capacity at once, without an alarm period", async () => {
      // The alarm would see it only an hour of scaled time later: whatever raises desired here is not the alarm.
      const { fleet, events } = await start({ desiredCapacity: 1, metricDelaySeconds: 3600 });
      const { instanceId } = await events.waitFor("instance_in_service");
      await backlog(1);
      // The worker on it takes the job and dies with it (the message stays in flight) ...
      const got = await aws().emulators.clients.sqs().send(new ReceiveMessageCommand({ QueueUrl: aws().resources.queueUrl, VisibilityTimeout: 600 }));
      assert.equal(got.Messages?.length, 1);
      // ... then its instance retires with a decrement, as an idle restarted worker does: desired 1 → 0.
      fleet.group.terminateInstance(instanceId, true);
      const raised = await events.waitFor("returned_jobs");
      assert.deepEqual(raised, { visible: 0, inFlight: 1, delayed: 0, before: 0, after: 1 });
      assert.deepEqual(
        events.all("desired_changed").map((d) => d.reason),
        ["self-terminate", "returned-jobs"],
      );
      await events.waitFor("instance_launched", (e) => e.instanceId !== instanceId);
      assert.deepEqual(events.all("alarm_fired"), [], "no alarm ran a policy");
      assert.ok(events.all("alarm_evaluated").every((e) => e.state === "INSUFFICIENT_DATA"));
    });

    it("a job handed back by its worker gets capacity through the worker's hook, over the Auto Scaling API", async () => {
      // The fleet's own check for returned jobs is off: only the hook can raise desired capacity here.
      const { fleet, events } = await start({ desiredCapacity: 1, metricDelaySeconds: 3600, returnedJobs: false });
      const { instanceId } = await events.waitFor("instance_in_service");
      // The instance retires with a decrement (desired 1 → 0) as its worker hands its job back.
      fleet.group.terminateInstance(instanceId, true);
      await backlog(1);
      const clients = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: fleet.autoscalingEndpoint } });
      try {
        const r = await raiseCapacityAfterHandBack(
          {
            queue: new SqsJobQueue(aws().emulators.clients.sqs(), { queueUrl: aws().resources.queueUrl, dlqUrl: aws().resources.dlqUrl }),
            fleet: new AutoScalingFleetControl(clients.autoscaling(), { groupName: fleet.groupName }),
            config: { scaling: { fastPath: true } },
          },
          silentLog,
          { jobId: "handed-back" },
        );
        assert.deepEqual(r, { raised: true, wanted: 1, before: 0, after: 1 });
      } finally {
        clients.destroy();
      }
      assert.deepEqual(
        events.all("desired_changed").map((d) => [d.reason, d.after]),
        [
          ["self-terminate", 0],
          ["api", 1],
        ],
      );
      await events.waitFor("instance_launched", (e) => e.instanceId !== instanceId);
      assert.deepEqual(events.all("alarm_fired"), []);
    });

    it("with the fast path off, a returned job waits for the alarm", async () => {
      const { fleet, events } = await start({ desiredCapacity: 1, config: { scaling: { fastPath: false } } });
      const { instanceId } = await events.waitFor("instance_in_service");
      await backlog(1);
      await aws().emulators.clients.sqs().send(new ReceiveMessageCommand({ QueueUrl: aws().resources.queueUrl, VisibilityTimeout: 600 }));
      fleet.group.terminateInstance(instanceId, true);
      const raised = await events.waitFor("desired_changed", (d) => d.after === 1 && d.before === 0);
      assert.equal(raised.reason, "alarm");
      assert.deepEqual(events.all("returned_jobs"), []);
    });
  });

  describe("visible (the queue-depth steps)", () => {
    const visible = { scaling: { policy: "visible" as const } };

    it("a backlog of 5 fires the medium step: desired 0 → 3, and three instances start", async () => {
      await backlog(5);
      const { fleet, events } = await start({ config: visible });
      assert.deepEqual(decision(await events.waitFor("alarm_fired")), { value: 5, step: "medium", addInstances: 3, currentCapacity: 0, before: 0, after: 3 });
      assert.deepEqual(events.all("desired_changed")[0], { before: 0, after: 3, reason: "alarm" });
      await events.waitFor("instance_in_service", () => true, { count: 3 });
      assert.equal(fleet.instances().length, 3);
    });

    it("a backlog of 25 fires the large step (+10), capped at the max size of 4", async () => {
      await backlog(25);
      const { fleet, events } = await start({ config: visible });
      assert.deepEqual(decision(await events.waitFor("alarm_fired")), { value: 25, step: "large", addInstances: 10, currentCapacity: 0, before: 0, after: 4 });
      await events.waitFor("instance_in_service", () => true, { count: 4 });
      assert.equal(fleet.group.desiredCapacity, 4);
    });

    it("does not add again for a standing alarm while the new instances warm up", async () => {
      await backlog(5);
      // Warmup = the config's bootSeconds (60 s → 0.6 s here) would end within the test; make it outlast it.
      const { fleet, events } = await start({ config: visible, warmupSeconds: 3600 });
      await events.waitFor("alarm_fired");
      const later = await Promise.all([2, 3, 4].map((n) => events.waitFor("alarm_fired", () => true, { count: n })));
      for (const fired of later) assert.deepEqual(decision(fired), { value: 5, step: "medium", addInstances: 3, currentCapacity: 0, before: 3, after: 3 });
      assert.equal(events.all("desired_changed").length, 1);
      assert.equal(fleet.group.desiredCapacity, 3);
    });

    it("adds again once the instances have warmed up, up to the max size", async () => {
      await backlog(2);
      const { fleet, events } = await start({ config: visible, warmupSeconds: 0 });
      assert.deepEqual(await events.waitFor("desired_changed"), { before: 0, after: 1, reason: "alarm" });
      assert.deepEqual(await events.waitFor("desired_changed", () => true, { count: 2 }), { before: 1, after: 2, reason: "alarm" });
      await events.waitFor("desired_changed", (e) => e.after === 4);
      const capped = await events.waitFor("alarm_fired", (e) => e.currentCapacity === 4);
      assert.deepEqual(decision(capped), { value: 2, step: "small", addInstances: 1, currentCapacity: 4, before: 4, after: 4 });
      assert.equal(fleet.group.desiredCapacity, 4);
    });

    it("needs evaluationPeriods breaching periods in a row before it fires", async () => {
      await backlog(5);
      const { events } = await start({ config: { scaling: { policy: "visible", evaluationPeriods: 3 } } });
      await events.waitFor("alarm_fired");
      const evaluations = events.all("alarm_evaluated");
      const firstAlarm = evaluations.findIndex((e) => e.state === "ALARM");
      assert.deepEqual(
        evaluations.slice(0, firstAlarm).map((e) => e.state),
        ["INSUFFICIENT_DATA", "INSUFFICIENT_DATA"],
      );
      assert.deepEqual(evaluations[firstAlarm]!.datapoints, [5, 5, 5]);
    });

    it("acts on the backlog CloudWatch has published: nothing until the metric delay has passed", async () => {
      await backlog(5);
      const { events } = await start({ config: visible, metricDelaySeconds: 30 });
      const fired = await events.waitFor("alarm_fired");
      const states = events.all("alarm_evaluated").map((e) => e.state);
      assert.deepEqual(states.slice(0, 3), ["INSUFFICIENT_DATA", "INSUFFICIENT_DATA", "INSUFFICIENT_DATA"], "the first datapoints are not out yet");
      assert.equal(fired.period, 4, "period 1's datapoint is out 30 s (three periods) later");
    });
  });

  it("target-tracking: scales out on the backlog per instance once three minute-long datapoints are above the target", async () => {
    await backlog(3);
    const { fleet, events } = await start({ config: { scaling: { policy: "target-tracking" } } });
    const fired = await events.waitFor("alarm_fired");
    assert.equal(fired.period, 3, "Auto Scaling's high alarm: 3 of 3 one-minute datapoints");
    assert.deepEqual(decision(fired), { value: 3, step: undefined, addInstances: undefined, currentCapacity: 0, before: 0, after: 3 });
    await events.waitFor("instance_in_service", () => true, { count: 3 });
    assert.equal(fleet.group.desiredCapacity, 3);
  });

  it("stays in OK and leaves desired alone when the queue is empty", async () => {
    const { fleet, events } = await start();
    const third = await events.waitFor("alarm_evaluated", () => true, { count: 3 });
    assert.equal(third.state, "OK");
    assert.deepEqual(events.all("alarm_fired"), []);
    assert.equal(fleet.group.desiredCapacity, 0);
  });

  it("with AlarmNotification suspended, the alarm goes to ALARM but its policy does not run", async () => {
    await backlog(3);
    const { fleet, events } = await start({ suspendedProcesses: ["AZRebalance", "AlarmNotification"] });
    await events.waitFor("alarm_evaluated", (e) => e.state === "ALARM", { count: 2 });
    assert.deepEqual(events.all("alarm_fired"), []);
    assert.equal(fleet.group.desiredCapacity, 0);
  });

  describe("scaling.schedule, at its cron times on the scaled clock", () => {
    // Time scale 0.01: a scaled minute is 0.6 s of wall clock. The clock starts a minute before 07:30 on a Monday.
    const schedule = {
      open: { recurrence: "30 7 * * MON-FRI", timeZone: "Europe/Berlin", minSize: 1 },
      close: { recurrence: "32 7 * * MON-FRI", timeZone: "Europe/Berlin", minSize: 0, desiredCapacity: 0 },
    };
    const clockStart = Date.parse("2025-01-06T06:29:00Z"); // 07:29 in Berlin

    it("opens a warm standby and closes it again", async () => {
      const { fleet, events } = await start({ config: { scaling: { schedule } }, clockStart, newInstancesProtectedFromScaleIn: false });
      const open = await events.waitFor("scheduled_action");
      assert.deepEqual(open, {
        name: "open",
        scaledAt: Date.parse("2025-01-06T06:30:00Z"),
        before: { minSize: 0, maxSize: 4, desiredCapacity: 0 },
        after: { minSize: 1, maxSize: 4, desiredCapacity: 1 },
      });
      assert.ok(fleet.clock.now() >= open.scaledAt, "not before its time");
      assert.deepEqual(events.all("desired_changed")[0], { before: 0, after: 1, reason: "schedule" });
      await events.waitFor("instance_in_service");
      const close = await events.waitFor("scheduled_action", (e) => e.name === "close");
      assert.deepEqual(close.after, { minSize: 0, maxSize: 4, desiredCapacity: 0 });
      assert.equal((await events.waitFor("instance_terminated")).reason, "scale-in");
      assert.equal(fleet.group.minSize, 0);
    });

    it("skips an action while the ScheduledActions process is suspended", async () => {
      const { fleet, events } = await start({ config: { scaling: { schedule } }, clockStart, suspendedProcesses: ["AZRebalance", "ScheduledActions"] });
      const open = await events.waitFor("scheduled_action");
      assert.equal(open.skipped, "the ScheduledActions process is suspended");
      assert.deepEqual(open.after, open.before);
      assert.equal(fleet.group.minSize, 0);
      assert.deepEqual(events.all("desired_changed"), []);
    });
  });
});
