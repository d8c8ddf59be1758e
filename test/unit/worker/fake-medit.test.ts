import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseBehaviour } from "../../../scripts/fake-medit/behaviour.ts";
import { expectedOutputs } from "../../../scripts/fake-medit/outputs.ts";
import { FAKE_MEDIT, meditFixture, sha256, tempDir, TSX_IMPORT } from "../../support/worker-fixtures.ts";

interface Job {
  source: string;
  target: string;
  config: string;
}

async function job(inputs: Record<string, Buffer | string>, patch: (c: Record<string, unknown>) => void = () => undefined): Promise<Job> {
  const root = await tempDir();
  const source = path.join(root, "source");
  const target = path.join(root, "target");
  await mkdir(target, { recursive: true });
  for (const [rel, body] of Object.entries(inputs)) {
    await mkdir(path.dirname(path.join(source, rel)), { recursive: true });
    await writeFile(path.join(source, rel), body);
  }
  await mkdir(source, { recursive: true });
  const config = { ...(await meditFixture()), "Source Folder Path": source, "Target Folder Path": target };
  patch(config);
  const file = path.join(source, "config.json");
  await writeFile(file, JSON.stringify(config, null, 2));
  return { source, target, config: file };
}

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ["--import", TSX_IMPORT, FAKE_MEDIT, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe("scripts/fake-medit (the stand-in processor)", function () {
  this.timeout(30_000);

  it("writes a manifest of every input (sha256 and size, sorted) and a result derived from them", async () => {
    const big = Buffer.alloc(300_000, 7);
    const j = await job({ "scan/b.bin": big, "a.txt": "hello" });
    const r = run(["--iScanComplete", j.config]);
    assert.equal(r.code, 0, r.stderr);
    const manifest = JSON.parse(await readFile(path.join(j.target, "manifest.json"), "utf8"));
    // Computed here independently: config.json is not an input.
    assert.deepEqual(manifest, {
      files: [
        { path: "a.txt", size: 5, sha256: sha256("hello") },
        { path: "scan/b.bin", size: 300_000, sha256: sha256(big) },
      ],
      count: 2,
      bytes: 300_005,
    });
    // The fixture asks for "Save Source To Result Folder": the inputs are copied under source/.
    const expected = expectedOutputs(new Map([["a.txt", Buffer.from("hello")], ["scan/b.bin", big]]), { saveSource: true });
    for (const [rel, body] of expected) assert.deepEqual(await readFile(path.join(j.target, rel)), body, rel);
  });

  it("gives a different result when one input byte changes", async () => {
    const a = expectedOutputs(new Map([["x", Buffer.from("abc")]])).get("result.bin")!;
    const b = expectedOutputs(new Map([["x", Buffer.from("abd")]])).get("result.bin")!;
    assert.equal(a.length, 32);
    assert.notDeepEqual(a, b);
  });

  it("exits 2 naming each bad key: wrong types, an unknown key, an S3 URI instead of a folder", async () => {
    const j = await job({ "a.txt": "x" }, (c) => {
      c["Use GPU"] = "yes";
      c["Complete Type"] = -1;
      c["Colour"] = 3;
      c["Target Folder Path"] = "s3://bucket/out";
    });
    const r = run(["--iScanComplete", j.config]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Use GPU: must be true or false/);
    assert.match(r.stderr, /Complete Type: must be a non-negative integer/);
    assert.match(r.stderr, /Colour: unknown key/);
    assert.match(r.stderr, /Target Folder Path: must be a local folder/);
    assert.deepEqual(await readdir(j.target), [], "nothing was written");
  });

  it("exits 2 on wrong arguments or a missing config file", () => {
    assert.equal(run(["--process", "x.json"]).code, 2);
    const r = run(["--iScanComplete", "/nonexistent/config.json"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read config/);
  });

  it("fails, exits with a chosen code or crashes when told through its environment", async () => {
    const j = await job({ "a.txt": "x" });
    assert.equal(run(["--iScanComplete", j.config], { FAKE_MEDIT_FAIL: "1" }).code, 1);
    assert.equal(run(["--iScanComplete", j.config], { FAKE_MEDIT_EXIT_CODE: "3" }).code, 3);
    const crash = run(["--iScanComplete", j.config], { FAKE_MEDIT_CRASH: "1" });
    assert.equal(crash.code, null);
    assert.equal(crash.signal, "SIGABRT");
  });

  it("fails only the first attempts when told fail-attempts, using the worker's SPOTQ_ATTEMPT", async () => {
    const j = await job({ "a.txt": "x" }, (c) => (c["Fake Medit Behaviour"] = "fail-attempts=1"));
    assert.equal(run(["--iScanComplete", j.config], { SPOTQ_ATTEMPT: "1" }).code, 1);
    assert.equal(run(["--iScanComplete", j.config], { SPOTQ_ATTEMPT: "2" }).code, 0);
  });

  it("parses behaviour directives and names the one it does not understand", () => {
    assert.deepEqual(parseBehaviour("sleep=2000, fail exit=4"), { sleepMs: 2000, fail: true, exitCode: 4 });
    assert.throws(() => parseBehaviour("sleep=soon"), /sleep needs a non-negative integer/);
    assert.throws(() => parseBehaviour("explode"), /"explode" is not understood/);
  });
});
