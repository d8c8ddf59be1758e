import assert from "node:assert/strict";
import { killPlan, spawnOptions } from "../../../worker/kill-tree.ts";

describe("worker/kill-tree", () => {
  it("kills the whole tree on Windows with taskkill /T /F, with no polite step", () => {
    assert.deepEqual(killPlan("win32", 1234), {
      force: { kind: "exec", command: "taskkill", args: ["/PID", "1234", "/T", "/F"] },
    });
  });

  it("signals the process group on POSIX: SIGTERM first, then SIGKILL", () => {
    assert.deepEqual(killPlan("posix", 1234), {
      polite: { kind: "signal", pid: -1234, signal: "SIGTERM" },
      force: { kind: "signal", pid: -1234, signal: "SIGKILL" },
    });
  });

  it("refuses a pid that would signal something else (0 is the caller's own group, negatives are groups)", () => {
    assert.throws(() => killPlan("posix", 0), /positive integer/);
    assert.throws(() => killPlan("win32", -5), /positive integer/);
  });

  it("spawns without a shell everywhere, in its own process group only on POSIX", () => {
    assert.deepEqual(spawnOptions("posix"), { shell: false, detached: true, windowsHide: true });
    assert.deepEqual(spawnOptions("win32"), { shell: false, detached: false, windowsHide: true });
  });
});
