import { StaleTransitionError } from "../core/errors.ts";
import type { JobProgress } from "../core/job.ts";
import type { JobQueue, JobStore } from "../core/ports.ts";
import { SQS_MAX_VISIBILITY_SECONDS } from "../core/fleet-config.ts";
import { StopRequest } from "./errors.ts";

export interface HeartbeatOptions {
  jobId: string;
  /** The attempt this worker owns; every write is conditional on it. */
  attempt: number;
  receiptHandle: string;
  /** When the message was received: SQS keeps it at most 12 h from then. */
  receivedAt: number;
  /** Each beat keeps the message invisible this much longer. */
  visibilitySeconds: number;
  intervalMs: number;
  /** The progress to store with each beat. */
  progress: () => JobProgress | undefined;
  /** Told once, when the job must stop: cancelled by the user, or lost to another attempt. */
  onStop: (request: StopRequest) => void;
  /** A beat failed in a way the next one may fix. */
  onWarning?: (err: Error) => void;
}

/** SQS errors that mean the receipt no longer holds the message (it came back and went to someone else). */
const RECEIPT_GONE = /ReceiptHandleIsInvalid|MessageNotInflight|receipt handle (has expired|is invalid)|not available for visibility timeout change/i;

/**
 * Keeps a running job's message and record alive: every beat extends the message's visibility
 * (ChangeMessageVisibility) and writes progress to the record, conditional on RUNNING at this
 * attempt. A refused write tells the worker the job was cancelled (CANCELLING at this attempt) or
 * lost (another attempt took it over); a receipt SQS no longer knows means lost as well.
 */
export class Heartbeat {
  readonly #queue: JobQueue;
  readonly #store: JobStore;
  readonly #o: HeartbeatOptions;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #inFlight: Promise<void> = Promise.resolve();
  #lastExtended: number;
  #stopped = false;

  constructor(queue: JobQueue, store: JobStore, options: HeartbeatOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError(`heartbeat intervalMs must be positive, got ${options.intervalMs}`);
    if (options.intervalMs >= options.visibilitySeconds * 1000)
      throw new RangeError(`heartbeat interval (${options.intervalMs} ms) must be less than the visibility timeout (${options.visibilitySeconds} s)`);
    this.#queue = queue;
    this.#store = store;
    this.#o = options;
    this.#lastExtended = options.receivedAt;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  /** Stops beating and waits for a beat in flight, so no write follows the caller's own. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#inFlight;
  }

  /** One beat now (also what the timer runs). */
  async beat(): Promise<void> {
    const o = this.#o;
    if (this.#stopped) return;
    const left = SQS_MAX_VISIBILITY_SECONDS - Math.ceil((Date.now() - o.receivedAt) / 1000) - 1;
    const seconds = Math.min(o.visibilitySeconds, left);
    if (seconds > 0) {
      try {
        await this.#queue.extend(o.receiptHandle, seconds);
        this.#lastExtended = Date.now();
      } catch (err) {
        const e = err as Error;
        if (RECEIPT_GONE.test(`${e.name} ${e.message}`)) return this.#stop("lost", `the message can no longer be extended (${e.message}): it went back to the queue`);
        this.#o.onWarning?.(e);
        if (Date.now() - this.#lastExtended > o.visibilitySeconds * 1000)
          return this.#stop("lost", `no heartbeat reached SQS for longer than the visibility timeout: ${e.message}`);
      }
    }
    try {
      const progress = o.progress();
      await this.#store.update(o.jobId, { state: "RUNNING", attempts: o.attempt }, progress ? { progress } : {});
    } catch (err) {
      if (!(err instanceof StaleTransitionError)) {
        this.#o.onWarning?.(err as Error);
        return;
      }
      const current = await this.#store.get(o.jobId).catch(() => undefined);
      if (current?.state === "CANCELLING" && current.attempts === o.attempt) return this.#stop("cancel", "the job was cancelled");
      return this.#stop("lost", current ? `the job is now ${current.state} at attempt ${current.attempts}` : "the job record is gone");
    }
  }

  #stop(kind: "cancel" | "lost", why: string): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#running = false;
    clearTimeout(this.#timer);
    this.#o.onStop(new StopRequest(kind, why));
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#inFlight = this.beat().finally(() => {
        if (this.#running) this.#schedule();
      });
    }, this.#o.intervalMs);
  }
}
