import assert from "node:assert/strict";
import { makeScan, meditRequest, outputProblems, readFolder, SAVE_SOURCE, uploadScan } from "../support/e2e-scans.ts";
import { startE2eStack, type E2eStack } from "../support/e2e-stack.ts";
import { queueState } from "../support/e2e-telemetry.ts";

/**
 * A job whose worker died comes back when its message's visibility timeout runs out. If the fleet
 * has meanwhile scaled in to zero (the restarted worker found nothing to do and retired), the job
 * still gets capacity without waiting for the alarm (DESIGN §5, docs/scaling.md "Capacity for
 * returned jobs"): when the instance leaves, the fleet sees a job in flight that no instance covers
 * and raises desired capacity (core/scaling's fastPathDesired). The alarm is kept out of it: its
 * datapoints reach it an hour late here.
 */
describe("e2e: a job whose worker died, returning to a fleet scaled in to zero", function () {
  this.timeout(300_000);
  let e: E2eStack;

  before(async function () {
    this.timeout(60_000);
    e = await startE2eStack({
      config: (c) => ({
        ...c,
        queue: { ...c.queue, visibilityTimeoutSeconds: 30, receiveWaitSeconds: 5 },
        jobs: { ...c.jobs, heartbeatSeconds: 2 },
        fleet: { ...c.fleet, idleTimeoutSeconds: 10 },
        scaling: { ...c.scaling, periodSeconds: 10 },
      }),
      metricDelaySeconds: 3600,
    });
  });

  after(async function () {
    this.timeout(60_000);
    await e?.stop();
  });

  it("is taken over by an instance launched for it without an alarm, and SUCCEEDS on its second attempt", async () => {
    const { bucket, queueUrl } = e.stack.resources;
    const s3 = e.stack.emulators.clients.s3();
    const sqs = e.stack.emulators.clients.sqs();
    const inputs = makeScan("returned");
    await uploadScan(s3, bucket, "scans/returned", inputs);
    const jobId = await e.jobs.submit(meditRequest(bucket, "scans/returned", "results/returned", "sleep=8000"));
    const running = await e.jobs.waitFor(jobId, "RUNNING in the process phase", (j) => j.state === "RUNNING" && j.progress?.phase === "process", 90_000);

    const killed = await e.control.kill(running.instanceId!);
    assert.equal(killed.status, 202, JSON.stringify(killed.body));
    // The restarted worker cleans up, finds the queue empty (the message is still invisible) and retires.
    await e.fleet.until("the fleet back at 0 with the job's message still out", () => {
      const s = e.fleet.snapshot();
      return s.desired === 0 && s.instances === 0;
    }, 90_000);
    assert.equal((await e.jobs.get(jobId)).state, "RUNNING", "the dead attempt still holds the record");

    const job = await e.jobs.waitFor(jobId, "SUCCEEDED", (j) => j.state === "SUCCEEDED" || j.state === "FAILED", 90_000).catch(async (err: Error) => {
      const alarm = e.stack.fleet.alarmState();
      throw new Error(
        `${err.message}\n  queue now ${JSON.stringify(await queueState(sqs, queueUrl))} (its visibility timeout ran out long ago); ` +
          `alarm ${alarm?.state} on datapoints ${JSON.stringify(alarm?.datapoints)}; group ${JSON.stringify(e.fleet.snapshot())}`,
      );
    });
    assert.equal(job.state, "SUCCEEDED", JSON.stringify(job.error));
    assert.deepEqual(job.attemptHistory?.map((a) => a.outcome), ["LOST", "SUCCEEDED"]);
    assert.deepEqual(outputProblems(await readFolder(s3, bucket, "results/returned"), inputs, SAVE_SOURCE), []);
    const reasons = e.fleet.all("desired_changed").map((d) => `${d.reason} ${d.before}->${d.after}`);
    assert.ok(e.fleet.all("desired_changed", (d) => d.reason === "returned-jobs" && d.before === 0 && d.after === 1).length >= 1, reasons.join(", "));
    assert.deepEqual(e.fleet.all("alarm_fired"), [], "no alarm ran its policy");
  });
});
