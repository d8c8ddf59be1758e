import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** How an instance runs its worker: what its service unit would say. */
export interface LaunchSpec {
  command: string;
  args?: string[];
  /** Added to the fleet's environment for this process. */
  env?: Record<string, string>;
  /** @default the fleet's process working directory */
  cwd?: string;
}

export interface WorkerServiceOptions {
  launch: LaunchSpec;
  /** The full environment of the process. */
  env: NodeJS.ProcessEnv;
  /** stdout and stderr of every run are appended here. */
  logFile: string;
  /** Wait before the first restart after a crash; it doubles with each restart in the window. */
  restartDelayMs: number;
  /** The longest wait between restarts. @default 60000 */
  maxRestartDelayMs?: number;
  /** Restarts allowed within `restartWindowMs`; one more crash and the service gives up. @default 5 */
  maxRestarts?: number;
  /** @default 600000 (10 min) */
  restartWindowMs?: number;
  /**
   * Stop through a file instead of SIGTERM (the Windows service wrapper, CONTRACTS §9): on stop the
   * file is created, the worker gets `graceMs` to exit, then the tree is killed. The worker's
   * environment must carry the path (SPOTQ_STOP_FILE); the caller sets it.
   */
  stopFile?: string;
}

/**
 * What a worker's exit code means (CONTRACTS §4): 0 an orderly stop, 2 bad config or environment,
 * 3 preflight failed; anything else (1, a signal) is a crash.
 */
export const WORKER_EXIT = { ok: 0, crash: 1, config: 2, preflight: 3 } as const;

/** Why the service will not restart a worker that exited by itself. */
export type ServiceFailure =
  /** Exit 2: bad config or environment. */
  | "config"
  /** Exit 3: preflight failed. */
  | "preflight"
  /** Too many crashes within the window. */
  | "crash-loop";

export type WorkerServiceEvents = {
  started: [{ pid: number; restarts: number }];
  /**
   * The main process ended; `restart` says whether the service manager starts it again (after
   * `restartInMs`). `failure` says why a worker that exited by itself stays down: the instance must leave.
   */
  exited: [
    {
      pid: number | undefined;
      code: number | null;
      signal: NodeJS.Signals | null;
      error?: string;
      restart: boolean;
      restartInMs?: number;
      failure?: ServiceFailure;
    },
  ];
};

/**
 * The service manager of one local instance (systemd unit / Windows service in AWS). It runs the
 * worker in its own process group and applies the exit-code table of CONTRACTS §4:
 * - 0: no restart (an orderly stop);
 * - 1 or a signal (a crash): restart after 1 s, 2 s, 4 s ... (≤ 60 s), at most 5 restarts in 10 min;
 *   one more crash and it gives up (`failure: "crash-loop"`);
 * - 2 (config) / 3 (preflight): no restart (`failure: "config" | "preflight"`).
 * It stops the worker like a shutdown does: SIGTERM to the whole group (or the stop file), SIGKILL after a grace.
 */
export class WorkerService extends EventEmitter<WorkerServiceEvents> {
  readonly #options: WorkerServiceOptions;
  #child: ChildProcess | undefined;
  /** The process group of the current or last run; it may outlive its leader (the processor). */
  #pgid: number | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #stopping = false;
  #restarts = 0;
  /** When each restart within the window happened. */
  #restartTimes: number[] = [];
  #exited: Promise<void> = Promise.resolve();

  constructor(options: WorkerServiceOptions) {
    super();
    this.#options = options;
  }

  /** The running main process, if any. */
  get pid(): number | undefined {
    return this.#child?.exitCode === null && this.#child.signalCode === null ? this.#child.pid : undefined;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  start(): void {
    if (this.#stopping || this.pid !== undefined) return;
    const { launch, env, logFile } = this.#options;
    const out = openSync(logFile, "a");
    let child: ChildProcess;
    try {
      // detached: the worker leads its own process group, so its processor dies with it.
      child = spawn(launch.command, launch.args ?? [], { cwd: launch.cwd, env, stdio: ["ignore", out, out], detached: true });
    } finally {
      closeSync(out);
    }
    this.#child = child;
    this.#pgid = child.pid;
    let done = false;
    let resolveExited!: () => void;
    this.#exited = new Promise((r) => (resolveExited = r));
    const finish = (code: number | null, signal: NodeJS.Signals | null, error?: string) => {
      if (done) return;
      done = true;
      resolveExited();
      this.#onExit(child.pid, code, signal, error);
    };
    child.once("error", (err) => finish(null, null, err.message));
    child.once("exit", (code, signal) => finish(code, signal));
    if (child.pid !== undefined) this.emit("started", { pid: child.pid, restarts: this.#restarts });
  }

  /** SIGKILLs the main process only, as `kill -9 <pid>` would; the service manager restarts it. */
  killMain(): number | undefined {
    const pid = this.pid;
    if (pid !== undefined) signalProcess(pid, "SIGKILL");
    return pid;
  }

  /**
   * Stops for good: SIGTERM to the process group, then SIGKILL to whatever is left after `graceMs`.
   * With `graceMs` 0 it is an outright kill.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const pgid = this.#pgid;
    if (pgid === undefined) return;
    if (graceMs > 0) {
      const stopFile = this.#options.stopFile;
      if (stopFile) {
        // The Windows wrapper: the stop file asks the worker to hand back and exit; the tree is killed after the wait.
        mkdirSync(dirname(stopFile), { recursive: true });
        writeFileSync(stopFile, new Date().toISOString());
      } else signalGroup(pgid, "SIGTERM");
      const deadline = Date.now() + graceMs;
      const waitFor = () => (stopFile ? this.pid !== undefined : this.pid !== undefined || groupAlive(pgid));
      while (Date.now() < deadline && waitFor()) await sleep(Math.min(50, graceMs));
    }
    signalGroup(pgid, "SIGKILL");
    await this.#exited;
    // Members reparented to init are reaped by it; give them a moment, never forever.
    for (let i = 0; i < 20 && groupAlive(pgid); i++) await sleep(25);
  }

  /** Synchronous last resort (process exit): SIGKILL the group, no waiting. */
  killNow(): void {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    if (this.#pgid !== undefined) signalGroup(this.#pgid, "SIGKILL");
  }

  #onExit(pid: number | undefined, code: number | null, signal: NodeJS.Signals | null, error?: string): void {
    // As systemd does with KillMode=control-group: what the dead worker left running goes too.
    if (!this.#stopping && this.#pgid !== undefined) signalGroup(this.#pgid, "SIGKILL");
    const base = { pid, code, signal, ...(error ? { error } : {}) };
    if (this.#stopping || (code === WORKER_EXIT.ok && signal === null)) {
      this.emit("exited", { ...base, restart: false });
      return;
    }
    if (signal === null && (code === WORKER_EXIT.config || code === WORKER_EXIT.preflight)) {
      this.emit("exited", { ...base, restart: false, failure: code === WORKER_EXIT.config ? "config" : "preflight" });
      return;
    }
    const now = Date.now();
    const windowMs = this.#options.restartWindowMs ?? 600_000;
    this.#restartTimes = this.#restartTimes.filter((t) => now - t < windowMs);
    if (this.#restartTimes.length >= (this.#options.maxRestarts ?? 5)) {
      this.emit("exited", { ...base, restart: false, failure: "crash-loop" });
      return;
    }
    const delay = Math.min(this.#options.maxRestartDelayMs ?? 60_000, this.#options.restartDelayMs * 2 ** this.#restartTimes.length);
    this.#restartTimes.push(now);
    this.emit("exited", { ...base, restart: true, restartInMs: delay });
    this.#restartTimer = setTimeout(() => {
      if (this.#stopping) return;
      this.#restarts++;
      this.start();
    }, delay);
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already empty.
  }
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
