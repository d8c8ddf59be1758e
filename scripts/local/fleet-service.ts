import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { closeSync, openSync } from "node:fs";
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
  /** Wait before a restart after a failure. */
  restartDelayMs: number;
}

export type WorkerServiceEvents = {
  started: [{ pid: number; restarts: number }];
  /** The main process ended; `restart` says whether the service manager starts it again. */
  exited: [{ pid: number | undefined; code: number | null; signal: NodeJS.Signals | null; error?: string; restart: boolean }];
};

/**
 * The service manager of one local instance (systemd unit / Windows service in AWS): it runs the
 * worker in its own process group, restarts it after a failure (non-zero exit or a signal) unless
 * it is being stopped, and stops it like a shutdown does: SIGTERM to the whole group, SIGKILL after a grace.
 */
export class WorkerService extends EventEmitter<WorkerServiceEvents> {
  readonly #options: WorkerServiceOptions;
  #child: ChildProcess | undefined;
  /** The process group of the current or last run; it may outlive its leader (the processor). */
  #pgid: number | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #stopping = false;
  #restarts = 0;
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
      signalGroup(pgid, "SIGTERM");
      const deadline = Date.now() + graceMs;
      while (Date.now() < deadline && (this.pid !== undefined || groupAlive(pgid))) await sleep(Math.min(50, graceMs));
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
    const failed = code !== 0 || signal !== null;
    const restart = failed && !this.#stopping;
    // As systemd does with KillMode=control-group: what the dead worker left running goes too.
    if (!this.#stopping && this.#pgid !== undefined) signalGroup(this.#pgid, "SIGKILL");
    this.emit("exited", { pid, code, signal, ...(error ? { error } : {}), restart });
    if (!restart) return;
    this.#restartTimer = setTimeout(() => {
      if (this.#stopping) return;
      this.#restarts++;
      this.start();
    }, this.#options.restartDelayMs);
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
