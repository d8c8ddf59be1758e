import assert from "node:assert/strict";
import { queueDepth } from "../../../aws/job-queue.ts";
import type { GroupState } from "../../../core/ports.ts";
import type { FleetControl } from "../../../core/ports.ts";
import type { JobRecord } from "../../../core/job.ts";
import { fixtureRequest, postJob, useApiHarness, type ErrorAnswer } from "./api-harness.ts";

/** Records every raiseDesired. */
class CountingFleet implements FleetControl {
  readonly asked: number[] = [];
  async raiseDesired(atLeast: number) {
    this.asked.push(atLeast);
    return { before: 0, after: atLeast };
  }
  async describeGroup(): Promise<GroupState> {
    return { name: "g", minSize: 0, maxSize: 100, desiredCapacity: 0, instances: [] };
  }
  async protect() {}
  async terminate() {}
  async setHealth() {}
  async completeLifecycleAction() {}
  async recordLifecycleHeartbeat() {}
}

describe("api: job priority (issue 11 §3): Spotq-Job-Priority sends a job to the high-priority queue", () => {
  const h = useApiHarness();
  const sqs = () => h().aws.emulators.clients.sqs();
  const depthOf = async (url: string) => {
    const d = await queueDepth(sqs(), url);
    return d.visible + d.inFlight + d.delayed;
  };
  const depths = async () => ({ normal: await depthOf(h().aws.resources.queueUrl), high: await depthOf(h().aws.resources.highQueueUrl!) });
  const submit = async (headers: Record<string, string>, app = h().app()) => {
    const res = await postJob(app, fixtureRequest(), headers);
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { jobId: string }).jobId;
  };
  const get = async (jobId: string) => (await (await h().app().request(`/jobs/${jobId}`)).json()) as JobRecord;

  it("a high job's message goes to <name>-jobs-high, a normal one's to the jobs queue; the record says which", async () => {
    assert.ok(h().aws.resources.highQueueUrl, "the local deployment has the high queue by default");
    const before = await depths();
    const high = await submit({ "Spotq-Job-Priority": "high" });
    assert.deepEqual(await depths(), { normal: before.normal, high: before.high + 1 });
    const normal = await submit({ "Spotq-Job-Priority": "normal" });
    const plain = await submit({});
    assert.deepEqual(await depths(), { normal: before.normal + 2, high: before.high + 1 });

    const h1 = await get(high);
    assert.equal(h1.priority, "high");
    assert.equal(h1.queue, "high");
    assert.deepEqual(h1.request, fixtureRequest(), "the Medit body is untouched");
    assert.equal((await get(normal)).priority, undefined, "normal is the default and is not stored");
    assert.equal((await get(normal)).queue, "normal");
    assert.equal((await get(plain)).queue, "normal");
  });

  it("takes the value in any letter case; refuses anything else with a 400 naming the header, storing and enqueueing nothing", async () => {
    assert.equal((await get(await submit({ "Spotq-Job-Priority": " HIGH " }))).priority, "high");
    const items = await h().jobItems();
    const before = await depths();
    const res = await postJob(h().app(), fixtureRequest(), { "Spotq-Job-Priority": "urgent" });
    assert.equal(res.status, 400);
    const { error } = (await res.json()) as ErrorAnswer;
    assert.deepEqual(error.problems, [{ field: "Spotq-Job-Priority", reason: 'must be "high" or "normal", got "urgent"' }]);
    assert.equal(await h().jobItems(), items);
    assert.deepEqual(await depths(), before);
  });

  it("refuses high in a deployment that turned the high queue off, naming the header and the config key", async () => {
    const config = h().deps.config;
    const off = { ...config, queue: { ...config.queue, highPriority: { ...config.queue.highPriority, enabled: false } } };
    const { highQueue: _, ...deps } = h().deps;
    const app = h().app({ ...deps, config: off, highQueue: undefined });
    const res = await postJob(app, fixtureRequest(), { "Spotq-Job-Priority": "high" });
    assert.equal(res.status, 400);
    const { error } = (await res.json()) as ErrorAnswer;
    assert.equal(error.problems?.[0]?.field, "Spotq-Job-Priority");
    assert.match(error.problems?.[0]?.reason ?? "", /queue\.highPriority\.enabled/);
    // normal still goes through
    await submit({ "Spotq-Job-Priority": "normal" }, app);
  });

  it("lists and filters by priority (GET /jobs?priority=), refusing an unknown value naming the parameter", async () => {
    const run = `prio${Date.now()}`;
    const a = await submit({ "Spotq-Job-Name": `${run}-a`, "Spotq-Job-Priority": "high" });
    const b = await submit({ "Spotq-Job-Name": `${run}-b` });
    const c = await submit({ "Spotq-Job-Name": `${run}-c`, "Spotq-Job-Priority": "high" });
    const list = async (q: string) => {
      const res = await h().app().request(`/jobs?${q}`);
      assert.equal(res.status, 200, await res.clone().text());
      return ((await res.json()) as { jobs: JobRecord[] }).jobs;
    };
    assert.deepEqual((await list(`name=${run}-*&priority=high`)).map((j) => j.jobId), [c, a]);
    assert.deepEqual((await list(`name=${run}-*&priority=normal`)).map((j) => j.jobId), [b]);
    assert.deepEqual((await list(`name=${run}-*`)).map((j) => j.priority ?? "normal"), ["high", "normal", "high"], "the listing shows each job's priority");
    const res = await h().app().request("/jobs?priority=urgent");
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as ErrorAnswer).error.problems?.[0]?.field, "priority");
  });

  it("the same Idempotency-Key with another priority is another request (422)", async () => {
    const key = { "Idempotency-Key": `prio-${Date.now()}` };
    await submit({ ...key, "Spotq-Job-Priority": "high" });
    const res = await postJob(h().app(), fixtureRequest(), key);
    assert.equal(res.status, 422);
    const again = await postJob(h().app(), fixtureRequest(), { ...key, "Spotq-Job-Priority": "HIGH" });
    assert.equal(again.status, 202, "the same priority replays");
  });

  it("the fast path asks for capacity for both queues' jobs: the Spot group serves both", async () => {
    const fleet = new CountingFleet();
    const app = h().app({ fleet });
    await submit({ "Spotq-Job-Priority": "high" }, app);
    const d = await depths();
    assert.ok(d.normal > 0 && d.high > 0, JSON.stringify(d));
    assert.deepEqual(fleet.asked, [d.normal + d.high]);
  });
});
