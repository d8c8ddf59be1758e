import type { JobRecord } from "../../core/job.ts";
import type { FleetInstanceView } from "../../scripts/local/fleet.ts";
import type { FleetControlClient } from "./e2e-control.ts";
import type { JobsClient } from "./e2e-jobs.ts";
import type { SeededRandom } from "./e2e-random.ts";
import { sleep } from "./e2e-wait.ts";

/** A fault the monkey injected, with the job that was running where it struck. */
export interface InjectedFault {
  kind: "kill" | "spot-notice";
  instanceId: string;
  jobId: string;
  attempt: number;
  /** The worker pid a kill ended. */
  pid?: number;
  at: string;
  /**
   * Whether it had its effect on the job: a kill's attempt LOST (taken over elsewhere), a notice's
   * INTERRUPTED (handed back); `missed` when the attempt ended otherwise (it finished before the
   * worker read the notice); `pending` until the attempt ends.
   */
  effect: "pending" | "landed" | "missed";
}

export interface ChaosOptions {
  random: SeededRandom;
  jobs: JobsClient;
  control: FleetControlClient;
  /** At most this many worker SIGKILLs (`POST /instances/{id}/kill`). */
  maxKills: number;
  /** At most this many Spot notices (`POST /instances/{id}/interrupt`). */
  maxNotices: number;
  /** Chance of a kill, then of a notice, on each turn (the rest: nothing). */
  killChance: number;
  noticeChance: number;
  /** Pause between turns, milliseconds, drawn uniformly. */
  pauseMs: [number, number];
  /** Whether a running job may be hit by a kill (the test keeps every job within its attempt budget). */
  mayKill: (job: JobRecord) => boolean;
  /** Whether a running job may be hit by a Spot notice. */
  mayInterrupt: (job: JobRecord) => boolean;
  /**
   * Faults of each kind that must land (have their effect) whatever the seed: while one is owed,
   * every turn plays it (chance aside) and a fault that missed is owed again. @default none
   */
  minimums?: { kills?: number; notices?: number };
  /** Asks for a job the owed fault can strike, when none has been running for a while. */
  bait?: () => Promise<void>;
}

/**
 * Injects faults into a running stack through its public surfaces, as an operator would: it
 * looks at the RUNNING jobs (the jobs API) and the instances (the control surface), picks a
 * running job the test allows, and SIGKILLs its worker or posts a Spot notice on its instance.
 * Every choice comes from the seeded stream. Answers that only mean "too late" (the instance is
 * gone or terminating, the worker is restarting) are skipped; anything else is kept in `errors`.
 * `minimums` are owed until they land (checked on the job's history), so no seed skips a case.
 */
export class ChaosMonkey {
  readonly faults: InjectedFault[] = [];
  readonly errors: string[] = [];
  readonly #o: ChaosOptions;
  #running = false;
  #loop: Promise<void> | undefined;
  /** Since when an owed fault has found nothing to strike. */
  #noTargetSince: number | undefined;

  constructor(options: ChaosOptions) {
    this.#o = options;
  }

  get kills(): number {
    return this.faults.filter((f) => f.kind === "kill").length;
  }

  get notices(): number {
    return this.faults.filter((f) => f.kind === "spot-notice").length;
  }

  /** Faults of a kind that had their effect. */
  landed(kind: InjectedFault["kind"]): number {
    return this.faults.filter((f) => f.kind === kind && f.effect === "landed").length;
  }

  /** True once every minimum has landed. */
  get satisfied(): boolean {
    return this.#owed() === undefined && !this.faults.some((f) => f.effect === "pending" && this.#short(f.kind));
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        await sleep(this.#o.random.int(...this.#o.pauseMs));
        if (!this.#running) break;
        try {
          await this.#turn();
        } catch (err) {
          this.errors.push(`chaos turn failed: ${(err as Error).message}`);
        }
      }
    })();
  }

  /** Stops after the turn under way. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  /** A kind still short of its minimum, counting faults whose effect is still pending as landing. */
  #owed(): InjectedFault["kind"] | undefined {
    const m = this.#o.minimums ?? {};
    const counting = (k: InjectedFault["kind"]) => this.faults.filter((f) => f.kind === k && f.effect !== "missed").length;
    if (counting("kill") < (m.kills ?? 0)) return "kill";
    if (counting("spot-notice") < (m.notices ?? 0)) return "spot-notice";
    return undefined;
  }

  #short(kind: InjectedFault["kind"]): boolean {
    const m = this.#o.minimums ?? {};
    return this.landed(kind) < ((kind === "kill" ? m.kills : m.notices) ?? 0);
  }

  /** Settles the effect of faults whose attempt has ended. */
  async #checkEffects(): Promise<void> {
    for (const f of this.faults.filter((x) => x.effect === "pending")) {
      const entry = (await this.#o.jobs.get(f.jobId)).attemptHistory?.find((a) => a.attempt === f.attempt);
      if (!entry) continue;
      const wanted = f.kind === "kill" ? entry.outcome === "LOST" : entry.outcome === "INTERRUPTED" && entry.error?.code === "INTERRUPTED";
      f.effect = wanted ? "landed" : "missed";
    }
  }

  async #turn(): Promise<void> {
    const o = this.#o;
    await this.#checkEffects();
    const owed = this.#owed();
    const r = o.random.next();
    const kind = owed ?? (r < o.killChance ? "kill" : r < o.killChance + o.noticeChance ? "spot-notice" : undefined);
    if (!kind) return;
    if (!owed && kind === "kill" && this.kills >= o.maxKills) return;
    if (!owed && kind === "spot-notice" && this.notices >= o.maxNotices) return;

    const [running, instances] = await Promise.all([o.jobs.list("RUNNING"), o.control.instances()]);
    const healthy = new Map<string, FleetInstanceView>(
      instances.filter((i) => i.lifecycleState === "InService" && !i.spotInterruption && i.pid !== undefined).map((i) => [i.instanceId, i]),
    );
    const allowed = kind === "kill" ? o.mayKill : o.mayInterrupt;
    // A killed worker's record stays RUNNING until another worker takes the job over: the job on
    // an instance is the one it started last, and an attempt already hit is not hit again.
    const current = new Map<string, JobRecord>();
    for (const j of running) {
      const other = j.instanceId ? current.get(j.instanceId) : undefined;
      if (j.instanceId && (!other || (other.startedAt ?? "") < (j.startedAt ?? ""))) current.set(j.instanceId, j);
    }
    const hit = new Set(this.faults.map((f) => `${f.jobId}/${f.attempt}`));
    // Jobs whose processor is at work: the fault hits a job in the middle, not one just finishing.
    const targets = [...current.values()].filter(
      (j) => healthy.has(j.instanceId!) && j.progress?.phase === "process" && !hit.has(`${j.jobId}/${j.attempts}`) && allowed(j),
    );
    if (targets.length === 0) {
      // An owed fault with nothing to strike for a while: ask for a job it can strike.
      this.#noTargetSince ??= Date.now();
      if (owed && o.bait && Date.now() - this.#noTargetSince > 8_000) {
        this.#noTargetSince = undefined;
        await o.bait();
      }
      return;
    }
    this.#noTargetSince = undefined;
    const job = o.random.pick(targets.sort((a, b) => a.jobId.localeCompare(b.jobId)));
    const instanceId = job.instanceId!;
    const fault = { kind, instanceId, jobId: job.jobId, attempt: job.attempts, at: new Date().toISOString(), effect: "pending" } as const;

    const answer = kind === "kill" ? await o.control.kill(instanceId) : await o.control.interrupt(instanceId);
    if (answer.status === 202) {
      const pid = "killedPid" in answer.body ? answer.body.killedPid : undefined;
      this.faults.push({ ...fault, ...(pid !== undefined ? { pid } : {}) });
    } else if (answer.status !== 404 && answer.status !== 409) {
      this.errors.push(`${kind} of ${instanceId} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    }
  }
}
