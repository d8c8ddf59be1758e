import assert from "node:assert/strict";
import type { FleetAnswer } from "../../../api/fleet-view.ts";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../../scripts/local/autoscaling-server.ts";
import { LIFECYCLE } from "../../../scripts/local/fleet-group.ts";
import { BUCKET, FIXTURE, postJob, useApiHarness } from "./api-harness.ts";

const KEY_A = "labAkey0123456789abcdefXYZ";
const KEY_B = "labBkey0123456789abcdefXYZ";
const TENANTS = [
  { name: "lab-a", apiKey: KEY_A, prefixes: ["labs/a/", "results/lab-a/"] },
  { name: "lab-b", apiKey: KEY_B, prefixes: ["labs/b/", "results/lab-b/"] },
];
const INSTANCES = ["i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"];

/**
 * `GET /fleet` with tenants: the instances are the deployment's and shown to every tenant, but
 * which job runs on an instance is shown only to that job's tenant (patient case folders must
 * not leak through the console's fleet view).
 */
describe("api: GET /fleet with tenants shows each tenant only its own jobs on the instances", () => {
  const h = useApiHarness({ name: "tenants", api: { tenants: TENANTS } });
  let server: AutoScalingServer;
  let clients: AwsClients;
  let group: AutoScalingFleetControl;
  const jobs: Record<"a" | "b", string> = { a: "", b: "" };

  before(async () => {
    server = await startAutoScalingServer({ group: { name: "spotq-workers", minSize: 0, maxSize: 4, desiredCapacity: 2 } });
    for (const id of INSTANCES) {
      server.group.addInstance(id, Date.now());
      server.group.setLifecycleState(id, LIFECYCLE.inService);
    }
    clients = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: server.endpoint } });
    group = new AutoScalingFleetControl(clients.autoscaling(), { groupName: "spotq-workers" });
    for (const [i, lab] of (["a", "b"] as const).entries()) {
      await h().upload({ [`labs/${lab}/case-1/scan.ply`]: "s".repeat(100) });
      const body = { ...FIXTURE, "Source Folder Path": `s3://${BUCKET}/labs/${lab}/case-1`, "Target Folder Path": `s3://${BUCKET}/results/lab-${lab}/case-1` };
      const res = await postJob(h().app(), body, { "x-api-key": lab === "a" ? KEY_A : KEY_B });
      assert.equal(res.status, 202, await res.clone().text());
      jobs[lab] = ((await res.json()) as { jobId: string }).jobId;
      await h().deps.store.transition(jobs[lab], { state: "QUEUED", attempts: 0 }, "RUNNING", { attempts: 1, instanceId: INSTANCES[i] });
    }
  });
  after(async () => {
    clients?.destroy();
    await server?.stop();
  });

  async function fleetAs(key: string): Promise<FleetAnswer> {
    const res = await h().app({ console: { group } }).request("/fleet", { headers: { "x-api-key": key } });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as FleetAnswer;
  }

  it("tenant A sees every instance, and the job id on the instance running its own job only", async () => {
    const view = await fleetAs(KEY_A);
    assert.deepEqual(
      view.instances.map((i) => [i.instanceId, i.jobId]),
      [
        [INSTANCES[0], jobs.a],
        [INSTANCES[1], undefined],
      ],
    );
  });

  it("tenant B likewise sees only its own job", async () => {
    const view = await fleetAs(KEY_B);
    assert.deepEqual(
      view.instances.map((i) => [i.instanceId, i.jobId]),
      [
        [INSTANCES[0], undefined],
        [INSTANCES[1], jobs.b],
      ],
    );
  });
});
