import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { JobRecord } from "../../core/job.ts";
import { runCli } from "../../scripts/cli/main.ts";
import { localDefaultConfig } from "../../scripts/local/local-config.ts";
import { REPO_ROOT, startLocalStack, type LocalStack } from "../../scripts/local/start.ts";
import { homeStateFile, lockFile, stateFile } from "../../scripts/local/state.ts";
import { JobsClient } from "../support/e2e-jobs.ts";
import { processesLeftBy } from "../support/e2e-processes.ts";
import { makeScan, meditRequest, outputProblems, readFolder, SAVE_SOURCE, uploadScan } from "../support/e2e-scans.ts";
import { waitUntil } from "../support/e2e-wait.ts";

/** Runs the CLI in this process and keeps what it printed. */
async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, (s) => out.push(...s.split("\n")), (s) => err.push(s));
  return { code, out, err };
}

/** Local addresses listening on a TCP port, from /proc/net/tcp{,6} (Linux), e.g. ["127.0.0.1"]. */
function listeningAddresses(port: number): string[] | undefined {
  const found: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      return undefined;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== "0A") continue; // 0A: LISTEN
      const [addr, portHex] = f[1]!.split(":");
      if (Number.parseInt(portHex!, 16) !== port) continue;
      if (addr!.length === 8) found.push(Buffer.from(addr!, "hex").reverse().join("."));
      else found.push(addr === "00000000000000000000000000000000" ? "::" : addr === "00000000000000000000000001000000" ? "::1" : addr!);
    }
  }
  return found;
}

/**
 * The local stack keeps its history (issue 11 §5): jobs, their outputs and their logs survive a
 * stop and a start on the same folder, and so does the queue (a job handed back at the stop runs
 * after the restart). One stack per folder: a second `npm start` there refuses, names the running
 * one, and leaves its files alone. `--fresh` starts empty.
 */
describe("e2e: the local stack keeps its history across a restart", function () {
  this.timeout(300_000);
  let root: string;
  let dir: string;
  let stack: LocalStack | undefined;
  const saved = { home: process.env.SPOTQ_HOME, localDir: process.env.SPOTQ_LOCAL_DIR };
  const config = localDefaultConfig(REPO_ROOT, (c) => ({
    ...c,
    processor: { ...c.processor, env: {} },
    fleet: { ...c.fleet, maxSize: 1, idleTimeoutSeconds: 10 },
    queue: { ...c.queue, receiveWaitSeconds: 5 },
    // After the restart nothing submits: the queue-depth alarm brings the instance for the returned job.
    scaling: { ...c.scaling, periodSeconds: 10 },
  }));
  const start = (o: { fresh?: boolean } = {}) => startLocalStack({ port: 0, dir, config, metricDelaySeconds: 0, ...o });
  const workerPids = new Set<number>();
  const watch = (s: LocalStack) => s.fleet.on("instance_in_service", (e) => e.pid && workerPids.add(e.pid));

  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), "spotq-restart-"));
    dir = path.join(root, "stack");
    process.env.SPOTQ_HOME = path.join(root, "home"); // where stacks register: not the user's ~/.spotq
    delete process.env.SPOTQ_LOCAL_DIR; // the CLI must find the stack through the home, from this folder
  });

  after(async function () {
    this.timeout(60_000);
    await stack?.stop();
    const left = await processesLeftBy(dir, [...workerPids]);
    if (saved.home === undefined) delete process.env.SPOTQ_HOME;
    else process.env.SPOTQ_HOME = saved.home;
    if (saved.localDir !== undefined) process.env.SPOTQ_LOCAL_DIR = saved.localDir;
    rmSync(root, { recursive: true, force: true, maxRetries: 3 });
    assert.deepEqual(left, [], "no process outlived the stack");
  });

  it("keeps jobs, outputs, logs and queued work across a stop and a start; a second stack there refuses; --fresh starts empty", async () => {
    // ---- first run: one job done, one running when the stack stops
    stack = await start();
    watch(stack);
    const first = stack;
    const jobs = new JobsClient(first.apiUrl);
    const { bucket } = first.resources;
    const inputs = makeScan("restart", { files: 3, bytesPerFile: 32 * 1024 });
    await uploadScan(first.emulators.clients.s3(), bucket, "scans/restart", inputs);
    const doneId = await jobs.submit(meditRequest(bucket, "scans/restart", "results/done"));
    const done = await jobs.finished(doneId, 120_000);
    assert.equal(done.state, "SUCCEEDED", JSON.stringify(done.error));
    const outputs = await readFolder(first.emulators.clients.s3(), bucket, "results/done");
    assert.deepEqual(outputProblems(outputs, inputs, SAVE_SOURCE), []);
    const log = await cli("logs", doneId);
    assert.equal(log.code, 0, log.err.join("\n"));
    assert.ok(log.out.some((l) => l.includes("fake-medit")), log.out.join("\n"));

    // A second stack in the same folder: refuses, names this one, and touches nothing.
    const second = spawn(path.join(REPO_ROOT, "node_modules", ".bin", "node"), ["--import", "tsx", "scripts/local/start.ts", "--no-demo"], {
      cwd: REPO_ROOT,
      env: { ...process.env, SPOTQ_LOCAL_DIR: dir, SPOTQ_PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let secondErr = "";
    second.stderr.on("data", (b: Buffer) => (secondErr += b.toString()));
    const secondCode = await new Promise<number | null>((resolve) => second.on("exit", (code) => resolve(code)));
    assert.equal(secondCode, 1, secondErr);
    assert.match(secondErr, new RegExp(`a local stack is already running from ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: pid ${process.pid}, jobs API ${first.apiUrl}`));
    const { sqs, dynamodb } = first.emulators.settings.endpoints;
    assert.ok(sqs && dynamodb && secondErr.includes(sqs) && secondErr.includes(dynamodb), `names the emulators' ports: ${secondErr}`);
    assert.ok(existsSync(stateFile(dir)) && existsSync(lockFile(dir)), "the running stack's state is left alone");
    assert.ok(readdirSync(path.join(dir, "instances")).length > 0, "and so are its instance folders");
    assert.equal((await jobs.get(doneId)).state, "SUCCEEDED", "the running stack still answers");

    // A long job, stopped while it runs: its worker hands it back to the queue.
    const runningId = await jobs.submit(meditRequest(bucket, "scans/restart", "results/returned", "sleep=8000"));
    await waitUntil(
      "the long job's processor runs",
      async () => {
        const j = await jobs.get(runningId);
        if (j.state !== "RUNNING" || !j.logs) return false;
        const file = path.join(j.logs.group, j.logs.stream);
        return existsSync(file) && readFileSync(file, "utf8").includes("processing");
      },
      120_000,
    );
    await first.stop();
    stack = undefined;
    assert.ok(!existsSync(stateFile(dir)) && !existsSync(homeStateFile(dir)) && !existsSync(lockFile(dir)), "a stopped stack leaves no state file, registration or lock");
    assert.equal((await cli("list")).code, 1, "and the CLI no longer finds it");

    // ---- second run on the same folder
    stack = await start();
    watch(stack);
    const again = new JobsClient(stack.apiUrl);
    assert.deepEqual(await again.get(doneId), done, "the finished job's record, unchanged");
    assert.deepEqual(await readFolder(stack.emulators.clients.s3(), bucket, "results/done"), outputs, "its outputs, byte for byte");
    const logAgain = await cli("logs", doneId);
    assert.deepEqual(logAgain.out, log.out, "its log");
    const returned = await again.finished(runningId, 180_000);
    assert.equal(returned.state, "SUCCEEDED", `the job handed back at the stop ran after the restart: ${JSON.stringify(returned.error)}`);
    assert.equal(returned.attempts, 2);
    assert.equal(returned.interruptions, 1);
    assert.deepEqual(outputProblems(await readFolder(stack.emulators.clients.s3(), bucket, "results/returned"), inputs, SAVE_SOURCE), []);
    const listed = (await again.list()).map((j: JobRecord) => j.jobId);
    assert.ok(listed.includes(doneId) && listed.includes(runningId), "both jobs are listed");
    await stack.stop();
    stack = undefined;

    // ---- --fresh: nothing of the history is left
    stack = await start({ fresh: true });
    watch(stack);
    const fresh = new JobsClient(stack.apiUrl);
    assert.deepEqual(await fresh.list(), []);
    assert.deepEqual([...(await readFolder(stack.emulators.clients.s3(), bucket, "results")).keys()], []);
    assert.deepEqual(readdirSync(path.join(dir, "instances")), []);
  });

  it("serves SQS, S3 and DynamoDB on loopback only", async function () {
    if (!stack) stack = await start();
    for (const url of [stack.emulators.settings.endpoints.sqs!, stack.emulators.settings.endpoints.dynamodb!]) {
      const addresses = listeningAddresses(Number(new URL(url).port));
      if (addresses === undefined) this.skip(); // no /proc/net (not Linux)
      assert.deepEqual(addresses, ["127.0.0.1"], `${url} listens on ${addresses?.join(", ")}`);
    }
  });
});
