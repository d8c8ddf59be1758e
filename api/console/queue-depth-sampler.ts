import type { QueueDepthHistory, QueueDepthPoint, QueueDepthSeries } from "../../core/console-ports.ts";
import type { QueueDepth } from "../../core/ports.ts";

const HOUR_MS = 3_600_000;

export interface QueueDepthSamplerOptions {
  /** Reads the queue's depth now (`JobQueue.depth()`). */
  sample: () => Promise<QueueDepth>;
  /** @default 10000 */
  intervalMs?: number;
  /** A failed sample (the point is skipped). */
  onError?: (err: Error) => void;
  /** @default Date.now */
  now?: () => number;
}

/**
 * The local stand-in of CloudWatch's SQS metrics: samples the queue's depth every `intervalMs`
 * and keeps the last hour in memory. The first sample is taken at `start()`. Its timer does not
 * keep a process alive; `stop()` ends it. A failing sample is skipped, reported once until a
 * sample succeeds again.
 */
export class QueueDepthSampler implements QueueDepthHistory {
  readonly intervalMs: number;
  readonly #o: QueueDepthSamplerOptions;
  readonly #now: () => number;
  #points: { t: number; point: QueueDepthPoint }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #lastError: string | undefined;

  constructor(options: QueueDepthSamplerOptions) {
    if (options.intervalMs !== undefined && !(options.intervalMs >= 100)) throw new RangeError(`intervalMs must be at least 100, got ${options.intervalMs}`);
    this.#o = options;
    this.intervalMs = options.intervalMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  start(): this {
    if (!this.#stopped) return this;
    this.#stopped = false;
    void this.#tick();
    return this;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Takes one sample now (the timer calls this; tests may too). */
  async sampleNow(): Promise<void> {
    let depth: QueueDepth;
    try {
      depth = await this.#o.sample();
    } catch (err) {
      // Reported once per kind of failure, not at every sample while it lasts.
      const message = (err as Error).message;
      if (message !== this.#lastError) this.#o.onError?.(err as Error);
      this.#lastError = message;
      return;
    }
    this.#lastError = undefined;
    const t = this.#now();
    this.#points.push({ t, point: { at: new Date(t).toISOString(), visible: depth.visible, inFlight: depth.inFlight } });
    this.#points = this.#points.filter((p) => p.t > t - HOUR_MS);
  }

  async lastHour(): Promise<QueueDepthSeries> {
    const since = this.#now() - HOUR_MS;
    return { periodSeconds: this.intervalMs / 1000, points: this.#points.filter((p) => p.t > since).map((p) => p.point) };
  }

  async #tick(): Promise<void> {
    try {
      await this.sampleNow();
    } finally {
      // Rescheduled after each sample, so a slow read never stacks up samples.
      if (!this.#stopped) {
        this.#timer = setTimeout(() => void this.#tick(), this.intervalMs);
        this.#timer.unref();
      }
    }
  }
}
