import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { FleetConfigInput } from "../../../core/fleet-config.ts";
import { expectedOutputs } from "../../../scripts/fake-medit/outputs.ts";
import { failedAttempts } from "../../../worker/job-run.ts";
import { FAKE_REGISTRY, processGone, useFakeDocker, waitGone } from "../../support/fake-docker.ts";
import { TEST_CONFIG, useWorkerTestBed } from "../../support/worker-stack.ts";

/** The suite's deployment config with the container profile: fake-medit as an ECR image on a Linux fleet. */
const CONTAINER_CONFIG: FleetConfigInput = {
  ...TEST_CONFIG,
  fleet: { ...TEST_CONFIG.fleet, platform: "linux" },
  processor: { args: ["--iScanComplete", "{config}"], container: { image: "medit-iscan", gpus: "all", stopTimeoutSeconds: 1 } },
};
const IMAGE = `${FAKE_REGISTRY}/medit-iscan:latest`;

describe("worker: the container profile end to end (fauxqs, dynalite, local Auto Scaling and IMDS, a stand-in docker and ECR)", function () {
  this.timeout(120_000);
  const { docker, ecr } = useFakeDocker();
  const { bed } = useWorkerTestBed(CONTAINER_CONFIG);
  beforeEach(() => {
    docker().settings({ images: {}, noGpu: false, stopFails: false, daemonDown: false });
    docker().addImage("medit-iscan:latest");
  });

  /** The container a job attempt ran, as the stand-in recorded it. */
  const containerOf = (jobId: string, attempt = 1) => {
    const name = `spotq-${jobId}-${attempt}`;
    const run = docker().events("run").find((e) => e.name === name);
    const started = docker().events("started").find((e) => e.name === name);
    assert.ok(run && started, `no container ${name}: ${JSON.stringify(docker().commands())}`);
    return { name, run, pid: started.pid as number };
  };

  it("boots (the preflight pulls the image and sees the GPUs in a container), then runs a job as docker run: outputs byte for byte, config.json with container paths", async () => {
    const b = bed();
    const inputs = { "scan/raw-0001.bin": randomBytes(300_000), "meta/info.txt": "tooth 36\n" };
    const job = await b.submit(inputs);
    const w = await b.startWorker();
    const preflight = await w.events.waitFor("preflight", (e) => e.trigger === "boot");
    assert.equal(preflight.ok, true, JSON.stringify(preflight.checks));
    assert.match(preflight.checks.find((c) => c.name === "processor")!.detail, new RegExp(`answers; ${IMAGE.replaceAll(".", "\\.")} pulled`));
    assert.match(preflight.checks.find((c) => c.name === "gpu")!.detail, /sees the GPUs/);
    const { record } = await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);

    const outputs = await b.readFolder(job.targetPrefix);
    const expected = expectedOutputs(new Map(Object.entries(inputs).map(([k, v]) => [k, Buffer.from(v)])), { saveSource: true });
    assert.deepEqual([...outputs.keys()].sort(), [...expected.keys()].sort());
    for (const [rel, body] of expected) assert.ok(outputs.get(rel)!.equals(body), `${rel} differs`);
    assert.equal(record.exitCode, 0);
    assert.equal(typeof record.timings?.downloadMs, "number");

    const { run } = containerOf(job.jobId);
    const root = path.join(w.workRoot, `${job.jobId}-1`);
    assert.equal(run.image, IMAGE);
    assert.deepEqual(run.args, ["--iScanComplete", "/spotq/source/config.json"]);
    assert.deepEqual(run.mounts, [
      { readonly: true, type: "bind", source: path.join(root, "source"), target: "/spotq/source" },
      { readonly: false, type: "bind", source: path.join(root, "target"), target: "/spotq/target" },
    ]);
    assert.deepEqual(run.labels, { "spotq.job": job.jobId, "spotq.attempt": "1", "spotq.instance": w.instanceId });
    assert.deepEqual(run.env, ["SPOTQ_JOB_ID", "SPOTQ_ATTEMPT"]);
    assert.equal(run.rm, true);
    // Pulled before the job, after a login; the job's log says how long the pull took and what ran.
    const commands = docker().commands().map((c) => c[0]);
    assert.ok(commands.lastIndexOf("pull") < commands.lastIndexOf("run"));
    assert.ok(ecr().calls >= 1);
    const log = await readFile(path.join(record.logs!.group, record.logs!.stream), "utf8");
    assert.match(log, /\[spotq\] pulled 111122223333\.dkr\.ecr\.us-east-1\.amazonaws\.com\/medit-iscan:latest in \d+ ms \(counted in the download time\)/);
    assert.match(log, /\[spotq\] running docker "run" "--rm" "--pull" "never" "--name" "spotq-/);
    assert.match(log, /\[stdout\] fake-medit: config ok: .* source \/spotq\/source, target \/spotq\/target/);
  });

  it("a cancel mid-run stops the container (docker stop, then nothing left), records CANCELLED", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "hang" });
    const w = await b.startWorker();
    const line = await w.events.waitFor("processor_output", (e) => /helper pid \d+/.test(e.line));
    const helper = Number(/helper pid (\d+)/.exec(line.line)![1]);
    const { name, pid } = containerOf(job.jobId);
    await b.store.transition(job.jobId, { state: "RUNNING" }, "CANCELLING");

    await w.events.waitFor("job_cancelled", (e) => e.jobId === job.jobId);
    assert.equal((await b.record(job.jobId)).state, "CANCELLED");
    assert.equal(processGone(pid), true, "the container is stopped");
    assert.equal(await waitGone(helper), true, "with what it started");
    assert.deepEqual(
      docker().commands().filter((c) => ["stop", "kill"].includes(c[0]!)),
      [["stop", "--time", "1", name]],
    );
    assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
  });

  it("a Spot notice hands the job back and stops its container; a daemon that cannot stop it gets docker kill", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "sleep=60000" });
    const w = await b.startWorker();
    await w.events.waitFor("processor_output", (e) => e.jobId === job.jobId && /processing/.test(e.line));
    const { name, pid } = containerOf(job.jobId);
    docker().settings({ stopFails: true });
    w.imds.setSpotInterruption("terminate", 120);

    const interrupted = await w.events.waitFor("job_interrupted", (e) => e.jobId === job.jobId);
    assert.match(interrupted.reason, /spot-interruption/);
    assert.equal(processGone(pid), true, "the container is gone before the job is handed back");
    assert.deepEqual(
      docker().commands().filter((c) => ["stop", "kill"].includes(c[0]!)),
      [
        ["stop", "--time", "1", name],
        ["kill", name],
      ],
    );
    const queued = await b.record(job.jobId);
    assert.equal(queued.state, "QUEUED");
    assert.equal(queued.interruptions, 1);
    assert.equal(failedAttempts(queued.attemptHistory), 0);
    assert.deepEqual(await b.queue.depth(), { visible: 1, inFlight: 0, delayed: 0 });
  });

  it("maps the image's exit codes as for Medit: a listed code is an invalid request (no retry), a signal is a crash (retried)", async () => {
    const b = bed();
    const invalid = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "exit=2" });
    const crash = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "crash" });
    const w = await b.startWorker();
    const failed = await w.events.waitFor("job_failed", (e) => e.jobId === invalid.jobId);
    assert.equal(failed.error.code, "INVALID_REQUEST");
    assert.equal(failed.attempt, 1);
    const retried = await w.events.waitFor("job_retried", (e) => e.jobId === crash.jobId);
    assert.equal(retried.error.code, "PROCESS_CRASH");
    assert.match(retried.error.message, /the container's process was killed by SIGABRT \(exit code 134\)/);
    assert.equal((await b.record(crash.jobId)).attemptHistory!.at(-1)!.exitCode, 134);
  });

  it("docker run's own 125 (the GPU runtime gone) is the instance's fault: the preflight fails again, the job goes back uncharged and the instance leaves", async () => {
    const b = bed();
    const w = await b.startWorker();
    await w.events.waitFor("preflight", (e) => e.trigger === "boot");
    docker().settings({ noGpu: true });
    const job = await b.submit({ "a.txt": "a" });
    const handedBack = await w.events.waitFor("job_interrupted", (e) => e.jobId === job.jobId);
    assert.equal(handedBack.instanceFault, true);
    assert.match(handedBack.reason, /PROCESS_START on an instance judged broken \(the preflight fails after PROCESS_START .*could not select device driver/);
    assert.equal(await w.worker.done, "unhealthy");
    const stored = await b.record(job.jobId);
    assert.equal(stored.state, "QUEUED");
    assert.equal(failedAttempts(stored.attemptHistory), 0);
    assert.equal(stored.attemptHistory!.at(-1)!.error?.code, "INSTANCE_FAULT");
  });

  it("an image that can no longer be pulled is IMAGE_PULL, the instance's fault, never the request's", async () => {
    const b = bed();
    const w = await b.startWorker({ config: { fleet: { unhealthyAfterFailures: 3 } } });
    await w.events.waitFor("preflight", (e) => e.trigger === "boot");
    docker().settings({ images: {} }); // the tag was deleted from the repository
    const job = await b.submit({ "a.txt": "a" });
    const handedBack = await w.events.waitFor("job_interrupted", (e) => e.jobId === job.jobId);
    assert.equal(handedBack.instanceFault, true);
    assert.match(handedBack.reason, /^IMAGE_PULL on an instance judged broken .*processor\.container\.image "medit-iscan" cannot be pulled/);
    const fault = await w.events.waitFor("instance_fault", (e) => e.jobId === job.jobId);
    assert.equal(fault.fault, "instance");
    assert.equal(fault.code, "IMAGE_PULL");
    assert.deepEqual(docker().events("run").filter((e) => e.name === `spotq-${job.jobId}-1`), [], "nothing ran");
  });
});
