import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { queueDepth } from "../../../aws/job-queue.ts";
import { DynamoJobStore } from "../../../aws/job-store.ts";
import type { JobRecord } from "../../../core/job.ts";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { runCli } from "../../../scripts/cli/main.ts";
import { demoFailureLines, runDemo } from "../../../scripts/local/demo.ts";
import { resolveTarget } from "../../../scripts/cli/target.ts";
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
  const savedHome = process.env.SPOTQ_HOME;
  const savedLifecycle = process.env.npm_lifecycle_event;

  before(async function () {
    this.timeout(60_000);
    dir = mkdtempSync(path.join(os.tmpdir(), "spotq-cli-"));
    // The stack registers itself here (not in the user's ~/.spotq), so the CLI can find it from any folder.
    process.env.SPOTQ_HOME = path.join(dir, "home");
    // As `npm run spotq -- …` runs it: hints then name that command (spotq is not installed here).
    process.env.npm_lifecycle_event = "spotq";
    scan = path.join(dir, "scan");
    writeSampleScan(scan, { files: 3, bytesPerFile: 64 * 1024 });
    // A one-attempt budget, so a job whose first attempt fails lands in the DLQ for `redrive`.
    const config = localDefaultConfig(REPO_ROOT, (c) => ({ ...c, jobs: { ...c.jobs, maxAttempts: 1 }, processor: { ...c.processor, env: {} } }));
    stack = await startLocalStack({ port: 0, dir: path.join(dir, "stack"), config });
    process.env.SPOTQ_LOCAL_DIR = stack.dir; // how the CLI finds the running local stack from this folder
  });

  after(async function () {
    this.timeout(60_000);
    if (savedDir === undefined) delete process.env.SPOTQ_LOCAL_DIR;
    else process.env.SPOTQ_LOCAL_DIR = savedDir;
    if (savedHome === undefined) delete process.env.SPOTQ_HOME;
    else process.env.SPOTQ_HOME = savedHome;
    if (savedLifecycle === undefined) delete process.env.npm_lifecycle_event;
    else process.env.npm_lifecycle_event = savedLifecycle;
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
    assert.equal(r.out.filter((l) => l.startsWith(`${jobId}  SUCCEEDED`)).length, 1, `wait prints the final line once:\n${r.out.join("\n")}`);
    assert.match(r.out.join("\n"), /^ {2}timings /m, "then the details");

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
    assert.deepEqual(unknown.err, ['spotq: unknown command "sumbit"', "  fix: see `npm run spotq -- --help` for the commands"]);

    const badOption = await cli("list", "--limt", "3");
    assert.equal(badOption.code, 2);
    assert.deepEqual(badOption.err, ["spotq: unknown option --limt (did you mean --limit?)", "  fix: see `npm run spotq -- list --help` for the options"]);

    const saved = { dir: process.env.SPOTQ_LOCAL_DIR, home: process.env.SPOTQ_HOME };
    process.env.SPOTQ_LOCAL_DIR = path.join(dir, "nothing-here");
    process.env.SPOTQ_HOME = path.join(dir, "empty-home");
    try {
      const none = await cli("list");
      assert.equal(none.code, 1);
      assert.match(none.err[0]!, /no spotq stack found/);
      assert.match(none.err[1]!, /npm start/);
    } finally {
      process.env.SPOTQ_LOCAL_DIR = saved.dir;
      process.env.SPOTQ_HOME = saved.home;
    }
  });

  it("stops counting a finished job's time: status shows how long it took, the same a while later", async () => {
    const [job] = (await new DynamoJobStore(stack.emulators.clients.dynamo(), { tableName: stack.resources.tableName }).list({ state: "SUCCEEDED", limit: 1 })).items;
    assert.ok(job, "an earlier test left a SUCCEEDED job");
    const took = async () => /took (\d+[^ ]*(?: \d+s)?)/.exec((await cli("status", job.jobId)).out[0]!)?.[1];
    const first = await took();
    await new Promise((r) => setTimeout(r, 1100));
    assert.ok(first, "status says how long it took");
    assert.equal(await took(), first, "the same after a second: the clock stopped at finishedAt");
  });

  it("pages with --limit, and the printed next-page command keeps --limit and --state", async () => {
    const page = await cli("list", "--state", "SUCCEEDED", "--limit", "1");
    const jobLines = (out: string[]) => out.filter((l) => /^[0-9A-Z]{26} {2}SUCCEEDED/.test(l));
    assert.equal(jobLines(page.out).length, 1, page.out.join("\n"));
    const more = page.out.find((l) => l.startsWith("more: "));
    assert.ok(more, `a full page says how to get the next:\n${page.out.join("\n")}`);
    assert.match(more, /^more: npm run spotq -- list --state SUCCEEDED --limit 1 --next \S+$/);
    const next = await cli(...more.replace("more: npm run spotq -- ", "").split(" "));
    assert.equal(next.code, 0, next.err.join("\n"));
    assert.equal(jobLines(next.out).length, 1, "the next page has the same size");
    assert.notEqual(next.out[0], page.out[0]);
  });

  it("follows a job's log while it runs, until it finishes", async () => {
    const src = `s3://${stack.resources.bucket}/scans/cli`;
    const sub = await cli("submit", "--source", src, "--target", `s3://${stack.resources.bucket}/results/follow`, "--set", "Fake Medit Behaviour=sleep=4000");
    const jobId = /submitted (\S+)/.exec(sub.out[0]!)![1]!;
    const lines: { at: number; line: string }[] = [];
    const code = await runCli(["logs", jobId, "--follow"], (line) => lines.push({ at: Date.now(), line }), () => undefined);
    assert.equal(code, 0);
    const job = (await new DynamoJobStore(stack.emulators.clients.dynamo(), { tableName: stack.resources.tableName }).get(jobId))!;
    assert.equal(job.state, "SUCCEEDED");
    const text = lines.map((l) => l.line).join("\n");
    assert.equal(lines.at(-1)!.line, "--- job SUCCEEDED ---", text);
    assert.ok(lines.some((l) => l.line.includes("fake-medit")), `the processor's output is there:\n${text}`);
    const progress = lines.filter((l) => /processing \d+%/.test(l.line));
    assert.ok(progress.length >= 2, `the processor's progress lines are there:\n${text}`);
    assert.ok(progress[0]!.at < Date.parse(job.finishedAt!), "the first of them was printed while the job still ran, not read at the end");
    // Without --follow, the same log is there in one go.
    const once = await cli("logs", jobId);
    assert.deepEqual(once.out, lines.map((l) => l.line).filter((l) => !l.startsWith("---")));
  });

  it("explains each command with --help and `help <command>`", async () => {
    const logs = await cli("logs", "--help");
    assert.equal(logs.code, 0);
    assert.match(logs.out[0]!, /^usage: npm run spotq -- logs <jobId> \[--attempt N\] \[--follow\]/);
    assert.match(logs.out.join("\n"), /--follow +keep printing/);
    const help = await cli("help", "upload");
    assert.match(help.out.join("\n"), /^usage: npm run spotq -- upload <dir> s3:\/\/bucket\/folder/);
    assert.match(help.out.join("\n"), /--concurrency N/);
    const unknown = await cli("help", "sumbit");
    assert.equal(unknown.code, 2);
  });

  it("says a folder to upload does not exist, or is a file", async () => {
    const missing = await cli("upload", path.join(dir, "missing"), `s3://${stack.resources.bucket}/x`);
    assert.equal(missing.code, 1);
    assert.match(missing.err[0]!, /^spotq: .*missing does not exist/);
    const file = await cli("upload", path.join(scan, "scan-info.json"), `s3://${stack.resources.bucket}/x`);
    assert.match(file.err[0]!, /scan-info\.json is a file, not a folder/);
  });

  it("finds the running local stack from any folder through the spotq home", async () => {
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), "spotq-elsewhere-"));
    try {
      const t = resolveTarget({}, { SPOTQ_HOME: process.env.SPOTQ_HOME! }, elsewhere);
      assert.equal(t.kind, "local");
      assert.equal(t.apiUrl, stack.apiUrl);
      assert.equal(t.localDir, stack.dir);
      const gone = resolveTarget.bind(undefined, {}, { SPOTQ_HOME: path.join(elsewhere, "home") }, elsewhere);
      assert.throws(gone, /no spotq stack found/);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("the demo lists each problem when the API refuses its request, and the fix", async () => {
    // An API that refuses every submit the way the real one does (400, every problem listed).
    const problems = [
      { field: "Source Folder Path", reason: 'must be under one of the source prefixes "inbox/"' },
      { field: "Target Folder Path", reason: 'must be under one of the target prefixes "results/"' },
    ];
    const refusing = createServer((_req, res) => {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "INVALID_REQUEST", message: "invalid request: 2 problems with the request", problems } }));
    });
    await new Promise<void>((r) => refusing.listen(0, "127.0.0.1", r));
    try {
      const { port } = refusing.address() as AddressInfo;
      const result = await runDemo({ ...stack, apiUrl: `http://127.0.0.1:${port}` }, () => undefined);
      assert.equal(result.ok, false);
      assert.deepEqual(demoFailureLines(result), [
        "demo FAILED: POST /jobs answered 400: 2 problems with the demo's request:",
        '  Source Folder Path: must be under one of the source prefixes "inbox/"',
        '  Target Folder Path: must be under one of the target prefixes "results/"',
        "  fix: the config (the given config) refuses the demo's request; correct it, or unset SPOTQ_CONFIG to run on the local default",
      ]);
    } finally {
      refusing.close();
    }
  });
});
