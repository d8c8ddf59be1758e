import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { jobFolders, processorFolders, renderArgs, renderConfigJson, type JobFolders } from "../core/config-json.ts";
import { StaleTransitionError } from "../core/errors.ts";
import { retryDelaySeconds } from "../core/fleet-config.ts";
import { LEGACY_DISPATCH_ID, matchDispatch, newDispatchId, type AttemptRecord, type JobProgress, type JobRecord, type JobTimings } from "../core/job.ts";
import { isTerminal, type JobState } from "../core/job-state.ts";
import type { JobQueue, JobStore, ReceivedJob } from "../core/ports.ts";
import { PATH_KEYS } from "../core/request.ts";
import { formatS3Uri, parseS3Uri, type S3Location } from "../core/s3-uri.ts";
import { JobFailure, StopRequest } from "./errors.ts";
import type { JobPhase, WorkerEvents } from "./events.ts";
import { Heartbeat } from "./heartbeat.ts";
import { ContainerRunner } from "./container.ts";
import type { FaultVerdict } from "./instance-health.ts";
import { recordProcessor } from "./leftovers.ts";
import { UnsafeKeyError } from "./object-paths.ts";
import type { ResolvedWorkerOptions } from "./options.ts";
import { runProcessor, type OutputStream, type ProcessorOutcome } from "./processor.ts";
import { judgeProcessorOutcome } from "./processor-outcome.ts";
import type { JobLog, JobMetrics, Telemetry } from "./telemetry/telemetry.ts";
import { TransferError, type FolderTransfer, type TransferProgress } from "./transfer.ts";

/** What one job run needs from the worker. */
export interface JobRunContext {
  queue: JobQueue;
  store: JobStore;
  transfer: FolderTransfer;
  telemetry: Telemetry;
  options: ResolvedWorkerOptions;
  emit: <K extends keyof WorkerEvents>(event: K, ...args: WorkerEvents[K]) => void;
  /**
   * The instance breaker's view of a failed attempt, asked before the failure is written down: once
   * the instance is judged broken the attempt is handed back instead of charged.
   */
  onFailure?: (jobId: string, failure: JobFailure) => Promise<FaultVerdict>;
  /** An attempt succeeded on this instance (ends the breaker's streak). */
  onSuccess?: () => void;
  /** The job was handed back (its fresh message is in the queue): capacity for it without waiting for the alarm. Never throws. */
  onHandBack?: (jobId: string) => Promise<void>;
}

/** Attempts that count against `jobs.maxAttempts`: failed ones and lost ones (the worker died). Interruptions, cancels and attempts before an operator's redrive do not. */
export function failedAttempts(history: readonly AttemptRecord[] | undefined): number {
  return (history ?? []).filter((a) => (a.outcome === "FAILED" || a.outcome === "LOST") && !a.redriven).length;
}

/** How many stderr lines a failure message quotes. */
const STDERR_TAIL = 5;

/** How an attempt ended, before it is written down. */
type Ending =
  | { kind: "succeeded"; patch: Partial<JobRecord> }
  | { kind: "failed"; failure: JobFailure }
  | { kind: "interrupted"; why: string; /** Handed back because the instance was judged broken: INSTANCE_FAULT in the history. */ instanceFault?: boolean }
  | { kind: "cancelled" }
  | { kind: "lost"; why: string };

/**
 * One received message, from claiming its job to deleting (or handing back) the message:
 * claim the record (QUEUED→RUNNING, or RUNNING→RUNNING over a lost attempt) with a conditional
 * write, heartbeat, download, config.json, processor, upload, and the final state. Every write is
 * conditional on this attempt, so a stale worker loses and touches nothing. A message whose
 * dispatch token is not the record's is a stale copy and is deleted unread (CONTRACTS §5); a
 * hand-back replaces the message with a fresh one (record first, then send, then delete), so it
 * uses neither an attempt nor an SQS receive.
 */
export class JobRun {
  readonly jobId: string;
  readonly #received: ReceivedJob;
  readonly #c: JobRunContext;
  readonly #receivedAt = Date.now();
  readonly #abort = new AbortController();
  #stop: StopRequest | undefined;
  /** Past this point an interruption no longer aborts: the outputs are up, only the bookkeeping is left. */
  #committed = false;
  #attempt = 0;
  #interruptions = 0;
  #history: AttemptRecord[] = [];
  #startedAt = "";
  #log: JobLog | undefined;
  #progress: JobProgress | undefined;
  #timings: JobTimings = {};
  #bytes: { in?: number; out?: number } = {};
  #heartbeat: Heartbeat | undefined;
  /** The phase the record shows (the claim wrote "download"). */
  #writtenPhase: JobPhase | undefined;
  #processStartedAt: number | undefined;
  readonly #stderrTail: string[] = [];
  /** With processor.container: the runner and the image reference #prepare pulled. */
  #container: { runner: ContainerRunner; image: string } | undefined;

  constructor(received: ReceivedJob, context: JobRunContext) {
    this.#received = received;
    this.jobId = received.message.jobId;
    this.#c = context;
  }

  /** The attempt number once claimed (0 before). */
  get attempt(): number {
    return this.#attempt;
  }

  /** The phase the attempt is in (undefined before the claim). */
  get phase(): JobPhase | undefined {
    return this.#progress?.phase;
  }

  /** Seconds the processor has run (0 before it started). */
  get processSeconds(): number {
    return this.#processStartedAt === undefined ? 0 : (Date.now() - this.#processStartedAt) / 1000;
  }

  /**
   * Hands the job back (Spot notice, shutdown): the processor is killed, the record goes back to
   * QUEUED with `interruptions + 1` and the message is visible again at once. Ignored once the
   * outputs are uploaded, since finishing is then quicker than starting over.
   */
  interrupt(why: string): void {
    if (!this.#committed) this.#requestStop(new StopRequest("interrupt", why));
  }

  /** Runs the job to its end; rejects only when the job's record cannot be read at all. */
  async run(): Promise<void> {
    const record = await this.#c.store.get(this.jobId);
    if (!(await this.#claim(record))) return;
    const ending = await this.#execute();
    await this.#finish(ending);
  }

  #requestStop(request: StopRequest): void {
    if (this.#stop) return;
    this.#stop = request;
    this.#abort.abort(request);
  }

  /** Takes the job for this attempt, or deals with a message that needs no run. True when the run goes ahead. */
  async #claim(record: JobRecord | undefined): Promise<boolean> {
    const { queue, store, options, emit } = this.#c;
    const r = this.#received;
    if (!record) {
      await queue.deadLetter(r, `job ${this.jobId} has no record in the jobs table`);
      emit("message_discarded", { jobId: this.jobId, reason: "no job record: sent to the DLQ" });
      return false;
    }
    const token = r.message.dispatchId;
    const match = matchDispatch(token, record);
    if (match === "stale") {
      // A copy whose job moved on (a hand-back's old message whose delete failed, a duplicate): the live one is elsewhere.
      await queue.delete(r.receiptHandle);
      emit("message_discarded", {
        jobId: this.jobId,
        state: record.state,
        reason: `a stale copy: its dispatch token ${token ?? "(none)"} is not the job's ${record.dispatchId}; deleted`,
      });
      return false;
    }
    if (record.state === "FAILED") {
      // The DLQ step of the failing attempt did not happen: do it now.
      await queue.deadLetter(r, `${record.error?.code ?? "FAILED"}: ${record.error?.message ?? "the job failed"}`);
      emit("message_discarded", { jobId: this.jobId, state: record.state, reason: "the job is already FAILED: sent to the DLQ" });
      return false;
    }
    if (isTerminal(record.state)) {
      await queue.delete(r.receiptHandle);
      emit("message_discarded", { jobId: this.jobId, state: record.state, reason: `the job is already ${record.state}` });
      return false;
    }
    if (record.state === "CANCELLING") {
      // Its worker was lost while cancelling: nothing runs any more, so the cancel is complete.
      this.#attempt = record.attempts;
      this.#history = [...(record.attemptHistory ?? [])];
      await this.#record({ kind: "cancelled" });
      return false;
    }

    const now = new Date();
    const history = [...(record.attemptHistory ?? [])];
    const takeover = record.state === "RUNNING";
    if (takeover)
      history.push({
        attempt: record.attempts,
        ...(record.instanceId ? { instanceId: record.instanceId } : {}),
        ...(record.startedAt ? { startedAt: record.startedAt } : {}),
        finishedAt: now.toISOString(),
        outcome: "LOST",
        error: { code: "WORKER_LOST", message: `the worker${record.instanceId ? ` on ${record.instanceId}` : ""} stopped before finishing; its message came back` },
        ...(record.logs ? { logs: record.logs } : {}),
      });
    // Conditional on the token too: a claim through the replacement message races an adoption of the replaced one.
    const expected = { state: record.state, attempts: record.attempts, ...(record.dispatchId !== undefined ? { dispatchId: record.dispatchId } : {}) };
    if (failedAttempts(history) >= options.config.jobs.maxAttempts) {
      // The lost attempt was the last one allowed.
      this.#attempt = record.attempts;
      this.#history = history.slice(0, -1);
      await this.#writeFailed(expected, history, new JobFailure("WORKER_LOST", history.at(-1)!.error!.message, { retryable: false }));
      return false;
    }

    const attempt = record.attempts + 1;
    const lastEnd = history.reduce((t, a) => Math.max(t, a.finishedAt ? Date.parse(a.finishedAt) : 0), Date.parse(record.submittedAt));
    this.#timings = { queueWaitMs: Math.max(0, this.#receivedAt - lastEnd) };
    const log = await this.#c.telemetry.openJobLog(this.jobId, attempt);
    this.#progress = { phase: "download", updatedAt: now.toISOString() };
    try {
      await store.transition(this.jobId, expected, "RUNNING", {
        attempts: attempt,
        instanceId: options.instanceId,
        startedAt: now.toISOString(),
        attemptHistory: history,
        logs: log.location,
        timings: this.#timings,
        progress: this.#progress,
        error: undefined,
        exitCode: undefined,
        bytes: undefined,
        outputs: undefined,
        // This message is the job's live one from now on; an adopted one takes the place of the replacement.
        ...(token !== undefined ? { dispatchId: token } : match === "adopt" ? { dispatchId: undefined } : {}),
        previousDispatchId: undefined,
      });
    } catch (err) {
      await log.close();
      if (!(err instanceof StaleTransitionError)) throw err;
      // Someone moved the job between our read and our write: look again once.
      const current = await store.get(this.jobId);
      if (current && (isTerminal(current.state) || current.state === "CANCELLING" || matchDispatch(token, current) === "stale")) return this.#claim(current);
      emit("job_lost", { jobId: this.jobId, attempt, reason: `another worker claimed the job first: ${err.message}` });
      return false;
    }
    this.#attempt = attempt;
    this.#interruptions = record.interruptions ?? 0;
    this.#history = history;
    this.#startedAt = now.toISOString();
    this.#log = log;
    this.#writtenPhase = "download";
    emit("job_started", { jobId: this.jobId, attempt, takeover, logs: log.location, ...(match === "adopt" ? { adopted: true as const } : {}) });
    this.#say(
      `attempt ${attempt} of job ${this.jobId} on ${options.instanceId}${takeover ? ` (taking over from lost attempt ${record.attempts})` : ""}${
        match === "adopt" ? " (through the message a hand-back replaced: its replacement may never have been sent)" : ""
      }`,
    );
    return true;
  }

  /** Download, config.json, processor, upload. Returns how it ended; never throws. */
  async #execute(): Promise<Ending> {
    const { options, queue, store, transfer, emit } = this.#c;
    const folders = jobFolders(options.platform, options.workRoot, this.jobId, this.#attempt);
    const heartbeat = new Heartbeat(queue, store, {
      jobId: this.jobId,
      attempt: this.#attempt,
      receiptHandle: this.#received.receiptHandle,
      receivedAt: this.#receivedAt,
      visibilitySeconds: options.visibilityTimeoutSeconds,
      intervalMs: options.heartbeatSeconds * 1000,
      progress: () => this.#progress,
      onStop: (request) => this.#requestStop(request),
      onWarning: (error) => emit("warning", { message: `heartbeat of job ${this.jobId}: ${error.message}`, error, jobId: this.jobId }),
    });
    heartbeat.start();
    this.#heartbeat = heartbeat;
    const signal = this.#abort.signal;
    let ending: Ending;
    try {
      const request = this.#received.message.request;
      const source = location(request[PATH_KEYS.source], PATH_KEYS.source);
      const target = location(request[PATH_KEYS.target], PATH_KEYS.target);

      this.#phase("download");
      this.#say(`downloading ${formatS3Uri(source)}/ to ${folders.source}`);
      let t = Date.now();
      const down = await transfer.download({
        bucket: source.bucket,
        prefix: source.prefix,
        dir: folders.source,
        platform: options.platform,
        signal,
        onProgress: (p) => this.#onProgress(p),
      });
      this.#timings.downloadMs = Date.now() - t;
      this.#bytes.in = down.bytes;
      this.#say(`downloaded ${down.objects} objects, ${down.bytes} bytes in ${this.#timings.downloadMs} ms`);

      await this.#prepare(folders);
      this.#phase("process");
      const failure = await this.#process(folders);
      if (failure) throw failure;

      this.#phase("upload");
      this.#say(`uploading ${folders.target} to ${formatS3Uri(target)}/`);
      t = Date.now();
      const up = await transfer.upload({
        dir: folders.target,
        bucket: target.bucket,
        prefix: target.prefix,
        signal,
        onProgress: (p) => this.#onProgress(p),
      });
      this.#committed = true;
      this.#timings.uploadMs = Date.now() - t;
      this.#bytes.out = up.bytes;
      this.#say(`uploaded ${up.objects} objects, ${up.bytes} bytes in ${this.#timings.uploadMs} ms`);
      ending = {
        kind: "succeeded",
        patch: { exitCode: 0, outputs: { target: formatS3Uri(target), objects: up.objects } },
      };
    } catch (err) {
      ending = this.#stop ? this.#stopEnding(this.#stop) : { kind: "failed", failure: asJobFailure(err) };
    } finally {
      await heartbeat.stop();
      this.#heartbeat = undefined;
      await rm(folders.root, { recursive: true, force: true, maxRetries: 3 }).catch((error: Error) =>
        emit("warning", { message: `could not remove ${folders.root}: ${error.message}`, error, jobId: this.jobId }),
      );
    }
    // A cancel or loss noticed by the last beat, after the work was done, still decides.
    if (this.#stop && this.#stop.kind !== "interrupt" && ending.kind === "succeeded") ending = this.#stopEnding(this.#stop);
    return ending;
  }

  /**
   * Writes config.json (the request with the folder paths the processor sees: the instance's, or
   * the container's mount points) into the source folder, and makes the target folder. With
   * processor.container it then removes containers a crashed predecessor left and pulls the image
   * (logged in to ECR); the pull's time counts as download time (the record shows phase
   * "download" meanwhile), and a pull that fails is IMAGE_PULL: retried, the instance's fault.
   */
  async #prepare(folders: JobFolders): Promise<void> {
    const container = this.#c.options.config.processor.container;
    if (existsSync(folders.config)) this.#say(`the source folder has its own config.json: it is replaced by this job's`);
    await writeFile(folders.config, renderConfigJson(this.#received.message.request, processorFolders(folders, container !== undefined)));
    await mkdir(folders.target, { recursive: true });
    if (!container) return;

    const { options, emit } = this.#c;
    const runner = new ContainerRunner({ profile: container, workRoot: options.workRoot });
    const left = await runner.removeLeftovers(options.instanceId).catch((error: Error) => {
      emit("warning", { message: `could not look for leftover containers: ${error.message}`, error, jobId: this.jobId });
      return [];
    });
    if (left.length) this.#say(`removed the container(s) an earlier worker on this instance left running: ${left.join(", ")}`);
    this.#say(`pulling ${container.image}`);
    const t = Date.now();
    let image: string;
    try {
      ({ image } = await runner.pull({
        timeoutMs: container.pullTimeoutSeconds * 1000,
        signal: this.#abort.signal,
        onLine: (line) => this.#say(`docker pull: ${line}`),
      }));
    } catch (err) {
      if (this.#stop) throw this.#stop;
      throw new JobFailure("IMAGE_PULL", `processor.container.image ${container.image}: ${(err as Error).message}`, { retryable: true, cause: err });
    }
    const pullMs = Date.now() - t;
    this.#timings.downloadMs = (this.#timings.downloadMs ?? 0) + pullMs;
    this.#say(`pulled ${image} in ${pullMs} ms (counted in the download time)`);
    this.#container = { runner, image };
  }

  /**
   * Runs the processor (a command on the instance, or the image as `docker run` with the job's
   * folders mounted: worker/container.ts); returns its failure, if any. Throws the stop request
   * when the worker aborted it (a container is stopped first: `docker stop`, then `docker kill`).
   */
  async #process(folders: JobFolders): Promise<JobFailure | undefined> {
    const { options, emit } = this.#c;
    const p = options.config.processor;
    const seen = processorFolders(folders, this.#container !== undefined);
    const args = renderArgs(p.args, { config: seen.config, source: seen.source, target: seen.target, jobId: this.jobId });
    const env = { ...p.env, SPOTQ_JOB_ID: this.jobId, SPOTQ_ATTEMPT: String(this.#attempt) };
    const common = {
      timeoutMs: options.jobTimeoutSeconds * 1000,
      killGraceMs: options.killGraceSeconds * 1000,
      signal: this.#abort.signal,
      onSpawn: (pid: number) => {
        this.#processStartedAt = Date.now();
        void recordProcessor(folders.root, pid).catch(() => undefined);
        emit("processor_started", { jobId: this.jobId, attempt: this.#attempt, pid });
      },
      onLine: (stream: OutputStream, line: string) => {
        this.#log?.write(stream, line);
        if (stream === "stderr") {
          this.#stderrTail.push(line.length > 300 ? `${line.slice(0, 300)}...` : line);
          if (this.#stderrTail.length > STDERR_TAIL) this.#stderrTail.shift();
        }
        emit("processor_output", { jobId: this.jobId, attempt: this.#attempt, stream, line });
      },
    };
    let outcome: ProcessorOutcome;
    if (this.#container)
      outcome = await this.#container.runner.run({
        ...common,
        jobId: this.jobId,
        attempt: this.#attempt,
        instanceId: options.instanceId,
        folders,
        image: this.#container.image,
        args,
        env,
        onNote: (line) => this.#say(line),
      });
    else {
      this.#say(`running ${p.command} ${args.map((a) => JSON.stringify(a)).join(" ")}`);
      outcome = await runProcessor({ ...common, command: p.command, args, cwd: folders.root, env, platform: options.platform });
    }
    this.#timings.processMs = outcome.durationMs;
    this.#say(
      outcome.startError
        ? `the processor did not start: ${outcome.startError.message}`
        : `the processor ended after ${outcome.durationMs} ms: ${outcome.exitCode !== null ? `exit code ${outcome.exitCode}` : `signal ${outcome.signal}`}${outcome.killed ? ` (killed: ${outcome.killed})` : ""}`,
    );
    if (outcome.killed === "aborted" && this.#stop) throw this.#stop;
    return judgeProcessorOutcome(options.platform, outcome, {
      invalidRequestExitCodes: options.config.jobs.invalidRequestExitCodes,
      timeoutSeconds: options.jobTimeoutSeconds,
      lastStderr: this.#stderrTail,
      container: this.#container !== undefined,
    });
  }

  #stopEnding(stop: StopRequest): Ending {
    if (stop.kind === "interrupt") return { kind: "interrupted", why: stop.message };
    if (stop.kind === "cancel") return { kind: "cancelled" };
    return { kind: "lost", why: stop.message };
  }

  /** Writes the ending down and settles the message, then emits, logs and counts it. */
  async #finish(ending: Ending): Promise<void> {
    try {
      await this.#record(ending);
    } finally {
      await this.#log?.close();
    }
  }

  async #record(ending: Ending): Promise<void> {
    const { queue, store, options, emit } = this.#c;
    const r = this.#received;
    const mine = { state: "RUNNING" as JobState, attempts: this.#attempt };
    const now = new Date().toISOString();
    const entry = (outcome: AttemptRecord["outcome"], extra: Partial<AttemptRecord> = {}): AttemptRecord => ({
      attempt: this.#attempt,
      instanceId: options.instanceId,
      ...(this.#startedAt ? { startedAt: this.#startedAt } : {}),
      finishedAt: now,
      outcome,
      ...(this.#log ? { logs: this.#log.location } : {}),
      ...extra,
    });
    try {
      switch (ending.kind) {
        case "succeeded": {
          const record = await store.transition(this.jobId, mine, "SUCCEEDED", {
            ...ending.patch,
            timings: this.#timings,
            bytes: this.#bytes,
            attemptHistory: [...this.#history, entry("SUCCEEDED", { exitCode: 0 })],
          });
          this.#say("succeeded");
          this.#c.onSuccess?.();
          // Only after SUCCEEDED is written: a message deleted earlier would lose the job if the write failed.
          await queue.delete(r.receiptHandle).catch((error: Error) => this.#settleWarning("delete the message of", error));
          await this.#metrics("succeeded");
          emit("job_succeeded", { jobId: this.jobId, attempt: this.#attempt, record });
          return;
        }
        case "failed": {
          const f = ending.failure;
          const verdict = await this.#c.onFailure?.(this.jobId, f);
          if (verdict?.broken && verdict.fault !== "request") {
            // A broken machine must not burn the job's attempts: hand it back like an interruption.
            return await this.#record({
              kind: "interrupted",
              why: `${f.code} on an instance judged broken (${verdict.reason}); not counted against the job: ${f.message}`.slice(0, 2000),
              instanceFault: true,
            });
          }
          const history = [...this.#history, entry("FAILED", { error: f.toJobError(), ...(f.exitCode !== undefined ? { exitCode: f.exitCode } : {}) })];
          this.#say(`attempt failed: ${f.code}: ${f.message}`);
          const failed = failedAttempts(history);
          if (f.retryable && failed < options.config.jobs.maxAttempts) {
            const delaySeconds = retryDelaySeconds(options.config, failed);
            await store.transition(this.jobId, mine, "QUEUED", {
              error: f.toJobError(),
              exitCode: f.exitCode,
              timings: this.#timings,
              attemptHistory: history,
              progress: undefined,
            });
            await queue.release(r.receiptHandle, delaySeconds).catch((error: Error) => this.#settleWarning("hand back for its retry", error));
            this.#say(`retrying in ${delaySeconds} s (${failed} of ${options.config.jobs.maxAttempts} attempts failed)`);
            await this.#metrics("retried");
            emit("job_retried", { jobId: this.jobId, attempt: this.#attempt, error: f.toJobError(), delaySeconds });
            return;
          }
          await this.#writeFailed(mine, history, f);
          return;
        }
        case "interrupted": {
          await this.#handBack(ending, entry);
          await this.#c.onHandBack?.(this.jobId);
          await this.#metrics("interrupted");
          emit("job_interrupted", { jobId: this.jobId, attempt: this.#attempt, reason: ending.why, ...(ending.instanceFault ? { instanceFault: true as const } : {}) });
          return;
        }
        case "cancelled": {
          await store.transition(this.jobId, { state: "CANCELLING", attempts: this.#attempt }, "CANCELLED", {
            attemptHistory: [...this.#history, entry("CANCELLED")],
            // What this attempt did before the cancel stays on the record.
            ...(this.#startedAt ? { timings: this.#timings, bytes: this.#bytes } : {}),
          });
          await queue.delete(r.receiptHandle).catch((error: Error) => this.#settleWarning("delete the message of", error));
          this.#say("cancelled");
          await this.#metrics("cancelled");
          emit("job_cancelled", { jobId: this.jobId, attempt: this.#attempt });
          return;
        }
        case "lost":
          this.#say(`stopped: ${ending.why}; the job belongs to another attempt now`);
          emit("job_lost", { jobId: this.jobId, attempt: this.#attempt, reason: ending.why });
          return;
      }
    } catch (err) {
      if (!(err instanceof StaleTransitionError) || ending.kind === "lost") throw err;
      // Our write lost: a cancel at this attempt turns into the cancel; anything else means another attempt owns the job.
      const current = await store.get(this.jobId);
      if (current?.state === "CANCELLING" && current.attempts === this.#attempt && ending.kind !== "cancelled")
        return this.#record({ kind: "cancelled" });
      return this.#record({ kind: "lost", why: err.message });
    }
  }

  /**
   * Puts the job back into the queue without using an attempt or an SQS receive (CONTRACTS §5):
   * 1. the record goes RUNNING→QUEUED (conditional on this attempt) naming a fresh dispatch token,
   *    and the token of this message as the one replaced;
   * 2. a fresh message with the fresh token is sent (its receive count starts again at 1);
   * 3. this message is deleted.
   * The order is load-bearing. The record comes first so a worker that receives the fresh message
   * at once finds it QUEUED under that token (sent first, the message would be deleted as a stale
   * copy by a quick receiver and the job lost). A crash or a failed send after step 1 leaves this
   * message as the way back: it returns (released at once when the send failed, after its
   * visibility timeout after a crash) and its receiver adopts it. A failed delete leaves a copy
   * that is deleted as stale, or adopted if the fresh message was not claimed yet: one runs.
   */
  async #handBack(ending: Extract<Ending, { kind: "interrupted" }>, entry: (outcome: AttemptRecord["outcome"], extra?: Partial<AttemptRecord>) => AttemptRecord): Promise<void> {
    const { queue, store } = this.#c;
    const r = this.#received;
    const dispatchId = newDispatchId();
    await store.transition(this.jobId, { state: "RUNNING", attempts: this.#attempt }, "QUEUED", {
      interruptions: this.#interruptions + 1,
      timings: this.#timings,
      attemptHistory: [...this.#history, entry("INTERRUPTED", { error: { code: ending.instanceFault ? "INSTANCE_FAULT" : "INTERRUPTED", message: ending.why } })],
      progress: undefined,
      dispatchId,
      previousDispatchId: r.message.dispatchId ?? LEGACY_DISPATCH_ID,
    });
    try {
      await queue.send({ ...r.message, dispatchId });
    } catch (error) {
      // The record names this message as the replaced one: visible at once, its next receiver adopts it.
      await queue.release(r.receiptHandle, 0).catch((e: Error) => this.#settleWarning("hand back", e));
      this.#c.emit("warning", {
        message: `could not send the replacement message of job ${this.jobId}; its old message was released instead and will be adopted: ${(error as Error).message}`,
        error: error as Error,
        jobId: this.jobId,
      });
      this.#say(`interrupted (${ending.why}): handed back through its old message`);
      return;
    }
    await queue.delete(r.receiptHandle).catch((error: Error) => this.#settleWarning("delete the replaced message of", error));
    this.#say(`interrupted (${ending.why}): handed back to the queue as a fresh message`);
  }

  /** FAILED with the reason, then the message to the DLQ (which deletes it from the queue). */
  async #writeFailed(expected: { state: JobState; attempts: number }, history: AttemptRecord[], f: JobFailure): Promise<void> {
    const { queue, store, emit } = this.#c;
    await store.transition(this.jobId, expected, "FAILED", {
      error: f.toJobError(),
      exitCode: f.exitCode,
      timings: this.#timings,
      attemptHistory: history,
    });
    await queue.deadLetter(this.#received, `${f.code}: ${f.message}`).catch((error: Error) => this.#settleWarning("dead-letter", error));
    this.#say(`failed for good: ${f.code}; message sent to the DLQ`);
    await this.#metrics("failed");
    emit("job_failed", { jobId: this.jobId, attempt: this.#attempt, error: f.toJobError() });
  }

  /**
   * The record is already right but the message could not be settled: it becomes visible again
   * after the visibility timeout, and its next receiver settles it from the record.
   */
  #settleWarning(what: string, error: Error): void {
    this.#c.emit("warning", { message: `could not ${what} job ${this.jobId} (its message returns after the visibility timeout): ${error.message}`, error, jobId: this.jobId });
  }

  async #metrics(outcome: JobMetrics["outcome"]): Promise<void> {
    const t = this.#timings;
    const s = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);
    await this.#c.telemetry.putJobMetrics({
      jobId: this.jobId,
      attempt: this.#attempt,
      outcome,
      queueWaitSeconds: s(t.queueWaitMs),
      downloadSeconds: s(t.downloadMs),
      processSeconds: s(t.processMs),
      uploadSeconds: s(t.uploadMs),
      bytesIn: this.#bytes.in,
      bytesOut: this.#bytes.out,
    });
  }

  /** A new phase: on the record at once (not at the next beat), conditional on this attempt, without waiting for the write. */
  #phase(phase: JobPhase): void {
    this.#progress = { phase, updatedAt: new Date().toISOString() };
    this.#c.emit("job_phase", { jobId: this.jobId, attempt: this.#attempt, phase });
    if (phase !== this.#writtenPhase && this.#heartbeat) {
      this.#writtenPhase = phase;
      this.#heartbeat.progressChanged();
    }
  }

  #onProgress(p: TransferProgress): void {
    if (!this.#progress) return;
    this.#progress = { ...this.#progress, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, updatedAt: new Date().toISOString() };
  }

  /** A line of the worker's own in the job's log. */
  #say(line: string): void {
    this.#log?.write("spotq", line);
  }
}

function location(uri: unknown, field: string): S3Location {
  const parsed = parseS3Uri(uri);
  if (!parsed.ok) throw new JobFailure("INVALID_REQUEST", `${field}: ${parsed.reason}`, { retryable: false });
  return parsed.value;
}

/** Any error of a run as a job failure: transfer and key problems keep their code; the rest is the worker's. */
function asJobFailure(err: unknown): JobFailure {
  if (err instanceof JobFailure) return err;
  if (err instanceof TransferError) return new JobFailure(err.code, err.message, { retryable: err.code !== "SOURCE_EMPTY", cause: err });
  if (err instanceof UnsafeKeyError) return new JobFailure("UNSAFE_KEY", err.message, { retryable: false, cause: err });
  const e = err as Error;
  return new JobFailure("WORKER_ERROR", e?.message ?? String(err), { retryable: true, cause: err });
}
