import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { DynamoJobStore } from "../../../aws/job-store.ts";
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

describe("spotq CLI: upload --submit, events and report against the local stack", function () {
  this.timeout(180_000);
  let stack: LocalStack;
  let dir: string;
  const savedDir = process.env.SPOTQ_LOCAL_DIR;
  const uploads: string[] = [];
  let jobId = "";
  let refusedId = "";

  before(async function () {
    this.timeout(60_000);
    dir = mkdtempSync(path.join(os.tmpdir(), "spotq-cli-out-"));
    writeSampleScan(path.join(dir, "scan"), { files: 3, bytesPerFile: 32 * 1024 });
    const config = localDefaultConfig(REPO_ROOT, (c) => ({ ...c, processor: { ...c.processor, env: {} } }));
    stack = await startLocalStack({ port: 0, dir, config });
    stack.emulators.onS3Upload((_b, key) => uploads.push(key));
    process.env.SPOTQ_LOCAL_DIR = dir;
  });

  after(async function () {
    this.timeout(60_000);
    if (savedDir === undefined) delete process.env.SPOTQ_LOCAL_DIR;
    else process.env.SPOTQ_LOCAL_DIR = savedDir;
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a --submit file that is not a JSON object, uploading nothing", async () => {
    writeFileSync(path.join(dir, "bad.json"), "[1, 2]");
    const r = await cli("upload", path.join(dir, "scan"), `s3://${stack.resources.bucket}/inbox/cli-bad`, "--submit", path.join(dir, "bad.json"));
    assert.equal(r.code, 1);
    assert.match(r.err[0]!, /bad.json must hold a JSON object/);
    assert.deepEqual(uploads.filter((k) => k.startsWith("inbox/cli-bad/")), []);
  });

  it("uploads the folder, writes spotq.json last, names the job it became, and follows its events to SUCCEEDED", async () => {
    writeFileSync(path.join(dir, "request.json"), JSON.stringify({ "Use GPU": true, "Complete Type": 1 }));
    // Follow the events from before the upload; stop at this job's SUCCEEDED line.
    const abort = new AbortController();
    const followed: string[] = [];
    const { events } = await import("../../../scripts/cli/commands/events.ts");
    const { resolveTarget } = await import("../../../scripts/cli/target.ts");
    const following = events(resolveTarget({}), { follow: true, waitSeconds: 1, signal: abort.signal }, (line) => {
      followed.push(line);
      if (jobId && line.includes(jobId) && line.includes("-> SUCCEEDED")) abort.abort();
    });

    const up = await cli("upload", path.join(dir, "scan"), `s3://${stack.resources.bucket}/inbox/cli-1`, "--submit", path.join(dir, "request.json"));
    assert.equal(up.code, 0, [...up.out, ...up.err].join("\n"));
    const said = up.out.join("\n");
    assert.match(said, /wrote s3:\/\/spotq-local\/inbox\/cli-1\/spotq.json last/);
    jobId = /job (\S+) QUEUED/.exec(said)?.[1] ?? "";
    assert.ok(jobId, said);
    const mine = uploads.filter((k) => k.startsWith("inbox/cli-1/"));
    assert.equal(mine.at(-1), "inbox/cli-1/spotq.json", `the marker came last: ${mine.join(", ")}`);
    assert.equal(mine.length, 5, "four scan files and the marker");

    const waited = await cli("wait", jobId, "--timeout", "120");
    assert.equal(waited.code, 0, waited.out.join("\n"));
    await following;
    const lines = followed.filter((l) => l.includes(jobId));
    assert.deepEqual(lines.map((l) => /(\S+ -> \S+)/.exec(l)?.[1]), ["(new) -> QUEUED", "QUEUED -> RUNNING", "RUNNING -> SUCCEEDED"], followed.join("\n"));
    const job = (await new DynamoJobStore(stack.emulators.clients.dynamo(), { tableName: stack.resources.tableName }).get(jobId))!;
    assert.equal(job.request["Target Folder Path"], `s3://${stack.resources.bucket}/results/cli-1`);
  });

  it("also writes a spotq.json found in the folder last, without --submit", async () => {
    const scan = path.join(dir, "scan-2");
    writeSampleScan(scan, { files: 2, bytesPerFile: 1024 });
    writeFileSync(path.join(scan, "spotq.json"), JSON.stringify({ "Use GPU": "yes" }));
    const up = await cli("upload", scan, `s3://${stack.resources.bucket}/inbox/cli-2`);
    assert.equal(up.code, 0, up.err.join("\n"));
    const mine = uploads.filter((k) => k.startsWith("inbox/cli-2/"));
    assert.equal(mine.at(-1), "inbox/cli-2/spotq.json", mine.join(", "));
    assert.equal(mine.filter((k) => k.endsWith("/spotq.json")).length, 1, "written once, after the rest");
    const said = /job (\S+) FAILED: s3:\/\/spotq-local\/inbox\/cli-2\/spotq.json: Use GPU: must be a JSON boolean/.exec(up.out.join("\n"));
    assert.ok(said, up.out.join("\n"));
    refusedId = said[1]!;
    const list = await cli("list", "--state", "FAILED");
    assert.ok(list.out.some((l) => l.includes("INVALID_REQUEST") && l.includes("Use GPU")), list.out.join("\n"));
  });

  it("prints one job's events without following, and stops when the queue has no more", async () => {
    const r = await cli("events", "--job", refusedId.toLowerCase(), "--queue", stack.events!.queueUrl);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.equal(r.out.length, 1, r.out.join("\n"));
    assert.match(r.out[0]!, new RegExp(`${refusedId} {2}\\(new\\) -> FAILED {2}attempt 0 {2}INVALID_REQUEST: .*Use GPU`));
  });

  it("reports throughput, failure reasons and cost from the analytics lines", async () => {
    const r = await cli("report", "--since", "1d", "--price", "g4dn.xlarge=0.36");
    assert.equal(r.code, 0, r.err.join("\n"));
    const text = r.out.join("\n");
    assert.match(text, /^1 finished job\(s\) since /, text);
    assert.match(text, new RegExp(`${new Date().toISOString().slice(0, 10)} +1 +1 +0 +0`));
    assert.match(text, /failure reasons\n {2}none/);
    assert.match(text, /g4dn\.xlarge +1 +\d+\.\d{3} +\d+\.\d{4} +\d+\.\d{4}/);
    const json = await cli("report", "--json");
    assert.equal(JSON.parse(json.out.join("\n")).jobs, 1);
    const bad = await cli("report", "--since", "a week");
    assert.equal(bad.code, 1);
    assert.match(bad.err[0]!, /--since a week: not a window/);
  });
});
