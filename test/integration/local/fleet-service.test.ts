import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WorkerService, type WorkerServiceEvents } from "../../../scripts/local/fleet-service.ts";
import { isAlive, waitForFile, waitUntilGone } from "./fleet-helpers.ts";

/** A worker that starts a child ("processor"); both log SIGTERM and, when told, ignore it. */
const STUBBORN = `
const { spawn } = require("node:child_process");
const { writeFileSync } = require("node:fs");
const ignore = process.env.IGNORE_TERM === "1";
// The child says it is ready (its SIGTERM handler is installed) before the pids are reported, so a
// slow start on a loaded machine cannot make the stop test miss it.
const childCode = 'process.on("SIGTERM", () => { console.log("child got SIGTERM"); if (!' + ignore + ') process.exit(0); }); process.send("ready"); setInterval(() => {}, 1 << 30);';
const child = spawn(process.execPath, ["-e", childCode], { stdio: ["inherit", "inherit", "inherit", "ipc"] });
process.on("SIGTERM", () => { console.log("worker got SIGTERM"); if (!ignore) process.exit(0); });
child.once("message", () => {
  child.disconnect();
  writeFileSync(process.env.PIDS, JSON.stringify({ worker: process.pid, child: child.pid }));
  if (process.env.EXIT_CODE) setTimeout(() => process.exit(Number(process.env.EXIT_CODE)), 200);
});
setInterval(() => {}, 1 << 30);
`;

describe("local fleet: the instance's service manager", function () {
  this.timeout(30_000);
  let dir: string;
  let service: WorkerService | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "spotq-service-"));
  });
  afterEach(async () => {
    await service?.stop(0);
    service = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  function make(env: Record<string, string>) {
    service = new WorkerService({
      launch: { command: process.execPath, args: ["-e", STUBBORN] },
      env: { ...process.env, PIDS: join(dir, "pids.json"), ...env },
      logFile: join(dir, "worker.log"),
      restartDelayMs: 100,
    });
    return service;
  }

  it("stops the whole process group: SIGTERM first, SIGKILL for what ignores it after the grace", async () => {
    const s = make({ IGNORE_TERM: "1" });
    s.start();
    const pids = await waitForFile<{ worker: number; child: number }>(join(dir, "pids.json"));
    const exited = once(s, "exited");
    await s.stop(500);
    const [e] = await exited;
    assert.deepEqual(e, { pid: pids.worker, code: null, signal: "SIGKILL", restart: false });
    await waitUntilGone(pids.child);
    const log = readFileSync(join(dir, "worker.log"), "utf8");
    assert.match(log, /worker got SIGTERM/);
    assert.match(log, /child got SIGTERM/, "the processor was asked too, as a shutdown asks every process");
  });

  it("lets a worker that honours SIGTERM exit by itself", async () => {
    const s = make({});
    s.start();
    const pids = await waitForFile<{ worker: number; child: number }>(join(dir, "pids.json"));
    const exited = once(s, "exited");
    await s.stop(10_000);
    const [e] = await exited;
    assert.deepEqual(e, { pid: pids.worker, code: 0, signal: null, restart: false });
    assert.equal(isAlive(pids.child), false);
  });

  it("after a crash, kills what the worker left running before it restarts it", async () => {
    const s = make({ EXIT_CODE: "1" });
    s.start();
    const first = await waitForFile<{ worker: number; child: number }>(join(dir, "pids.json"));
    const [e] = await once(s, "exited");
    assert.deepEqual(e, { pid: first.worker, code: 1, signal: null, restart: true, restartInMs: 100 });
    await waitUntilGone(first.child);
    const [started] = await once(s, "started");
    assert.equal(started.restarts, 1);
    assert.equal(s.restarts, 1);
  });

  it("reports a command that cannot start, and keeps trying as a service manager does", async () => {
    service = new WorkerService({
      launch: { command: join(dir, "no-such-worker") },
      env: process.env,
      logFile: join(dir, "worker.log"),
      restartDelayMs: 50,
    });
    service.start();
    const [e] = await once(service, "exited");
    assert.equal(e.restart, true);
    assert.match(e.error, /ENOENT/);
    const [again] = await once(service, "exited");
    assert.match(again.error, /ENOENT/);
  });

  describe("the exit codes of CONTRACTS §4", () => {
    /** A worker that exits with EXIT_CODE at once. */
    function exiting(code: number, extra: Partial<ConstructorParameters<typeof WorkerService>[0]> = {}) {
      service = new WorkerService({
        launch: { command: process.execPath, args: ["-e", `process.exit(${code})`] },
        env: process.env,
        logFile: join(dir, "worker.log"),
        restartDelayMs: 20,
        ...extra,
      });
      const seen: WorkerServiceEvents["exited"][0][] = [];
      service.on("exited", (e) => seen.push(e));
      return { service, seen };
    }

    for (const [code, failure] of [
      [2, "config"],
      [3, "preflight"],
    ] as const)
      it(`does not restart a worker that exits ${code} (${failure}): the instance must leave`, async () => {
        const { service: s } = exiting(code);
        s.start();
        const [e] = await once(s, "exited");
        assert.equal(e.code, code);
        assert.equal(e.restart, false);
        assert.equal(e.failure, failure);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(s.restarts, 0, "no restart loop");
      });

    it("restarts a crashing worker with doubling waits, and gives up after maxRestarts within the window", async () => {
      const { service: s, seen } = exiting(1, { maxRestarts: 3 });
      s.start();
      await new Promise<void>((resolve) => s.on("exited", (e) => e.failure && resolve()));
      assert.deepEqual(
        seen.map((e) => [e.restart, e.restartInMs, e.failure]),
        [
          [true, 20, undefined],
          [true, 40, undefined],
          [true, 80, undefined],
          [false, undefined, "crash-loop"],
        ],
      );
      assert.equal(s.restarts, 3);
    });

    it("caps the wait between restarts", async () => {
      const { service: s, seen } = exiting(1, { maxRestarts: 3, restartDelayMs: 30, maxRestartDelayMs: 50 });
      s.start();
      await new Promise<void>((resolve) => s.on("exited", (e) => e.failure && resolve()));
      assert.deepEqual(
        seen.map((e) => e.restartInMs),
        [30, 50, 50, undefined],
      );
    });

    it("forgets crashes older than the window", async () => {
      const { service: s, seen } = exiting(1, { maxRestarts: 1, restartWindowMs: 1 });
      s.start();
      await new Promise<void>((resolve) => s.on("exited", () => seen.length >= 4 && resolve()));
      s.killNow();
      assert.ok(seen.slice(0, 4).every((e) => e.restart), "each crash is the only one in a 1 ms window");
    });
  });

  describe("the stop file (Windows service wrapper, CONTRACTS §9)", () => {
    /** A worker that exits 0 once the stop file appears (unless IGNORE_STOP), logging it. */
    const WATCHER = `
const { existsSync, writeFileSync } = require("node:fs");
writeFileSync(process.env.PIDS, JSON.stringify({ worker: process.pid }));
process.on("SIGTERM", () => console.log("worker got SIGTERM"));
setInterval(() => {
  if (existsSync(process.env.SPOTQ_STOP_FILE) && !process.env.IGNORE_STOP) { console.log("stop file seen"); process.exit(0); }
}, 20);
`;
    function watcher(env: Record<string, string> = {}) {
      const stopFile = join(dir, "run", "stop");
      service = new WorkerService({
        launch: { command: process.execPath, args: ["-e", WATCHER] },
        env: { ...process.env, PIDS: join(dir, "pids.json"), SPOTQ_STOP_FILE: stopFile, ...env },
        logFile: join(dir, "worker.log"),
        restartDelayMs: 100,
        stopFile,
      });
      return { s: service, stopFile };
    }

    it("creates the stop file instead of sending SIGTERM, and the worker exits by itself", async () => {
      const { s, stopFile } = watcher();
      s.start();
      const pids = await waitForFile<{ worker: number }>(join(dir, "pids.json"));
      const exited = once(s, "exited");
      await s.stop(10_000);
      const [e] = await exited;
      assert.deepEqual(e, { pid: pids.worker, code: 0, signal: null, restart: false });
      assert.ok(existsSync(stopFile));
      const log = readFileSync(join(dir, "worker.log"), "utf8");
      assert.match(log, /stop file seen/);
      assert.doesNotMatch(log, /SIGTERM/, "no signal on Windows");
    });

    it("kills the tree after the grace when the worker does not stop", async () => {
      const { s } = watcher({ IGNORE_STOP: "1" });
      s.start();
      await waitForFile(join(dir, "pids.json"));
      const exited = once(s, "exited");
      const started = Date.now();
      await s.stop(400);
      const [e] = await exited;
      assert.equal(e.signal, "SIGKILL");
      assert.ok(Date.now() - started >= 400, "it waited the grace first");
    });
  });
});
