import assert from "node:assert/strict";
import { fleetSnapshotReader } from "../../../api/fleet-snapshot.ts";
import type { LogFields } from "../../../api/log.ts";
import type { FleetControl, GroupActivity, GroupState } from "../../../core/ports.ts";

/** A group port that counts its calls; the answers are set per test. */
function countingPort(o: { group?: () => Promise<GroupState>; activities?: () => Promise<GroupActivity[]> } = {}) {
  const calls = { describeGroup: 0, describeScalingActivities: 0 };
  const group: GroupState = { name: "spotq-workers", minSize: 0, maxSize: 4, desiredCapacity: 0, instances: [] };
  const port = {
    describeGroup: () => {
      calls.describeGroup++;
      return o.group ? o.group() : Promise.resolve(group);
    },
    describeScalingActivities: () => {
      calls.describeScalingActivities++;
      return o.activities ? o.activities() : Promise.resolve([]);
    },
  } as unknown as FleetControl;
  return { port, calls };
}

describe("api/fleet-snapshot: one read of the fleet per 5 s per process", () => {
  it("serves every job read within the TTL from one DescribeAutoScalingGroups, and reads again after it", async () => {
    let now = 1_000_000;
    const { port, calls } = countingPort();
    const read = fleetSnapshotReader(port, { now: () => now });
    const first = await read();
    await Promise.all([read(), read(), read()]);
    now += 4_999;
    await read();
    assert.equal(calls.describeGroup, 1, "a console polling every 2 s and spotq wait every 1 s share one read");
    now += 1;
    const later = await read();
    assert.equal(calls.describeGroup, 2);
    assert.equal(first.readAt, 1_000_000);
    assert.equal(later.readAt, 1_005_000);
  });

  it("reads the scaling activities only when the group has fewer instances than desired", async () => {
    const activities: GroupActivity[] = [{ activityId: "a", description: "Launching a new EC2 instance.  Status Reason: …", startTime: "2026-01-01T10:00:00.000Z", statusCode: "Failed" }];
    let desired = 0;
    const { port, calls } = countingPort({
      group: async () => ({ name: "g", minSize: 0, maxSize: 4, desiredCapacity: desired, instances: [] }),
      activities: async () => activities,
    });
    let now = 0;
    const read = fleetSnapshotReader(port, { now: () => now });
    assert.equal((await read()).activities, undefined);
    assert.equal(calls.describeScalingActivities, 0, "at desired capacity: nothing to explain");
    desired = 1;
    now += 5_000;
    assert.deepEqual((await read()).activities, activities);
    assert.equal(calls.describeScalingActivities, 1);
  });

  it("a group that cannot be read: a snapshot that says why (the error's kind), kept for the TTL, logged once", async () => {
    const lines: { event: string; fields?: LogFields }[] = [];
    const log = { info: () => {}, error: () => {}, warn: (event: string, fields?: LogFields) => void lines.push({ event, ...(fields ? { fields } : {}) }) };
    const denied = Object.assign(new Error("User: arn:aws:sts::111122223333:assumed-role/spotq-api is not authorized"), { name: "AccessDenied" });
    const { port, calls } = countingPort({ group: () => Promise.reject(denied) });
    let now = 0;
    const read = fleetSnapshotReader(port, { now: () => now, log });
    const s = await read();
    await read();
    now += 5_000;
    await read();
    assert.deepEqual(s, { readAt: 0, unavailable: "AccessDenied" });
    assert.equal(calls.describeGroup, 2, "a failing endpoint is not asked at every poll either");
    assert.equal(lines.length, 1, "logged once per reason");
  });

  it("activities that cannot be read leave the group known, and say why", async () => {
    const { port } = countingPort({
      group: async () => ({ name: "g", minSize: 0, maxSize: 4, desiredCapacity: 1, instances: [] }),
      activities: () => Promise.reject(Object.assign(new Error("denied"), { name: "AccessDenied" })),
    });
    const s = await fleetSnapshotReader(port)();
    assert.equal(s.group?.desiredCapacity, 1);
    assert.equal(s.activitiesUnavailable, "AccessDenied");
  });

  it("a group read that hangs answers after the timeout instead of holding the job read", async () => {
    const { port } = countingPort({ group: () => new Promise<GroupState>(() => {}) });
    const s = await fleetSnapshotReader(port, { timeoutMs: 20 })();
    assert.equal(s.unavailable, "no answer within 20 ms");
  });

  it("without a port: the API has no group, and says so", async () => {
    assert.equal((await fleetSnapshotReader(undefined)()).unavailable, "this API has no Auto Scaling group configured");
  });
});
