import { existsSync, rmSync } from "node:fs";
import type { WorkerPlatform } from "../core/config-json.ts";
import { ENV } from "../core/runtime.ts";

/**
 * The variable naming the stop file (CONTRACTS §9). Windows has no SIGTERM: the service wrapper
 * creates this file on a service stop, waits (bounded) for the worker to exit, and only then
 * kills the tree.
 */
export const STOP_FILE_ENV = ENV.stopFile;

/** How a service manager asks this worker to stop gracefully on a platform. */
export interface GracefulStop {
  /** Signals handled as a graceful stop. */
  signals: NodeJS.Signals[];
  /** A file whose appearance is a graceful stop. */
  stopFile?: string;
  /** Set when the platform leaves no graceful way to stop: a service stop kills the job without handing it back. */
  warning?: string;
}

/**
 * The graceful-stop sources of a platform, as a pure function: SIGTERM and SIGINT on POSIX (systemd,
 * the local fleet); on Windows only console events reach Node (Ctrl+C as SIGINT, Ctrl+Break as
 * SIGBREAK), so the service wrapper's stop file is what counts there. The stop file works on
 * either platform when `SPOTQ_STOP_FILE` is set.
 */
export function gracefulStop(platform: WorkerPlatform, env: NodeJS.ProcessEnv): GracefulStop {
  const stopFile = env[STOP_FILE_ENV] || undefined;
  const signals: NodeJS.Signals[] = platform === "win32" ? ["SIGINT", "SIGBREAK"] : ["SIGTERM", "SIGINT"];
  return {
    signals,
    ...(stopFile ? { stopFile } : {}),
    ...(platform === "win32" && !stopFile
      ? { warning: `${STOP_FILE_ENV} is not set: on Windows a service stop cannot hand the running job back (it returns after the visibility timeout)` }
      : {}),
  };
}

/**
 * Watches the stop file: removes a stale one at start (left by the previous stop), then polls for it
 * (about every second) and calls `onStop` once when it appears.
 */
export class StopFileWatcher {
  readonly file: string;
  readonly #pollMs: number;
  readonly #onStop: () => void;
  #timer: NodeJS.Timeout | undefined;
  #fired = false;

  constructor(file: string, options: { onStop: () => void; pollMs?: number }) {
    this.file = file;
    this.#onStop = options.onStop;
    this.#pollMs = options.pollMs ?? 1000;
    if (!(this.#pollMs > 0)) throw new RangeError(`pollMs must be positive, got ${this.#pollMs}`);
  }

  /** Removes a stale stop file and starts watching. Returns true when a stale one was removed. */
  start(): boolean {
    const stale = existsSync(this.file);
    if (stale) rmSync(this.file, { force: true });
    this.#timer = setInterval(() => this.check(), this.#pollMs);
    this.#timer.unref();
    return stale;
  }

  /** One look; fires once. */
  check(): void {
    if (this.#fired || !existsSync(this.file)) return;
    this.#fired = true;
    this.stop();
    this.#onStop();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
