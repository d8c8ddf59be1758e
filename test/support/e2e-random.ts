import { randomInt } from "node:crypto";

/**
 * A seeded pseudo-random stream (mulberry32), so a randomized run can be replayed: the same seed
 * gives the same plan and the same sequence of choices.
 */
export class SeededRandom {
  readonly seed: number;
  #state: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new RangeError(`seed must be an integer from 0 to 2^32-1, got ${seed}`);
    this.seed = seed;
    this.#state = seed;
  }

  /** The seed from `E2E_SEED` when set (to replay a run), else a fresh one. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): SeededRandom {
    const raw = env.E2E_SEED;
    if (raw === undefined || raw === "") return new SeededRandom(randomInt(2 ** 31));
    if (!/^\d+$/.test(raw)) throw new RangeError(`E2E_SEED must be a non-negative integer, got "${raw}"`);
    return new SeededRandom(Number(raw));
  }

  /** A number in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** An integer from `min` to `max`, both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
