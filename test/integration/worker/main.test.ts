import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { awsSettingsToEnv } from "../../../aws/clients.ts";
import { ensureJobQueues, SqsJobQueue } from "../../../aws/job-queue.ts";
import { DynamoJobStore } from "../../../aws/job-store.ts";
import { newJobId, type JobRecord } from "../../../core/job.ts";
import type { FleetConfigInput } from "../../../core/fleet-config.ts";
import type { JobRequest } from "../../../core/request.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../../scripts/local/autoscaling-server.ts";
import { startImdsServer, type ImdsServer } from "../../../scripts/local/imds-server.ts";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { useLocalAws } from "../../support/local-aws.ts";
import { fakeMeditProcessor, fakeNvidiaSmi, isAlive, meditFixture, REPO, tempDir } from "../../support/worker-fixtures.ts";

/** The deployment config the worker process reads from SPOTQ_CONFIG_JSON: the schema's minimum times. */
const CONFIG: FleetConfigInput = {
  name: "wmain",
  queue: { visibilityTimeoutSeconds: 30, receiveWaitSeconds: 1 },
  jobs: { heartbeatSeconds: 2, maxAttempts: 2, retryBackoffSeconds: 0, extraOptions: ["Fake Medit Behaviour"] },
  processor: fakeMeditProcessor(),
  fleet: { idleTimeoutSeconds: 10, preflight: { gpuCheck: fakeNvidiaSmi(), minFreeDiskGiB: 0 } },
};

/** A worker process as the service manager runs it: `node --import tsx worker/main.ts` in the repo. */
class WorkerProcess {
  readonly child: ChildProcess;
  output = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  constructor(env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, ["--import", "tsx", "worker/main.ts"], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (d) => (this.output += d));
    this.child.stderr!.on("data", (d) => (this.output += d));
    this.exited = new Promise((resolve) => this.child.once("exit", (code, signal) => resolve({ code, signal })));
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch {
    return undefined; // not there yet, or half written
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("worker/main.ts: the worker process with its environment contract", function () {
  this.timeout(120_000);
  const aws = useLocalAws(CONFIG, "spotq-main-test");
  let asg: AutoScalingServer;
  let imds: ImdsServer;
  let env: NodeJS.ProcessEnv;
  let store: DynamoJobStore;
  let queue: SqsJobQueue;
  let workRoot: string;
  const instanceId = "i-0aaaabbbbcccc0001";
  const procs: WorkerProcess[] = [];

  beforeEach(async () => {
    const a = aws();
    const q = await ensureJobQueues(a.emulators.clients.sqs(), {
      name: `wmain-${Date.now().toString(36)}`,
      visibilityTimeoutSeconds: 30,
      maxReceiveCount: 100,
      dlqRetentionDays: 1,
    });
    queue = new SqsJobQueue(a.emulators.clients.sqs(), q);
    store = new DynamoJobStore(a.emulators.clients.dynamo(), { tableName: a.resources.tableName });
    asg = await startAutoScalingServer({ group: { name: "wmain-workers", minSize: 0, maxSize: 4, desiredCapacity: 1 } });
    asg.group.addInstance(instanceId);
    asg.group.setLifecycleState(instanceId, "InService");
    imds = await startImdsServer({ instanceId });
    workRoot = await tempDir("spotq-main-root-");
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...awsSettingsToEnv({ ...a.emulators.settings, endpoints: { ...a.emulators.settings.endpoints, autoscaling: asg.endpoint } }),
      AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint,
      SPOTQ_CONFIG_JSON: JSON.stringify(CONFIG),
      SPOTQ_TABLE: a.resources.tableName,
      SPOTQ_QUEUE_URL: q.queueUrl,
      SPOTQ_DLQ_URL: q.dlqUrl,
      SPOTQ_BUCKET: a.resources.bucket,
      SPOTQ_GROUP: asg.group.name,
      SPOTQ_WORK_ROOT: workRoot,
      SPOTQ_TELEMETRY: "files",
      SPOTQ_TELEMETRY_DIR: path.join(workRoot, "telemetry"),
    };
  });

  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
    await asg.stop();
    await imds.stop();
  });

  function start(extra: NodeJS.ProcessEnv = {}): WorkerProcess {
    const p = new WorkerProcess({ ...env, ...extra });
    procs.push(p);
    return p;
  }

  async function submit(behaviour?: string): Promise<string> {
    const a = aws();
    const jobId = newJobId();
    await a.emulators.clients.s3().send(new PutObjectCommand({ Bucket: a.resources.bucket, Key: `jobs/${jobId}/in/scan.bin`, Body: "points" }));
    const request = {
      ...(await meditFixture()),
      "Source Folder Path": `s3://${a.resources.bucket}/jobs/${jobId}/in`,
      "Target Folder Path": `s3://${a.resources.bucket}/jobs/${jobId}/out`,
      ...(behaviour ? { "Fake Medit Behaviour": behaviour } : {}),
    } as JobRequest;
    const now = new Date().toISOString();
    await store.create({ jobId, state: "QUEUED", request, submittedAt: now, updatedAt: now, attempts: 0, interruptions: 0 });
    await queue.send({ jobId, request, submittedAt: now });
    return jobId;
  }

  const processing = (jobId: string) => async (): Promise<JobRecord | undefined> => {
    const r = await store.get(jobId);
    return r?.progress?.phase === "process" ? r : undefined;
  };

  it("exits 2 naming the missing variable when the environment is incomplete", async () => {
    const p = start({ SPOTQ_TABLE: "" });
    const { code } = await p.exited;
    assert.equal(code, 2);
    assert.match(p.output, /environment variable SPOTQ_TABLE is required but not set/);
  });

  it("on SIGTERM mid-job hands the job back (QUEUED, interruptions 1, message visible) and exits 0", async () => {
    const jobId = await submit("sleep=60000");
    const p = start();
    await until("the job to be processing", processing(jobId));
    p.child.kill("SIGTERM");
    const { code } = await p.exited;
    assert.equal(code, 0, p.output);
    const r = await store.get(jobId);
    assert.equal(r?.state, "QUEUED");
    assert.equal(r?.interruptions, 1);
    assert.deepEqual(await queue.depth(), { visible: 1, inFlight: 0, delayed: 0 });
    // The worker's own log went to its per-instance file, found through IMDS's instance id.
    const log = readFileSync(path.join(workRoot, "telemetry", "workers", `${instanceId}.log`), "utf8");
    assert.match(log, /"event":"job_interrupted"/);
  });

  it("after a crash mid-job, the restarted worker kills the orphaned processor, and the job returns after the visibility timeout and completes", async () => {
    const jobId = await submit();
    // The first worker's processor never ends by itself, so the SIGKILL always lands mid-job (a 6 s
    // processor raced the kill under load); the restarted worker's finishes at once. Both stay
    // longer than the visibility timeout, so the restarted one is there when the job returns.
    const config = (env: Record<string, string>) => JSON.stringify({ ...CONFIG, processor: { ...CONFIG.processor, env }, fleet: { ...CONFIG.fleet, idleTimeoutSeconds: 600 } });
    const first = start({ SPOTQ_CONFIG_JSON: config({ FAKE_MEDIT_HANG: "1" }) });
    await until("the job to be processing", processing(jobId));
    const folder = path.join(workRoot, `${jobId}-1`);
    // The worker records the processor right after spawning it, and the processor names the helper
    // it started (in the job's log): wait for both, do not race them.
    const { pid } = await until("the processor to be recorded", () => readJson<{ pid: number }>(path.join(folder, "processor.json")));
    const helperPid = await until("the processor's helper to start", () => {
      const log = readText(path.join(workRoot, "telemetry", "jobs", jobId, "1.log"));
      const m = /helper pid (\d+)/.exec(log ?? "");
      return m ? Number(m[1]) : undefined;
    });
    first.child.kill("SIGKILL");
    await first.exited;
    // The processor itself may die of the broken pipe to its dead worker; its helper (same process group) lives on.
    assert.ok(isAlive(helperPid), "the processor's tree outlives its worker (it leads its own process group)");

    const second = start({ SPOTQ_CONFIG_JSON: config({}) });
    await until("the orphaned processor tree to be killed and its folder removed", () => !isAlive(pid) && !isAlive(helperPid) && !existsSync(folder));
    const done = await until("the job to succeed", async () => {
      const r = await store.get(jobId);
      return r?.state === "SUCCEEDED" ? r : undefined;
    }, 90_000);
    assert.equal(done.attempts, 2);
    assert.deepEqual(done.attemptHistory?.map((h) => [h.attempt, h.outcome]), [
      [1, "LOST"],
      [2, "SUCCEEDED"],
    ]);

    assert.match(second.output, new RegExp(`removed .*${jobId}-1 left by an earlier worker; killed its processor ${pid}`));
    second.child.kill("SIGTERM");
    assert.equal((await second.exited).code, 0);
  });

  it("exits 3 when the preflight fails, naming the failed check, after completing the launch hook ABANDON (tolerated here: no hook)", async () => {
    const jobId = await submit();
    const bad = JSON.stringify({ ...CONFIG, fleet: { ...CONFIG.fleet, preflight: { gpuCheck: [process.execPath, "-e", "console.error('NVIDIA-SMI has failed'); process.exit(9)"], minFreeDiskGiB: 0 } } });
    const p = start({ SPOTQ_CONFIG_JSON: bad });
    const { code } = await p.exited;
    assert.equal(code, 3, p.output);
    assert.match(p.output, /preflight FAILED \(boot\): gpu: fleet.preflight.gpuCheck .* exited with code 9: NVIDIA-SMI has failed/);
    assert.match(p.output, /lifecycle hook wmain-launching ABANDON: nothing to complete/);
    assert.equal((await store.get(jobId))?.attempts, 0, "took no work");
  });

  it("exits 2 naming the key when the config is invalid", async () => {
    const p = start({ SPOTQ_CONFIG_JSON: JSON.stringify({ ...CONFIG, fleet: { ...CONFIG.fleet, unhealthyAfterFailures: 0 } }) });
    assert.equal((await p.exited).code, 2);
    assert.match(p.output, /fleet.unhealthyAfterFailures/);
  });

  it("SPOTQ_STOP_FILE (the Windows service stop): removes a stale one at start, and its appearance hands the job back and exits 0", async () => {
    const stopFile = path.join(workRoot, "run-stop");
    writeFileSync(stopFile, ""); // left by the last service stop
    const jobId = await submit("sleep=600000");
    const p = start({ SPOTQ_STOP_FILE: stopFile });
    await until("the job to be processing", processing(jobId));
    assert.equal(existsSync(stopFile), false, "the stale stop file was removed at start");
    assert.match(p.output, /removed a stale stop file/);
    writeFileSync(stopFile, ""); // what the service wrapper does on a service stop
    const { code } = await p.exited;
    assert.equal(code, 0, p.output);
    assert.match(p.output, /stop file .* appeared \(service stop\): handing back any job and stopping/);
    const r = await store.get(jobId);
    assert.equal(r?.state, "QUEUED");
    assert.equal(r?.interruptions, 1);
    assert.deepEqual(await queue.depth(), { visible: 1, inFlight: 0, delayed: 0 });
  });

  it("idle past the idle timeout, terminates its own instance through Auto Scaling and exits 0", async () => {
    const p = start();
    const { code } = await p.exited;
    assert.equal(code, 0, p.output);
    assert.equal(asg.group.desiredCapacity, 0, "with decrement: desired 1 was above the minimum 0");
    assert.equal(asg.group.instance(instanceId)?.lifecycleState, "Terminating");
    assert.match(p.output, /terminating this instance with decrement/);
  });
});
