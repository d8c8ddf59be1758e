import assert from "node:assert/strict";
import { fleetConfig } from "../../../core/fleet-config.ts";
import type { AttemptRecord, JobRecord } from "../../../core/job.ts";
import { BREAKER_TAG } from "../../../core/names.ts";
import type { GroupActivity, GroupInstance, GroupState } from "../../../core/ports.ts";
import { launchTrouble, statusReason, type FleetSnapshot, type StatusReason } from "../../../core/status-reason.ts";

/** A fixed clock: every time below is read against it. */
const NOW = Date.parse("2026-01-01T10:10:00.000Z");
const at = (hms: string) => `2026-01-01T${hms}.000Z`;
/** heartbeat 60 s, visibility timeout 300 s, retry backoff 30 s doubling, scaling period 60 s. */
const CONFIG = fleetConfig({});

const JOB = "01KDXQ0000AAAAAAAAAAAAAAAA";

function job(over: Partial<JobRecord> = {}): JobRecord {
  return {
    jobId: JOB,
    state: "QUEUED",
    request: { "Source Folder Path": "s3://b/scans/a", "Target Folder Path": "s3://b/results/a" } as JobRecord["request"],
    submittedAt: at("10:00:00"),
    updatedAt: at("10:00:00"),
    attempts: 0,
    interruptions: 0,
    ...over,
  };
}

function inst(instanceId: string, lifecycleState = "InService", o: Partial<GroupInstance> = {}): GroupInstance {
  return { instanceId, lifecycleState, protectedFromScaleIn: true, healthStatus: "Healthy", ...o };
}

function fleet(g: Partial<GroupState> = {}, extra: Partial<FleetSnapshot> = {}): FleetSnapshot {
  return {
    readAt: NOW,
    group: { name: "spotq-workers", minSize: 0, maxSize: 4, desiredCapacity: 0, instances: [], suspendedProcesses: ["AZRebalance"], tags: {}, ...g },
    ...extra,
  };
}

function failedLaunch(start: string, message: string, details: Record<string, string> = { "Availability Zone": "us-east-1a", "Instance Type": "g4dn.xlarge" }): GroupActivity {
  return {
    activityId: `a-${start}`,
    description: `Launching a new EC2 instance.  Status Reason: ${message}`,
    startTime: at(start),
    endTime: at(start),
    statusCode: "Failed",
    statusMessage: message,
    details: JSON.stringify(details),
  };
}

const ICE =
  "We currently do not have sufficient g4dn.xlarge capacity in the Availability Zone you requested (us-east-1a). Our system will be working on provisioning additional capacity. You can currently get g4dn.xlarge capacity by not specifying an Availability Zone in your request or choosing us-east-1b. Launching EC2 instance failed.";
const VCPU =
  "You have requested more vCPU capacity than your current vCPU limit of 0 allows for the instance bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit. Launching EC2 instance failed.";

/** Every reason a test computed, to check what no reason may ever say. */
const seen: StatusReason[] = [];
function reason(record: JobRecord, f: FleetSnapshot | undefined, now = NOW): StatusReason {
  const r = statusReason(record, f, now, CONFIG);
  assert.ok(r, `a ${record.state} job has a reason`);
  seen.push(r);
  return r;
}

describe("core/status-reason: why a job waits or runs", () => {
  describe("QUEUED: capacity", () => {
    it("an idle instance takes it at its next poll", () => {
      const r = reason(job(), fleet({ desiredCapacity: 2, instances: [inst("i-0busy"), inst("i-0idle", "InService", { protectedFromScaleIn: false })] }));
      assert.equal(r.code, "WAITING_FOR_WORKER");
      assert.equal(r.message, "Instance i-0idle is idle and takes the job at its next poll");
      assert.equal(r.level, "info");
    });

    it("an unprotected but Unhealthy instance is not idle", () => {
      const r = reason(job(), fleet({ desiredCapacity: 1, maxSize: 1, instances: [inst("i-0sick", "InService", { protectedFromScaleIn: false, healthStatus: "Unhealthy" })] }));
      assert.equal(r.code, "FLEET_AT_MAX");
    });

    it("the fleet at its maximum with every instance busy: waiting for capacity, naming no other job", () => {
      const r = reason(job(), fleet({ desiredCapacity: 2, maxSize: 2, instances: [inst("i-01"), inst("i-02")] }));
      assert.equal(r.code, "FLEET_AT_MAX");
      assert.equal(r.message, "Waiting for capacity: the fleet is at its maximum size (2 of 2 instances, all busy); the job starts when one of them finishes");
      assert.equal(r.level, "info");
    });

    it("a maximum size of 0 is a warning: nothing can ever start", () => {
      const r = reason(job(), fleet({ desiredCapacity: 0, maxSize: 0 }));
      assert.equal(r.code, "FLEET_AT_MAX");
      assert.equal(r.level, "warning");
      assert.match(r.message, /maximum size is 0.*fleet\.maxSize/);
    });

    it("Launch suspended by the boot breaker: its reason, since when, and how to resume", () => {
      const trip = { trippedAt: at("09:55:00"), failures: 3, windowSeconds: 900, reason: "3 failed boots in 900 s: preflight failed (exit 3)" };
      const r = reason(job(), fleet({ desiredCapacity: 1, suspendedProcesses: ["AZRebalance", "Launch"], tags: { [BREAKER_TAG]: JSON.stringify(trip) } }));
      assert.equal(r.code, "LAUNCH_SUSPENDED");
      assert.equal(r.level, "warning");
      assert.equal(r.since, trip.trippedAt);
      assert.equal(
        r.message,
        "Waiting for capacity: the boot breaker suspended launches at 09:55:00 UTC (3 failed boots in 900 s: preflight failed (exit 3)), so no instance can start until an operator fixes the cause and resumes them (spotq fleet resume)",
      );
    });

    it("Launch suspended by hand (no breaker tag), and a breaker tag written by hand", () => {
      const byHand = reason(job(), fleet({ desiredCapacity: 1, suspendedProcesses: ["Launch"] }));
      assert.equal(byHand.code, "LAUNCH_SUSPENDED");
      assert.match(byHand.message, /Launch process is suspended/);
      const raw = reason(job(), fleet({ suspendedProcesses: ["Launch"], tags: { [BREAKER_TAG]: "boot loop on v7" } }));
      assert.match(raw.message, /boot breaker suspended launches \(boot loop on v7\)/);
    });

    it("a breaker tag left after launches were resumed does not hold the job back", () => {
      const r = reason(job(), fleet({ desiredCapacity: 1, instances: [inst("i-0new", "Pending:Wait")], tags: { [BREAKER_TAG]: "{}" } }));
      assert.equal(r.code, "INSTANCE_STARTING");
    });

    it("an idle instance wins over suspended launches (it takes the job anyway)", () => {
      const r = reason(job(), fleet({ desiredCapacity: 1, suspendedProcesses: ["Launch"], instances: [inst("i-0idle", "InService", { protectedFromScaleIn: false })] }));
      assert.equal(r.code, "WAITING_FOR_WORKER");
    });

    it("launches failing on Spot capacity: how many since when, where, and EC2's first sentence", () => {
      const r = reason(
        job(),
        fleet({ desiredCapacity: 1 }, { activities: [failedLaunch("10:09:00", ICE), failedLaunch("10:08:40", ICE), failedLaunch("10:08:30", ICE)] }),
      );
      assert.equal(r.code, "SPOT_CAPACITY_SHORT");
      assert.equal(r.level, "warning");
      assert.equal(r.since, at("10:08:30"));
      assert.equal(
        r.message,
        'Waiting for capacity: EC2 is short of Spot capacity for g4dn.xlarge in us-east-1a (3 failed launches since 10:08:30 UTC; the last: "We currently do not have sufficient g4dn.xlarge capacity in the Availability Zone you requested (us-east-1a)."); Auto Scaling keeps retrying, in other zones and instance types too',
      );
    });

    it("Spot's own wording (no capacity pool named) is Spot capacity short too", () => {
      const msg = "Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot capacity available that matches your request. Launching EC2 instance failed.";
      const r = reason(job(), fleet({ desiredCapacity: 2, instances: [inst("i-01")] }, { activities: [failedLaunch("10:09:00", msg, { "Subnet ID": "subnet-1" })] }));
      assert.equal(r.code, "SPOT_CAPACITY_SHORT");
      assert.match(r.message, /short of Spot capacity \(1 failed launch since 10:09:00 UTC; the last: "Could not launch Spot Instances\."\)/);
    });

    it("launches failing on the vCPU quota: a quota to raise", () => {
      const r = reason(job(), fleet({ desiredCapacity: 1 }, { activities: [failedLaunch("10:09:30", VCPU)] }));
      assert.equal(r.code, "LAUNCH_QUOTA");
      assert.match(r.message, /account quota \(1 failed launch since 10:09:30 UTC; the last: "You have requested more vCPU capacity/);
      assert.match(r.message, /Service Quotas/);
    });

    it("any other failed launch: LAUNCH_FAILING with its message; and a pending instance meanwhile is named", () => {
      const r = reason(
        job(),
        fleet({ desiredCapacity: 2, instances: [inst("i-0boot", "Pending")] }, { activities: [failedLaunch("10:09:30", "The requested configuration is currently not supported. Please check the documentation for supported configurations. Launching EC2 instance failed.")] }),
      );
      assert.equal(r.code, "LAUNCH_FAILING");
      assert.match(r.message, /launches are failing \(1 failed launch since 10:09:30 UTC; the last: "The requested configuration is currently not supported\."\); meanwhile an instance is starting: i-0boot \(Pending\)/);
    });

    it("failures before a launch that worked, or older than 15 minutes, no longer explain the wait", () => {
      const recovered: GroupActivity = { activityId: "ok", description: "Launching a new EC2 instance: i-0new", startTime: at("10:09:10"), statusCode: "Successful" };
      const r1 = reason(job(), fleet({ desiredCapacity: 2, instances: [inst("i-0new", "Pending:Wait")] }, { activities: [recovered, failedLaunch("10:09:00", ICE)] }));
      assert.equal(r1.code, "INSTANCE_STARTING");
      const r2 = reason(job(), fleet({ desiredCapacity: 1 }, { activities: [failedLaunch("09:54:59", ICE)] }));
      assert.equal(r2.code, "INSTANCE_STARTING");
      // Exactly 15 minutes ago still counts.
      assert.equal(reason(job(), fleet({ desiredCapacity: 1 }, { activities: [failedLaunch("09:55:00", ICE)] })).code, "SPOT_CAPACITY_SHORT");
    });

    it("failed launches do not matter while the group has every instance it wants", () => {
      const r = reason(job(), fleet({ desiredCapacity: 2, maxSize: 2, instances: [inst("i-01"), inst("i-02")] }, { activities: [failedLaunch("10:09:00", ICE)] }));
      assert.equal(r.code, "FLEET_AT_MAX");
    });

    it("an instance starting: named with its state; at the maximum it says so", () => {
      const r = reason(job(), fleet({ desiredCapacity: 2, maxSize: 2, instances: [inst("i-01"), inst("i-0new", "Pending:Wait")] }));
      assert.equal(r.code, "INSTANCE_STARTING");
      assert.equal(r.message, "An instance is starting: i-0new (Pending:Wait); the fleet is at its maximum size (2)");
    });

    it("desired raised, no instance yet: Auto Scaling is launching one (and says when its activity could not be read)", () => {
      const r = reason(job(), fleet({ desiredCapacity: 1 }, { activities: [] }));
      assert.equal(r.code, "INSTANCE_STARTING");
      assert.equal(r.message, "Auto Scaling is launching an instance (desired capacity 1, 0 instances so far)");
      const unread = reason(job(), fleet({ desiredCapacity: 1 }, { activitiesUnavailable: "AccessDenied" }));
      assert.match(unread.message, /its launch activity could not be read \(AccessDenied\)$/);
    });

    it("every instance busy below the maximum: the scaling alarm adds one", () => {
      const r = reason(job(), fleet({ desiredCapacity: 1, instances: [inst("i-01")] }));
      assert.equal(r.code, "WAITING_FOR_SCALE_OUT");
      assert.equal(r.level, "info");
      assert.equal(r.message, "Every instance is busy (1 of at most 4); the scaling alarm adds one as the queue's metrics arrive (every 60 s, often a few minutes late)");
      const empty = reason(job(), fleet());
      assert.match(empty.message, /^No instance is running or starting \(desired capacity 0, at most 4\)/);
    });

    it("with AlarmNotification suspended no alarm scales out: a warning", () => {
      const r = reason(job(), fleet({ suspendedProcesses: ["AlarmNotification"] }));
      assert.equal(r.code, "WAITING_FOR_SCALE_OUT");
      assert.equal(r.level, "warning");
      assert.match(r.message, /AlarmNotification process is suspended/);
    });

    it("a fleet that cannot be read is said, not guessed", () => {
      const r = reason(job(), { readAt: NOW, unavailable: "AccessDenied" });
      assert.equal(r.code, "FLEET_UNKNOWN");
      assert.equal(r.level, "warning");
      assert.match(r.message, /^The fleet could not be read \(AccessDenied\), so why the job waits is unknown/);
      assert.match(reason(job(), undefined).message, /no Auto Scaling group configured/);
    });
  });

  describe("QUEUED: the job's own history", () => {
    const failed = (n: number, finished: string, redriven = false): AttemptRecord => ({
      attempt: n,
      instanceId: "i-0old",
      finishedAt: at(finished),
      outcome: "FAILED",
      error: { code: "PROCESS_EXIT", message: "exit code 3" },
      ...(redriven ? { redriven: true } : {}),
    });

    it("a retry waiting for its backoff: when it is back in the queue", () => {
      const r = reason(job({ attempts: 1, updatedAt: at("10:09:50"), attemptHistory: [failed(1, "10:09:50")] }), fleet());
      assert.equal(r.code, "RETRY_BACKOFF");
      assert.equal(r.message, "Attempt 1 failed (PROCESS_EXIT) at 10:09:50 UTC; its retry waits out a 30 s backoff and is back in the queue at 10:10:20 UTC");
      assert.equal(r.since, at("10:09:50"));
      assert.equal(r.until, at("10:10:20"));
    });

    it("the backoff doubles with each failed attempt (as the worker's release delay does)", () => {
      const r = reason(job({ attempts: 2, updatedAt: at("10:09:30"), attemptHistory: [failed(1, "10:05:00"), failed(2, "10:09:30")] }), fleet());
      assert.equal(r.until, at("10:10:30"));
    });

    it("once the backoff is over the capacity speaks, noting the failed attempt", () => {
      const r = reason(job({ attempts: 1, updatedAt: at("10:09:00"), attemptHistory: [failed(1, "10:09:00")] }), fleet({ desiredCapacity: 1, maxSize: 1, instances: [inst("i-01")] }));
      assert.equal(r.code, "FLEET_AT_MAX");
      assert.match(r.message, /; attempt 1 failed at 10:09:00 UTC \(PROCESS_EXIT\)$/);
    });

    it("a redriven job has no backoff to wait for", () => {
      const r = reason(job({ attempts: 1, updatedAt: at("10:09:59"), attemptHistory: [failed(1, "10:09:58", true)] }), fleet({ desiredCapacity: 1 }, { activities: [] }));
      assert.equal(r.code, "INSTANCE_STARTING");
    });

    it("the instance was interrupted: back in the queue, when and which instance, then what happens next", () => {
      const interrupted: AttemptRecord = {
        attempt: 1,
        instanceId: "i-0spot",
        finishedAt: at("10:08:00"),
        outcome: "INTERRUPTED",
        error: { code: "INTERRUPTED", message: "Spot interruption notice: terminate at 2026-01-01T10:10:00Z" },
      };
      const r = reason(job({ attempts: 1, interruptions: 1, updatedAt: at("10:08:00"), attemptHistory: [interrupted] }), fleet({ desiredCapacity: 1, instances: [inst("i-0next", "Pending")] }));
      assert.equal(r.code, "RETURNED_TO_QUEUE");
      assert.equal(r.since, at("10:08:00"));
      assert.equal(
        r.message,
        "Back in the queue: instance i-0spot was interrupted at 10:08:00 UTC (attempt 1: Spot interruption notice: terminate at 2026-01-01T10:10:00Z); an instance is starting: i-0next (Pending)",
      );
    });

    it("a lost instance, with the fleet holding the job back: the capacity first, the loss after", () => {
      const lost: AttemptRecord = { attempt: 2, instanceId: "i-0dead", finishedAt: at("10:07:00"), outcome: "LOST", error: { code: "WORKER_LOST", message: "the worker on i-0dead stopped before finishing" } };
      const r = reason(job({ attempts: 2, attemptHistory: [lost] }), fleet({ desiredCapacity: 1, maxSize: 1, instances: [inst("i-01")] }));
      assert.equal(r.code, "FLEET_AT_MAX");
      assert.match(r.message, /all busy\); the job starts when one of them finishes; instance i-0dead was lost at 10:07:00 UTC \(attempt 2: the worker on i-0dead stopped before finishing\)$/);
    });
  });

  describe("RUNNING: a job whose instance is gone must not look healthy", () => {
    const running = (over: Partial<JobRecord> = {}) =>
      job({ state: "RUNNING", attempts: 1, instanceId: "i-0run", startedAt: at("10:00:00"), updatedAt: at("10:09:30"), progress: { phase: "process", updatedAt: at("10:02:00") }, ...over });

    it("healthy: on its instance, in service, a heartbeat within two beats", () => {
      const r = reason(running(), fleet({ desiredCapacity: 1, instances: [inst("i-0run")] }));
      assert.equal(r.code, "RUNNING");
      assert.equal(r.level, "info");
      assert.equal(r.message, "Running on i-0run since 10:00:00 UTC (process); last heartbeat at 10:09:30 UTC");
      assert.equal(r.since, at("10:00:00"));
    });

    it("its instance is gone from the group: when the job returns to the queue (last beat + visibility timeout)", () => {
      const r = reason(running(), fleet({ desiredCapacity: 1, instances: [inst("i-0other")] }));
      assert.equal(r.code, "INSTANCE_GONE");
      assert.equal(r.level, "warning");
      assert.equal(r.message, "Instance i-0run is gone from the group; the job returns to the queue within the visibility timeout (by 10:14:30 UTC)");
      assert.equal(r.since, at("10:09:30"));
      assert.equal(r.until, at("10:14:30"));
    });

    it("gone longer than the visibility timeout: its message is due back, the next worker takes over", () => {
      const r = reason(running({ updatedAt: at("10:04:00"), progress: { phase: "process", updatedAt: at("10:01:00") } }), fleet());
      assert.equal(r.code, "INSTANCE_GONE");
      assert.match(r.message, /its message was due back in the queue at 10:09:00 UTC, and the next worker to receive it takes the job over$/);
    });

    it("its instance is terminating: the worker hands back (or, silent, the job returns by …)", () => {
      const fresh = reason(running(), fleet({ instances: [inst("i-0run", "Terminating:Wait")] }));
      assert.equal(fresh.code, "INSTANCE_TERMINATING");
      assert.equal(fresh.level, "warning");
      assert.match(fresh.message, /^Instance i-0run is terminating \(Terminating:Wait\): its worker hands the job back/);
      const silent = reason(running({ updatedAt: at("10:07:00") }), fleet({ instances: [inst("i-0run", "Terminating:Proceed")] }));
      assert.match(silent.message, /last reported at 10:07:00 UTC; the job returns to the queue within the visibility timeout \(by 10:12:00 UTC\)$/);
      assert.equal(silent.until, at("10:12:00"));
    });

    it("its instance is Unhealthy: replaced by the group", () => {
      const r = reason(running(), fleet({ instances: [inst("i-0run", "InService", { healthStatus: "Unhealthy" })] }));
      assert.equal(r.code, "INSTANCE_UNHEALTHY");
      assert.match(r.message, /marked Unhealthy and the group replaces it: its worker hands the job back to the queue$/);
    });

    it("a heartbeat older than two beats is stale, even on an instance in service; two beats exactly is not", () => {
      const f = fleet({ instances: [inst("i-0run")] });
      const r = reason(running({ updatedAt: at("10:07:00") }), f);
      assert.equal(r.code, "HEARTBEAT_STALE");
      assert.equal(r.level, "warning");
      assert.equal(
        r.message,
        "No heartbeat from the worker on i-0run since 10:07:00 UTC (3 min 00 s; one is due every 60 s); if it is gone, the job returns to the queue within the visibility timeout (by 10:12:00 UTC)",
      );
      assert.equal(reason(running({ updatedAt: at("10:08:00") }), f).code, "RUNNING");
      assert.equal(reason(running({ updatedAt: at("10:08:00") }), f, NOW + 1000).code, "HEARTBEAT_STALE");
    });

    it("the last sign of life is the newest of the record's update, its progress and its start", () => {
      const r = reason(running({ updatedAt: at("10:00:00"), progress: { phase: "upload", updatedAt: at("10:09:45") } }), fleet({ instances: [inst("i-0run")] }));
      assert.equal(r.code, "RUNNING");
      assert.match(r.message, /\(upload\); last heartbeat at 10:09:45 UTC$/);
    });

    it("an unreadable fleet: the heartbeat still speaks, and the message says the instance was not checked", () => {
      const unread: FleetSnapshot = { readAt: NOW, unavailable: "Throttling" };
      const fresh = reason(running(), unread);
      assert.equal(fresh.code, "RUNNING");
      assert.match(fresh.message, /; the instance was not checked: the fleet could not be read \(Throttling\)$/);
      assert.equal(reason(running({ updatedAt: at("10:05:00") }), unread).code, "HEARTBEAT_STALE");
    });
  });

  describe("CANCELLING", () => {
    const cancelling = (over: Partial<JobRecord> = {}) => job({ state: "CANCELLING", attempts: 1, instanceId: "i-0run", startedAt: at("10:00:00"), updatedAt: at("10:09:40"), ...over });

    it("cancel requested: the worker stops at its next heartbeat", () => {
      const r = reason(cancelling(), fleet({ instances: [inst("i-0run")] }));
      assert.equal(r.code, "CANCEL_REQUESTED");
      assert.equal(r.level, "info");
      assert.equal(r.message, "Cancel requested at 10:09:40 UTC; the worker on i-0run stops the processor at its next heartbeat (by 10:10:40 UTC)");
      assert.equal(r.until, at("10:10:40"));
    });

    it("not confirmed after two beats: a warning, with when the cancel completes if the worker is gone", () => {
      const r = reason(cancelling({ updatedAt: at("10:07:00") }), fleet({ instances: [inst("i-0run")] }));
      assert.equal(r.level, "warning");
      assert.match(r.message, /has not confirmed it for 3 min 00 s \(it checks every 60 s\); if the worker is gone, the job is recorded CANCELLED when its message returns to the queue \(by 10:12:00 UTC\)$/);
    });

    it("its instance is gone: nothing runs the job; it is closed when its message returns", () => {
      const r = reason(cancelling(), fleet());
      assert.equal(r.code, "CANCEL_REQUESTED");
      assert.equal(r.level, "warning");
      assert.match(r.message, /instance i-0run is gone from the group, so nothing runs the job any more: the job is recorded CANCELLED when its message returns to the queue \(by 10:14:40 UTC\)$/);
    });
  });

  it("finished jobs have no reason (their error says why)", () => {
    for (const state of ["SUCCEEDED", "FAILED", "CANCELLED"] as const) assert.equal(statusReason(job({ state }), fleet(), NOW, CONFIG), undefined, state);
  });

  it("a time on another day than now carries its date", () => {
    const r = reason(job({ state: "RUNNING", instanceId: "i-0run", startedAt: "2025-12-31T23:59:00.000Z", updatedAt: at("10:09:30") }), fleet({ instances: [inst("i-0run")] }));
    assert.match(r.message, /since 2025-12-31 23:59:00 UTC/);
  });

  it("launchTrouble reads AWS's shapes: Cancelled counts as failed; a subnet-only Details still works", () => {
    const t = launchTrouble([{ ...failedLaunch("10:09:00", ICE, { "Subnet ID": "subnet-0abc" }), statusCode: "Cancelled" }], NOW);
    assert.deepEqual(t && { kind: t.kind, count: t.count, instanceType: t.instanceType, zone: t.zone }, { kind: "capacity", count: 1, instanceType: "g4dn.xlarge", zone: "us-east-1a" });
    assert.equal(launchTrouble([{ activityId: "t", description: "Terminating EC2 instance: i-01", startTime: at("10:09:00"), statusCode: "Failed" }], NOW), undefined, "terminations are not launches");
  });

  // A suite of its own runs after the others (mocha runs a suite's own tests before its child suites).
  describe("over every reason computed above", () => {
    it("no reason ever names a job (so any tenant may read any reason) and every message reads as a sentence", () => {
      assert.ok(seen.length > 30, `${seen.length} reasons checked`);
      for (const r of seen) {
        assert.doesNotMatch(r.message, /\b[0-9A-HJKMNP-TV-Z]{26}\b/, r.message);
        assert.match(r.message, /^[A-Z]/, r.message);
        assert.doesNotMatch(r.message, /undefined|NaN|\[object/, r.message);
      }
    });
  });
});
