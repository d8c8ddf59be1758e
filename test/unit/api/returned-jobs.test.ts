import assert from "node:assert/strict";
import type { ApiLog } from "../../../api/log.ts";
import { coverReturnedJobs, returnedJobsDepsFromEnv, type InstanceTerminatedEvent, type ReturnedJobsDeps } from "../../../api/returned-jobs.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import { SqsJobQueue } from "../../../aws/job-queue.ts";
import type { JobQueue, QueueDepth } from "../../../core/ports.ts";
import { ENV } from "../../../core/runtime.ts";
import { RecordingFleet } from "../../support/fake-fleet.ts";

const SPOT = "spotq-workers";
const ON_DEMAND = "spotq-workers-ondemand";

/** "EC2 Instance Terminate Successful" as Auto Scaling sends it (the AWS event reference's example, trimmed). */
const terminated = (group: string, instanceId = "i-0123456789abcdef0", detailType = "EC2 Instance Terminate Successful"): InstanceTerminatedEvent => ({
  source: "aws.autoscaling",
  "detail-type": detailType,
  time: "2026-01-01T00:00:00Z",
  detail: {
    AutoScalingGroupName: group,
    EC2InstanceId: instanceId,
    ActivityId: "87654321-4321-4321-4321-210987654321",
    Cause: `At 2026-01-01T00:00:00Z an instance was taken out of service in response to an EC2 instance status check failure.`,
  },
});

/** A queue whose depth the test sets, counting reads. */
function queue(depth: QueueDepth, fails = false): Pick<JobQueue, "depth"> & { reads: number; depth_: QueueDepth } {
  const q = {
    reads: 0,
    depth_: { ...depth },
    async depth() {
      q.reads++;
      if (fails) throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
      return { ...q.depth_ };
    },
  };
  return q;
}

type Line = { level: string; event: string; fields: Record<string, unknown> };
function captureLog(): ApiLog & { lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (event: string, fields: Record<string, unknown> = {}) => void lines.push({ level, event, fields });
  return { lines, info: at("info"), warn: at("warn"), error: at("error") };
}

const depth = (visible: number, inFlight = 0, delayed = 0): QueueDepth => ({ visible, inFlight, delayed });
const on = { scaling: { fastPath: true } };
/** Rounds in tests come this often, so a coalesced request waits tens of milliseconds. */
const fastPath = { minIntervalMs: 50, timeoutMs: 1000 };

/** An Auto Scaling client that answers describe with the group's sizes and records every command. */
function autoScalingStub(group: { desired: number; max?: number }, options: { failSet?: boolean } = {}) {
  const sent: { name: string; input: Record<string, unknown> }[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ name: command.constructor.name, input: command.input });
      if (command.constructor.name === "DescribeAutoScalingGroupsCommand")
        return { AutoScalingGroups: [{ AutoScalingGroupName: SPOT, MinSize: 0, MaxSize: group.max ?? 10, DesiredCapacity: group.desired, Instances: [] }] };
      if (options.failSet) throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
      group.desired = Number(command.input.DesiredCapacity);
      return {};
    },
  };
  return { sent, fleet: new AutoScalingFleetControl(client as never, { groupName: SPOT }) };
}

describe("api: capacity for returned jobs on AWS (the EventBridge terminate handler)", () => {
  it("raises the Spot group to its backlog when a departure left jobs without an instance: backlog 3, desired 1 → 3", async () => {
    // A lost worker's job still in flight, one running, one queued; the departure decremented desired to 1.
    const fleet = new RecordingFleet(1);
    const backlog = queue(depth(1, 2));
    const log = captureLog();

    const r = await coverReturnedJobs({ config: on, spot: { name: SPOT, fleet, backlog }, fastPath }, log, terminated(SPOT));

    assert.equal(fleet.desired, 3);
    assert.deepEqual(fleet.asked, [3]);
    assert.deepEqual(r, { action: "covered", group: SPOT, kind: "spot", instanceId: "i-0123456789abcdef0", cause: terminated(SPOT).detail!.Cause, raised: true, wanted: 3, before: 1, after: 3 });
    assert.equal(log.lines.length, 1, "one line per event");
    assert.deepEqual([log.lines[0]!.level, log.lines[0]!.event], ["info", "returned jobs"]);
    assert.deepEqual([log.lines[0]!.fields.group, log.lines[0]!.fields.instanceId, log.lines[0]!.fields.before, log.lines[0]!.fields.after], [SPOT, "i-0123456789abcdef0", 1, 3]);
    assert.doesNotThrow(() => JSON.stringify(log.lines[0]!.fields), "plain JSON fields");
  });

  it("counts the high queue with the jobs queue, as the submit's fast path does", async () => {
    const fleet = new RecordingFleet(0);
    const deps: ReturnedJobsDeps = {
      config: on,
      spot: { name: SPOT, fleet, backlog: { depth: async () => ({ visible: 1, inFlight: 1, delayed: 1 }) } },
      fastPath,
    };
    await coverReturnedJobs(deps, captureLog(), terminated(SPOT));
    assert.equal(fleet.desired, 3);
  });

  it("does nothing for an event of another group, or of another kind: no queue read, no Auto Scaling call", async () => {
    const fleet = new RecordingFleet(1);
    const backlog = queue(depth(5));
    const odFleet = new RecordingFleet(0);
    const odBacklog = queue(depth(2));
    const deps: ReturnedJobsDeps = { config: on, spot: { name: SPOT, fleet, backlog }, onDemand: { name: ON_DEMAND, fleet: odFleet, backlog: odBacklog }, fastPath };
    const log = captureLog();

    const other = await coverReturnedJobs(deps, log, terminated("web-servers"));
    const launched = await coverReturnedJobs(deps, log, terminated(SPOT, "i-1", "EC2 Instance Launch Successful"));
    const elsewhere = await coverReturnedJobs(deps, log, { ...terminated(SPOT), source: "aws.ec2" });

    for (const r of [other, launched, elsewhere]) assert.equal(r.action, "ignored", JSON.stringify(r));
    assert.match((other as { why: string }).why, /not a group of this deployment/);
    assert.deepEqual([fleet.asked, odFleet.asked, backlog.reads, odBacklog.reads], [[], [], 0, 0]);
    assert.deepEqual(log.lines.map((l) => [l.level, l.event]), Array(3).fill(["info", "returned jobs: nothing to do"]));
    assert.equal(log.lines[0]!.fields.group, "web-servers");
  });

  it("does nothing with scaling.fastPath off (the alarms only)", async () => {
    const fleet = new RecordingFleet(0);
    const backlog = queue(depth(4));
    const r = await coverReturnedJobs({ config: { scaling: { fastPath: false } }, spot: { name: SPOT, fleet, backlog }, fastPath }, captureLog(), terminated(SPOT));
    assert.equal(r.action, "ignored");
    assert.deepEqual([fleet.asked, backlog.reads], [[], 0]);
  });

  it("never lowers desired capacity: backlog 2 under desired 4 sends no SetDesiredCapacity", async () => {
    const group = { desired: 4 };
    const { sent, fleet } = autoScalingStub(group);

    const r = await coverReturnedJobs({ config: on, spot: { name: SPOT, fleet, backlog: queue(depth(1, 1)) }, fastPath }, captureLog(), terminated(SPOT));

    assert.deepEqual(sent.map((c) => c.name), ["DescribeAutoScalingGroupsCommand"]);
    assert.equal(group.desired, 4);
    assert.deepEqual(r, { action: "covered", group: SPOT, kind: "spot", instanceId: "i-0123456789abcdef0", cause: terminated(SPOT).detail!.Cause, raised: false, wanted: 2, before: 4, after: 4 });
  });

  it("launches nothing for an idle instance's departure: an empty backlog wants 0, not the submit's 1", async () => {
    // An idle worker retired with a decrement (desired 1 → 0). Asking for 1 here would relaunch it, forever.
    const group = { desired: 0 };
    const { sent, fleet } = autoScalingStub(group);
    const r = await coverReturnedJobs({ config: on, spot: { name: SPOT, fleet, backlog: queue(depth(0)) }, fastPath }, captureLog(), terminated(SPOT));
    assert.equal(group.desired, 0);
    assert.ok(!sent.some((c) => c.name === "SetDesiredCapacityCommand"), JSON.stringify(sent));
    assert.ok(r.action === "covered" && "raised" in r && r.raised === false && r.wanted === 0, JSON.stringify(r));
  });

  it("never throws when Auto Scaling refuses: logs a warning with the reason and returns", async () => {
    const log = captureLog();
    const refused = await coverReturnedJobs({ config: on, spot: { name: SPOT, fleet: new RecordingFleet(0, 10, true), backlog: queue(depth(2)) }, fastPath }, log, terminated(SPOT));
    assert.ok(refused.action === "covered" && "failed" in refused, JSON.stringify(refused));
    assert.match(refused.reason, /ThrottlingException: Rate exceeded/);

    // Through the SDK adapter: the describe answers, the set is throttled.
    const { fleet } = autoScalingStub({ desired: 0 }, { failSet: true });
    const viaSdk = await coverReturnedJobs({ config: on, spot: { name: SPOT, fleet, backlog: queue(depth(2)) }, fastPath }, log, terminated(SPOT));
    assert.ok(viaSdk.action === "covered" && "failed" in viaSdk && /raise desired capacity of spotq-workers from 0 to 2/.test(viaSdk.reason), JSON.stringify(viaSdk));

    assert.deepEqual(log.lines.map((l) => l.level), ["warn", "warn"]);
    assert.match(log.lines[0]!.event, /fast path failed; the queue-depth alarms will scale the fleet/);
    assert.match(String(log.lines[0]!.fields.reason), /Rate exceeded/);
  });

  it("asks for nothing when the queue depth is unknown (no job is known to be owed an instance)", async () => {
    const fleet = new RecordingFleet(0);
    const log = captureLog();
    const r = await coverReturnedJobs({ config: on, spot: { name: SPOT, fleet, backlog: queue(depth(0), true) }, fastPath }, log, terminated(SPOT));
    assert.ok(r.action === "covered" && "failed" in r && /queue depth unknown: ThrottlingException/.test(r.reason), JSON.stringify(r));
    assert.deepEqual(fleet.asked, []);
    assert.equal(log.lines[0]!.level, "warn");
  });

  it("raises the On-Demand group for the On-Demand queue's backlog on that group's event, and leaves the Spot group alone", async () => {
    const spotFleet = new RecordingFleet(0);
    const spotBacklog = queue(depth(7));
    const odFleet = new RecordingFleet(0, 2);
    const odBacklog = queue(depth(0, 2));
    const deps: ReturnedJobsDeps = { config: on, spot: { name: SPOT, fleet: spotFleet, backlog: spotBacklog }, onDemand: { name: ON_DEMAND, fleet: odFleet, backlog: odBacklog }, fastPath };

    const r = await coverReturnedJobs(deps, captureLog(), terminated(ON_DEMAND));

    assert.deepEqual(r, { action: "covered", group: ON_DEMAND, kind: "on-demand", instanceId: "i-0123456789abcdef0", cause: terminated(SPOT).detail!.Cause, raised: true, wanted: 2, before: 0, after: 2 });
    assert.deepEqual([odFleet.asked, odBacklog.reads], [[2], 1]);
    assert.deepEqual([spotFleet.asked, spotBacklog.reads], [[], 0]);
    // Without an On-Demand group in the deployment, its name is just another group's.
    const spotOnly = await coverReturnedJobs({ ...deps, onDemand: undefined }, captureLog(), terminated(ON_DEMAND));
    assert.equal(spotOnly.action, "ignored");
  });

  it("coalesces departures in a container into one round a second, each event waiting for the round that covers it, which re-reads desired capacity", async () => {
    // Three instances leave within one interval. The first round finds desired 3 covering the backlog
    // of 3; then two departures decrement desired to 1. Their round must ask Auto Scaling again
    // rather than trust the desired capacity it saw under a second ago.
    // Auto Scaling answers in 80 ms, so the first round's desired capacity is 120 ms old at the next round.
    const fleet = new (class extends RecordingFleet {
      override async raiseDesired(atLeast: number) {
        await new Promise((r) => setTimeout(r, 80));
        return super.raiseDesired(atLeast);
      }
    })(3);
    const backlog = queue(depth(0, 3));
    const deps: ReturnedJobsDeps = { config: on, spot: { name: SPOT, fleet, backlog }, fastPath: { ...fastPath, minIntervalMs: 200 } };
    const log = captureLog();

    const first = await coverReturnedJobs(deps, log, terminated(SPOT, "i-1"));
    assert.ok(first.action === "covered" && "raised" in first && first.raised === false, JSON.stringify(first));
    fleet.desired = 1;
    const [second, third] = await Promise.all([coverReturnedJobs(deps, log, terminated(SPOT, "i-2")), coverReturnedJobs(deps, log, terminated(SPOT, "i-3"))]);

    assert.equal(fleet.desired, 3);
    assert.deepEqual(fleet.asked, [3, 3], "two rounds for three events");
    assert.equal(backlog.reads, 2);
    for (const r of [second, third]) assert.ok(r.action === "covered" && "raised" in r && r.raised && r.before === 1 && r.after === 3, JSON.stringify(r));
    assert.deepEqual(log.lines.map((l) => l.fields.instanceId), ["i-1", "i-2", "i-3"], "one line per event, none from the coalescer");
  });

  describe("wiring from the environment", () => {
    const base = {
      [ENV.table]: "spotq-jobs",
      [ENV.queueUrl]: "https://sqs.us-east-1.amazonaws.com/111122223333/spotq-jobs",
      [ENV.dlqUrl]: "https://sqs.us-east-1.amazonaws.com/111122223333/spotq-jobs-dlq",
      [ENV.bucket]: "spotq-data",
      [ENV.group]: SPOT,
      AWS_REGION: "us-east-1",
    };

    it("covers the Spot group, and the On-Demand group with its own queue when the fallback is set", () => {
      const spotOnly = returnedJobsDepsFromEnv({ ...base, [ENV.configJson]: JSON.stringify({ scaling: { fastPath: true } }) });
      assert.equal(spotOnly.spot?.name, SPOT);
      assert.equal(spotOnly.onDemand, undefined);

      const odQueueUrl = "https://sqs.us-east-1.amazonaws.com/111122223333/spotq-jobs-ondemand";
      const both = returnedJobsDepsFromEnv({
        ...base,
        [ENV.onDemandGroup]: ON_DEMAND,
        [ENV.onDemandQueueUrl]: odQueueUrl,
        [ENV.configJson]: JSON.stringify({ scaling: { fastPath: true, onDemandFallback: { afterInterruptions: 2, maxSize: 2 } } }),
      });
      assert.equal(both.onDemand?.name, ON_DEMAND);
      assert.equal((both.onDemand?.fleet as AutoScalingFleetControl).groupName, ON_DEMAND);
      assert.equal((both.onDemand?.backlog as SqsJobQueue).queueUrl, odQueueUrl);
      assert.equal(both.config.scaling.fastPath, true);
    });

    it("names a missing variable", () => {
      const { [ENV.table]: _t, ...env } = base;
      assert.throws(() => returnedJobsDepsFromEnv(env), /SPOTQ_TABLE is required/);
    });
  });
});
