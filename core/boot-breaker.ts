/**
 * The boot breaker (DESIGN §5, CONTRACTS §6): a boot that fails must not relaunch forever. After
 * `failures` failed boots within `windowSeconds`, the breaker trips; whoever owns it (the local fleet,
 * the infra breaker Lambda) then suspends Launch on the group, tags it `BREAKER_TAG` with
 * {@link BreakerTrip} as JSON, and says why on the alarm topic.
 *
 * Pure: no clock, no I/O. Every call takes the time it happened at (ms since the epoch).
 */

/** What the breaker records when it trips: the JSON of the group's `BREAKER_TAG` (core/names.ts). */
export interface BreakerTrip {
  /** ISO time of the failure that tripped it. */
  trippedAt: string;
  /** Failed boots within the window, this one included. */
  failures: number;
  windowSeconds: number;
  /** Why, in words a user can act on; names the last failure. */
  reason: string;
}

/** One failed boot. */
export interface FailedBoot {
  /** ms since the epoch. */
  at: number;
  instanceId?: string;
  /** What failed, e.g. "worker exit 3 (preflight failed)", "launch lifecycle action ABANDON (timeout)". */
  cause?: string;
}

export interface BootBreakerOptions {
  /** Failed boots within the window that trip the breaker. @default 3 */
  failures: number;
  /** The sliding window. @default 3600 */
  windowSeconds: number;
}

/**
 * Counts failed boots in a sliding window and trips once the count reaches `failures`.
 * A trip clears the window: after the operator resumes launches, it takes `failures` new failed
 * boots to trip again (as an alarm must first return to OK before its action runs again).
 */
export class BootBreaker {
  readonly failures: number;
  readonly windowSeconds: number;
  #recent: FailedBoot[] = [];
  #lastTrip: BreakerTrip | undefined;

  constructor(options: BootBreakerOptions) {
    const { failures, windowSeconds } = options;
    if (!Number.isInteger(failures) || failures < 1) throw new RangeError(`bootBreaker.failures must be a whole number >= 1, got ${failures}`);
    if (!(Number.isFinite(windowSeconds) && windowSeconds > 0))
      throw new RangeError(`bootBreaker.windowSeconds must be a number of seconds > 0, got ${windowSeconds}`);
    this.failures = failures;
    this.windowSeconds = windowSeconds;
  }

  /** Records a failed boot; returns the trip when this one trips the breaker. */
  record(failure: FailedBoot): BreakerTrip | undefined {
    if (!Number.isFinite(failure.at)) throw new RangeError(`a failed boot needs a time, got ${failure.at}`);
    this.#prune(failure.at);
    this.#recent.push(failure);
    if (this.#recent.length < this.failures) return undefined;
    const trip: BreakerTrip = {
      trippedAt: new Date(failure.at).toISOString(),
      failures: this.#recent.length,
      windowSeconds: this.windowSeconds,
      reason:
        `${this.#recent.length} failed boot${this.#recent.length === 1 ? "" : "s"} within ${formatWindow(this.windowSeconds)}` +
        ` (the last: ${failure.instanceId ?? "an instance"}${failure.cause ? `, ${failure.cause}` : ""}); launches suspended.` +
        ` Fix the cause, then resume launches (spotq fleet resume).`,
    };
    this.#recent = [];
    this.#lastTrip = trip;
    return trip;
  }

  /** Failed boots still inside the window at `now`. */
  failuresInWindow(now: number): number {
    this.#prune(now);
    return this.#recent.length;
  }

  /** The last trip, if any (cleared by {@link reset}). */
  get lastTrip(): BreakerTrip | undefined {
    return this.#lastTrip;
  }

  /** Forgets every failure and the last trip (the operator resumed launches). */
  reset(): void {
    this.#recent = [];
    this.#lastTrip = undefined;
  }

  #prune(now: number): void {
    const from = now - this.windowSeconds * 1000;
    // A failure exactly windowSeconds old is outside the window: the window is (now - w, now].
    this.#recent = this.#recent.filter((f) => f.at > from);
  }
}

function formatWindow(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** Parses a `BREAKER_TAG` value; undefined when it is not a trip record. */
export function parseBreakerTag(value: string | undefined): BreakerTrip | undefined {
  if (!value) return undefined;
  try {
    const v = JSON.parse(value) as Partial<BreakerTrip>;
    if (typeof v?.trippedAt === "string" && typeof v.reason === "string")
      return { trippedAt: v.trippedAt, failures: Number(v.failures ?? 0), windowSeconds: Number(v.windowSeconds ?? 0), reason: v.reason };
  } catch {
    // not JSON: a tag someone set by hand
  }
  return undefined;
}
