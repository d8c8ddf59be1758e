import assert from "node:assert/strict";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import type { JobView } from "../../../core/status-reason.ts";
import { IDLE_PROCESS, useLocalFleet } from "../local/fleet-helpers.ts";
import { fixtureRequest, postJob, useApiHarness } from "./api-harness.ts";

/**
 * A RUNNING job whose instance the local fleet terminates must not look healthy (issue 11 §4):
 * the fleet plays the Auto Scaling group (its own endpoint, real processes per instance), the API
 * reads it through the production adapter, as it reads the group in AWS. The job is claimed by
 * hand (as a worker's claim writes it), so the record keeps saying RUNNING while the instance goes,
 * as it does when a worker dies with its instance: only the reason can tell.
 */
describe("api: status reasons when the local fleet loses a RUNNING job's instance (issue 11 §4)", function () {
  this.timeout(60_000);
  const h = useApiHarness();
  const env = useLocalFleet({ launch: IDLE_PROCESS, lifecycleHooks: true, spotNoticeSeconds: 30 });
  let clients: AwsClients | undefined;
  afterEach(() => {
    clients?.destroy();
    clients = undefined;
  });

  /** A fresh app (a fresh 5 s fleet cache) reading the fleet's group through AutoScalingFleetControl. */
  function app() {
    const { fleet } = env();
    clients ??= new AwsClients({ region: "us-east-1", endpoints: { autoscaling: fleet.autoscalingEndpoint } });
    return h().app({ console: { group: new AutoScalingFleetControl(clients.autoscaling(), { groupName: fleet.groupName }) } });
  }
  async function view(jobId: string): Promise<JobView> {
    const res = await app().request(`/jobs/${jobId}`);
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as JobView;
  }
  /** A job running on the fleet's one instance. */
  async function runningJob(): Promise<{ jobId: string; instanceId: string }> {
    const { fleet, events } = env();
    fleet.setDesired(1);
    // The idle process stands in for the worker: the test completes the launch hook as the worker's start does.
    const hook = await events.waitFor("lifecycle_action", (e) => e.phase === "started");
    fleet.group.completeLifecycleAction({ hookName: hook.hookName, instanceId: hook.instanceId, result: "CONTINUE" });
    const { instanceId } = await events.waitFor("instance_in_service");
    const res = await postJob(app(), fixtureRequest());
    assert.equal(res.status, 202, await res.clone().text());
    const { jobId } = (await res.json()) as { jobId: string };
    const now = new Date().toISOString();
    await h().deps.store.transition(jobId, { state: "QUEUED", attempts: 0 }, "RUNNING", { attempts: 1, instanceId, startedAt: now, progress: { phase: "process", updatedAt: now } });
    const healthy = await view(jobId);
    assert.equal(healthy.statusReason?.code, "RUNNING", JSON.stringify(healthy.statusReason));
    assert.equal(healthy.statusReason?.level, "info");
    return { jobId, instanceId };
  }

  it("the instance killed outright (a hardware loss): INSTANCE_GONE, a warning saying when the job returns to the queue", async () => {
    const { fleet, events } = env();
    const { jobId, instanceId } = await runningJob();

    await fleet.killInstance(instanceId);
    await events.waitFor("instance_terminated", (e) => e.instanceId === instanceId);
    const gone = await view(jobId);

    assert.equal(gone.state, "RUNNING", "the record still says RUNNING ...");
    assert.equal(gone.statusReason?.code, "INSTANCE_GONE", `... and the reason says it is not: ${JSON.stringify(gone.statusReason)}`);
    assert.equal(gone.statusReason?.level, "warning");
    assert.match(gone.statusReason!.message, new RegExp(`^Instance ${instanceId} is gone from the group; the job returns to the queue within the visibility timeout \\(by \\d\\d:\\d\\d:\\d\\d UTC\\)$`));
    assert.ok(gone.statusReason?.until && Date.parse(gone.statusReason.until) > Date.now(), "returns later, not now");
  });

  it("a Spot interruption: INSTANCE_TERMINATING during the notice, INSTANCE_GONE once the instance is shut down", async () => {
    const { fleet, events } = env();
    const { jobId, instanceId } = await runningJob();

    await fleet.interrupt(instanceId, { noticeSeconds: 1 });
    const terminating = await view(jobId);
    await events.waitFor("instance_terminated", (e) => e.instanceId === instanceId);
    const gone = await view(jobId);

    assert.equal(terminating.statusReason?.code, "INSTANCE_TERMINATING", JSON.stringify(terminating.statusReason));
    assert.equal(terminating.statusReason?.level, "warning");
    assert.match(terminating.statusReason!.message, new RegExp(`^Instance ${instanceId} is terminating \\(Terminating:Wait\\): its worker hands the job back to the queue`));
    assert.equal(gone.statusReason?.code, "INSTANCE_GONE", JSON.stringify(gone.statusReason));
  });
});
