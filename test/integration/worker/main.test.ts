import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
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
import { fakeMeditProcessor, isAlive, meditFixture, REPO, tempDir } from "../../support/worker-fixtures.ts";

/** The deployment config the worker process reads from SPOTQ_CONFIG_JSON: the schema's minimum times. */
const CONFIG: FleetConfigInput = {
  name: "wmain",
  queue: { visibilityTimeoutSeconds: 30, receiveWaitSeconds: 1 },
  jobs: { heartbeatSeconds: 2, maxAttempts: 2, retryBackoffSeconds: 0, extraOptions: ["Fake Medit Behaviour"] },
  processor: fakeMeditProcessor(),
  fleet: { idleTimeoutSeconds: 10 },
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

  async function submit(behaviour: string): Promise<string> {
    const a = aws();
    const jobId = newJobId();
    await a.emulators.clients.s3().send(new PutObjectCommand({ Bucket: a.resources.bucket, Key: `jobs/${jobId}/in/scan.bin`, Body: "points" }));
    const request = {
      ...(await meditFixture()),
      "Source Folder Path": `s3://${a.resources.bucket}/jobs/${jobId}/in`,
      "Target Folder Path": `s3://${a.resources.bucket}/jobs/${jobId}/out`,
      "Fake Medit Behaviour": behaviour,
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
    const jobId = await submit("sleep=6000");
    // Idle longer than the visibility timeout, so the restarted worker is still there when the job returns.
    const patient = { SPOTQ_CONFIG_JSON: JSON.stringify({ ...CONFIG, fleet: { idleTimeoutSeconds: 600 } }) };
    const first = start(patient);
    await until("the job to be processing", processing(jobId));
    const folder = path.join(workRoot, `${jobId}-1`);
    const { pid } = JSON.parse(readFileSync(path.join(folder, "processor.json"), "utf8")) as { pid: number };
    first.child.kill("SIGKILL");
    await first.exited;
    assert.ok(isAlive(pid), "the processor outlives its worker (it leads its own process group)");

    const second = start(patient);
    await until("the orphaned processor to be killed and its folder removed", () => !isAlive(pid) && !existsSync(folder));
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

  it("idle past the idle timeout, terminates its own instance through Auto Scaling and exits 0", async () => {
    const p = start();
    const { code } = await p.exited;
    assert.equal(code, 0, p.output);
    assert.equal(asg.group.desiredCapacity, 0, "with decrement: desired 1 was above the minimum 0");
    assert.equal(asg.group.instance(instanceId)?.lifecycleState, "Terminating");
    assert.match(p.output, /terminating this instance with decrement/);
  });
});
