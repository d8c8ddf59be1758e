import { spawn } from "node:child_process";
import type { WorkerPlatform } from "../core/config-json.ts";

/** One step of stopping a process tree: a signal to a process group, or a command to run. */
export type KillAction =
  | { kind: "signal"; /** Negative: the whole process group of that leader. */ pid: number; signal: "SIGTERM" | "SIGKILL" }
  | { kind: "exec"; command: string; args: string[] };

/** How to stop the tree rooted at `pid`: an optional polite step, then the forced one after a grace period. */
export interface KillPlan {
  polite?: KillAction;
  force: KillAction;
}

/**
 * The kill plan for a processor spawned by {@link spawnOptions}, as a pure function of the platform.
 * - POSIX: the processor leads its own process group, so signalling `-pid` reaches every descendant:
 *   SIGTERM first, SIGKILL after the grace period.
 * - Windows: there are no process groups or SIGTERM for a console program; `taskkill /T /F` walks the
 *   child tree from the pid and terminates all of it at once.
 */
export function killPlan(platform: WorkerPlatform, pid: number): KillPlan {
  if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`pid must be a positive integer, got ${pid}`);
  if (platform === "win32") return { force: { kind: "exec", command: "taskkill", args: ["/PID", String(pid), "/T", "/F"] } };
  return { polite: { kind: "signal", pid: -pid, signal: "SIGTERM" }, force: { kind: "signal", pid: -pid, signal: "SIGKILL" } };
}

/**
 * Spawn options that make {@link killPlan} work: never a shell (arguments stay an array), and on POSIX
 * a new process group (`detached`). On Windows `detached` would open a new console, so it stays off.
 */
export function spawnOptions(platform: WorkerPlatform): { shell: false; detached: boolean; windowsHide: true } {
  return { shell: false, detached: platform !== "win32", windowsHide: true };
}

/** Carries out one kill action; a tree that is already gone is not an error. */
export async function runKillAction(action: KillAction): Promise<void> {
  if (action.kind === "signal") {
    try {
      process.kill(action.pid, action.signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
    return;
  }
  await new Promise<void>((resolve) => {
    // taskkill exits 128 when the process is already gone: nothing left to do either way.
    const p = spawn(action.command, action.args, { shell: false, windowsHide: true, stdio: "ignore" });
    p.once("error", () => resolve());
    p.once("exit", () => resolve());
  });
}
