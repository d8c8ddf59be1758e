import assert from "node:assert/strict";
import { CreateOrUpdateTagsCommand, SuspendProcessesCommand } from "@aws-sdk/client-auto-scaling";
import type { JobList } from "../../../api/app.ts";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import { BREAKER_TAG } from "../../../core/names.ts";
import type { FleetControl } from "../../../core/ports.ts";
import type { JobView } from "../../../core/status-reason.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../../scripts/local/autoscaling-server.ts";
import { LIFECYCLE, LocalAutoScalingGroup, type LocalGroupOptions } from "../../../scripts/local/fleet-group.ts";
import { BUCKET, fixtureRequest, postJob, useApiHarness } from "./api-harness.ts";

const KEY_A = "labAkey0123456789abcdefXYZ";
const KEY_B = "labBkey0123456789abcdefXYZ";
const A = { "x-api-key": KEY_A };
const B = { "x-api-key": KEY_B };
/** Two tenants: A owns the harness's source folder, B a folder of its own. */
const TENANTS = [
  { name: "lab-a", apiKey: KEY_A, prefixes: ["scans/", "results/a/"] },
  { name: "lab-b", apiKey: KEY_B, prefixes: ["labs/b/", "results/b/"] },
];
const requestOf = (lab: "a" | "b") =>
  lab === "a"
    ? fixtureRequest({ "Target Folder Path": `s3://${BUCKET}/results/a/case-1` })
    : fixtureRequest({ "Source Folder Path": `s3://${BUCKET}/labs/b/case-1`, "Target Folder Path": `s3://${BUCKET}/results/b/case-1` });

/**
 * `statusReason` through the API (issue 11 §4): the app reads the group from the local Auto
 * Scaling endpoint with the production adapter (`AutoScalingFleetControl`, DescribeAutoScalingGroups
 * and DescribeScalingActivities over the Query protocol), as it does in AWS.
 */
describe("api: status reasons from the local Auto Scaling endpoint (issue 11 §4)", () => {
  const h = useApiHarness({ api: { tenants: TENANTS } });
  const servers: AutoScalingServer[] = [];
  const clients: AwsClients[] = [];

  before(() => h().upload({ "labs/b/case-1/scan.ply": "b".repeat(100) }));
  after(async () => {
    for (const c of clients) c.destroy();
    for (const s of servers) await s.stop();
  });

  /** A group on its own endpoint, and the adapter the API uses on it. */
  async function groupEndpoint(group: LocalAutoScalingGroup | LocalGroupOptions): Promise<{ server: AutoScalingServer; port: AutoScalingFleetControl; client: AwsClients }> {
    const server = await startAutoScalingServer({ group });
    servers.push(server);
    const client = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: server.endpoint } });
    clients.push(client);
    return { server, client, port: new AutoScalingFleetControl(client.autoscaling(), { groupName: server.group.name }) };
  }

  /** A fresh app (a fresh 5 s cache) reading this group; `fleet` too when the fast path should raise it. */
  const appOn = (port: FleetControl, fastPath = false) => h().app({ console: { group: port }, ...(fastPath ? { fleet: port } : {}) });
  type App = ReturnType<typeof appOn>;

  async function submit(app: App, lab: "a" | "b" = "a"): Promise<string> {
    const res = await postJob(app, requestOf(lab), lab === "a" ? A : B);
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { jobId: string }).jobId;
  }
  async function view(app: App, jobId: string, headers: Record<string, string> = A): Promise<JobView> {
    const res = await app.request(`/jobs/${jobId}`, { headers });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as JobView;
  }
  async function listed(app: App, query: string, headers: Record<string, string> = A): Promise<JobList> {
    const res = await app.request(`/jobs?${query}`, { headers });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as JobList;
  }
  /** Moves a queued job to RUNNING on an instance, as a worker's claim does. */
  async function runOn(jobId: string, instanceId: string): Promise<void> {
    const now = new Date().toISOString();
    await h().deps.store.transition(jobId, { state: "QUEUED", attempts: 0 }, "RUNNING", {
      attempts: 1,
      instanceId,
      startedAt: now,
      progress: { phase: "process", updatedAt: now },
    });
  }

  it("a job waiting with the group at its maximum, every instance busy: FLEET_AT_MAX, on the job and on the list page", async () => {
    const { server, port } = await groupEndpoint({ name: "spotq-workers", minSize: 0, maxSize: 2, desiredCapacity: 2 });
    for (const id of ["i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2"]) {
      server.group.addInstance(id);
      server.group.setLifecycleState(id, LIFECYCLE.inService);
    }
    const app = appOn(port);
    const jobId = await submit(app);

    const job = await view(app, jobId);
    const page = await listed(app, "state=QUEUED&limit=100");

    assert.equal(job.statusReason?.code, "FLEET_AT_MAX");
    assert.equal(job.statusReason?.message, "Waiting for capacity: the fleet is at its maximum size (2 of 2 instances, all busy); the job starts when one of them finishes");
    assert.deepEqual(page.jobs.find((j) => j.jobId === jobId)?.statusReason, job.statusReason, "the list page says the same");
    assert.ok(!("statusReason" in (await h().deps.store.get(jobId))!), "derived, never stored");
  });

  it("reads the group once per 5 s for all job reads of an app, and not at all for a page of finished jobs", async () => {
    const { server, port } = await groupEndpoint({ name: "spotq-workers", minSize: 0, maxSize: 2, desiredCapacity: 0 });
    const app = appOn(port);
    const jobId = await submit(app);
    const del = await app.request(`/jobs/${jobId}`, { method: "DELETE", headers: A });
    assert.equal(del.status, 200);
    const queued = await submit(app);

    const cancelledPage = await listed(app, "state=CANCELLED&limit=100");
    assert.ok(cancelledPage.jobs.every((j) => j.statusReason === undefined), "finished jobs have no reason");
    assert.equal(server.calls.get("DescribeAutoScalingGroups") ?? 0, 0, "a page of finished jobs reads no fleet");

    const started = Date.now();
    for (let i = 0; i < 3; i++) await view(app, queued);
    await listed(app, "state=QUEUED&limit=100");
    const elapsed = Date.now() - started;
    const calls = server.calls.get("DescribeAutoScalingGroups") ?? 0;
    assert.ok(calls >= 1 && calls <= 1 + Math.floor(elapsed / 5000), `${calls} DescribeAutoScalingGroups for 4 reads in ${elapsed} ms`);
  });

  it("launches failing for Spot capacity (InsufficientInstanceCapacity injected): SPOT_CAPACITY_SHORT, with EC2's reason", async () => {
    const group = new LocalAutoScalingGroup({ name: "spotq-workers", minSize: 0, maxSize: 2, managed: true, instanceTypes: ["g4dn.xlarge"], availabilityZones: ["us-east-1a", "us-east-1b"] });
    group.injectLaunchFailure({ code: "InsufficientInstanceCapacity" });
    const { server, port } = await groupEndpoint(group);
    // The submit's fast path raises desired capacity: the group tries a launch, and EC2 says no.
    const app = appOn(port, true);
    const jobId = await submit(app);
    assert.ok(server.group.desiredCapacity >= 1, "the fast path raised desired capacity");

    const r = (await view(app, jobId)).statusReason;

    assert.equal(r?.code, "SPOT_CAPACITY_SHORT");
    assert.equal(r?.level, "warning");
    assert.match(r!.message, /^Waiting for capacity: EC2 is short of Spot capacity for g4dn\.xlarge in us-east-1[ab] \(1 failed launch since \d\d:\d\d:\d\d UTC; the last: "We currently do not have sufficient g4dn\.xlarge capacity/);
    assert.ok((server.calls.get("DescribeScalingActivities") ?? 0) >= 1);
  });

  it("launches failing on the vCPU quota (VcpuLimitExceeded injected): LAUNCH_QUOTA", async () => {
    const group = new LocalAutoScalingGroup({ name: "spotq-workers", minSize: 0, maxSize: 2, managed: true });
    group.injectLaunchFailure({ code: "VcpuLimitExceeded" });
    const { port } = await groupEndpoint(group);
    const app = appOn(port, true);
    const r = (await view(app, await submit(app))).statusReason;
    assert.equal(r?.code, "LAUNCH_QUOTA");
    assert.match(r!.message, /launches fail on an account quota \(1 failed launch since .*the last: "You have requested more vCPU capacity than your current vCPU limit/);
  });

  it("Launch suspended by the boot breaker: LAUNCH_SUSPENDED, with the breaker's reason and how to resume", async () => {
    const { port, client } = await groupEndpoint({ name: "spotq-workers", minSize: 0, maxSize: 2, desiredCapacity: 1 });
    const trip = { trippedAt: new Date().toISOString(), failures: 3, windowSeconds: 900, reason: "3 failed boots in 900 s: preflight failed (exit 3)" };
    const as = client.autoscaling();
    await as.send(new SuspendProcessesCommand({ AutoScalingGroupName: "spotq-workers", ScalingProcesses: ["Launch"] }));
    await as.send(
      new CreateOrUpdateTagsCommand({
        Tags: [{ ResourceId: "spotq-workers", ResourceType: "auto-scaling-group", Key: BREAKER_TAG, Value: JSON.stringify(trip), PropagateAtLaunch: false }],
      }),
    );
    const app = appOn(port);
    const r = (await view(app, await submit(app))).statusReason;
    assert.equal(r?.code, "LAUNCH_SUSPENDED");
    assert.equal(r?.since, trip.trippedAt);
    assert.match(r!.message, /the boot breaker suspended launches at .* \(3 failed boots in 900 s: preflight failed \(exit 3\)\), .*spotq fleet resume/);
  });

  it("a RUNNING job whose instance was removed from the group does not look healthy: INSTANCE_GONE, and when it returns to the queue", async () => {
    const id = "i-0ccccccccccccccc3";
    const { server, port } = await groupEndpoint({ name: "spotq-workers", minSize: 0, maxSize: 2, desiredCapacity: 1 });
    server.group.addInstance(id);
    server.group.setLifecycleState(id, LIFECYCLE.inService);
    const jobId = await submit(appOn(port));
    await runOn(jobId, id);

    const healthy = (await view(appOn(port), jobId)).statusReason;
    assert.equal(healthy?.code, "RUNNING");
    assert.match(healthy!.message, new RegExp(`^Running on ${id} since .* \\(process\\); last heartbeat at `));

    server.group.terminateInstance(id, false);
    const terminating = (await view(appOn(port), jobId)).statusReason;
    assert.equal(terminating?.code, "INSTANCE_TERMINATING");
    assert.equal(terminating?.level, "warning");

    server.group.removeInstance(id);
    const gone = await view(appOn(port), jobId);
    const record = (await h().deps.store.get(jobId))!;
    const by = Date.parse(record.updatedAt) + h().deps.config.queue.visibilityTimeoutSeconds * 1000;
    assert.equal(gone.state, "RUNNING", "the record still says RUNNING ...");
    assert.equal(gone.statusReason?.code, "INSTANCE_GONE", "... and the reason says it is not");
    assert.equal(gone.statusReason?.level, "warning");
    assert.equal(gone.statusReason?.until, new Date(by).toISOString());
    assert.equal(
      gone.statusReason?.message,
      `Instance ${id} is gone from the group; the job returns to the queue within the visibility timeout (by ${new Date(by).toISOString().slice(11, 19)} UTC)`,
    );
  });

  it("a fleet that cannot be read: FLEET_UNKNOWN with the error's kind, 200, no account id", async () => {
    const denied: FleetControl = {
      describeGroup: () => Promise.reject(Object.assign(new Error("User: arn:aws:sts::111122223333:assumed-role/spotq-api is not authorized to perform: autoscaling:DescribeAutoScalingGroups"), { name: "AccessDenied" })),
    } as unknown as FleetControl;
    const app = appOn(denied);
    const res = await app.request(`/jobs/${await submit(app)}`, { headers: A });
    const body = await res.text();
    assert.equal(res.status, 200);
    const r = (JSON.parse(body) as JobView).statusReason;
    assert.equal(r?.code, "FLEET_UNKNOWN");
    assert.match(r!.message, /^The fleet could not be read \(AccessDenied\)/);
    assert.doesNotMatch(body, /111122223333/);
  });

  it("tenants: a tenant reads reasons about capacity, never another tenant's job ids", async () => {
    const id = "i-0ddddddddddddddd4";
    const { server, port } = await groupEndpoint({ name: "spotq-workers", minSize: 0, maxSize: 1, desiredCapacity: 1 });
    server.group.addInstance(id);
    server.group.setLifecycleState(id, LIFECYCLE.inService);
    const app = appOn(port);
    const bJob = await submit(app, "b");
    await runOn(bJob, id);
    const aJob = await submit(app, "a");

    const aView = await view(app, aJob, A);
    const aPage = await listed(app, "limit=100", A);
    const bView = await view(app, bJob, B);

    assert.equal(aView.statusReason?.code, "FLEET_AT_MAX", "A waits because B's job holds the only instance ...");
    assert.doesNotMatch(JSON.stringify(aView), new RegExp(bJob), "... and does not learn which job that is");
    assert.doesNotMatch(JSON.stringify(aPage), new RegExp(bJob));
    assert.equal(bView.statusReason?.code, "RUNNING");
    assert.match(bView.statusReason!.message, new RegExp(`^Running on ${id}`));
  });
});
