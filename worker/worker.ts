import type { S3Client } from "@aws-sdk/client-s3";
import { EventEmitter } from "node:events";
import { mkdir } from "node:fs/promises";
import { resourceNames } from "../core/names.ts";
import type { FleetControl, InstanceMetadata, JobQueue, JobStore, LifecycleActionResult, ReceivedJob } from "../core/ports.ts";
import { handBackRoute, type JobQueueKind } from "../core/priority.ts";
import { sumQueueDepths } from "../core/scaling/model.ts";
import { raiseCapacityAfterHandBack } from "../api/fast-path.ts";
import type { StopReason, WorkerEvents } from "./events.ts";
import { decideIdle } from "./idle-policy.ts";
import { failedElsewhere, InstanceBreaker } from "./instance-health.ts";
import { JobRun } from "./job-run.ts";
import { sweepLeftovers } from "./leftovers.ts";
import { isNoLifecycleAction, isUnsupportedCall, planTerminateHook } from "./lifecycle.ts";
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from "./options.ts";
import { describePreflightFailures, runPreflight, type PreflightReport } from "./preflight.ts";
import { SpotWatcher, type SpotNotice } from "./spot-watcher.ts";
import type { Telemetry } from "./telemetry/telemetry.ts";
import { FolderTransfer } from "./transfer.ts";

/** The worker's ports: the AWS adapters in production and locally, pointed at different endpoints. */
export interface WorkerDeps {
  /** The queue this worker serves: the jobs queue, or in the On-Demand group the On-Demand queue (`queueKind`). */
  queue: JobQueue;
  /** Which queue `queue` is. @default "normal" */
  queueKind?: "normal" | "ondemand";
  /**
   * The high-priority queue (`queue.highPriority`): a Spot worker asks it first every time it asks
   * for work, and asks `queue` only when it had nothing. Absent: `queue` only.
   */
  highQueue?: JobQueue;
  /** The On-Demand fallback's queue (`scaling.onDemandFallback`): where a hand-back past the threshold sends a job. */
  onDemandQueue?: JobQueue;
  /** The On-Demand group: its capacity is raised for a job moved to its queue. */
  onDemandFleet?: FleetControl;
  store: JobStore;
  s3: S3Client;
  telemetry: Telemetry;
  /** The instance's Auto Scaling group; without it there is no scale-in protection, no idle termination and no lifecycle hooks. */
  fleet?: FleetControl;
  /** IMDS; without it there are no Spot notices and no target lifecycle state. */
  metadata?: InstanceMetadata;
  /** The preflight (worker/preflight.ts from `fleet.preflight`); tests replace it. */
  preflight?: () => Promise<PreflightReport>;
}

type LoopState = "idle" | "starting" | "waiting" | "polling" | "stopped";

/** Why the worker takes no new jobs while it lets the current one finish. */
type Draining = "rebalance" | "terminating";

/**
 * The daemon on a fleet instance: one job at a time.
 *
 * Start: sweep what a crashed predecessor left, run the preflight (a failure completes the launch
 * hook ABANDON and stops with `preflight-failed`), start watching IMDS, complete the launch hook
 * CONTINUE (the definition of "booted"), then poll.
 *
 * Each turn of the poll loop (rescheduled with setTimeout, so stopping is a flag and a cleared
 * timer) lifts scale-in protection, checks idleness, long-polls for one message, protects the
 * instance and runs the job (worker/job-run.ts). Idle past the idle timeout, it terminates its
 * own instance with the decrement rule of worker/idle-policy.ts.
 *
 * What IMDS says (DESIGN §4, CONTRACTS §2–3):
 * - Spot interruption notice, or {@link Worker.stop} (SIGTERM, the stop file): stop taking work
 *   and hand a running job back at once;
 * - rebalance recommendation: take no new job, finish the current one; then, with capacity
 *   rebalancing on, wait for the group's terminate hook (it launched the one replacement); with it
 *   off, terminate the instance without decrement (the one replacement);
 * - target lifecycle state Terminated (the terminate hook holds the instance): with a Spot notice
 *   up, hand back at once; otherwise finish the job if the hook's time allows (heartbeating the
 *   hook), else hand back; then complete the hook CONTINUE.
 */
export class Worker extends EventEmitter<WorkerEvents> {
  readonly options: ResolvedWorkerOptions;
  /** Settles with the stop reason once the worker has stopped. */
  readonly done: Promise<StopReason>;
  readonly #deps: WorkerDeps;
  readonly #transfer: FolderTransfer;
  readonly #hooks: { launch: string; terminate: string };
  readonly #breaker: InstanceBreaker;
  #resolveDone!: (reason: StopReason) => void;
  #state: LoopState = "idle";
  #stopReason: StopReason | undefined;
  /** Aborted once a stop is requested: cuts short the worker's own waits. */
  readonly #stopping = new AbortController();
  /** Aborted by a shutdown that comes while the worker waits for its terminate hook. */
  readonly #leaving = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #pollAbort: AbortController | undefined;
  #current: JobRun | undefined;
  #watcher: SpotWatcher | undefined;
  #protected: boolean | undefined;
  #idleSince = Date.now();
  #finishing: Promise<void> | undefined;
  #draining: Draining | undefined;
  /** Set once the breaker judged the instance broken: it stops after the current job. */
  #unhealthy: string | undefined;
  /** IMDS showed the target lifecycle state Terminated: the terminate hook holds the instance. */
  #terminatingSeen = false;
  #onTerminated: (() => void) | undefined;
  /** Timers of a job finishing under the terminate hook: its heartbeat and the hand-back deadline. */
  #hookTimers: NodeJS.Timeout[] = [];
  #terminateRefusals = 0;
  /** No idle termination before this (ms epoch): set after Auto Scaling refused one. */
  #nextTerminateAt = 0;
  /** What the last job left running behind its critical path (JobRun.settled, the store's announcements); never rejects. */
  #afterJob: Promise<void> = Promise.resolve();

  /** Checks the options (e.g. "heartbeatSeconds must be less than visibilityTimeoutSeconds") before anything runs. */
  constructor(deps: WorkerDeps, options: WorkerOptions) {
    super();
    this.options = resolveWorkerOptions(options);
    this.#deps = deps;
    this.#transfer = new FolderTransfer(deps.s3, this.options.transfer);
    const names = resourceNames(this.options.config.name);
    this.#hooks = { launch: names.launchHook, terminate: names.terminateHook };
    this.#breaker = new InstanceBreaker({
      threshold: this.options.config.fleet.unhealthyAfterFailures,
      recheck: () => this.#preflight("after-failure"),
    });
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** The job being run, if any. */
  get currentJob(): { jobId: string; attempt: number } | undefined {
    return this.#current ? { jobId: this.#current.jobId, attempt: this.#current.attempt } : undefined;
  }

  /**
   * Cleans up after an earlier worker on this instance, runs the preflight, checks for notices,
   * completes the launch hook and starts polling.
   */
  async start(): Promise<void> {
    if (this.#state !== "idle") throw new Error("the worker was already started");
    this.#state = "starting";
    const o = this.options;
    this.emit("started", { instanceId: o.instanceId, workRoot: o.workRoot });
    await mkdir(o.workRoot, { recursive: true }).catch(() => undefined); // a failure is the preflight's to report
    await sweepLeftovers(o.workRoot, o.platform, (e) => this.emit("leftover_removed", e));
    const report = await this.#preflight("boot");
    if (!report.ok) {
      // A failed boot: the group must not count this instance, so the launch hook is abandoned.
      const why = describePreflightFailures(report);
      this.#warn(`preflight failed, taking no work: ${why}`);
      if (o.config.fleet.debugKeepFailedInstances) this.#warn("fleet.debugKeepFailedInstances is on: the launch hook is left as it is and the instance kept");
      else await this.#completeLifecycle(this.#hooks.launch, "ABANDON");
      this.#requestStop("preflight-failed");
      void this.#finish();
      return;
    }
    if (this.#deps.metadata) {
      this.#watcher = new SpotWatcher(this.#deps.metadata, {
        intervalMs: o.spotPollSeconds * 1000,
        onNotice: (n) => this.#onNotice(n),
        onTargetLifecycle: (state) => this.#onTargetLifecycle(state),
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
    // Booted: the preflight passed, so the group may count this instance, before the first poll.
    if (!this.#stopReason) await this.#completeLaunchContinue();
    this.#idleSince = Date.now();
    if (this.#stopReason) void this.#finish();
    else this.#schedule(0);
  }

  /**
   * Stops taking work; a running job is handed back (processor killed, record QUEUED, a fresh
   * message visible at once). Resolves once the worker has stopped.
   */
  stop(reason: StopReason = "shutdown"): Promise<StopReason> {
    // A shutdown while the worker waits for its terminate hook cuts the wait short.
    if (this.#stopReason && reason === "shutdown") this.#leaving.abort();
    this.#requestStop(reason);
    return this.done;
  }

  #requestStop(reason: StopReason): void {
    if (this.#stopReason || this.#state === "stopped") return;
    this.#stopReason = reason;
    this.#stopping.abort();
    this.emit("stopping", { reason });
    this.#pollAbort?.abort(new Error(`worker stopping: ${reason}`));
    this.#current?.interrupt(`worker stopping: ${reason}`);
    if (this.#state === "waiting" || this.#state === "idle") {
      clearTimeout(this.#timer);
      void this.#finish();
    }
  }

  /** Takes no new job, lets the current one finish; the poll loop decides what follows (#whileIdle). */
  #drain(reason: Draining, detail: string): void {
    if (this.#stopReason || this.#draining === "terminating" || this.#draining === reason) return;
    this.#draining = reason;
    // The poll in flight is left to end (at most receiveWaitSeconds): aborted, SQS may still hand it a
    // message that then stays invisible for the visibility timeout; received, it goes straight back.
    this.emit("draining", { reason, detail });
  }

  #onNotice(n: SpotNotice): void {
    this.emit("spot_notice", n);
    if (n.kind === "spot-interruption") return this.#requestStop("spot-interruption");
    this.#drain(
      "rebalance",
      this.options.config.fleet.capacityRebalance
        ? "rebalance recommendation: finishing the current job, then waiting for capacity rebalancing to terminate this instance"
        : "rebalance recommendation: finishing the current job, then terminating this instance without decrement (one replacement)",
    );
  }

  #onTargetLifecycle(state: string): void {
    this.emit("target_lifecycle", { state });
    if (state !== "Terminated") return;
    this.#terminatingSeen = true;
    this.#onTerminated?.();
    if (this.#stopReason) return;
    // A Spot reclaim: the instance is gone in two minutes whatever the hook says.
    if (this.#watcher?.interruptionSeen) return this.#requestStop("spot-interruption");
    const run = this.#current;
    if (!run) return this.#requestStop("instance-terminating");
    const o = this.options;
    const plan = planTerminateHook({
      heartbeatTimeoutSeconds: o.terminateHookTimeoutSeconds,
      jobTimeoutSeconds: o.jobTimeoutSeconds,
      phase: run.phase,
      processSeconds: run.processSeconds,
      marginSeconds: Math.min(o.terminateHookTimeoutSeconds / 2, 60) + o.killGraceSeconds,
    });
    if (plan.action === "hand-back") {
      this.#warn(`terminate hook: handing job ${run.jobId} back: ${plan.reason}`);
      return this.#requestStop("instance-terminating");
    }
    this.#drain("terminating", `terminate hook: finishing job ${run.jobId}: ${plan.reason}`);
    const self = o.instanceId;
    const fleet = this.#deps.fleet;
    if (fleet) {
      const beat = setInterval(() => {
        fleet.recordLifecycleHeartbeat(this.#hooks.terminate, self).then(
          () => this.emit("lifecycle_action", { hook: this.#hooks.terminate, result: "heartbeat", outcome: "completed" }),
          (error: Error) => {
            const gone = isNoLifecycleAction(error) && !isUnsupportedCall(error);
            this.emit("lifecycle_action", { hook: this.#hooks.terminate, result: "heartbeat", outcome: gone ? "no-action" : "failed", message: error.message });
            // The action ended (timed out, or completed elsewhere): the instance goes now, so the job goes back now.
            if (gone) this.#requestStop("instance-terminating");
          },
        );
      }, o.lifecycleHeartbeatSeconds * 1000);
      this.#hookTimers.push(beat);
    }
    const deadline = setTimeout(() => {
      this.#warn(`terminate hook: job ${run.jobId} still runs near the hook's end: handing it back`);
      this.#requestStop("instance-terminating");
    }, Math.min(plan.handBackAfterMs, 2 ** 31 - 1));
    this.#hookTimers.push(deadline);
  }

  #schedule(delayMs: number): void {
    this.#state = "waiting";
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
  }

  async #tick(): Promise<void> {
    this.#state = "polling";
    let delayMs = 0;
    try {
      // The last job's bookkeeping is done before protection is lifted and another job is taken.
      await this.#afterJob;
      await this.#whileIdle();
      if (this.#stopReason) return;
      if (this.#draining) {
        // Takes no work; looks again at the next IMDS poll's pace.
        delayMs = this.options.spotPollSeconds * 1000;
        return;
      }
      const got = await this.#receive();
      if (!got) return;
      if (this.#stopReason || this.#draining) {
        // Received as the stop came: it goes straight back.
        const { received, queue, kind } = got;
        const why = this.#stopReason ? `was stopping (${this.#stopReason})` : `was draining (${this.#draining})`;
        const returned = { jobId: received.message.jobId, messageId: received.messageId, receiveCount: received.receiveCount, queue: kind, why };
        try {
          await queue.release(received.receiptHandle, 0);
          this.emit("message_returned", returned);
        } catch (error) {
          this.emit("message_returned", { ...returned, failed: (error as Error).message });
        }
        return;
      }
      await this.#handle(got.received, got.queue, got.kind);
    } catch (error) {
      if (!this.#stopReason) {
        this.#warn(`poll failed: ${(error as Error).message}`, error as Error);
        delayMs = this.options.errorBackoffSeconds * 1000;
      }
    } finally {
      if (this.#unhealthy && !this.#stopReason) this.#requestStop("unhealthy");
      if (this.#stopReason) void this.#finish();
      else this.#schedule(delayMs);
    }
  }

  /**
   * Asks for one message: first the high-priority queue (a long poll of
   * `queue.highPriority.waitSeconds`, at least 1 s: a short poll asks only some of SQS's servers
   * and can miss a waiting message), then, when it had nothing, the queue this worker serves. So
   * every time a worker asks for work, a waiting high job is taken before any normal one.
   */
  async #receive(): Promise<{ received: ReceivedJob; queue: JobQueue; kind: JobQueueKind } | undefined> {
    const abort = new AbortController();
    this.#pollAbort = abort;
    const ask = (queue: JobQueue, waitSeconds: number) =>
      queue.receive({ waitSeconds, visibilitySeconds: this.options.visibilityTimeoutSeconds, signal: abort.signal });
    try {
      const { highQueue, queue } = this.#deps;
      if (highQueue) {
        const high = await ask(highQueue, this.options.config.queue.highPriority.waitSeconds);
        if (high) return { received: high, queue: highQueue, kind: "high" };
        if (abort.signal.aborted) return undefined;
      }
      const received = await ask(queue, this.options.receiveWaitSeconds);
      return received ? { received, queue, kind: this.#deps.queueKind ?? "normal" } : undefined;
    } catch (error) {
      if (abort.signal.aborted) return undefined;
      throw error;
    } finally {
      this.#pollAbort = undefined;
    }
  }

  /** Between jobs: scale-in protection off; what a drain leads to; the idle rule once idle long enough. */
  async #whileIdle(): Promise<void> {
    const fleet = this.#deps.fleet;
    if (this.#draining === "terminating") return this.#requestStop("instance-terminating");
    if (!fleet) {
      if (this.#draining === "rebalance") this.#requestStop("rebalance");
      return;
    }
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
    if (this.#draining === "rebalance" && this.options.config.fleet.capacityRebalance && !this.#watcher?.lifecycleServed) {
      // Capacity rebalancing terminates this instance once its replacement is in service; IMDS that does
      // not serve the target lifecycle state cannot say so, the group can.
      const decision = decideIdle(await fleet.describeGroup(), self);
      if (decision.action === "leave") return this.#requestStop("instance-terminating");
    }
    if (Date.now() < this.#nextTerminateAt) return;
    if (this.#draining === "rebalance" && !this.options.config.fleet.capacityRebalance) {
      // Capacity rebalancing is off: this worker asks for the one replacement itself, once idle.
      await this.#terminateSelf(false, "rebalance");
      return;
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
    if (await this.#terminateSelf(decision.decrement, "idle-terminated")) this.emit("idle_terminate", { decrement: decision.decrement });
  }

  /**
   * TerminateInstanceInAutoScalingGroup for this instance, then stop with `reason`. A refusal for the
   * minimum size (another worker's decrement got there first) means stay; any other refusal
   * (AccessDenied, throttling) is logged and asked again after a doubling, capped wait, while the
   * worker keeps serving, so a missing permission never turns into a call every few seconds.
   */
  async #terminateSelf(decrement: boolean, reason: "idle-terminated" | "rebalance"): Promise<boolean> {
    const self = this.options.instanceId;
    try {
      await this.#deps.fleet!.terminate(self, decrement);
    } catch (error) {
      const e = error as Error;
      if (decrement && e.name === "ValidationError" && /min(imum)? ?size/i.test(e.message)) {
        this.emit("idle_check", {
          idleSeconds: (Date.now() - this.#idleSince) / 1000,
          decision: { action: "stay", reason: `Auto Scaling refused: ${e.message}` },
        });
        this.#idleSince = Date.now();
        return false;
      }
      const o = this.options;
      const attempt = ++this.#terminateRefusals;
      const retryInSeconds = Math.min(o.terminateRetryMaxSeconds, o.terminateRetrySeconds * 2 ** (attempt - 1));
      this.#nextTerminateAt = Date.now() + retryInSeconds * 1000;
      this.emit("terminate_refused", { error: `${e.name}: ${e.message}`, retryInSeconds, attempt });
      return false;
    }
    this.#terminateRefusals = 0;
    this.#requestStop(reason);
    return true;
  }

  async #handle(received: ReceivedJob, queue: JobQueue, kind: JobQueueKind): Promise<void> {
    const { fleet, store, telemetry } = this.#deps;
    this.emit("message_received", {
      jobId: received.message.jobId,
      messageId: received.messageId,
      receiveCount: received.receiveCount,
      receiptHandle: received.receiptHandle,
      queue: kind,
    });
    // Before the record says RUNNING (the claim waits for it, reading the record meanwhile): a
    // scale-in must never pick a working instance.
    const protection = fleet
      ? fleet.protect(this.options.instanceId, true).then(
          () => {
            this.#protected = true;
            this.emit("protection_changed", { protectedFromScaleIn: true });
          },
          async (error: Error) => {
            await queue.release(received.receiptHandle, 0).catch(() => undefined);
            throw new Error(`could not protect the instance from scale-in, so job ${received.message.jobId} was handed back: ${error.message}`, { cause: error });
          },
        )
      : undefined;
    const run = new JobRun(received, {
      ...(protection ? { protection } : {}),
      queue,
      store,
      transfer: this.#transfer,
      telemetry,
      options: this.options,
      emit: (event, ...args) => (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args),
      onFailure: async (jobId, failure, history) => {
        const threshold = this.options.config.fleet.unhealthyAfterFailures;
        const verdict = await this.#breaker.onFailure(jobId, failure.code, failure.message, {
          failedElsewhere: failedElsewhere(history, this.options.instanceId, failure.code),
        });
        this.emit("instance_fault", {
          jobId,
          code: failure.code,
          fault: verdict.fault,
          ...(verdict.repeated ? { repeated: true as const } : {}),
          streak: verdict.streak,
          threshold,
          broken: verdict.broken,
          ...(verdict.reason ? { reason: verdict.reason } : {}),
        });
        if (verdict.broken) this.#unhealthy ??= verdict.reason;
        return verdict;
      },
      onSuccess: () => this.#breaker.onSuccess(),
      onHandBack: (jobId, to) => this.#capacityAfterHandBack(jobId, to),
      queueKind: kind,
      routeHandBack: (interruptions) => this.#routeHandBack(kind, queue, interruptions),
    });
    this.#current = run;
    if (this.#stopReason) run.interrupt(`worker stopping: ${this.#stopReason}`);
    try {
      await run.run();
    } finally {
      this.#current = undefined;
      this.#idleSince = Date.now();
      for (const t of this.#hookTimers.splice(0)) clearTimeout(t);
      // Metrics, the log flush, the folders, events and the result file follow the message's settlement.
      this.#afterJob = Promise.all([run.settled(), store.settled?.()]).then(
        () => void this.emit("job_settled", { jobId: run.jobId, attempt: run.attempt }),
        (error: Error) => this.#warn(`after job ${run.jobId}: ${error.message}`, error),
      );
    }
  }

  async #preflight(trigger: "boot" | "after-failure"): Promise<PreflightReport> {
    const o = this.options;
    const report = this.#deps.preflight ? await this.#deps.preflight() : await runPreflight(o.config, { workRoot: o.workRoot, platform: o.platform });
    this.emit("preflight", { ok: report.ok, trigger, checks: report.checks });
    return report;
  }

  /**
   * CompleteLifecycleAction for this instance. A refusal that means there is nothing to complete
   * (no such hook on the group, the instance not waiting on it, an endpoint without the call) is
   * reported as `no-action` and is not an error: the worker runs on groups without hooks.
   */
  async #completeLifecycle(hook: string, result: LifecycleActionResult): Promise<"completed" | "no-action" | "failed"> {
    const fleet = this.#deps.fleet;
    if (!fleet) return "no-action";
    try {
      await fleet.completeLifecycleAction(hook, this.options.instanceId, result);
      this.emit("lifecycle_action", { hook, result, outcome: "completed" });
      return "completed";
    } catch (error) {
      const e = error as Error;
      const outcome = isNoLifecycleAction(e) ? "no-action" : "failed";
      this.emit("lifecycle_action", { hook, result, outcome, message: `${e.name}: ${e.message}` });
      return outcome;
    }
  }

  /**
   * Completes the launch hook CONTINUE before the first poll. A call that fails for another reason
   * (throttling, a network blip) is tried again with a doubling wait, within the hook's timeout:
   * taking work before the group counts the instance would risk an ABANDON mid-job.
   */
  async #completeLaunchContinue(): Promise<void> {
    const deadline = Date.now() + this.options.config.fleet.lifecycleHooks.launchTimeoutSeconds * 1000;
    for (let attempt = 0; !this.#stopReason; attempt++) {
      if ((await this.#completeLifecycle(this.#hooks.launch, "CONTINUE")) !== "failed") return;
      const waitMs = Math.min(30_000, Math.max(100, this.options.errorBackoffSeconds * 1000) * 2 ** attempt);
      if (Date.now() + waitMs > deadline) {
        this.#warn(`could not complete the launch hook ${this.#hooks.launch} within its timeout: polling anyway`);
        return;
      }
      await this.#wait(waitMs, this.#stopping.signal);
    }
  }

  /**
   * A handed-back job gets capacity now (issue 9 §3), through the same coalesced fast path as a
   * submit: the group replaces this instance anyway when it leaves without decrement, but not when
   * it decremented desired capacity or launches are suspended. Never throws.
   */
  async #capacityAfterHandBack(jobId: string, to: JobQueueKind): Promise<void> {
    // A job moved to the On-Demand queue needs an On-Demand instance; any other, one of this group's.
    const moved = to === "ondemand" && (this.#deps.queueKind ?? "normal") !== "ondemand";
    const fleet = moved ? this.#deps.onDemandFleet : this.#deps.fleet;
    if (!fleet) return;
    const backlog = moved ? this.#deps.onDemandQueue! : this.#servedBacklog();
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    try {
      const outcome = await raiseCapacityAfterHandBack({ queue: backlog, fleet, config: this.options.config }, log, { jobId });
      if (!outcome) return;
      if ("failed" in outcome) this.emit("hand_back_capacity", { jobId, wanted: outcome.wanted, failed: outcome.reason });
      else if ("coalesced" in outcome) this.emit("hand_back_capacity", { jobId });
      else this.emit("hand_back_capacity", { jobId, wanted: outcome.wanted, before: outcome.before, after: outcome.after });
    } catch (error) {
      this.emit("hand_back_capacity", { jobId, failed: (error as Error).message });
    }
  }

  /** The backlog this worker's group serves: its queue and the high queue, counted as one (the API's fast path counts the same). */
  #servedBacklog(): Pick<JobQueue, "depth"> {
    const { queue, highQueue } = this.#deps;
    if (!highQueue) return queue;
    return { depth: async () => sumQueueDepths(await Promise.all([queue.depth(), highQueue.depth()])) };
  }

  /** Where a hand-back of a job from the `from` queue sends it (core/priority.ts `handBackRoute`). */
  #routeHandBack(from: JobQueueKind, fromQueue: JobQueue, interruptions: number): { kind: JobQueueKind; queue: JobQueue; reason: string } {
    const fallback = this.options.config.scaling.onDemandFallback;
    const { onDemandQueue } = this.#deps;
    const route = handBackRoute({
      from,
      interruptions,
      ...(fallback ? { fallback: { afterInterruptions: fallback.afterInterruptions } } : {}),
      onDemandQueue: onDemandQueue !== undefined,
    });
    const queue = route.queue === from ? fromQueue : route.queue === "ondemand" ? onDemandQueue! : route.queue === "high" ? this.#deps.highQueue! : this.#deps.queue;
    return { kind: route.queue, queue, reason: route.reason };
  }

  async #finish(): Promise<void> {
    this.#finishing ??= (async () => {
      const reason = this.#stopReason ?? "shutdown";
      this.#state = "stopped";
      clearTimeout(this.#timer);
      // Nothing a job left running is lost: it completes before the lifecycle hook and the stop.
      await this.#afterJob;
      for (const t of this.#hookTimers.splice(0)) clearTimeout(t);
      let askedToTerminate = reason === "idle-terminated" || reason === "rebalance";
      if (reason === "unhealthy") askedToTerminate = await this.#leaveUnhealthy();
      // This worker asked the group to terminate the instance: its terminate hook (if any) is completed now, not at its timeout.
      if (askedToTerminate && this.#deps.fleet) await this.#awaitTerminated();
      if (this.#terminatingSeen || reason === "instance-terminating") await this.#completeLifecycle(this.#hooks.terminate, "CONTINUE");
      await this.#watcher?.stop();
      this.emit("stopped", { reason });
      this.#resolveDone(reason);
    })();
    return this.#finishing;
  }

  /** Marks the instance Unhealthy (the group replaces it); without that call, terminates it without decrement. True when the group was asked to. */
  async #leaveUnhealthy(): Promise<boolean> {
    const reason = this.#unhealthy ?? "judged broken";
    const fleet = this.#deps.fleet;
    const self = this.options.instanceId;
    if (this.options.config.fleet.debugKeepFailedInstances) {
      this.emit("instance_unhealthy", { reason, marked: "kept" });
      return false;
    }
    if (!fleet) {
      this.emit("instance_unhealthy", { reason, marked: "none" });
      return false;
    }
    try {
      await fleet.setHealth(self, "Unhealthy");
      this.emit("instance_unhealthy", { reason, marked: "health" });
      return true;
    } catch (error) {
      this.#warn(`SetInstanceHealth Unhealthy failed (${(error as Error).message}): terminating without decrement instead`, error as Error);
    }
    try {
      await fleet.terminate(self, false);
      this.emit("instance_unhealthy", { reason, marked: "terminate" });
      return true;
    } catch (error) {
      this.#warn(`could not leave the group either: ${(error as Error).message}`, error as Error);
      this.emit("instance_unhealthy", { reason, marked: "none" });
      return false;
    }
  }

  /** Waits (bounded) for IMDS to show the target lifecycle state Terminated, when IMDS serves it at all. */
  async #awaitTerminated(): Promise<void> {
    if (this.#terminatingSeen || !this.#watcher?.lifecycleServed) return;
    const seen = new Promise<void>((resolve) => (this.#onTerminated = resolve));
    const waited = await Promise.race([seen.then(() => true), this.#wait(this.options.lifecycleWaitSeconds * 1000, this.#leaving.signal).then(() => false)]);
    this.#onTerminated = undefined;
    if (!waited && !this.#terminatingSeen)
      this.#warn(`IMDS did not show the target lifecycle state Terminated within ${this.options.lifecycleWaitSeconds} s: leaving the terminate hook (if any) to its timeout`);
  }

  /** Resolves after `ms`, or at once when `signal` aborts. */
  #wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }

  #warn(message: string, error?: Error): void {
    this.emit("warning", error ? { message, error } : { message });
  }
}
