import type { FleetControl, JobQueue } from "../core/ports.ts";
import { FAST_PATH_MIN_INTERVAL_MS, fastPathWanted } from "../core/scaling/model.ts";
import type { ApiLog } from "./log.ts";

/** What one fast-path attempt did, for the log and for tests. */
export type FastPathOutcome =
  | { raised: true; wanted: number; before: number; after: number }
  /** `cached`: the last known desired capacity (under a second old) already covered it: no Auto Scaling call. */
  | { raised: false; wanted: number; before: number; after: number; cached?: true }
  | { failed: true; wanted: number; reason: string }
  /** A round ran less than `minIntervalMs` ago: this submit is covered by the next one, at `roundAt`. */
  | { coalesced: true; roundAt: number };

export interface FastPathOptions {
  /** Give up waiting for the Auto Scaling call after this long; the submit answers anyway. @default 3000 */
  timeoutMs?: number;
  /** At most one round (queue depth, then describe + set when needed) per this long. @default 1000 */
  minIntervalMs?: number;
  /** How long a known desired capacity is trusted to skip a round's Auto Scaling calls. @default minIntervalMs */
  knownDesiredTtlMs?: number;
}

/**
 * What a request asks a round to cover: a job just sent or handed back (`jobId`: the round wants an
 * instance for it at least), or an instance that left the group (`instanceId`, docs/scaling.md
 * "Capacity for returned jobs"): no job was sent, so the round wants the backlog only (0 when it is
 * empty: an idle instance's departure launches nothing), and the desired capacity the coalescer
 * knew is stale (the departure may have decremented it), so the round asks Auto Scaling.
 */
export type FastPathRequest = { jobId: string } | { instanceId: string };

/** A round scheduled for the end of the current interval, and the requests it covers. */
interface TrailingRound {
  timer: NodeJS.Timeout;
  at: number;
  log: ApiLog;
  jobIds: string[];
  instanceIds: string[];
  done: Promise<void>;
  outcome: Promise<FastPathOutcome>;
  resolve: (outcome: FastPathOutcome) => void;
}

/**
 * The submit's fast path (DESIGN §5), coalesced: one per FleetControl (one per deployment in a
 * process: the local API server, or a Lambda container).
 *
 * A round reads the queue depth once and, unless the desired capacity it last saw (under a second
 * ago) already covers what is wanted, calls `FleetControl.raiseDesired` (describe + set, never
 * lowering; serialized and batched in the SDK adapter). Capacity wanted comes from the scaling
 * model: visible + in flight + delayed, and at least the job just sent.
 *
 * Rounds start at most once per `minIntervalMs`:
 * - a submit with no round in the last interval starts one and waits for it (bounded by `timeoutMs`);
 * - a submit within the interval returns at once: a trailing round, scheduled at the interval's
 *   end, reads the depth then and so covers it, and every other submit of the burst.
 * So a process makes at most one round a second (one SQS GetQueueAttributes, at most one
 * DescribeAutoScalingGroups and one SetDesiredCapacity) under any submit rate, and a burst ends
 * with desired capacity at its backlog within a second. In a Lambda container a trailing round
 * scheduled when the last invocation of a burst returns runs at the container's next invocation;
 * the deficit alarm covers a container that gets none (docs/scaling.md has the bounds).
 */
export class FastPathCoalescer {
  readonly #fleet: FleetControl;
  readonly #queue: Pick<JobQueue, "depth">;
  readonly minIntervalMs: number;
  readonly timeoutMs: number;
  readonly knownDesiredTtlMs: number;
  #lastRoundAt = -Infinity;
  #running: Promise<FastPathOutcome> | undefined;
  #trailing: TrailingRound | undefined;
  #known: { desired: number; at: number } | undefined;
  /** Rounds run and Auto Scaling raises asked, for tests and the bench. */
  readonly stats = { rounds: 0, raiseCalls: 0, coalesced: 0, cached: 0 };

  constructor(fleet: FleetControl, queue: Pick<JobQueue, "depth">, options: FastPathOptions = {}) {
    this.#fleet = fleet;
    this.#queue = queue;
    this.minIntervalMs = options.minIntervalMs ?? FAST_PATH_MIN_INTERVAL_MS;
    this.timeoutMs = options.timeoutMs ?? 3_000;
    this.knownDesiredTtlMs = options.knownDesiredTtlMs ?? this.minIntervalMs;
  }

  /** Makes sure a round covers the job just sent (or handed back), or an instance's departure. Never throws. */
  async request(log: ApiLog, context: FastPathRequest): Promise<FastPathOutcome> {
    return (await this.#request(log, context)).outcome;
  }

  /**
   * As {@link request}, but a request coalesced into the next round waits for that round and
   * resolves with its outcome (never `coalesced`): for a caller that has no one waiting on it, such
   * as the returned-jobs Lambda, whose container may be frozen as soon as it returns.
   */
  async requestAndWait(log: ApiLog, context: FastPathRequest): Promise<Exclude<FastPathOutcome, { coalesced: true }>> {
    const r = await this.#request(log, context);
    return (r.trailing ? await r.trailing.outcome : r.outcome) as Exclude<FastPathOutcome, { coalesced: true }>;
  }

  async #request(log: ApiLog, context: FastPathRequest): Promise<{ outcome: FastPathOutcome; trailing?: TrailingRound }> {
    const now = Date.now();
    const [jobIds, instanceIds] = "jobId" in context ? [[context.jobId], []] : [[], [context.instanceId]];
    if (!this.#running && !this.#trailing && now - this.#lastRoundAt >= this.minIntervalMs) return { outcome: await this.#round(log, jobIds, instanceIds) };
    this.stats.coalesced++;
    const t = this.#scheduleTrailing(log, context);
    log.info("fast path: coalesced into the next round", { ...context, roundAt: new Date(t.at).toISOString() });
    return { outcome: { coalesced: true, roundAt: t.at }, trailing: t };
  }

  /** Resolves once no round is running or scheduled (tests, shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      if (this.#running) await this.#running;
      else if (this.#trailing) await this.#trailing.done;
      else return;
    }
  }

  /** Cancels a scheduled trailing round (shutdown). */
  close(): void {
    if (this.#trailing) {
      clearTimeout(this.#trailing.timer);
      this.#trailing.resolve({ failed: true, wanted: 0, reason: "the fast path was closed before this round ran" });
      this.#trailing = undefined;
    }
  }

  #scheduleTrailing(log: ApiLog, context: FastPathRequest): TrailingRound {
    const add = (t: TrailingRound) => ("jobId" in context ? t.jobIds.push(context.jobId) : t.instanceIds.push(context.instanceId));
    if (this.#trailing) {
      add(this.#trailing);
      return this.#trailing;
    }
    const at = Math.max(Date.now(), this.#lastRoundAt + this.minIntervalMs);
    let resolve!: (outcome: FastPathOutcome) => void;
    const outcome = new Promise<FastPathOutcome>((r) => (resolve = r));
    const done = outcome.then(() => undefined);
    const timer = setTimeout(async () => {
      // A round still running (slow Auto Scaling) goes first; this one then reads the newer depth.
      if (this.#running) await this.#running;
      const t = this.#trailing!;
      this.#trailing = undefined;
      resolve(await this.#round(t.log, t.jobIds, t.instanceIds));
    }, at - Date.now());
    timer.unref?.();
    this.#trailing = { timer, at, log, jobIds: [], instanceIds: [], done, outcome, resolve };
    add(this.#trailing);
    return this.#trailing;
  }

  #round(log: ApiLog, jobIds: string[], instanceIds: string[] = []): Promise<FastPathOutcome> {
    this.#lastRoundAt = Date.now();
    this.stats.rounds++;
    const run = this.#runRound(log, jobIds, instanceIds).finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }

  async #runRound(log: ApiLog, jobIds: string[], instanceIds: string[]): Promise<FastPathOutcome> {
    const context = {
      ...(jobIds.length === 1 ? { jobId: jobIds[0] } : jobIds.length > 1 ? { jobIds: jobIds.length, firstJobId: jobIds[0] } : {}),
      ...(instanceIds.length === 1 ? { instanceId: instanceIds[0] } : instanceIds.length > 1 ? { instanceIds } : {}),
    };
    const submitted = jobIds.length > 0;
    let wanted = 1;
    try {
      wanted = fastPathWanted(await this.#queue.depth(), { submitted });
    } catch (err) {
      if (!submitted) {
        // Only departures: no job is known to be owed an instance, so nothing is asked blindly.
        const e = err as { name?: string; message?: string };
        const reason = `queue depth unknown: ${e?.name ?? "Error"}: ${e?.message ?? String(err)}`;
        log.warn("fast path failed; the queue-depth alarms will scale the fleet", { ...context, wanted: 0, reason });
        return { failed: true, wanted: 0, reason };
      }
      // The jobs were sent: one instance each is owed at least.
      wanted = Math.max(1, jobIds.length);
      log.warn(`fast path: queue depth unknown, asking for ${wanted}`, { ...context, error: err });
    }
    const known = this.#known;
    // A departure may have lowered desired capacity (terminated with decrement): what was known is stale.
    if (known && instanceIds.length === 0 && Date.now() - known.at < this.knownDesiredTtlMs && wanted <= known.desired) {
      this.stats.cached++;
      return { raised: false, wanted, before: known.desired, after: known.desired, cached: true };
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      this.stats.raiseCalls++;
      const r = await Promise.race([
        this.#fleet.raiseDesired(wanted),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`Auto Scaling did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
      this.#known = { desired: r.after, at: Date.now() };
      const outcome = { raised: r.after > r.before, wanted, before: r.before, after: r.after } as FastPathOutcome;
      log.info("fast path", { ...context, ...outcome });
      return outcome;
    } catch (err) {
      this.#known = undefined;
      const e = err as { name?: string; message?: string };
      const reason = `${e?.name ?? "Error"}: ${e?.message ?? String(err)}`;
      log.warn("fast path failed; the queue-depth alarms will scale the fleet", { ...context, wanted, reason });
      return { failed: true, wanted, reason };
    } finally {
      clearTimeout(timer);
    }
  }
}

const coalescers = new WeakMap<FleetControl, FastPathCoalescer>();

/**
 * The coalescer of a FleetControl (created on first use with `options`; later options are
 * ignored). One FleetControl per deployment per process gives one coalescer per deployment.
 */
export function fastPathFor(fleet: FleetControl, queue: Pick<JobQueue, "depth">, options: FastPathOptions = {}): FastPathCoalescer {
  let c = coalescers.get(fleet);
  if (!c) {
    c = new FastPathCoalescer(fleet, queue, options);
    coalescers.set(fleet, c);
  }
  return c;
}

/**
 * The submit's fast path (DESIGN §5): raise the group's desired capacity to cover the jobs queued
 * and running now, so a first job from zero does not wait minutes for the SQS metrics to reach the
 * alarm. Coalesced per FleetControl ({@link FastPathCoalescer}). Never throws: a failure is logged
 * and the queue-depth alarms remain the fallback.
 */
export async function raiseCapacityForBacklog(
  queue: Pick<JobQueue, "depth">,
  fleet: FleetControl,
  log: ApiLog,
  context: { jobId: string },
  options: FastPathOptions = {},
): Promise<FastPathOutcome> {
  return fastPathFor(fleet, queue, options).request(log, context);
}

/**
 * Capacity for a job handed back to the queue (docs/scaling.md, "Capacity for returned jobs"): the
 * worker calls this right after a hand-back's fresh message is sent (Spot notice, terminate hook,
 * shutdown, stop file; CONTRACTS §5), so the job gets an instance without waiting for the alarm.
 * Same decision as the submit's fast path (core/scaling's `fastPathWanted`: every job queued, in
 * flight or delayed gets an instance), through the process's coalescer of that FleetControl, so a
 * hand-back and submits in the same second share one round.
 *
 * Resolves undefined (no call) without a group or with `scaling.fastPath` off (alarms only). Never
 * throws: a failure is logged and the deficit alarm remains the fallback. For a Spot interruption
 * the group replaces the instance anyway (terminated without decrement) and this changes nothing;
 * it matters when the leaving instance decremented desired capacity or launches are suspended.
 */
export async function raiseCapacityAfterHandBack(
  deps: { queue: Pick<JobQueue, "depth">; fleet?: FleetControl; config: { scaling: { fastPath: boolean } } },
  log: ApiLog,
  context: { jobId: string },
  options: FastPathOptions = {},
): Promise<FastPathOutcome | undefined> {
  if (!deps.fleet || !deps.config.scaling.fastPath) return undefined;
  return fastPathFor(deps.fleet, deps.queue, options).request(log, context);
}
