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
  /** A failed look-up; the watcher keeps polling. */
  onError?: (err: Error) => void;
}

/**
 * Polls IMDSv2 for the Spot interruption notice (`spot/instance-action`, two minutes ahead) and the
 * rebalance recommendation, every few seconds, and reports each kind once.
 */
export class SpotWatcher {
  readonly #metadata: InstanceMetadata;
  readonly #intervalMs: number;
  readonly #onNotice: (notice: SpotNotice) => void;
  readonly #onError: (err: Error) => void;
  readonly #seen = new Set<SpotNotice["kind"]>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(metadata: InstanceMetadata, options: SpotWatcherOptions) {
    this.#metadata = metadata;
    this.#intervalMs = options.intervalMs ?? 5_000;
    if (!(this.#intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${this.#intervalMs}`);
    this.#onNotice = options.onNotice;
    this.#onError = options.onError ?? (() => undefined);
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
    const [spot, rebalance] = await Promise.allSettled([this.#metadata.spotInterruption(), this.#metadata.rebalanceRecommendation()]);
    if (spot.status === "fulfilled" && spot.value) found.push({ kind: "spot-interruption", ...spot.value });
    if (rebalance.status === "fulfilled" && rebalance.value) found.push({ kind: "rebalance", ...rebalance.value });
    for (const r of [spot, rebalance]) if (r.status === "rejected") this.#onError(r.reason as Error);
    for (const n of found) {
      if (this.#seen.has(n.kind)) continue;
      this.#seen.add(n.kind);
      this.#onNotice(n);
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
