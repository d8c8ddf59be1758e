import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { queueDepth } from "../../../aws/job-queue.ts";
import { DynamoJobStore } from "../../../aws/job-store.ts";
import type { JobRecord } from "../../../core/job.ts";
import { runCli } from "../../../scripts/cli/main.ts";
import { localDefaultConfig } from "../../../scripts/local/local-config.ts";
import { writeSampleScan } from "../../../scripts/local/sample-scan.ts";
import { REPO_ROOT, startLocalStack, type LocalStack } from "../../../scripts/local/start.ts";

/** Runs the CLI as a user would and keeps what it printed. */
async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, (s) => out.push(s), (s) => err.push(s));
  return { code, out, err };
}

describe("spotq CLI against the local stack", function () {
  this.timeout(180_000);
  let stack: LocalStack;
  let dir: string;
  let scan: string;
  const savedDir = process.env.SPOTQ_LOCAL_DIR;

  before(async function () {
    this.timeout(60_000);
    dir = mkdtempSync(path.join(os.tmpdir(), "spotq-cli-"));
    scan = path.join(dir, "scan");
    writeSampleScan(scan, { files: 3, bytesPerFile: 64 * 1024 });
    // A one-attempt budget, so a job whose first attempt fails lands in the DLQ for `redrive`.
    const config = localDefaultConfig(REPO_ROOT, (c) => ({ ...c, jobs: { ...c.jobs, maxAttempts: 1 }, processor: { ...c.processor, env: {} } }));
    stack = await startLocalStack({ port: 0, dir, config });
    process.env.SPOTQ_LOCAL_DIR = dir; // how the CLI finds the running local stack
  });

  after(async function () {
    this.timeout(60_000);
    if (savedDir === undefined) delete process.env.SPOTQ_LOCAL_DIR;
    else process.env.SPOTQ_LOCAL_DIR = savedDir;
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("uploads a folder, and a re-run sends only what changed", async () => {
    const dest = `s3://${stack.resources.bucket}/scans/cli`;
    const first = await cli("upload", scan, dest);
    assert.equal(first.code, 0, first.err.join("\n"));
    const summary = (r: { out: string[]; err: string[] }) => [...r.out, ...r.err].join("\n");
    assert.match(summary(first), /uploaded 4 file\(s\)/);

    const again = await cli("upload", scan, dest);
    assert.match(summary(again), /uploaded 0 file\(s\), 0 B .*skipped 4 already there/);

    writeFileSync(path.join(scan, "scan-info.json"), '{"changed":true}\n');
    const changed = await cli("upload", scan, dest);
    assert.match(summary(changed), /uploaded 1 file\(s\).*skipped 3 already there/);
  });

  it("submits with --wait, then shows status, the log and the list", async () => {
    const src = `s3://${stack.resources.bucket}/scans/cli`;
    const r = await cli("submit", "test/fixtures/medit-request.json", "--source", src, "--target", `s3://${stack.resources.bucket}/results/cli`, "--wait");
    assert.equal(r.code, 0, [...r.out, ...r.err].join("\n"));
    const jobId = /submitted (\S+)/.exec(r.out[0]!)?.[1];
    assert.ok(jobId, r.out.join("\n"));
    assert.ok(r.out.some((l) => l.includes("SUCCEEDED")), r.out.join("\n"));

    const status = await cli("status", jobId, "--json");
    const job = JSON.parse(status.out.join("\n")) as JobRecord;
    assert.equal(job.state, "SUCCEEDED");
    assert.equal(job.outputs?.target, `s3://${stack.resources.bucket}/results/cli`);

    const logs = await cli("logs", jobId);
    assert.equal(logs.code, 0, logs.err.join("\n"));
    assert.ok(logs.out.some((l) => l.includes("fake-medit")), `the processor's output is in the log:\n${logs.out.join("\n")}`);

    const list = await cli("list", "--state", "SUCCEEDED");
    assert.ok(list.out.some((l) => l.startsWith(jobId)), list.out.join("\n"));
  });

  it("refuses a bad request in one line naming the field, plus the fix", async () => {
    const r = await cli("submit", "--source", `s3://${stack.resources.bucket}/scans/cli`, "--target", "s3://other-bucket/x", "--set", "Use GPU=yes");
    assert.equal(r.code, 1);
    assert.equal(r.err.length, 2, r.err.join("\n"));
    assert.match(r.err[0]!, /^spotq: POST \/jobs answered 400: .*Target Folder Path: bucket "other-bucket" is not served.*Use GPU: must be a JSON boolean/);
    assert.match(r.err[1]!, /^ {2}fix: /);
  });

  it("redrives a FAILED job from the DLQ with a fresh attempt budget, and it then succeeds", async () => {
    const { bucket, dlqUrl, tableName } = stack.resources;
    const src = `s3://${bucket}/scans/cli`;
    const r = await cli("submit", "--source", src, "--target", `s3://${bucket}/results/redrive`, "--set", "Fake Medit Behaviour=fail-attempts=1", "--wait");
    assert.equal(r.code, 1, "wait exits 1 on FAILED");
    const jobId = /submitted (\S+)/.exec(r.out[0]!)![1]!;
    const sqs = stack.emulators.clients.sqs();
    assert.equal((await queueDepth(sqs, dlqUrl)).visible, 1, "the failed job's message is in the DLQ");

    const redrive = await cli("redrive");
    assert.equal(redrive.code, 0, [...redrive.out, ...redrive.err].join("\n"));
    assert.ok(redrive.out.some((l) => l.includes(`${jobId}: FAILED -> QUEUED`)), redrive.out.join("\n"));
    assert.equal((await queueDepth(sqs, dlqUrl)).visible, 0);

    const waited = await cli("wait", jobId, "--timeout", "120");
    assert.equal(waited.code, 0, waited.out.join("\n"));
    const job = (await new DynamoJobStore(stack.emulators.clients.dynamo(), { tableName }).get(jobId))!;
    assert.equal(job.state, "SUCCEEDED");
    assert.equal(job.attempts, 2, "the attempt counter kept counting across the redrive");
    assert.deepEqual(
      job.attemptHistory?.map((a) => [a.attempt, a.outcome, Boolean(a.redriven)]),
      [
        [1, "FAILED", true],
        [2, "SUCCEEDED", false],
      ],
    );
  });

  it("lists the local fleet's instances", async () => {
    const r = await cli("local", "instances");
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.match(r.out[0]!, /^group: desired \d+, min 0, max 4, \d+ instance\(s\)/);
  });

  it("says what to do when a command or an option is wrong, or no stack is found", async () => {
    const unknown = await cli("sumbit");
    assert.equal(unknown.code, 2);
    assert.deepEqual(unknown.err, ['spotq: unknown command "sumbit"', "  fix: see `spotq --help` for the commands"]);

    const badOption = await cli("list", "--limt", "3");
    assert.equal(badOption.code, 2);
    assert.match(badOption.err[0]!, /--limt/);

    const saved = process.env.SPOTQ_LOCAL_DIR;
    process.env.SPOTQ_LOCAL_DIR = path.join(dir, "nothing-here");
    try {
      const none = await cli("list");
      assert.equal(none.code, 1);
      assert.match(none.err[0]!, /no spotq stack found/);
      assert.match(none.err[1]!, /npm start/);
    } finally {
      process.env.SPOTQ_LOCAL_DIR = saved;
    }
  });
});
