import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startApiServer, type ApiServer } from "../../../api/server.ts";
import { runCli } from "../../../scripts/cli/main.ts";
import { writeLocalState } from "../../../scripts/local/state.ts";
import { BUCKET, captureLog, FIXTURE, useApiHarness } from "../api/api-harness.ts";

const KEY_A = "labAkey0123456789abcdefXYZ";
const KEY_B = "labBkey0123456789abcdefXYZ";

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("spotq CLI with tenants, names and tags (a local API with api.tenants)", () => {
  const h = useApiHarness({
    api: {
      tenants: [
        { name: "lab-a", apiKey: KEY_A, prefixes: ["labs/a/", "results/lab-a/"] },
        { name: "lab-b", apiKey: KEY_B, prefixes: ["labs/b/", "results/lab-b/"] },
      ],
    },
  });
  let server: ApiServer;
  let dir: string;
  const saved = { ...process.env };
  const request = path.join(import.meta.dirname, "..", "..", "fixtures", "medit-request.json");
  const paths = ["--source", `s3://${BUCKET}/labs/a/case-1`, "--target", `s3://${BUCKET}/results/lab-a/case-1`];

  before(async () => {
    await h().upload({ "labs/a/case-1/scan.ply": "a".repeat(64) });
    server = await startApiServer({ deps: { ...h().deps, log: captureLog() }, port: 0 });
    // The CLI finds "the local stack" as it finds one started with npm start: its state file.
    dir = mkdtempSync(path.join(os.tmpdir(), "spotq-tenants-cli-"));
    process.env.SPOTQ_HOME = path.join(dir, "home");
    process.env.SPOTQ_LOCAL_DIR = path.join(dir, "stack");
    delete process.env.SPOTQ_API_URL;
    delete process.env.SPOTQ_API_KEY;
    const resources = h().aws.resources;
    writeLocalState(process.env.SPOTQ_LOCAL_DIR, {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      apiUrl: server.url,
      controlUrl: "http://127.0.0.1:9",
      aws: h().aws.emulators.settings,
      deployment: { ...resources, bucket: BUCKET },
      dir: process.env.SPOTQ_LOCAL_DIR,
    } as Parameters<typeof writeLocalState>[1]);
  });
  after(async () => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("without a key, says 403 and how to pass the tenant's key", async () => {
    const r = await cli("list");
    assert.notEqual(r.code, 0);
    assert.match(r.err, /GET \/jobs answered 403: forbidden: send a tenant's API key in the x-api-key header/);
    assert.match(r.err, /--api-key or SPOTQ_API_KEY/);
  });

  it("submits with --name and --tag as a tenant (SPOTQ_API_KEY to the local stack), shows them in status and list, and filters by them", async () => {
    process.env.SPOTQ_API_KEY = KEY_A;
    const s = await cli("submit", request, ...paths, "--name", "case 4711", "--tag", "clinic=north", "--tag", "urgent=yes");
    assert.equal(s.code, 0, s.err);
    const jobId = /submitted (\S+)/.exec(s.out)![1]!;
    const status = await cli("status", jobId);
    assert.match(status.out, /^ {2}name {5}case 4711$/m);
    assert.match(status.out, /^ {2}tags {5}clinic=north, urgent=yes$/m);
    assert.match(status.out, /^ {2}tenant {3}lab-a$/m);

    await cli("submit", request, ...paths, "--name", "other", "--tag", "clinic=south");
    const tagged = await cli("list", "--tag", "clinic=north");
    assert.equal(tagged.code, 0, tagged.err);
    assert.match(tagged.out, new RegExp(`${jobId} {2}QUEUED {4}  "case 4711"`));
    assert.doesNotMatch(tagged.out, /"other"/);
    const named = await cli("list", "--name", "oth*");
    assert.match(named.out, /"other"/);
    assert.doesNotMatch(named.out, /case 4711/);
    const paged = await cli("list", "--name", "*", "--limit", "1");
    assert.notEqual(paged.code, 0, "a bare * is refused by the API, naming the field");
    assert.match(paged.err, /name: needs at least one character before the \*/);
    const page = await cli("list", "--tag", "clinic=north", "--tag", "urgent", "--limit", "1");
    assert.doesNotMatch(page.out, /more:/, "one match: no next page");
  });

  it("refuses a bad --tag before calling the API, and another tenant's job is not found", async () => {
    process.env.SPOTQ_API_KEY = KEY_A;
    const bad = await cli("submit", request, ...paths, "--tag", "no value");
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--tag: "no value" is not key=value/);

    const s = await cli("submit", request, ...paths);
    const jobId = /submitted (\S+)/.exec(s.out)![1]!;
    process.env.SPOTQ_API_KEY = KEY_B;
    const other = await cli("status", jobId);
    assert.notEqual(other.code, 0);
    assert.match(other.err, /answered 404/);
    const outside = await cli("submit", request, ...paths);
    assert.match(outside.err, /Source Folder Path: must lie under one of tenant lab-b's prefixes/);
  });
});
