import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { isAlive } from "../support/e2e-processes.ts";
import { makeScan, meditRequest, readFolder, uploadScan } from "../support/e2e-scans.ts";
import { startE2eStack, type E2eStack } from "../support/e2e-stack.ts";
import { isEmpty, metricLines, queueState, workerLogLines } from "../support/e2e-telemetry.ts";
import { waitUntil } from "../support/e2e-wait.ts";

/**
 * Cancelling a job (DELETE /jobs/{id}) in both of its cancellable states, through the whole
 * system. The fleet only grows when the test says so: no fast path, and the queue-depth alarm
 * held off by an hour of metric delay, so a job stays QUEUED for as long as the test needs.
 */
describe("e2e: cancelling a job while queued and while running", function () {
  this.timeout(240_000);
  let e: E2eStack;

  before(async function () {
    this.timeout(60_000);
    e = await startE2eStack({
      config: (c) => ({
        ...c,
        scaling: { ...c.scaling, fastPath: false },
        fleet: { ...c.fleet, idleTimeoutSeconds: 10 },
        queue: { ...c.queue, receiveWaitSeconds: 5 },
        // The worker notices a cancel at its next heartbeat.
        jobs: { ...c.jobs, heartbeatSeconds: 1 },
      }),
      metricDelaySeconds: 3600,
    });
  });

  after(async function () {
    this.timeout(60_000);
    await e?.stop();
  });

  const depth = () => queueState(e.stack.emulators.clients.sqs(), e.stack.resources.queueUrl);

  it("a QUEUED job: 200 CANCELLED; when capacity arrives the worker discards its message and nothing runs", async () => {
    const { bucket } = e.stack.resources;
    const s3 = e.stack.emulators.clients.s3();
    await uploadScan(s3, bucket, "scans/queued", makeScan("queued"));
    const jobId = await e.jobs.submit(meditRequest(bucket, "scans/queued", "results/queued"));
    assert.equal((await e.jobs.get(jobId)).state, "QUEUED");
    assert.deepEqual(e.fleet.snapshot(), { instances: 0, active: 0, desired: 0 }, "no capacity: the job can only wait");
    assert.deepEqual(await depth(), { visible: 1, inFlight: 0, delayed: 0 });

    const cancel = await e.jobs.cancel(jobId);
    assert.equal(cancel.status, 200);
    assert.equal(cancel.body.state, "CANCELLED");
    assert.equal((await e.jobs.get(jobId)).state, "CANCELLED");

    await e.control.setDesired(1);
    const discarded = await waitUntil(
      "the worker discards the cancelled job's message",
      () => workerLogLines(e.dir).find((l) => l.event === "message_discarded" && l.jobId === jobId),
      90_000,
      { describe: () => `fleet: ${e.fleet.describe().join("; ")}` },
    );
    assert.equal(discarded.state, "CANCELLED");
    await waitUntil("the queue is empty", async () => isEmpty(await depth()), 30_000, { describe: async () => JSON.stringify(await depth()) });

    const job = await e.jobs.get(jobId);
    assert.equal(job.state, "CANCELLED");
    assert.equal(job.attempts, 0, "no attempt was started");
    assert.equal(job.startedAt, undefined);
    assert.deepEqual([...(await readFolder(s3, bucket, "results/queued")).keys()], [], "nothing in the target folder");
    assert.deepEqual(
      workerLogLines(e.dir).filter((l) => l.jobId === jobId).map((l) => l.event),
      ["message_received", "message_discarded"],
      "the worker received the message and discarded it, nothing else",
    );
  });

  it("a RUNNING job: 202 CANCELLING, then CANCELLED; the processor tree is killed and nothing is uploaded", async () => {
    const { bucket } = e.stack.resources;
    const s3 = e.stack.emulators.clients.s3();
    // The first test's idle worker retires itself first, so the only capacity is what this test asks for.
    await e.fleet.until("an empty fleet", () => e.fleet.snapshot().instances === 0 && e.fleet.snapshot().desired === 0, 90_000);

    await uploadScan(s3, bucket, "scans/running", makeScan("running"));
    // "hang": fake-medit ignores SIGTERM and starts a helper process that does too; only a tree kill ends them.
    const jobId = await e.jobs.submit(meditRequest(bucket, "scans/running", "results/running", "hang"));
    await e.control.setDesired(1);
    const running = await e.jobs.waitFor(jobId, "RUNNING in the process phase", (j) => j.state === "RUNNING" && j.progress?.phase === "process", 90_000);
    const jobRoot = path.join(e.dir, "instances", running.instanceId!, `${jobId}-${running.attempts}`);
    const helperFile = path.join(jobRoot, "target", "helper.pid");
    const helperPid = Number(await waitUntil("fake-medit writes its helper's pid", () => existsSync(helperFile) && readFileSync(helperFile, "utf8").trim(), 30_000));
    const processorPid = (JSON.parse(readFileSync(path.join(jobRoot, "processor.json"), "utf8")) as { pid: number }).pid;
    assert.ok(isAlive(processorPid), "the processor runs");
    assert.ok(isAlive(helperPid), "its helper runs");

    const cancel = await e.jobs.cancel(jobId);
    assert.equal(cancel.status, 202);
    assert.equal(cancel.body.state, "CANCELLING");
    // A hanging processor never ends by itself: reaching CANCELLED at all means the worker stopped it.
    const job = await e.jobs.waitFor(jobId, "CANCELLED", (j) => j.state === "CANCELLED", 60_000);

    await waitUntil("the processor and its helper are gone", () => !isAlive(processorPid) && !isAlive(helperPid), 10_000, {
      describe: () => `processor ${processorPid} alive: ${isAlive(processorPid)}, helper ${helperPid} alive: ${isAlive(helperPid)}`,
    });
    assert.equal(job.attempts, 1);
    assert.equal(job.attemptHistory?.at(-1)?.outcome, "CANCELLED");
    assert.equal(job.outputs, undefined);
    assert.deepEqual([...(await readFolder(s3, bucket, "results/running")).keys()], [], "nothing uploaded");
    // Off the critical path (docs/orderings.md): the folders go beside the final writes, the metrics
    // after the message is deleted, so each is waited for rather than expected with the record.
    await waitUntil("the job's local folders are removed", () => !existsSync(jobRoot), 10_000);
    // The record says CANCELLED first; the worker deletes the message right after.
    await waitUntil("the message is deleted", async () => isEmpty(await depth()), 10_000);
    const outcomes = () => metricLines(e.dir).filter((m) => m.jobId === jobId).map((m) => m.outcome);
    await waitUntil("the job's metrics line", () => outcomes().length > 0, 10_000);
    assert.deepEqual(outcomes(), ["cancelled"]);
  });
});
