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
  /** Every beat and progress write runs on this chain, one at a time, so an older progress never lands after a newer one. */
  #chain: Promise<void> = Promise.resolve();
  #progressQueued = false;
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

  /** Stops beating and waits for the beat or progress write in flight, so no write follows the caller's own. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#chain;
  }

  /**
   * The progress changed in a way worth showing now (a new phase): writes it to the record without
   * waiting for the next beat, conditional on this attempt like every beat's write. Returns at once:
   * the job never waits on this write; writes queued behind a slow one collapse into one.
   */
  progressChanged(): void {
    if (!this.#running || this.#stopped || this.#progressQueued) return;
    this.#progressQueued = true;
    this.#chain = this.#chain
      .then(async () => {
        this.#progressQueued = false;
        await this.#writeRecord();
      })
      .catch((err: Error) => this.#o.onWarning?.(err));
  }

  /** One beat now (also what the timer runs): extend the message, then write progress. */
  async beat(): Promise<void> {
    const o = this.#o;
    if (this.#stopped) return;
    // SQS returns a message 12 h after its receive whatever the heartbeat asks: never ask past that.
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
    await this.#writeRecord();
  }

  /** The conditional progress write: refused means cancelled (CANCELLING at this attempt) or lost (anything else). */
  async #writeRecord(): Promise<void> {
    const o = this.#o;
    if (this.#stopped) return;
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
      this.#chain = this.#chain
        .then(() => this.beat())
        .catch((err: Error) => this.#o.onWarning?.(err))
        .finally(() => {
          if (this.#running) this.#schedule();
        });
    }, this.#o.intervalMs);
  }
}
