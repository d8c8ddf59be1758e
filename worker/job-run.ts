import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { jobFolders, renderArgs, renderConfigJson, type JobFolders } from "../core/config-json.ts";
import { StaleTransitionError } from "../core/errors.ts";
import { retryDelaySeconds } from "../core/fleet-config.ts";
import type { AttemptRecord, JobProgress, JobRecord, JobTimings } from "../core/job.ts";
import { isTerminal, type JobState } from "../core/job-state.ts";
import type { JobQueue, JobStore, ReceivedJob } from "../core/ports.ts";
import { PATH_KEYS } from "../core/request.ts";
import { formatS3Uri, parseS3Uri, type S3Location } from "../core/s3-uri.ts";
import { JobFailure, StopRequest } from "./errors.ts";
import type { JobPhase, WorkerEvents } from "./events.ts";
import { Heartbeat } from "./heartbeat.ts";
import { recordProcessor } from "./leftovers.ts";
import { UnsafeKeyError } from "./object-paths.ts";
import type { ResolvedWorkerOptions } from "./options.ts";
import { runProcessor } from "./processor.ts";
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
  | { kind: "interrupted"; why: string }
  | { kind: "cancelled" }
  | { kind: "lost"; why: string };

/**
 * One received message, from claiming its job to deleting (or handing back) the message:
 * claim the record (QUEUED→RUNNING, or RUNNING→RUNNING over a lost attempt) with a conditional
 * write, heartbeat, download, config.json, processor, upload, and the final state. Every write is
 * conditional on this attempt, so a stale worker loses and touches nothing.
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
  readonly #stderrTail: string[] = [];

  constructor(received: ReceivedJob, context: JobRunContext) {
    this.#received = received;
    this.jobId = received.message.jobId;
    this.#c = context;
  }

  /** The attempt number once claimed (0 before). */
  get attempt(): number {
    return this.#attempt;
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
    const expected = { state: record.state, attempts: record.attempts };
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
      });
    } catch (err) {
      await log.close();
      if (!(err instanceof StaleTransitionError)) throw err;
      // Someone moved the job between our read and our write: look again once.
      const current = await store.get(this.jobId);
      if (current && (isTerminal(current.state) || current.state === "CANCELLING")) return this.#claim(current);
      emit("job_lost", { jobId: this.jobId, attempt, reason: `another worker claimed the job first: ${err.message}` });
      return false;
    }
    this.#attempt = attempt;
    this.#interruptions = record.interruptions ?? 0;
    this.#history = history;
    this.#startedAt = now.toISOString();
    this.#log = log;
    emit("job_started", { jobId: this.jobId, attempt, takeover, logs: log.location });
    this.#say(
      `attempt ${attempt} of job ${this.jobId} on ${options.instanceId}${takeover ? ` (taking over from lost attempt ${record.attempts})` : ""}`,
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
      await rm(folders.root, { recursive: true, force: true, maxRetries: 3 }).catch((error: Error) =>
        emit("warning", { message: `could not remove ${folders.root}: ${error.message}`, error, jobId: this.jobId }),
      );
    }
    // A cancel or loss noticed by the last beat, after the work was done, still decides.
    if (this.#stop && this.#stop.kind !== "interrupt" && ending.kind === "succeeded") ending = this.#stopEnding(this.#stop);
    return ending;
  }

  /** Writes config.json (the request with local folder paths) into the source folder, and makes the target folder. */
  async #prepare(folders: JobFolders): Promise<void> {
    if (existsSync(folders.config)) this.#say(`the source folder has its own config.json: it is replaced by this job's`);
    await writeFile(folders.config, renderConfigJson(this.#received.message.request, folders));
    await mkdir(folders.target, { recursive: true });
  }

  /** Runs the processor; returns its failure, if any. Throws the stop request when the worker aborted it. */
  async #process(folders: JobFolders): Promise<JobFailure | undefined> {
    const { options, emit } = this.#c;
    const p = options.config.processor;
    const args = renderArgs(p.args, { config: folders.config, source: folders.source, target: folders.target, jobId: this.jobId });
    this.#say(`running ${p.command} ${args.map((a) => JSON.stringify(a)).join(" ")}`);
    const outcome = await runProcessor({
      command: p.command,
      args,
      cwd: folders.root,
      env: { ...p.env, SPOTQ_JOB_ID: this.jobId, SPOTQ_ATTEMPT: String(this.#attempt) },
      timeoutMs: options.jobTimeoutSeconds * 1000,
      killGraceMs: options.killGraceSeconds * 1000,
      platform: options.platform,
      signal: this.#abort.signal,
      onSpawn: (pid) => {
        void recordProcessor(folders.root, pid).catch(() => undefined);
        emit("processor_started", { jobId: this.jobId, attempt: this.#attempt, pid });
      },
      onLine: (stream, line) => {
        this.#log?.write(stream, line);
        if (stream === "stderr") {
          this.#stderrTail.push(line.length > 300 ? `${line.slice(0, 300)}...` : line);
          if (this.#stderrTail.length > STDERR_TAIL) this.#stderrTail.shift();
        }
        emit("processor_output", { jobId: this.jobId, attempt: this.#attempt, stream, line });
      },
    });
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
          await queue.delete(r.receiptHandle).catch((error: Error) => this.#settleWarning("delete the message of", error));
          await this.#metrics("succeeded");
          emit("job_succeeded", { jobId: this.jobId, attempt: this.#attempt, record });
          return;
        }
        case "failed": {
          const f = ending.failure;
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
          await store.transition(this.jobId, mine, "QUEUED", {
            interruptions: this.#interruptions + 1,
            timings: this.#timings,
            attemptHistory: [...this.#history, entry("INTERRUPTED", { error: { code: "INTERRUPTED", message: ending.why } })],
            progress: undefined,
          });
          // Only after the record says QUEUED: a worker receiving the message now must not see it RUNNING.
          await queue.release(r.receiptHandle, 0).catch((error: Error) => this.#settleWarning("hand back", error));
          this.#say(`interrupted (${ending.why}): handed back to the queue`);
          await this.#metrics("interrupted");
          emit("job_interrupted", { jobId: this.jobId, attempt: this.#attempt, reason: ending.why });
          return;
        }
        case "cancelled": {
          await store.transition(this.jobId, { state: "CANCELLING", attempts: this.#attempt }, "CANCELLED", {
            attemptHistory: [...this.#history, entry("CANCELLED")],
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

  #phase(phase: JobPhase): void {
    this.#progress = { phase, updatedAt: new Date().toISOString() };
    this.#c.emit("job_phase", { jobId: this.jobId, attempt: this.#attempt, phase });
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
