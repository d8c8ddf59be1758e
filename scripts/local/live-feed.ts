/**
 * What `npm start` prints after `ready`: one line per job state change and one per fleet change,
 * so the terminal shows what the stack does while you use it.
 *
 * Job changes come from a {@link JobChangeSource}. Today that is {@link StorePollingJobChanges},
 * which polls the jobs table (the truth for state) about once a second; when job events are
 * published on a queue (`<name>-events`), a source reading that queue plugs in here and the lines
 * stay the same. Fleet changes come from the local fleet's typed events.
 */
import type { JobRecord } from "../../core/job.ts";
import { TERMINAL_STATES, type JobState } from "../../core/job-state.ts";
import type { JobStore } from "../../core/ports.ts";
import { FLEET_EVENT_NAMES, type FleetEvents, type LocalFleet } from "./fleet.ts";

/** One observed change of a job: it appeared, or its state, attempt or instance moved on. */
export interface JobChange {
  job: JobRecord;
  /** The state it had when last seen; undefined for a job seen for the first time. */
  previous?: JobState;
}

/** Where job changes come from (a poller of the table today, a job events queue later). */
export interface JobChangeSource {
  /** Starts delivering changes; the returned function stops it (and resolves once stopped). */
  start(onChange: (change: JobChange) => void): () => Promise<void>;
}

export interface StorePollingOptions {
  /** @default 1000 */
  intervalMs?: number;
  /** Newest jobs read each poll, to see a job that finished between two polls. @default 25 */
  newest?: number;
  /** Reports a failed poll (the feed goes on). */
  onError?: (err: Error) => void;
}

const ACTIVE_STATES: readonly JobState[] = ["QUEUED", "RUNNING", "CANCELLING"];

/** What makes a change worth a line: state, attempt and instance (not progress). */
function signature(j: JobRecord): string {
  return `${j.state}|${j.attempts}|${j.instanceId ?? ""}`;
}

/**
 * Polls the jobs table: the jobs in each active state, the newest few, and (one by one) any job
 * it followed that left the active states. Jobs already there when it starts are the baseline:
 * only later changes are reported. A change that is faster than a poll shows as one jump
 * (QUEUED → SUCCEEDED), never as a state the job did not reach.
 */
export class StorePollingJobChanges implements JobChangeSource {
  readonly #store: JobStore;
  readonly #o: Required<Omit<StorePollingOptions, "onError">> & Pick<StorePollingOptions, "onError">;

  constructor(store: JobStore, o: StorePollingOptions = {}) {
    this.#store = store;
    this.#o = { intervalMs: o.intervalMs ?? 1000, newest: o.newest ?? 25, ...(o.onError ? { onError: o.onError } : {}) };
  }

  /** The jobs the table holds now, by id, as one poll sees them. */
  async snapshot(known: ReadonlyMap<string, JobRecord> = new Map()): Promise<Map<string, JobRecord>> {
    const seen = new Map<string, JobRecord>();
    const pages = await Promise.all([
      ...ACTIVE_STATES.map((state) => this.#store.list({ state, limit: 100 })),
      this.#store.list({ limit: this.#o.newest }),
    ]);
    for (const page of pages) for (const j of page.items) seen.set(j.jobId, j);
    // A job we followed that is in none of those lists finished (or was redriven) since: read it.
    const missing = [...known.values()].filter((j) => !seen.has(j.jobId) && !TERMINAL_STATES.includes(j.state));
    for (const j of await Promise.all(missing.map((m) => this.#store.get(m.jobId)))) if (j) seen.set(j.jobId, j);
    return seen;
  }

  start(onChange: (change: JobChange) => void): () => Promise<void> {
    const tracker = new JobChangeTracker();
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> = Promise.resolve();
    const poll = async () => {
      try {
        for (const change of tracker.observe(await this.snapshot(tracker.following()))) onChange(change);
      } catch (err) {
        this.#o.onError?.(err as Error);
      }
    };
    const loop = () => {
      running = poll().finally(() => {
        if (!stopped) timer = setTimeout(loop, this.#o.intervalMs);
      });
    };
    loop();
    return async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    };
  }
}

/**
 * Turns successive snapshots of the jobs table into changes. The first snapshot is the baseline
 * (jobs already there are not reported); after it, a job seen for the first time, or seen with
 * another state, attempt or instance, is one change. Finished jobs are forgotten once reported,
 * so it keeps only the active set.
 */
export class JobChangeTracker {
  /** Jobs not finished when last seen. */
  #known = new Map<string, JobRecord>();
  /** Finished jobs of the last snapshot (the newest-jobs list shows them again and again). */
  #finished = new Set<string>();
  #baseline = true;

  /** The jobs it follows (not finished when last seen), for the next snapshot to look up. */
  following(): ReadonlyMap<string, JobRecord> {
    return this.#known;
  }

  observe(snapshot: ReadonlyMap<string, JobRecord>): JobChange[] {
    const changes: JobChange[] = [];
    if (!this.#baseline)
      for (const [id, job] of snapshot) {
        const before = this.#known.get(id);
        if (before) {
          if (signature(before) !== signature(job)) changes.push({ job, previous: before.state });
        } else if (!(TERMINAL_STATES.includes(job.state) && this.#finished.has(id))) changes.push({ job });
      }
    this.#baseline = false;
    this.#known = new Map([...snapshot].filter(([, j]) => !TERMINAL_STATES.includes(j.state)));
    this.#finished = new Set([...snapshot].filter(([, j]) => TERMINAL_STATES.includes(j.state)).map(([id]) => id));
    return changes;
  }
}

/** The line for one job change, e.g. `job 01M8… RUNNING on i-0ab… (attempt 1), was QUEUED`. */
export function jobChangeLine({ job, previous }: JobChange): string {
  const parts = [`job ${job.jobId} ${job.state}`];
  if (job.instanceId && (job.state === "RUNNING" || job.state === "CANCELLING")) parts.push(`on ${job.instanceId}`);
  if (job.attempts > 0 && job.state !== "QUEUED") parts.push(`(attempt ${job.attempts})`);
  let line = parts.join(" ");
  if (previous && previous !== job.state) line += `, was ${previous}`;
  else if (previous) line += ", a new attempt took over";
  else if (!previous) line += job.state === "QUEUED" ? ", new" : ", new (seen first in this state)";
  if (job.error && (job.state === "FAILED" || job.state === "QUEUED")) line += `: ${job.error.code}: ${job.error.message}`;
  return line;
}

/** Fleet events not worth a line each: the alarm is evaluated every period. */
const QUIET_FLEET_EVENTS = new Set<keyof FleetEvents>(["alarm_evaluated"]);

/** The line for one fleet event; a new event kind still gets a generic line. */
export function fleetEventLine<K extends keyof FleetEvents>(name: K, e: FleetEvents[K][0]): string | undefined {
  const x = e as Record<string, unknown>;
  switch (name) {
    case "desired_changed":
      return `fleet: desired capacity ${String(x.before)} -> ${String(x.after)} (${String(x.reason)})`;
    case "instance_launched":
      return `fleet: instance ${String(x.instanceId)} launched (booting)`;
    case "instance_in_service":
      return `fleet: instance ${String(x.instanceId)} in service, worker started`;
    case "instance_terminating":
      return `fleet: instance ${String(x.instanceId)} terminating (${String(x.reason)})`;
    case "instance_terminated":
      return `fleet: instance ${String(x.instanceId)} terminated (${String(x.reason)})`;
    case "worker_exited":
      return `fleet: worker on ${String(x.instanceId)} exited (${x.signal ? `signal ${String(x.signal)}` : `code ${String(x.code)}`})${x.restart ? ", restarting" : ""}`;
    case "worker_restarted":
      return `fleet: worker on ${String(x.instanceId)} restarted (restart ${String(x.restarts)})`;
    case "spot_interruption":
      return `fleet: Spot interruption notice for ${String(x.instanceId)} (${String(x.action)} at ${String(x.time)})`;
    case "rebalance_recommendation":
      return `fleet: rebalance recommendation for ${String(x.instanceId)}`;
    case "scale_in_waiting":
      return `fleet: scale-in waits: ${String(x.excess)} instance(s) over desired, all protected (busy)`;
    case "alarm_fired":
      return `fleet: queue-depth alarm fired (backlog ${String(x.value)}, step ${String(x.step)}): desired ${String(x.before)} -> ${String(x.after)}`;
    case "scaling_error":
      return `fleet: reading the backlog failed: ${(e as Error).message}`;
    default:
      return QUIET_FLEET_EVENTS.has(name) ? undefined : `fleet: ${String(name).replace(/_/g, " ")} ${JSON.stringify(e)}`;
  }
}

/** Prints a line for every fleet event as it happens; returns the function that stops it. */
export function followFleet(fleet: LocalFleet, say: (line: string) => void): () => void {
  const listeners = FLEET_EVENT_NAMES.filter((n) => !QUIET_FLEET_EVENTS.has(n)).map((name) => {
    const listener = (e: unknown) => {
      const line = fleetEventLine(name, e as never);
      if (line) say(line);
    };
    fleet.on(name, listener as never);
    return () => fleet.off(name, listener as never);
  });
  return () => {
    for (const off of listeners) off();
  };
}

/** A wall-clock prefix for live lines: `[14:03:07]`. */
export function clockPrefix(d = new Date()): string {
  return `[${d.toTimeString().slice(0, 8)}]`;
}
