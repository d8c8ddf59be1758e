import type { JobError } from "../core/job.ts";
import { SpotqError } from "../core/errors.ts";

/**
 * Why an attempt failed, as the job record shows it (`error.code`), and whether another attempt
 * could succeed. A request the processor rejects as invalid, an empty source folder or a command
 * that does not exist fail the same way every time, so they do not burn retries.
 */
export class JobFailure extends SpotqError {
  readonly retryable: boolean;
  readonly exitCode?: number;
  constructor(code: string, message: string, options: { retryable: boolean; exitCode?: number; cause?: unknown }) {
    super(code, message, { cause: options.cause });
    this.name = "JobFailure";
    this.retryable = options.retryable;
    if (options.exitCode !== undefined) this.exitCode = options.exitCode;
  }

  /** The `{code, message}` stored in the job record. */
  toJobError(): JobError {
    return { code: this.code, message: this.message };
  }
}

/**
 * Why the worker stops an attempt before it ends by itself:
 * - `interrupt`: Spot notice, rebalance recommendation or shutdown; the message goes back at once;
 * - `cancel`: the user cancelled (the record is CANCELLING);
 * - `lost`: another attempt owns the job now (its message came back); touch nothing.
 */
export class StopRequest extends Error {
  readonly kind: "interrupt" | "cancel" | "lost";
  constructor(kind: "interrupt" | "cancel" | "lost", why: string) {
    super(why);
    this.name = "StopRequest";
    this.kind = kind;
  }
}
