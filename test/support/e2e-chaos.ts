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
}

/**
 * Injects faults into a running stack through its public surfaces, as an operator would: it
 * looks at the RUNNING jobs (the jobs API) and the instances (the control surface), picks a
 * running job the test allows, and SIGKILLs its worker or posts a Spot notice on its instance.
 * Every choice comes from the seeded stream. Answers that only mean "too late" (the instance is
 * gone or terminating, the worker is restarting) are skipped; anything else is kept in `errors`.
 */
export class ChaosMonkey {
  readonly faults: InjectedFault[] = [];
  readonly errors: string[] = [];
  readonly #o: ChaosOptions;
  #running = false;
  #loop: Promise<void> | undefined;

  constructor(options: ChaosOptions) {
    this.#o = options;
  }

  get kills(): number {
    return this.faults.filter((f) => f.kind === "kill").length;
  }

  get notices(): number {
    return this.faults.filter((f) => f.kind === "spot-notice").length;
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

  async #turn(): Promise<void> {
    const o = this.#o;
    const r = o.random.next();
    const kind = r < o.killChance ? "kill" : r < o.killChance + o.noticeChance ? "spot-notice" : undefined;
    if (!kind) return;
    if (kind === "kill" && this.kills >= o.maxKills) return;
    if (kind === "spot-notice" && this.notices >= o.maxNotices) return;

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
    if (targets.length === 0) return;
    const job = o.random.pick(targets.sort((a, b) => a.jobId.localeCompare(b.jobId)));
    const instanceId = job.instanceId!;
    const fault = { kind, instanceId, jobId: job.jobId, attempt: job.attempts, at: new Date().toISOString() } as const;

    const answer = kind === "kill" ? await o.control.kill(instanceId) : await o.control.interrupt(instanceId);
    if (answer.status === 202) {
      const pid = "killedPid" in answer.body ? answer.body.killedPid : undefined;
      this.faults.push({ ...fault, ...(pid !== undefined ? { pid } : {}) });
    } else if (answer.status !== 404 && answer.status !== 409) {
      this.errors.push(`${kind} of ${instanceId} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    }
  }
}
