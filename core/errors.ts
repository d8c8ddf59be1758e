/** One problem with an input: which field, and why it was refused. */
export interface Problem {
  /** The field, as the user wrote it (`Use GPU`, `fleet.maxSize`, `body`). */
  field: string;
  /** Why it was refused, in words a user can act on. */
  reason: string;
}

/** Base of every spotq error: carries a machine-readable code and the cause. */
export class SpotqError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SpotqError";
    this.code = code;
  }
}

/** An input (request, config, CLI argument) failed validation; `problems` lists every reason. */
export class ValidationError extends SpotqError {
  readonly problems: Problem[];
  constructor(what: string, problems: Problem[]) {
    super("VALIDATION", `${what}: ${problems.map((p) => `${p.field}: ${p.reason}`).join("; ")}`);
    this.name = "ValidationError";
    this.problems = problems;
  }
}

/** A conditional state write lost: another attempt (or a cancel) changed the job first. */
export class StaleTransitionError extends SpotqError {
  readonly jobId: string;
  constructor(jobId: string, message: string, options?: { cause?: unknown }) {
    super("STALE_TRANSITION", message, options);
    this.name = "StaleTransitionError";
    this.jobId = jobId;
  }
}

/** Result of a safe parse: the value, or every problem found. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };
