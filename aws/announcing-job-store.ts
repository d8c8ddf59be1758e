import { jobStateChange, type JobEvents } from "../core/job-events.ts";
import type { RunFacts } from "../core/job-result.ts";
import type { JobRecord } from "../core/job.ts";
import { isTerminal, JobState } from "../core/job-state.ts";
import type { Expected, FleetControl, JobListPage, JobListQuery, JobStore } from "../core/ports.ts";
import type { JobResults } from "./job-results.ts";

/** What could not be delivered after a transition that did happen. */
export type DeliveryKind = "event" | "result";

/** Told about each delivery that failed or timed out: log it and count it (a metric). */
export type DeliveryFailureHandler = (kind: DeliveryKind, jobId: string, error: Error) => void;

export interface JobAnnouncerOptions {
  /** `config.name`, part of every event and line. */
  deployment: string;
  /** Where state changes are published; absent: none. */
  events?: JobEvents;
  /** Where finished jobs leave their result file and analytics line; absent: nothing. */
  results?: JobResults;
  /** The instance type a record's attempt ran on (for the result file and the cost figures). */
  instanceType?: (record: JobRecord) => Promise<string | undefined>;
  onFailure?: DeliveryFailureHandler;
  /** A publish that takes longer is given up (aborted) and counted as failed. @default 3000 */
  eventTimeoutMs?: number;
  /** Result writes that take longer are given up. @default 10000 */
  resultTimeoutMs?: number;
}

/**
 * Announces job state changes after they happened: an event for every state a job enters, and the
 * result file and analytics line once it is finished. Delivery is bounded in time and never
 * throws: a failed publish is reported to `onFailure` (log + metric) and the transition stands.
 */
export class JobAnnouncer {
  readonly #o: JobAnnouncerOptions;

  constructor(options: JobAnnouncerOptions) {
    this.#o = options;
  }

  /** The store whose successful transitions (and non-QUEUED creates) are announced. */
  wrap(store: JobStore): JobStore {
    return new AnnouncingJobStore(store, this);
  }

  /**
   * Announces that `record` entered its state, leaving `previousState` (null: it was created in it).
   * A submit calls this itself once the job is enqueued, so no QUEUED event ever names a job whose
   * enqueue failed.
   */
  async announce(record: JobRecord, previousState: JobState | null): Promise<void> {
    const { events, results } = this.#o;
    const work: Promise<void>[] = [];
    if (events) work.push(this.#bounded("event", record.jobId, this.#o.eventTimeoutMs ?? 3_000, (signal) => events.publish(jobStateChange(record, previousState, this.#o.deployment), { signal })));
    if (results && isTerminal(record.state))
      work.push(
        this.#bounded("result", record.jobId, this.#o.resultTimeoutMs ?? 10_000, async (signal) => {
          const facts: RunFacts = {};
          const type = record.instanceId ? await this.#o.instanceType?.(record).catch(() => undefined) : undefined;
          if (type) facts.instanceType = type;
          await results.write(record, facts, { signal });
        }),
      );
    await Promise.all(work);
  }

  async #bounded(kind: DeliveryKind, jobId: string, ms: number, run: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        run(abort.signal),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const e = new Error(`no answer within ${ms} ms`);
            abort.abort(e);
            reject(e);
          }, ms);
        }),
      ]);
    } catch (err) {
      try {
        this.#o.onFailure?.(kind, jobId, err instanceof Error ? err : new Error(String(err)));
      } catch {
        // A failing logger must not fail the transition either.
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The state a conditional write left: what it expected, when that is one state. */
function previousOf(expected: Expected): JobState | null {
  if (!Array.isArray(expected.state)) return expected.state as JobState;
  return expected.state.length === 1 ? (expected.state[0] as JobState) : null;
}

/**
 * A {@link JobStore} that announces each successful transition through its {@link JobAnnouncer}
 * after the write, and a record created in a state other than QUEUED (a refused upload's FAILED
 * record). A refused (stale) write announces nothing.
 */
export class AnnouncingJobStore implements JobStore {
  readonly #inner: JobStore;
  readonly #announcer: JobAnnouncer;

  constructor(inner: JobStore, announcer: JobAnnouncer) {
    this.#inner = inner;
    this.#announcer = announcer;
  }

  async create(record: JobRecord): Promise<{ created: boolean; record: JobRecord }> {
    const r = await this.#inner.create(record);
    if (r.created && r.record.state !== JobState.QUEUED) await this.#announcer.announce(r.record, null);
    return r;
  }

  get(jobId: string): Promise<JobRecord | undefined> {
    return this.#inner.get(jobId);
  }

  async transition(jobId: string, expected: Expected, to: JobState, patch?: Partial<JobRecord>): Promise<JobRecord> {
    const record = await this.#inner.transition(jobId, expected, to, patch);
    await this.#announcer.announce(record, previousOf(expected));
    return record;
  }

  update(jobId: string, expected: Expected, patch: Partial<JobRecord>): Promise<JobRecord> {
    return this.#inner.update(jobId, expected, patch);
  }

  list(query: JobListQuery): Promise<JobListPage> {
    return this.#inner.list(query);
  }

  remove(jobId: string): Promise<void> {
    return this.#inner.remove(jobId);
  }
}

/**
 * The instance type of a record's instance, from the group's description (cached per instance):
 * Auto Scaling knows it for every instance of the group, the local fleet too.
 */
export function instanceTypeFromGroup(fleet: FleetControl): (record: JobRecord) => Promise<string | undefined> {
  const known = new Map<string, string>();
  return async (record) => {
    const id = record.instanceId;
    if (!id) return undefined;
    const cached = known.get(id);
    if (cached) return cached;
    const group = await fleet.describeGroup();
    for (const i of group.instances) if (i.instanceType) known.set(i.instanceId, i.instanceType);
    return known.get(id);
  };
}
