import type { InstanceMetadata } from "../core/ports.ts";

/** A notice from IMDS that the instance is about to go (or should). */
export type SpotNotice =
  | { kind: "spot-interruption"; action: string; time: string }
  | { kind: "rebalance"; noticeTime: string };

export interface SpotWatcherOptions {
  /** How often IMDS is asked. @default 5000 */
  intervalMs?: number;
  /** Told once per kind of notice. */
  onNotice: (notice: SpotNotice) => void;
  /** Told each time `autoscaling/target-lifecycle-state` changes (InService, Terminated, ...). */
  onTargetLifecycle?: (state: string) => void;
  /** A failed look-up; the watcher keeps polling. */
  onError?: (err: Error) => void;
}

/**
 * Polls IMDSv2 every few seconds for the Spot interruption notice (`spot/instance-action`, two
 * minutes ahead) and the rebalance recommendation, reporting each kind once, and for the target
 * lifecycle state (`autoscaling/target-lifecycle-state`, Terminated once a terminate hook holds the
 * instance), reporting each change. An IMDS that answers 404 for the lifecycle state (an older local
 * fleet) leaves {@link SpotWatcher.lifecycleServed} false.
 */
export class SpotWatcher {
  readonly #metadata: InstanceMetadata;
  readonly #intervalMs: number;
  readonly #onNotice: (notice: SpotNotice) => void;
  readonly #onError: (err: Error) => void;
  readonly #onTargetLifecycle: (state: string) => void;
  readonly #seen = new Set<SpotNotice["kind"]>();
  #targetLifecycle: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(metadata: InstanceMetadata, options: SpotWatcherOptions) {
    this.#metadata = metadata;
    this.#intervalMs = options.intervalMs ?? 5_000;
    if (!(this.#intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${this.#intervalMs}`);
    this.#onNotice = options.onNotice;
    this.#onError = options.onError ?? (() => undefined);
    this.#onTargetLifecycle = options.onTargetLifecycle ?? (() => undefined);
  }

  /** The last target lifecycle state IMDS named (undefined while it names none). */
  get targetLifecycle(): string | undefined {
    return this.#targetLifecycle;
  }

  /** True once IMDS answered the target lifecycle state: the worker can then wait for `Terminated`. */
  get lifecycleServed(): boolean {
    return this.#targetLifecycle !== undefined;
  }

  /** Whether a Spot interruption notice has been seen. */
  get interruptionSeen(): boolean {
    return this.#seen.has("spot-interruption");
  }

  /** Checks once now, then every interval. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#tick();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#inFlight;
  }

  /** One look at IMDS; reports what is new and returns every notice posted now. */
  async check(): Promise<SpotNotice[]> {
    const found: SpotNotice[] = [];
    const [spot, rebalance, target] = await Promise.allSettled([
      this.#metadata.spotInterruption(),
      this.#metadata.rebalanceRecommendation(),
      this.#metadata.targetLifecycleState(),
    ]);
    if (spot.status === "fulfilled" && spot.value) found.push({ kind: "spot-interruption", ...spot.value });
    if (rebalance.status === "fulfilled" && rebalance.value) found.push({ kind: "rebalance", ...rebalance.value });
    for (const r of [spot, rebalance, target]) if (r.status === "rejected") this.#onError(r.reason as Error);
    // A Spot notice first: a Terminated state that comes with one is a Spot reclaim (hand back at once).
    for (const n of found) {
      if (this.#seen.has(n.kind)) continue;
      this.#seen.add(n.kind);
      this.#onNotice(n);
    }
    if (target.status === "fulfilled" && target.value !== undefined && target.value !== this.#targetLifecycle) {
      this.#targetLifecycle = target.value;
      this.#onTargetLifecycle(target.value);
    }
    return found;
  }

  #tick(): void {
    this.#inFlight = this.check()
      .then(() => undefined)
      .finally(() => {
        if (this.#running) this.#timer = setTimeout(() => this.#tick(), this.#intervalMs);
      });
  }
}
