import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { WorkerPlatform } from "../core/config-json.ts";
import { killPlan, runKillAction, spawnOptions } from "./kill-tree.ts";

/** Which output stream a processor line came from. */
export type OutputStream = "stdout" | "stderr";

/** One run of the processor. */
export interface ProcessorRun {
  command: string;
  /** Already rendered; each element is one argument (no shell splitting or quoting). */
  args: readonly string[];
  cwd: string;
  /** Added to the worker's own environment. */
  env: Readonly<Record<string, string>>;
  /** Wall-clock limit; past it the whole process tree is killed. */
  timeoutMs: number;
  /** Time between the polite stop (SIGTERM) and the forced one, where the platform has both. @default 5000 */
  killGraceMs?: number;
  platform: WorkerPlatform;
  /** Each line of output as it arrives, without its line ending. */
  onLine: (stream: OutputStream, line: string) => void;
  /** Aborting kills the tree (cancel, Spot interruption, lost job). */
  signal?: AbortSignal;
  /** Told the pid once the process runs (the worker records it to clean up after its own crash). */
  onSpawn?: (pid: number) => void;
  /**
   * Stops what the process runs before its tree is killed, on timeout or abort: a `docker run`
   * client's container is not in the client's process tree, so killing the tree would leave it
   * running (worker/container.ts: `docker stop`, then `docker kill`). `exited` resolves once the
   * process has ended; a process still running when this settles gets the tree kill.
   */
  stopFirst?: (exited: Promise<void>) => Promise<void>;
}

/** How a run ended. */
export interface ProcessorOutcome {
  /** The exit code, or null when a signal ended the process. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the worker killed the tree, and why. */
  killed?: "timeout" | "aborted";
  /** The process could not be started at all (missing executable, permissions). */
  startError?: Error;
  durationMs: number;
  pid?: number;
}

/** How long to wait for the output pipes to drain after the process exited (a leftover grandchild may hold them). */
const PIPE_DRAIN_MS = 2_000;

/**
 * Spawns the processor without a shell, streams its stdout and stderr line by line, and kills its
 * whole process tree on timeout or abort (SIGTERM then SIGKILL to the process group on POSIX,
 * `taskkill /T /F` on Windows), after `stopFirst` when the run has one. Never rejects: every ending
 * is described by the outcome.
 */
export function runProcessor(run: ProcessorRun): Promise<ProcessorOutcome> {
  const started = Date.now();
  const grace = run.killGraceMs ?? 5_000;
  return new Promise<ProcessorOutcome>((resolve) => {
    let child;
    try {
      child = spawn(run.command, [...run.args], {
        ...spawnOptions(run.platform),
        cwd: run.cwd,
        env: { ...process.env, ...run.env },
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (err) {
      resolve({ exitCode: null, signal: null, startError: err as Error, durationMs: 0 });
      return;
    }
    const pid = child.pid;
    if (pid !== undefined) run.onSpawn?.(pid);
    let killed: ProcessorOutcome["killed"];
    let forceTimer: NodeJS.Timeout | undefined;
    let settled = false;
    let hasExited = false;
    let markExited!: () => void;
    const exited = new Promise<void>((r) => (markExited = r));

    const killTree = () => {
      if (pid === undefined || hasExited) return;
      const plan = killPlan(run.platform, pid);
      if (plan.polite) {
        void runKillAction(plan.polite);
        forceTimer = setTimeout(() => void runKillAction(plan.force), grace);
      } else void runKillAction(plan.force);
    };
    const kill = (why: NonNullable<ProcessorOutcome["killed"]>) => {
      if (killed || pid === undefined || settled) return;
      killed = why;
      if (run.stopFirst)
        void run
          .stopFirst(exited)
          .catch(() => undefined)
          .then(killTree);
      else killTree();
    };
    const timeout = setTimeout(() => kill("timeout"), run.timeoutMs);
    const onAbort = () => kill("aborted");
    if (run.signal?.aborted) queueMicrotask(onAbort);
    else run.signal?.addEventListener("abort", onAbort, { once: true });

    const pipesClosed = [child.stdout, child.stderr].map((stream, i) => {
      const name: OutputStream = i === 0 ? "stdout" : "stderr";
      stream.setEncoding("utf8");
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      lines.on("line", (line) => run.onLine(name, line));
      return new Promise<void>((r) => lines.once("close", () => r()));
    });

    const finish = (outcome: Omit<ProcessorOutcome, "durationMs" | "killed" | "pid">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      clearTimeout(forceTimer);
      run.signal?.removeEventListener("abort", onAbort);
      resolve({ ...outcome, durationMs: Date.now() - started, ...(killed ? { killed } : {}), ...(pid !== undefined ? { pid } : {}) });
    };

    child.once("error", (err) => {
      // Without a pid the process never started; otherwise 'exit' still follows and tells the rest.
      if (pid === undefined) finish({ exitCode: null, signal: null, startError: err });
    });
    child.once("exit", (code, signal) => {
      hasExited = true;
      markExited();
      // The processor is gone but its descendants may not be: end the rest of the group (POSIX), so
      // nothing keeps the GPU or the job folder busy. On Windows the tree is already unreachable by pid.
      if (pid !== undefined && run.platform !== "win32") void runKillAction(killPlan(run.platform, pid).force);
      const drained = Promise.all(pipesClosed);
      const giveUp = new Promise<void>((r) => setTimeout(r, PIPE_DRAIN_MS).unref());
      void Promise.race([drained, giveUp]).then(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish({ exitCode: code, signal });
      });
    });
  });
}
