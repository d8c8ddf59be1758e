import assert from "node:assert/strict";
import { startE2eStack, type E2eStack } from "../support/e2e-stack.ts";
import { makeScan, meditRequest, outputProblems, readFolder, SAVE_SOURCE, uploadScan, type Scan } from "../support/e2e-scans.ts";

/**
 * A burst of jobs: the fast path and the queue-depth alarm both push the group up, and it stops at
 * the max size; every job succeeds; once the queue is drained each idle worker retires its own
 * instance and the group goes back to zero.
 */
describe("e2e: a burst of jobs scales out to the max size, never beyond, then back in", function () {
  this.timeout(360_000);
  const MAX_SIZE = 3;
  const JOBS = 9;
  let e: E2eStack;

  before(async function () {
    this.timeout(60_000);
    e = await startE2eStack({
      config: (c) => ({
        ...c,
        fleet: { ...c.fleet, maxSize: MAX_SIZE, idleTimeoutSeconds: 10 },
        queue: { ...c.queue, receiveWaitSeconds: 5 },
        // The alarm runs every 10 s on the live backlog: with 9 queued the deficit policy asks for an
        // instance per job no instance serves, which only the max size holds back.
        scaling: { ...c.scaling, periodSeconds: 10 },
      }),
      metricDelaySeconds: 0,
    });
  });

  after(async function () {
    this.timeout(60_000);
    await e?.stop();
  });

  it(`runs ${JOBS} jobs on at most ${MAX_SIZE} instances, all SUCCEEDED with their outputs, and returns to 0`, async () => {
    const { bucket } = e.stack.resources;
    const s3 = e.stack.emulators.clients.s3();
    assert.deepEqual(e.fleet.snapshot(), { instances: 0, active: 0, desired: 0 }, "the fleet starts empty");

    const inputs = new Map<string, Scan>();
    for (let i = 0; i < JOBS; i++) {
      const scan = makeScan(`burst-${i}`, { files: 2, bytesPerFile: 8192 });
      await uploadScan(s3, bucket, `scans/burst-${i}`, scan);
      inputs.set(`burst-${i}`, scan);
    }
    const jobIds = new Map<string, string>();
    for (const name of inputs.keys()) jobIds.set(name, await e.jobs.submit(meditRequest(bucket, `scans/${name}`, `results/${name}`, "sleep=3000")));

    const jobs = await Promise.all([...jobIds.values()].map((id) => e.jobs.finished(id, 240_000)));
    for (const job of jobs) assert.equal(job.state, "SUCCEEDED", `job ${job.jobId} ended ${job.state}: ${JSON.stringify(job.error)}`);
    for (const [name, id] of jobIds)
      assert.deepEqual(outputProblems(await readFolder(s3, bucket, `results/${name}`), inputs.get(name)!, SAVE_SOURCE), [], `outputs of job ${id} (${name})`);

    await e.fleet.until("desired 0 and no instance", () => {
      const s = e.fleet.snapshot();
      return s.desired === 0 && s.instances === 0;
    }, 120_000);

    const history = e.fleet.describe().join("\n  ");
    assert.equal(e.fleet.max("instances"), MAX_SIZE, `the group reached its max size and never held more instances:\n  ${history}`);
    assert.equal(e.fleet.max("desired"), MAX_SIZE, `desired capacity reached the max size and never more:\n  ${history}`);
    assert.equal(e.fleet.all("instance_launched").length, MAX_SIZE, "no instance was launched beyond the burst's");
    assert.deepEqual(
      e.fleet.all("instance_terminated").map((t) => t.reason),
      Array(MAX_SIZE).fill("self-terminate"),
      "every instance retired itself once idle",
    );
    const fired = e.fleet.all("alarm_fired");
    for (const f of fired) assert.ok(f.after <= MAX_SIZE, `the alarm asked for ${f.after} instances`);
    process.stdout.write(
      `      alarm fired ${fired.length}×: ${fired.map((f) => `backlog ${f.value} → step ${f.step} +${f.addInstances} on ${f.currentCapacity} = ${f.after}`).join("; ") || "-"}\n`,
    );
  });
});
