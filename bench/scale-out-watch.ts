import type { DesiredReason, LocalFleet } from "../scripts/local/fleet.ts";

/** One run of the fleet's alarm: it sampled the backlog, evaluated, and (in ALARM) ran the policy. */
export interface AlarmTick {
  /** Wall clock (`Date.now()`) of the evaluation, the fleet's own `at`. */
  at: number;
  state: string;
  datapoints: number[];
}

/** A rise of the group's desired capacity, as the fleet reported it. */
export interface DesiredRise {
  before: number;
  after: number;
  reason: DesiredReason;
  /** `performance.now()` when the fleet emitted `desired_changed`. */
  t: number;
}

interface Waiter<T> {
  accept(value: T): boolean;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Follows a local fleet's alarm ticks and desired-capacity rises for the scale-out bench: where the
 * alarm's metric period stands (so a submit can be placed at a chosen offset in it), and the moment
 * desired capacity rises for a given reason. Waits are armed before the action they observe (a fast
 * path raises desired capacity while `POST /jobs` is still answering) and always time out.
 */
export class FleetWatch {
  readonly #fleet: LocalFleet;
  readonly #periodMs: number;
  #lastTickAt: number;
  #ticks = 0;
  readonly #tickWaiters = new Set<Waiter<AlarmTick>>();
  readonly #riseWaiters = new Set<Waiter<DesiredRise>>();
  readonly #onTick: (e: AlarmTick) => void;
  readonly #onDesired: (e: { before: number; after: number; reason: DesiredReason }) => void;

  /**
   * @param startedAt when the fleet started (`Date.now()`): its alarm runs a period after that, so
   *   the start is the phase of the metric periods until the first tick is seen.
   * @param onTick called on every evaluation (progress lines).
   */
  constructor(fleet: LocalFleet, options: { periodMs: number; startedAt: number; onTick?: (tick: AlarmTick) => void }) {
    this.#fleet = fleet;
    this.#periodMs = options.periodMs;
    this.#lastTickAt = options.startedAt;
    this.#onTick = (e) => {
      const tick: AlarmTick = { at: e.at, state: e.state, datapoints: [...e.datapoints] };
      this.#lastTickAt = tick.at;
      this.#ticks++;
      options.onTick?.(tick);
      // The policy runs right after `alarm_evaluated` in the same turn: settle waiters on the next
      // turn, so whoever acts on a tick (resetting desired capacity) acts after the policy did.
      setImmediate(() => settle(this.#tickWaiters, tick));
    };
    this.#onDesired = (e) => {
      if (e.after <= e.before) return;
      settle(this.#riseWaiters, { ...e, t: performance.now() });
    };
    fleet.on("alarm_evaluated", this.#onTick);
    fleet.on("desired_changed", this.#onDesired);
  }

  /** Evaluations seen so far: a changed count tells that the alarm sampled the queue in between. */
  get ticks(): number {
    return this.#ticks;
  }

  /** The wall clock of the last evaluation (or of the fleet's start before the first one). */
  get lastTickAt(): number {
    return this.#lastTickAt;
  }

  /** When the alarm is due to sample the queue next. */
  get nextTickAt(): number {
    return this.#lastTickAt + this.#periodMs;
  }

  /** The next evaluation whose time is at least `atMs`, settled after that tick's policy ran. */
  tickAtOrAfter(atMs: number, what: string): Promise<AlarmTick> {
    const timeoutMs = Math.max(0, atMs - Date.now()) + 2 * this.#periodMs + 5_000;
    return this.#wait(this.#tickWaiters, (t) => t.at >= atMs, timeoutMs, `no alarm evaluation came ${what}`);
  }

  /** The next evaluation from now on. */
  nextTick(what: string): Promise<AlarmTick> {
    return this.tickAtOrAfter(Date.now(), what);
  }

  /**
   * The next rise of desired capacity for `reason`. Arm it before the action: the promise is
   * pre-caught so an abandoned wait does not become an unhandled rejection; awaiting it still throws.
   */
  nextRise(reason: DesiredReason, timeoutMs: number, what: string): Promise<DesiredRise> {
    const p = this.#wait(this.#riseWaiters, (r) => r.reason === reason, timeoutMs, what);
    p.catch(() => undefined);
    return p;
  }

  /** Stops listening; pending waits fail with "stopped". */
  dispose(): void {
    this.#fleet.off("alarm_evaluated", this.#onTick);
    this.#fleet.off("desired_changed", this.#onDesired);
    for (const set of [this.#tickWaiters, this.#riseWaiters] as Set<Waiter<unknown>>[])
      for (const w of set) {
        clearTimeout(w.timer);
        w.reject(new Error("the bench is stopping"));
      }
    this.#tickWaiters.clear();
    this.#riseWaiters.clear();
  }

  #wait<T>(set: Set<Waiter<T>>, match: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        accept(v) {
          if (!match(v)) return false;
          clearTimeout(waiter.timer);
          resolve(v);
          return true;
        },
        reject,
        timer: setTimeout(() => {
          set.delete(waiter);
          reject(new Error(`${what} within ${(timeoutMs / 1000).toFixed(1)} s`));
        }, timeoutMs),
      };
      set.add(waiter);
    });
  }
}

function settle<T>(set: Set<Waiter<T>>, value: T): void {
  for (const w of [...set]) if (w.accept(value)) set.delete(w);
}
