import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { isAlive } from "../support/e2e-processes.ts";
import { makeScan, meditRequest, uploadScan } from "../support/e2e-scans.ts";
import { startE2eStack, type E2eStack } from "../support/e2e-stack.ts";
import { waitUntil } from "../support/e2e-wait.ts";

/**
 * `POST /instances/{id}/kill-instance` plays a hardware loss: on EC2 every process of the
 * instance dies with it. Locally the fleet SIGKILLs the worker's process group, but the worker
 * starts its processor in a process group of its own (so a tree kill reaches its children), and
 * no worker restarts on a dead instance to sweep it: the processor's tree must be ended by the
 * fleet, or it runs on after its instance is gone.
 */
describe("e2e: an instance killed outright", function () {
  this.timeout(180_000);
  let e: E2eStack;

  before(async function () {
    this.timeout(60_000);
    e = await startE2eStack();
  });

  after(async function () {
    this.timeout(60_000);
    await e?.stop();
  });

  it("takes the processes of its running job with it, and the group replaces it", async () => {
    const { bucket } = e.stack.resources;
    await uploadScan(e.stack.emulators.clients.s3(), bucket, "scans/lost", makeScan("lost"));
    const jobId = await e.jobs.submit(meditRequest(bucket, "scans/lost", "results/lost", "hang"));
    const running = await e.jobs.waitFor(jobId, "RUNNING in the process phase", (j) => j.state === "RUNNING" && j.progress?.phase === "process", 90_000);
    const jobRoot = path.join(e.dir, "instances", running.instanceId!, `${jobId}-${running.attempts}`);
    const helperFile = path.join(jobRoot, "target", "helper.pid");
    const helperPid = Number(await waitUntil("fake-medit writes its helper's pid", () => existsSync(helperFile) && readFileSync(helperFile, "utf8").trim(), 30_000));
    const processorPid = (JSON.parse(readFileSync(path.join(jobRoot, "processor.json"), "utf8")) as { pid: number }).pid;

    assert.equal((await e.control.killInstance(running.instanceId!)).status, 202);
    await e.fleet.until("the instance is gone", () => e.fleet.all("instance_terminated", (t) => t.instanceId === running.instanceId).length === 1, 30_000);
    await e.fleet.until("a replacement in service", () => e.fleet.all("instance_in_service").length === 2, 60_000);

    await waitUntil("the job's processor and its helper are gone with the instance", () => !isAlive(processorPid) && !isAlive(helperPid), 10_000, {
      describe: () => `processor ${processorPid} alive: ${isAlive(processorPid)}, helper ${helperPid} alive: ${isAlive(helperPid)}`,
    });
  });
});
