import type { PreflightReport } from "./preflight.ts";
import { describePreflightFailures } from "./preflight.ts";

/**
 * Whose fault a failed attempt is, for the instance breaker (DESIGN §4, issue 8 §6):
 * - `request`: the request itself is bad, so any instance fails the same way: an invalid-request
 *   exit code (`jobs.invalidRequestExitCodes`) or a bad S3 path (INVALID_REQUEST), an empty source
 *   folder (SOURCE_EMPTY), a key that cannot be a local file (UNSAFE_KEY). Never counted.
 * - `instance`: the machine, not the request: the processor could not start (PROCESS_START: it is
 *   installed on the AMI), it crashed on a signal or an NTSTATUS code (PROCESS_CRASH: GPU driver
 *   faults end this way), S3 transfers failed after their retries (TRANSFER: the instance's
 *   network or role), the disk is full (DISK_FULL), the worker itself failed (WORKER_ERROR).
 *   Counted toward `fleet.unhealthyAfterFailures`.
 * - `unclear`: a plain non-zero exit (PROCESS_EXIT) or a timeout (PROCESS_TIMEOUT) is usually the
 *   processor's verdict on its input or a big job, but can be a sick GPU: not counted, but the
 *   preflight runs again, so a GPU that died is caught at once.
 * Unknown codes count as `instance`.
 */
export type FailureFault = "request" | "instance" | "unclear";

const REQUEST_FAULTS: readonly string[] = ["INVALID_REQUEST", "SOURCE_EMPTY", "UNSAFE_KEY"];
const UNCLEAR_FAULTS: readonly string[] = ["PROCESS_EXIT", "PROCESS_TIMEOUT"];

export function classifyFailure(code: string): FailureFault {
  if (REQUEST_FAULTS.includes(code)) return "request";
  if (UNCLEAR_FAULTS.includes(code)) return "unclear";
  return "instance";
}

/** What the breaker makes of one failed attempt. */
export interface FaultVerdict {
  fault: FailureFault;
  /** True once this instance is judged broken: the attempt is handed back instead of charged, and the instance leaves. */
  broken: boolean;
  /** Consecutive instance faults, counting each job once. */
  streak: number;
  /** Why the instance is judged broken. */
  reason?: string;
}

export interface InstanceBreakerOptions {
  /** `fleet.unhealthyAfterFailures`. */
  threshold: number;
  /** Runs the preflight again after a failure that is not the request's fault. */
  recheck?: () => Promise<PreflightReport>;
}

/**
 * The instance breaker: after `threshold` consecutive failures that are not the request's fault,
 * on as many different jobs (a job that keeps failing here says more about the job than about the
 * instance), or at once when the preflight fails again after such a failure, the instance is
 * judged broken. A success ends the streak; a request's fault leaves it as it is. Once broken it
 * stays broken.
 */
export class InstanceBreaker {
  readonly #o: InstanceBreakerOptions;
  readonly #streak: string[] = [];
  #broken: string | undefined;

  constructor(options: InstanceBreakerOptions) {
    if (!(Number.isInteger(options.threshold) && options.threshold >= 1)) throw new RangeError(`threshold must be a positive integer, got ${options.threshold}`);
    this.#o = options;
  }

  /** Why the instance was judged broken, once it was. */
  get broken(): string | undefined {
    return this.#broken;
  }

  get streak(): number {
    return this.#streak.length;
  }

  onSuccess(): void {
    this.#streak.length = 0;
  }

  async onFailure(jobId: string, code: string, message: string): Promise<FaultVerdict> {
    const fault = classifyFailure(code);
    if (fault === "request") return { fault, broken: !!this.#broken, streak: this.streak, ...(this.#broken ? { reason: this.#broken } : {}) };
    if (fault === "instance" && !this.#streak.includes(jobId)) this.#streak.push(jobId);
    if (!this.#broken && this.#o.recheck) {
      const report = await this.#o.recheck().catch((err: Error) => ({ ok: false, checks: [{ name: "workRoot" as const, ok: false, detail: `preflight could not run: ${err.message}`, durationMs: 0 }] }));
      if (!report.ok) this.#broken = `the preflight fails after ${code} on job ${jobId}: ${describePreflightFailures(report)}`;
    }
    if (!this.#broken && this.#streak.length >= this.#o.threshold)
      this.#broken = `${this.#streak.length} consecutive failures that are not the request's fault (fleet.unhealthyAfterFailures = ${this.#o.threshold}), the last ${code}: ${message.slice(0, 300)}`;
    return { fault, broken: !!this.#broken, streak: this.streak, ...(this.#broken ? { reason: this.#broken } : {}) };
  }
}
