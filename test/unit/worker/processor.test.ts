import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { runProcessor, type OutputStream } from "../../../worker/processor.ts";
import { FAKE_MEDIT, isAlive, tempDir, TSX_IMPORT } from "../../support/worker-fixtures.ts";

/** A job folder with a valid config.json and one input file. */
async function jobFolder(): Promise<{ root: string; config: string; target: string }> {
  const root = await tempDir();
  const source = path.join(root, "source");
  const target = path.join(root, "target");
  await mkdir(source, { recursive: true });
  await mkdir(target, { recursive: true });
  await writeFile(path.join(source, "scan.bin"), "points");
  const config = path.join(source, "config.json");
  await writeFile(config, JSON.stringify({ "Source Folder Path": source, "Target Folder Path": target, "Use GPU": true }));
  return { root, config, target };
}

function fakeMedit(config: string, env: Record<string, string>, extra: Partial<Parameters<typeof runProcessor>[0]> = {}) {
  const lines: { stream: OutputStream; line: string }[] = [];
  const run = runProcessor({
    command: process.execPath,
    args: ["--import", TSX_IMPORT, FAKE_MEDIT, "--iScanComplete", config],
    cwd: path.dirname(config),
    env,
    timeoutMs: 60_000,
    killGraceMs: 500,
    platform: "posix",
    onLine: (stream, line) => lines.push({ stream, line }),
    ...extra,
  });
  return { run, lines };
}

/** Resolves once a line matching `re` has been seen. */
async function waitForLine(lines: { line: string }[], re: RegExp): Promise<string> {
  for (;;) {
    const hit = lines.find((l) => re.test(l.line));
    if (hit) return hit.line;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("worker/processor", function () {
  this.timeout(30_000);

  it("streams stdout and stderr line by line and reports the exit code", async () => {
    const job = await jobFolder();
    const { run, lines } = fakeMedit(job.config, { FAKE_MEDIT_EXIT_CODE: "7" });
    const outcome = await run;
    assert.equal(outcome.exitCode, 7);
    assert.equal(outcome.killed, undefined);
    assert.ok(lines.some((l) => l.stream === "stdout" && /config ok/.test(l.line)), JSON.stringify(lines));
    assert.ok(lines.some((l) => l.stream === "stderr" && /exiting with code 7/.test(l.line)), JSON.stringify(lines));
  });

  it("passes arguments as an array, without a shell interpreting them", async () => {
    const dir = await tempDir();
    const marker = path.join(dir, "pwned");
    const lines: string[] = [];
    const outcome = await runProcessor({
      command: process.execPath,
      args: ["-e", "console.log(JSON.stringify(process.argv.slice(1)))", `a b; touch ${marker}`, "$(echo x)"],
      cwd: dir,
      env: {},
      timeoutMs: 10_000,
      platform: "posix",
      onLine: (_s, l) => lines.push(l),
    });
    assert.equal(outcome.exitCode, 0);
    assert.deepEqual(JSON.parse(lines[0]!), [`a b; touch ${marker}`, "$(echo x)"]);
    await assert.rejects(readFile(marker), /ENOENT/);
  });

  it("on timeout kills the whole tree, even a processor and helper that ignore SIGTERM", async () => {
    const job = await jobFolder();
    const { run, lines } = fakeMedit(job.config, { FAKE_MEDIT_HANG: "1" }, { timeoutMs: 3_000 });
    const helperLine = await waitForLine(lines, /helper pid \d+/);
    const helperPid = Number(/helper pid (\d+)/.exec(helperLine)![1]);
    assert.ok(isAlive(helperPid), "the helper runs while the processor hangs");
    const outcome = await run;
    assert.equal(outcome.killed, "timeout");
    assert.equal(outcome.signal, "SIGKILL");
    assert.ok(lines.some((l) => /ignoring SIGTERM/.test(l.line)), "the polite SIGTERM came first");
    for (let i = 0; i < 50 && isAlive(helperPid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(isAlive(helperPid), false, "the helper process died with the tree");
  });

  it("kills the tree when aborted (cancel, interruption)", async () => {
    const job = await jobFolder();
    const abort = new AbortController();
    const { run, lines } = fakeMedit(job.config, { FAKE_MEDIT_SLEEP_MS: "60000" }, { signal: abort.signal });
    await waitForLine(lines, /read 1 files/);
    abort.abort(new Error("cancel"));
    const outcome = await run;
    assert.equal(outcome.killed, "aborted");
    assert.notEqual(outcome.exitCode, 0);
  });

  it("reports a crash as a signal, not an exit code", async () => {
    const job = await jobFolder();
    const outcome = await fakeMedit(job.config, { FAKE_MEDIT_CRASH: "1" }).run;
    assert.equal(outcome.exitCode, null);
    assert.equal(outcome.signal, "SIGABRT");
  });

  it("reports a command that cannot start instead of throwing", async () => {
    const dir = await tempDir();
    const outcome = await runProcessor({
      command: path.join(dir, "no-such-medit.exe"),
      args: [],
      cwd: dir,
      env: {},
      timeoutMs: 10_000,
      platform: "posix",
      onLine: () => undefined,
    });
    assert.match(outcome.startError?.message ?? "", /ENOENT/);
  });
});
