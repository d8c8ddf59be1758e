import type { S3Client } from "@aws-sdk/client-s3";
import { EventEmitter } from "node:events";
import { mkdir } from "node:fs/promises";
import type { FleetControl, InstanceMetadata, JobQueue, JobStore, ReceivedJob } from "../core/ports.ts";
import type { StopReason, WorkerEvents } from "./events.ts";
import { decideIdle } from "./idle-policy.ts";
import { JobRun } from "./job-run.ts";
import { sweepLeftovers } from "./leftovers.ts";
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from "./options.ts";
import { SpotWatcher, type SpotNotice } from "./spot-watcher.ts";
import type { Telemetry } from "./telemetry/telemetry.ts";
import { FolderTransfer } from "./transfer.ts";

/** The worker's ports: the AWS adapters in production and locally, pointed at different endpoints. */
export interface WorkerDeps {
  queue: JobQueue;
  store: JobStore;
  s3: S3Client;
  telemetry: Telemetry;
  /** The instance's Auto Scaling group; without it there is no scale-in protection and no idle termination. */
  fleet?: FleetControl;
  /** IMDS; without it there are no Spot notices. */
  metadata?: InstanceMetadata;
}

type LoopState = "idle" | "starting" | "waiting" | "polling" | "stopped";

/**
 * The daemon on a fleet instance: one job at a time.
 *
 * Each turn of the poll loop (rescheduled with setTimeout, so stopping is a flag and a cleared
 * timer) lifts scale-in protection, checks idleness, long-polls for one message, protects the
 * instance and runs the job (worker/job-run.ts). Idle past the idle timeout, it terminates its
 * own instance with the decrement rule of worker/idle-policy.ts. A Spot notice, a rebalance
 * recommendation or {@link Worker.stop} (SIGTERM) stops it taking work and hands a running job
 * back at once.
 */
export class Worker extends EventEmitter<WorkerEvents> {
  readonly options: ResolvedWorkerOptions;
  /** Settles with the stop reason once the worker has stopped. */
  readonly done: Promise<StopReason>;
  readonly #deps: WorkerDeps;
  readonly #transfer: FolderTransfer;
  #resolveDone!: (reason: StopReason) => void;
  #state: LoopState = "idle";
  #stopReason: StopReason | undefined;
  #timer: NodeJS.Timeout | undefined;
  #pollAbort: AbortController | undefined;
  #current: JobRun | undefined;
  #watcher: SpotWatcher | undefined;
  #protected: boolean | undefined;
  #idleSince = Date.now();
  #finishing: Promise<void> | undefined;

  /** Checks the options (e.g. "heartbeatSeconds must be less than visibilityTimeoutSeconds") before anything runs. */
  constructor(deps: WorkerDeps, options: WorkerOptions) {
    super();
    this.options = resolveWorkerOptions(options);
    this.#deps = deps;
    this.#transfer = new FolderTransfer(deps.s3, this.options.transfer);
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** The job being run, if any. */
  get currentJob(): { jobId: string; attempt: number } | undefined {
    return this.#current ? { jobId: this.#current.jobId, attempt: this.#current.attempt } : undefined;
  }

  /** Cleans up after an earlier worker on this instance, checks for notices, and starts polling. */
  async start(): Promise<void> {
    if (this.#state !== "idle") throw new Error("the worker was already started");
    this.#state = "starting";
    const o = this.options;
    await mkdir(o.workRoot, { recursive: true });
    await sweepLeftovers(o.workRoot, o.platform, (e) => this.emit("leftover_removed", e));
    this.emit("started", { instanceId: o.instanceId, workRoot: o.workRoot });
    if (this.#deps.metadata) {
      this.#watcher = new SpotWatcher(this.#deps.metadata, {
        intervalMs: o.spotPollSeconds * 1000,
        onNotice: (n) => this.#onNotice(n),
        onError: (error) => this.#warn(`instance metadata: ${error.message}`, error),
      });
      // A notice already posted (e.g. a worker restarted after one) stops it before any work.
      await this.#watcher.check();
      this.#watcher.start();
    }
    if (this.#deps.fleet && !this.#stopReason) {
      try {
        const decision = decideIdle(await this.#deps.fleet.describeGroup(), o.instanceId);
        if (decision.action === "leave") this.#requestStop("instance-terminating");
      } catch (error) {
        this.#warn(`Auto Scaling describe at start: ${(error as Error).message}`, error as Error);
      }
    }
    this.#idleSince = Date.now();
    if (this.#stopReason) void this.#finish();
    else this.#schedule(0);
  }

  /**
   * Stops taking work; a running job is handed back (processor killed, record QUEUED, message
   * visible at once). Resolves once the worker has stopped.
   */
  stop(reason: StopReason = "shutdown"): Promise<StopReason> {
    this.#requestStop(reason);
    return this.done;
  }

  #requestStop(reason: StopReason): void {
    if (this.#stopReason || this.#state === "stopped") return;
    this.#stopReason = reason;
    this.emit("stopping", { reason });
    this.#pollAbort?.abort(new Error(`worker stopping: ${reason}`));
    this.#current?.interrupt(`worker stopping: ${reason}`);
    if (this.#state === "waiting" || this.#state === "idle") {
      clearTimeout(this.#timer);
      void this.#finish();
    }
  }

  #onNotice(n: SpotNotice): void {
    this.emit("spot_notice", n);
    this.#requestStop(n.kind === "spot-interruption" ? "spot-interruption" : "rebalance");
  }

  #schedule(delayMs: number): void {
    this.#state = "waiting";
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
  }

  async #tick(): Promise<void> {
    this.#state = "polling";
    let delayMs = 0;
    try {
      await this.#whileIdle();
      if (this.#stopReason) return;
      const received = await this.#receive();
      if (!received) return;
      if (this.#stopReason) {
        // Received as the stop came: it goes straight back.
        await this.#deps.queue.release(received.receiptHandle, 0);
        return;
      }
      await this.#handle(received);
    } catch (error) {
      if (!this.#stopReason) {
        this.#warn(`poll failed: ${(error as Error).message}`, error as Error);
        delayMs = this.options.errorBackoffSeconds * 1000;
      }
    } finally {
      if (this.#stopReason) void this.#finish();
      else this.#schedule(delayMs);
    }
  }

  async #receive(): Promise<ReceivedJob | undefined> {
    const abort = new AbortController();
    this.#pollAbort = abort;
    try {
      return await this.#deps.queue.receive({
        waitSeconds: this.options.receiveWaitSeconds,
        visibilitySeconds: this.options.visibilityTimeoutSeconds,
        signal: abort.signal,
      });
    } catch (error) {
      if (abort.signal.aborted) return undefined;
      throw error;
    } finally {
      this.#pollAbort = undefined;
    }
  }

  /** Between jobs: scale-in protection off, and the idle rule once idle long enough. */
  async #whileIdle(): Promise<void> {
    const fleet = this.#deps.fleet;
    if (!fleet) return;
    const self = this.options.instanceId;
    if (this.#protected !== false) {
      try {
        await fleet.protect(self, false);
        this.#protected = false;
        this.emit("protection_changed", { protectedFromScaleIn: false });
      } catch (error) {
        this.#warn(`could not lift scale-in protection: ${(error as Error).message}`, error as Error);
      }
    }
    const idleSeconds = (Date.now() - this.#idleSince) / 1000;
    if (idleSeconds < this.options.idleTimeoutSeconds) return;
    const decision = decideIdle(await fleet.describeGroup(), self);
    this.emit("idle_check", { idleSeconds, decision });
    if (decision.action === "leave") return this.#requestStop("instance-terminating");
    if (decision.action === "stay") {
      this.#idleSince = Date.now();
      return;
    }
    try {
      await fleet.terminate(self, decision.decrement);
    } catch (error) {
      // Another worker's decrement got there first and the group is now at its minimum: stay.
      if ((error as Error).name === "ValidationError") {
        this.emit("idle_check", { idleSeconds, decision: { action: "stay", reason: `Auto Scaling refused: ${(error as Error).message}` } });
        this.#idleSince = Date.now();
        return;
      }
      throw error;
    }
    this.emit("idle_terminate", { decrement: decision.decrement });
    this.#requestStop("idle-terminated");
  }

  async #handle(received: ReceivedJob): Promise<void> {
    const { fleet, queue, store, telemetry } = this.#deps;
    this.emit("message_received", {
      jobId: received.message.jobId,
      messageId: received.messageId,
      receiveCount: received.receiveCount,
      receiptHandle: received.receiptHandle,
    });
    if (fleet) {
      try {
        // Before the record says RUNNING: a scale-in must never pick a working instance.
        await fleet.protect(this.options.instanceId, true);
        this.#protected = true;
        this.emit("protection_changed", { protectedFromScaleIn: true });
      } catch (error) {
        await queue.release(received.receiptHandle, 0).catch(() => undefined);
        throw new Error(`could not protect the instance from scale-in, so job ${received.message.jobId} was handed back: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    const run = new JobRun(received, {
      queue,
      store,
      transfer: this.#transfer,
      telemetry,
      options: this.options,
      emit: (event, ...args) => (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args),
    });
    this.#current = run;
    if (this.#stopReason) run.interrupt(`worker stopping: ${this.#stopReason}`);
    try {
      await run.run();
    } finally {
      this.#current = undefined;
      this.#idleSince = Date.now();
    }
  }

  async #finish(): Promise<void> {
    this.#finishing ??= (async () => {
      const reason = this.#stopReason ?? "shutdown";
      this.#state = "stopped";
      clearTimeout(this.#timer);
      await this.#watcher?.stop();
      if (reason === "rebalance" && this.#deps.fleet) {
        // The group should run this work elsewhere: hand the instance back without shrinking the group.
        try {
          await this.#deps.fleet.terminate(this.options.instanceId, false);
        } catch (error) {
          this.#warn(`could not hand the instance back after a rebalance recommendation: ${(error as Error).message}`, error as Error);
        }
      }
      this.emit("stopped", { reason });
      this.#resolveDone(reason);
    })();
    return this.#finishing;
  }

  #warn(message: string, error?: Error): void {
    this.emit("warning", error ? { message, error } : { message });
  }
}
