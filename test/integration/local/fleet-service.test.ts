import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WorkerService } from "../../../scripts/local/fleet-service.ts";
import { isAlive, waitForFile, waitUntilGone } from "./fleet-helpers.ts";

/** A worker that starts a child ("processor"); both log SIGTERM and, when told, ignore it. */
const STUBBORN = `
const { spawn } = require("node:child_process");
const { writeFileSync } = require("node:fs");
const ignore = process.env.IGNORE_TERM === "1";
const childCode = 'process.on("SIGTERM", () => { console.log("child got SIGTERM"); if (!' + ignore + ') process.exit(0); }); setInterval(() => {}, 1 << 30);';
const child = spawn(process.execPath, ["-e", childCode], { stdio: "inherit" });
process.on("SIGTERM", () => { console.log("worker got SIGTERM"); if (!ignore) process.exit(0); });
setTimeout(() => writeFileSync(process.env.PIDS, JSON.stringify({ worker: process.pid, child: child.pid })), 200);
if (process.env.EXIT_CODE) setTimeout(() => process.exit(Number(process.env.EXIT_CODE)), 400);
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

  it("after a failed run, kills what the worker left running before it restarts it", async () => {
    const s = make({ EXIT_CODE: "2" });
    s.start();
    const first = await waitForFile<{ worker: number; child: number }>(join(dir, "pids.json"));
    const [e] = await once(s, "exited");
    assert.deepEqual(e, { pid: first.worker, code: 2, signal: null, restart: true });
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
});
