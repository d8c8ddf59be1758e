import assert from "node:assert/strict";
import { PurgeQueueCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fleetConfig } from "../../../core/fleet-config.ts";
import { LocalFleet, type LocalFleetOptions } from "../../../scripts/local/fleet.ts";
import { useLocalAws } from "../../support/local-aws.ts";
import { FleetEventLog, IDLE_PROCESS } from "./fleet-helpers.ts";

/**
 * The alarm on the local queue (fauxqs) with the default steps: small ≥1 → +1, medium ≥5 → +3,
 * large ≥20 → +10. A 10 s period at time scale 0.01 runs every 100 ms.
 */
describe("local fleet: queue-depth alarms scale the group like AWS", function () {
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

  async function start(options: Partial<LocalFleetOptions> & { evaluationPeriods?: number } = {}) {
    const { evaluationPeriods = 1, ...rest } = options;
    const workRoot = mkdtempSync(join(tmpdir(), "spotq-alarm-"));
    const fleet = await LocalFleet.start({
      config: fleetConfig({ name: "alarmtest", fleet: { minSize: 0, maxSize: 4, bootSeconds: 60 }, scaling: { periodSeconds: 10, evaluationPeriods } }),
      launch: IDLE_PROCESS,
      workRoot,
      timeScale: 0.01,
      scaling: { sqs: aws().emulators.clients.sqs(), queueUrl: aws().resources.queueUrl },
      stopGraceSeconds: 2,
      controlPort: false,
      ...rest,
    });
    running = { fleet, workRoot };
    return { fleet, events: new FleetEventLog(fleet) };
  }

  it("a backlog of 5 fires the medium step: desired 0 → 3, and three instances start", async () => {
    await backlog(5);
    const { fleet, events } = await start();
    assert.deepEqual(await events.waitFor("alarm_fired"), { value: 5, step: "medium", addInstances: 3, currentCapacity: 0, before: 0, after: 3 });
    assert.deepEqual(events.all("desired_changed")[0], { before: 0, after: 3, reason: "alarm" });
    await events.waitFor("instance_in_service", () => true, { count: 3 });
    assert.equal(fleet.instances().length, 3);
  });

  it("a backlog of 25 fires the large step (+10), capped at the max size of 4", async () => {
    await backlog(25);
    const { fleet, events } = await start();
    assert.deepEqual(await events.waitFor("alarm_fired"), { value: 25, step: "large", addInstances: 10, currentCapacity: 0, before: 0, after: 4 });
    await events.waitFor("instance_in_service", () => true, { count: 4 });
    assert.equal(fleet.group.desiredCapacity, 4);
  });

  it("does not add again for a standing alarm while the new instances warm up", async () => {
    await backlog(5);
    // Warmup = the config's bootSeconds (60 s → 0.6 s here) would end within the test; make it outlast it.
    const { fleet, events } = await start({ warmupSeconds: 3600 });
    await events.waitFor("alarm_fired");
    const later = await Promise.all([2, 3, 4].map((n) => events.waitFor("alarm_fired", () => true, { count: n })));
    for (const fired of later) assert.deepEqual(fired, { value: 5, step: "medium", addInstances: 3, currentCapacity: 0, before: 3, after: 3 });
    assert.equal(events.all("desired_changed").length, 1);
    assert.equal(fleet.group.desiredCapacity, 3);
  });

  it("adds again once the instances have warmed up, up to the max size", async () => {
    await backlog(2);
    const { fleet, events } = await start({ warmupSeconds: 0 });
    assert.deepEqual(await events.waitFor("desired_changed"), { before: 0, after: 1, reason: "alarm" });
    assert.deepEqual(await events.waitFor("desired_changed", () => true, { count: 2 }), { before: 1, after: 2, reason: "alarm" });
    await events.waitFor("desired_changed", (e) => e.after === 4);
    const capped = await events.waitFor("alarm_fired", (e) => e.currentCapacity === 4);
    assert.deepEqual(capped, { value: 2, step: "small", addInstances: 1, currentCapacity: 4, before: 4, after: 4 });
    assert.equal(fleet.group.desiredCapacity, 4);
  });

  it("needs evaluationPeriods breaching periods in a row before it fires", async () => {
    await backlog(5);
    const { events } = await start({ evaluationPeriods: 3 });
    await events.waitFor("alarm_fired");
    const evaluations = events.all("alarm_evaluated");
    const firstAlarm = evaluations.findIndex((e) => e.state === "ALARM");
    assert.deepEqual(
      evaluations.slice(0, firstAlarm).map((e) => e.state),
      ["INSUFFICIENT_DATA", "INSUFFICIENT_DATA"],
    );
    assert.deepEqual(evaluations[firstAlarm].datapoints, [5, 5, 5]);
  });

  it("acts on the backlog CloudWatch has published: nothing until the metric delay has passed", async () => {
    await backlog(5);
    const { events } = await start({ scaling: { sqs: aws().emulators.clients.sqs(), queueUrl: aws().resources.queueUrl, metricDelaySeconds: 30 } });
    await events.waitFor("alarm_fired");
    const states = events.all("alarm_evaluated").map((e) => e.state);
    assert.deepEqual(states.slice(0, 2), ["INSUFFICIENT_DATA", "INSUFFICIENT_DATA"], "the first datapoints are not out yet");
    assert.equal(states.at(-1), "ALARM");
  });

  it("stays in OK and leaves desired alone when the queue is empty", async () => {
    const { fleet, events } = await start();
    const third = await events.waitFor("alarm_evaluated", () => true, { count: 3 });
    assert.equal(third.state, "OK");
    assert.deepEqual(events.all("alarm_fired"), []);
    assert.equal(fleet.group.desiredCapacity, 0);
  });
});
