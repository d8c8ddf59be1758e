/** Where a job stands. The jobs table is the truth; the queue message only carries work. */
export const JobState = {
  QUEUED: "QUEUED",
  RUNNING: "RUNNING",
  SUCCEEDED: "SUCCEEDED",
  FAILED: "FAILED",
  CANCELLING: "CANCELLING",
  CANCELLED: "CANCELLED",
} as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

export const JOB_STATES: readonly JobState[] = Object.values(JobState);

/**
 * The legal transitions (DESIGN §3), as data.
 * - RUNNING→QUEUED: a retry after a failed attempt, or a Spot interruption.
 * - RUNNING→RUNNING: a new attempt takes over a message whose previous worker was lost
 *   (crashed or stopped heartbeating); the attempt number moves on, so the lost worker's
 *   later writes are refused.
 * - CANCELLING→CANCELLED: the worker stopped the processor; CANCELLING→FAILED/SUCCEEDED are
 *   not allowed, but a lost worker's CANCELLING job may be closed by the next receiver.
 * - FAILED→QUEUED: an operator redrives the job from the DLQ (`spotq redrive`); nothing else
 *   leaves a finished state.
 */
export const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  QUEUED: ["RUNNING", "CANCELLED", "FAILED"],
  RUNNING: ["SUCCEEDED", "FAILED", "QUEUED", "RUNNING", "CANCELLING"],
  CANCELLING: ["CANCELLED"],
  SUCCEEDED: [],
  FAILED: ["QUEUED"],
  CANCELLED: [],
};

/** States in which a job is finished: no worker will touch it again. */
export const TERMINAL_STATES: readonly JobState[] = ["SUCCEEDED", "FAILED", "CANCELLED"];

/** Whether a job may move from one state to another. */
export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from]?.includes(to) ?? false;
}

/** Finished states: only an operator's redrive (FAILED→QUEUED) leaves one. */
export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.includes(state);
}

/** The states from which a job may move to `to`. */
export function statesLeadingTo(to: JobState): JobState[] {
  return JOB_STATES.filter((from) => canTransition(from, to));
}

export function isJobState(v: unknown): v is JobState {
  return typeof v === "string" && (JOB_STATES as readonly string[]).includes(v);
}
