import type { JobRecord } from "../../core/job.ts";
import { isFinished, type JobsClient } from "./e2e-jobs.ts";
import { sleep, waitUntil } from "./e2e-wait.ts";

export interface JobFeedOptions<J> {
  jobs: JobsClient;
  /** Submitted in this order, keeping about `queuedTarget` jobs QUEUED until {@link JobFeed.release}, then all at once. */
  items: readonly J[];
  /**
   * Held back: each is submitted when the chaos asks for bait (no job it can strike is running),
   * and whatever is left once {@link JobFeed.release} is called, ahead of the items still waiting.
   */
  reserve: readonly J[];
  submit: (item: J) => Promise<void>;
  /** Keep about this many jobs waiting in the queue, so work flows all through the chaos. */
  queuedTarget: number;
  /**
   * A job beyond the plan: `bait` (a long job) when the reserve is used up, `filler` to keep work
   * flowing while `keepBusy` says so once the planned items are all in.
   */
  extra: (purpose: "bait" | "filler") => J;
  /** While true, the queue is kept fed with fillers after the planned items ran out (the chaos is not over). */
  keepBusy?: () => boolean;
  pollMs?: number;
}

/**
 * Submits a suite's jobs over the run rather than all at once, through the jobs API, so there is
 * work (and submits: the API's fast path) all through the chaos, and keeps a reserve the chaos can
 * draw on when it needs a running job to strike and none is left.
 */
export class JobFeed<J> {
  readonly errors: string[] = [];
  /** Every item submitted, in order (plan items, reserve, extras). */
  readonly submitted: J[] = [];
  /** Jobs submitted beyond the plan (bait after the reserve ran out, fillers). */
  extras = 0;
  readonly #o: JobFeedOptions<J>;
  readonly #items: J[];
  readonly #reserve: J[];
  #released = false;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #submitting: Promise<void> = Promise.resolve();

  constructor(options: JobFeedOptions<J>) {
    this.#o = options;
    this.#items = [...options.items];
    this.#reserve = [...options.reserve];
  }

  /** True once every planned item and the whole reserve are submitted. */
  get done(): boolean {
    return this.#items.length === 0 && this.#reserve.length === 0;
  }

  /**
   * Waits (10 min at most) until everything is submitted and every job is in a final state; the
   * error lists the unfinished ones, each with `describe(jobId)` (its planned kind).
   */
  async allFinished(describe: (jobId: string) => string | undefined): Promise<JobRecord[]> {
    return waitUntil(
      "every job in a final state",
      async () => {
        const all = await this.#o.jobs.list();
        return this.done && all.length === this.submitted.length && all.every(isFinished) ? all : undefined;
      },
      10 * 60_000,
      {
        pollMs: 1000,
        describe: async () =>
          `unfinished: ${(await this.#o.jobs.list())
            .filter((j) => !isFinished(j))
            .map((j) => `${j.jobId} (${describe(j.jobId)}) ${j.state} attempt ${j.attempts}`)
            .join(", ")}`,
      },
    );
  }

  start(): void {
    this.#loop ??= (async () => {
      while (!this.#stopped && !this.done) {
        try {
          if (this.#items.length > 0 && this.#released) {
            // The chaos is over: nothing to pace any more.
            while (this.#items.length > 0) await this.#submit(this.#items.shift()!);
          } else if (this.#items.length > 0) {
            const queued = (await this.#o.jobs.list("QUEUED")).length;
            for (let i = queued; i < this.#o.queuedTarget && this.#items.length > 0; i++) await this.#submit(this.#items.shift()!);
          } else if (!this.#released && this.#o.keepBusy?.()) {
            const queued = (await this.#o.jobs.list("QUEUED")).length;
            for (let i = queued; i < this.#o.queuedTarget / 2; i++) {
              this.extras++;
              await this.#submit(this.#o.extra("filler"));
            }
          } else if (this.#released) {
            while (this.#reserve.length > 0) await this.#submit(this.#reserve.shift()!);
          }
        } catch (err) {
          this.errors.push(`feed: ${(err as Error).message}`);
        }
        await sleep(this.#o.pollMs ?? 500);
      }
    })();
  }

  /** A job for the chaos to strike, now: from the reserve, else one beyond the plan. */
  async bait(): Promise<void> {
    const item = this.#reserve.shift() ?? (this.extras++, this.#o.extra("bait"));
    await this.#submit(item);
  }

  /**
   * The chaos is over: the reserve goes in too, ahead of the planned items still waiting, so its
   * long jobs run beside the short ones rather than after them all, at the end of the run.
   */
  release(): void {
    this.#released = true;
    this.#items.unshift(...this.#reserve.splice(0));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  /** One at a time, in order: the loop and bait never interleave a submit. */
  #submit(item: J): Promise<void> {
    const next = this.#submitting.then(async () => {
      await this.#o.submit(item);
      this.submitted.push(item);
    });
    this.#submitting = next.catch(() => undefined);
    return next;
  }
}
