import assert from "node:assert/strict";
import { startE2eStack, type E2eStack } from "../support/e2e-stack.ts";
import { makeScan, meditRequest, outputProblems, readFolder, SAVE_SOURCE, uploadScan } from "../support/e2e-scans.ts";

/**
 * The whole system, end to end, for one job: the fleet starts at zero instances, the API's fast
 * path raises it to one, a real worker process runs the stand-in processor on the uploaded scan,
 * and once idle the worker terminates its own instance, taking the group back to zero.
 */
describe("e2e: one job from zero instances and back to zero", function () {
  this.timeout(240_000);
  const IDLE_TIMEOUT_SECONDS = 10; // the schema's minimum
  let e: E2eStack;

  before(async function () {
    this.timeout(60_000);
    e = await startE2eStack({
      config: (c) => ({
        ...c,
        fleet: { ...c.fleet, idleTimeoutSeconds: IDLE_TIMEOUT_SECONDS },
        // A short long-poll, so the idle rule is checked soon after the timeout passes.
        queue: { ...c.queue, receiveWaitSeconds: 5 },
      }),
    });
  });

  after(async function () {
    this.timeout(60_000);
    await e?.stop();
  });

  it("goes 0 → 1 instance, runs the Medit request to SUCCEEDED with the exact outputs, then back to 0", async () => {
    const { bucket } = e.stack.resources;
    const s3 = e.stack.emulators.clients.s3();
    assert.deepEqual(e.fleet.snapshot(), { instances: 0, active: 0, desired: 0 }, "the fleet starts empty");
    assert.deepEqual(await e.control.instances(), [], "the control surface lists no instance at the start");

    const inputs = makeScan("one-job", { files: 3, bytesPerFile: 64 * 1024 });
    await uploadScan(s3, bucket, "scans/one", inputs);
    const jobId = await e.jobs.submit(meditRequest(bucket, "scans/one", "results/one"));
    const job = await e.jobs.finished(jobId, 120_000);

    assert.equal(job.state, "SUCCEEDED", `job ended ${job.state}: ${JSON.stringify(job.error)}`);
    assert.equal(job.attempts, 1);
    assert.deepEqual(outputProblems(await readFolder(s3, bucket, "results/one"), inputs, SAVE_SOURCE), [], "results differ from fake-medit's for these inputs");
    assert.deepEqual(job.outputs, { target: `s3://${bucket}/results/one`, objects: inputs.size + 2 });

    const launched = e.fleet.all("instance_launched");
    assert.equal(launched.length, 1, `exactly one instance launched:\n${e.fleet.describe().join("\n")}`);
    assert.equal(job.instanceId, launched[0]!.instanceId, "the job ran on the instance the fleet launched for it");
    assert.deepEqual(e.fleet.all("desired_changed")[0], { before: 0, after: 1, reason: "api" }, "the API's fast path raised desired capacity 0 → 1");
    assert.equal(e.fleet.max("desired"), 1);

    await e.fleet.until("desired 0 and no instance", () => {
      const s = e.fleet.snapshot();
      return s.desired === 0 && s.instances === 0;
    }, (IDLE_TIMEOUT_SECONDS + 90) * 1000);
    assert.deepEqual(e.fleet.all("instance_terminated"), [{ instanceId: launched[0]!.instanceId, reason: "self-terminate" }], "the idle worker retired its own instance");
    assert.deepEqual(e.fleet.all("desired_changed").at(-1), { before: 1, after: 0, reason: "self-terminate" }, "with decrement, so no replacement launched");
    assert.equal(e.fleet.max("instances"), 1, "never more than one instance");
    assert.deepEqual(await e.control.instances(), []);
  });
});
