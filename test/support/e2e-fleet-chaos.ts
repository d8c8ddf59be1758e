import { writeFileSync } from "node:fs";
import path from "node:path";
import type { AttemptRecord, JobRecord } from "../../core/job.ts";
import type { FleetInstanceView } from "../../scripts/local/fleet.ts";
import type { FleetControlClient } from "./e2e-control.ts";
import type { FleetEntry, FleetWatch } from "./e2e-fleet-watch.ts";
import type { JobsClient } from "./e2e-jobs.ts";
import type { FleetOperator } from "./e2e-operator.ts";
import type { SeededRandom } from "./e2e-random.ts";
import { sleep } from "./e2e-wait.ts";

/** What the fleet monkey does to a running stack, one kind per act. */
export const ACT_KINDS = [
  /** SIGKILL the worker of an instance running a job (the service manager restarts it; the job comes back LOST). */
  "kill",
  /** A Spot interruption notice on an instance running a long job (handed back at once: INTERRUPTED). */
  "spot-notice",
  /** A rebalance recommendation on an instance running a job (Capacity Rebalancing replaces it; the job finishes). */
  "rebalance",
  /** SetInstanceHealth Unhealthy on an instance running a long job, as an EC2 status check would (terminate hook: the job finishes). */
  "unhealthy",
  /** Desired capacity lowered by one (scale-in of an unprotected instance, through the terminate hook). */
  "scale-in",
  /** A new launch template version, then an instance refresh (Rolling, protected instances waited for). */
  "instance-refresh",
  /** One zone out of capacity (InsufficientInstanceCapacity) until the group leans to the other, then AZRebalance resumed until it rebalances. */
  "az-rebalance",
  /** The account's vCPU quota refuses the next launch (VcpuLimitExceeded). */
  "launch-failure",
  /** A burst of failed boots (user data dies) until the boot breaker trips; then the fix and `spotq fleet resume`. */
  "boot-failures",
  /** One instance's GPU dies: its GPU check fails and its processor crashes; its worker must take it out. */
  "bad-instance",
] as const;
export type ActKind = (typeof ACT_KINDS)[number];

/** Acts after which the group launches an instance, so a launch failure injected right before one lands at once. */
const LAUNCHING_ACTS: readonly ActKind[] = ["spot-notice", "rebalance", "unhealthy", "instance-refresh"];

export interface PlannedAct {
  kind: ActKind;
  /** Pause before the act, ms. */
  pauseMs: number;
}

/** Acts whose effect takes a visibility timeout to show (a killed worker's job is taken over once its message comes back). */
const SLOW_ACTS: readonly ActKind[] = ["kill"];

/**
 * The seeded script: every kind at least its minimum (so no seed skips a case), plus up to
 * `extras` more of some kinds, in a seeded order with seeded pauses. A launch failure goes right
 * before an act that makes the group launch. Slow acts (kills) go at seeded places before the
 * last `slowNotInLast` acts, so the run does not end waiting a visibility timeout for them alone.
 */
export function planActs(
  random: SeededRandom,
  o: { minimums: Record<ActKind, number>; extras?: Partial<Record<ActKind, number>>; pauseMs: [number, number]; slowNotInLast?: number },
): PlannedAct[] {
  const kinds: ActKind[] = [];
  for (const kind of ACT_KINDS) {
    const n = o.minimums[kind] + (o.extras?.[kind] ? random.int(0, o.extras[kind]!) : 0);
    for (let i = 0; i < n; i++) kinds.push(kind);
  }
  const acts: ActKind[] = random.shuffle(kinds.filter((k) => k !== "launch-failure" && !SLOW_ACTS.includes(k)));
  for (const k of kinds.filter((k) => SLOW_ACTS.includes(k))) acts.splice(random.int(0, Math.max(0, acts.length - (o.slowNotInLast ?? 0))), 0, k);
  for (const k of kinds.filter((k) => k === "launch-failure")) {
    const spots = acts.flatMap((a, i) => (LAUNCHING_ACTS.includes(a) ? [i] : []));
    if (spots.length === 0) throw new Error("a launch failure needs an act after it that makes the group launch");
    acts.splice(random.pick(spots), 0, k);
  }
  return acts.map((kind) => ({ kind, pauseMs: random.int(...o.pauseMs) }));
}

/** One fault injected, and whether it had the effect it was aimed at. */
export interface Fault {
  kind: ActKind;
  at: string;
  instanceId?: string;
  jobId?: string;
  attempt?: number;
  /** `landed`: the effect was seen; `missed`: it was not and cannot be any more (a new act of the kind is queued); `pending`: not yet known. */
  status: "pending" | "landed" | "missed";
  why?: string;
  detail: Record<string, unknown>;
  /** Fleet events recorded before the fault (index into the watch), to look only at what came after. */
  mark: number;
}

export interface FleetChaosOptions {
  random: SeededRandom;
  jobs: JobsClient;
  control: FleetControlClient;
  operator: FleetOperator;
  watch: FleetWatch;
  acts: readonly PlannedAct[];
  minimums: Record<ActKind, number>;
  /** The planned kind of a job ("short", "long", "flaky", "crash"). */
  kindOf: (jobId: string) => string | undefined;
  /** Asks the feed for a long job now, when nothing the act may strike is running. */
  bait: () => Promise<void>;
  /** The bad-GPU file's name, relative to an instance's folder (FAKE_NVIDIA_SMI_FAIL_FILE). */
  badFile: string;
  /** How long an act looks for a running job to strike before it asks for a long job. @default 8000 */
  baitAfterMs?: number;
  /** Generous upper bound for a target or a condition to turn up; only a stuck run reaches it. @default 240000 */
  stuckMs?: number;
}

const TERMINATING_OR_GONE = /^Terminat/;

/** Attempts that count against maxAttempts. */
export function failedOrLost(history: readonly AttemptRecord[] | undefined): number {
  return (history ?? []).filter((a) => (a.outcome === "FAILED" || a.outcome === "LOST") && !a.redriven).length;
}

/**
 * The fleet monkey: plays a seeded script of acts against a running stack through what an operator
 * and AWS have — the fleet's control surface (EC2's side: notices, health checks, capacity, boots),
 * the Auto Scaling API (suspend/resume processes, `spotq fleet resume`), an instance's disk (its GPU
 * dying) — and the jobs API to pick targets. Every act is checked for its effect; an act whose
 * effect cannot come any more (the job finished before the notice was read) is played again, so
 * each kind lands at least its minimum whatever the seed. `run()` resolves once every minimum has
 * landed and nothing is pending; it rejects when a target or a condition never turns up.
 */
export class FleetChaos {
  readonly faults: Fault[] = [];
  readonly log: string[] = [];
  readonly #o: FleetChaosOptions;
  readonly #queue: PlannedAct[];
  /** Instances struck by a lasting fault (notice, rebalance, health, bad GPU): left alone afterwards. */
  readonly #marked = new Set<string>();
  #stopped = false;

  constructor(options: FleetChaosOptions) {
    this.#o = options;
    this.#queue = [...options.acts];
  }

  /** Faults of a kind with that status. */
  count(kind: ActKind, status: Fault["status"] = "landed"): number {
    return this.faults.filter((f) => f.kind === kind && f.status === status).length;
  }

  /** The kinds still short of their minimum. */
  shortOf(): ActKind[] {
    return ACT_KINDS.filter((k) => this.count(k) < this.#o.minimums[k]);
  }

  stop(): void {
    this.#stopped = true;
  }

  async run(): Promise<void> {
    let idleSince: number | undefined;
    while (!this.#stopped) {
      await this.#check();
      const overdue = this.faults.find((f) => f.status === "pending" && Date.now() - Date.parse(f.at) > this.#stuckMs);
      if (overdue) throw new Error(`${overdue.kind}${overdue.instanceId ? ` on ${overdue.instanceId}` : ""} had no effect within ${this.#stuckMs / 1000} s: ${JSON.stringify(overdue)}`);
      const act = this.#queue.shift();
      if (!act) {
        if (!this.faults.some((f) => f.status === "pending") && this.shortOf().length === 0) return;
        // Some effects need work flowing (a bad GPU shows on a job; a killed worker's job must be taken over).
        const busy = (await this.#o.jobs.list("QUEUED")).length + (await this.#o.jobs.list("RUNNING")).length > 0;
        idleSince = busy ? undefined : (idleSince ?? Date.now());
        if (idleSince !== undefined && Date.now() - idleSince > 5_000) {
          this.#say(`waiting on ${this.faults.filter((f) => f.status === "pending").map((f) => f.kind).join(", ")} with no work: asking for a long job`);
          await this.#o.bait();
          idleSince = undefined;
        }
        await sleep(500);
        continue;
      }
      await sleep(act.pauseMs);
      if (this.#stopped) return;
      this.#say(`act ${act.kind}`);
      await this.#perform(act.kind);
    }
  }

  async #perform(kind: ActKind): Promise<void> {
    switch (kind) {
      case "kill":
        return this.#strikeJob(kind, (j) => this.#o.kindOf(j.jobId) !== "crash" && failedOrLost(j.attemptHistory) === 0, (i) => this.#o.control.kill(i), false);
      case "spot-notice":
        // A long job that started lately: the worker reads IMDS every 5 s, and must find it still at work.
        return this.#strikeJob(kind, (j) => this.#o.kindOf(j.jobId) === "long" && ageMs(j.startedAt) < 6_000, (i) => this.#o.control.interrupt(i), true);
      case "rebalance":
        return this.#strikeJob(kind, (j) => this.#o.kindOf(j.jobId) !== "crash", (i) => this.#o.control.rebalance(i), true);
      case "unhealthy":
        return this.#strikeJob(kind, (j) => this.#o.kindOf(j.jobId) === "long", (i) => this.#o.control.setHealth(i, "Unhealthy"), true);
      case "scale-in":
        return this.#scaleIn();
      case "instance-refresh":
        return this.#instanceRefresh();
      case "az-rebalance":
        return this.#azRebalance();
      case "launch-failure": {
        const mark = this.#o.watch.entries.length;
        await this.#o.control.injectLaunchFailure({ code: "VcpuLimitExceeded", count: 1 });
        this.#fault({ kind, detail: { code: "VcpuLimitExceeded" }, mark });
        return;
      }
      case "boot-failures":
        return this.#bootFailures();
      case "bad-instance":
        return this.#badInstance();
    }
  }

  // ------------------------------------------------------------------ acts

  /** Picks a running job the act may strike (its processor at work, on a healthy instance) and strikes its instance. */
  async #strikeJob(
    kind: ActKind,
    accept: (job: JobRecord, instance: FleetInstanceView) => boolean,
    strike: (instanceId: string) => Promise<{ status: number; body: unknown }>,
    lasting: boolean,
  ): Promise<void> {
    for (;;) {
      const { job, instance } = await this.#findJob(kind, accept);
      const mark = this.#o.watch.entries.length;
      const answer = await strike(instance.instanceId);
      if (answer.status === 202) {
        if (lasting) this.#marked.add(instance.instanceId);
        this.#fault({ kind, instanceId: instance.instanceId, jobId: job.jobId, attempt: job.attempts, detail: { jobKind: this.#o.kindOf(job.jobId), zone: instance.availabilityZone }, mark });
        return;
      }
      // 404/409: the instance went, or is going, or its worker is restarting: too late, pick again.
      if (answer.status !== 404 && answer.status !== 409) throw new Error(`${kind} of ${instance.instanceId} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    }
  }

  /** A running job in its process phase, on an instance no lasting fault struck, that `accept` allows; asks for bait while there is none. */
  async #findJob(what: string, accept: (job: JobRecord, instance: FleetInstanceView) => boolean): Promise<{ job: JobRecord; instance: FleetInstanceView }> {
    const started = Date.now();
    let baitAt = started + this.#baitAfterMs;
    for (;;) {
      const [running, instances] = await Promise.all([this.#o.jobs.list("RUNNING"), this.#o.control.instances()]);
      const byId = new Map(instances.map((i) => [i.instanceId, i]));
      // A killed worker's record stays RUNNING until the job is taken over: an instance's job is the one it started last.
      const current = new Map<string, JobRecord>();
      for (const j of running) {
        const other = j.instanceId ? current.get(j.instanceId) : undefined;
        if (j.instanceId && (!other || (other.startedAt ?? "") < (j.startedAt ?? ""))) current.set(j.instanceId, j);
      }
      const hit = new Set(this.faults.filter((f) => f.jobId).map((f) => `${f.jobId}/${f.attempt}`));
      const targets = [...current.values()]
        .flatMap((job) => {
          const instance = byId.get(job.instanceId!);
          return instance && this.#usable(instance) && job.progress?.phase === "process" && !hit.has(`${job.jobId}/${job.attempts}`) && accept(job, instance)
            ? [{ job, instance }]
            : [];
        })
        .sort((a, b) => a.job.jobId.localeCompare(b.job.jobId));
      if (targets.length > 0) return this.#o.random.pick(targets);
      if (Date.now() > baitAt) {
        this.#say(`${what}: nothing to strike for a while, asking for a long job`);
        await this.#o.bait();
        baitAt = Date.now() + this.#baitAfterMs;
      }
      if (Date.now() - started > this.#stuckMs)
        throw new Error(`${what}: no running job to strike within ${this.#stuckMs / 1000} s; running: ${running.map((j) => `${j.jobId}@${j.instanceId} ${j.progress?.phase}`).join(", ")}`);
      await sleep(300);
    }
  }

  #usable(i: FleetInstanceView): boolean {
    return i.lifecycleState === "InService" && i.healthStatus === "Healthy" && !i.spotInterruption && !i.rebalanceRecommendation && i.pid !== undefined && !this.#marked.has(i.instanceId);
  }

  /** Desired capacity down by one; lands once the group scales in an instance through its terminate hook. The fast path and the alarm may raise it back first: then again. */
  async #scaleIn(): Promise<void> {
    const started = Date.now();
    for (;;) {
      const g = await this.#o.control.group();
      if (g.desiredCapacity >= 2) {
        const lowered = g.desiredCapacity - 1;
        const mark = this.#o.watch.entries.length;
        await this.#o.control.setDesired(lowered);
        const seen = await this.#until("a scale-in, or desired raised again", () => {
          const after = this.#since(mark);
          const scaledIn = after.find((e) => e.name === "instance_terminating" && (e.payload as { reason: string }).reason === "scale-in");
          if (scaledIn) return { instanceId: (scaledIn.payload as { instanceId: string }).instanceId };
          const raised = after.find((e) => e.name === "desired_changed" && (e.payload as { after: number }).after > lowered);
          return raised ? { raised: (raised.payload as { reason: string }).reason } : undefined;
        });
        const fault = this.#fault({ kind: "scale-in", detail: { from: g.desiredCapacity, to: lowered, ...seen }, mark, ...(seen.instanceId ? { instanceId: seen.instanceId } : {}) });
        if (seen.instanceId) return this.#settle(fault, "landed");
        // This act tries again itself: no second act queued.
        this.#settle(fault, "missed", `desired raised again (${seen.raised}) before an instance was unprotected`, false);
      }
      if (Date.now() - started > this.#stuckMs) throw new Error(`scale-in: did not land within ${this.#stuckMs / 1000} s`);
      await sleep(this.#o.random.int(500, 2000));
    }
  }

  /** A deploy: new launch template version, then an instance refresh that waits for busy (protected) workers. */
  async #instanceRefresh(): Promise<void> {
    await this.#until("no instance refresh running", () => !this.#refreshActive() || undefined);
    const mark = this.#o.watch.entries.length;
    const version = await this.#o.control.bumpLaunchTemplate();
    const minHealthyPercentage = this.#o.random.pick([50, 100]);
    const instanceRefreshId = await this.#o.control.startInstanceRefresh({ minHealthyPercentage, scaleInProtectedInstances: "Wait" });
    this.#fault({ kind: "instance-refresh", detail: { instanceRefreshId, minHealthyPercentage, version: version.after }, mark });
  }

  /**
   * AZ rebalancing, as after a zone's capacity comes back: with AZRebalance suspended (as infra
   * has it), one zone runs out of capacity (InsufficientInstanceCapacity) and an instance there is
   * replaced (health), so the group leans to the other zone; then capacity returns and AZRebalance
   * is resumed until the group launches in the short zone and terminates an idle instance in the
   * long one; then AZRebalance is suspended again.
   */
  async #azRebalance(): Promise<void> {
    const { control, operator, random } = this.#o;
    await this.#awaitQuiet("az-rebalance");
    const mark = this.#o.watch.entries.length;
    const zones = (await control.group()).availabilityZones;
    let instances = await control.instances();
    const perZone = (list: FleetInstanceView[]) => new Map(zones.map((z) => [z, list.filter((i) => i.availabilityZone === z && !TERMINATING_OR_GONE.test(i.lifecycleState)).length]));
    const counts = perZone(instances);
    const fewest = Math.min(...[...counts.values()].filter((n) => n > 0));
    const short = random.pick(zones.filter((z) => counts.get(z) === fewest));
    await control.injectLaunchFailure({ code: "InsufficientInstanceCapacity", availabilityZone: short });
    this.#say(`az-rebalance: ${short} out of capacity; zones ${JSON.stringify(Object.fromEntries(counts))}`);
    let spread = 0;
    for (let round = 0; spread < 2; round++) {
      instances = await control.instances();
      const inShort = instances.filter((i) => i.availabilityZone === short && i.lifecycleState === "InService" && !this.#marked.has(i.instanceId));
      if (inShort.length === 0 || round > 3) throw new Error(`az-rebalance: cannot lean the group away from ${short}: ${JSON.stringify(instances.map((i) => [i.instanceId, i.availabilityZone, i.lifecycleState]))}`);
      const victim = random.pick(inShort.sort((a, b) => a.instanceId.localeCompare(b.instanceId)));
      const before = this.#o.watch.entries.length;
      const answer = await control.setHealth(victim.instanceId, "Unhealthy");
      if (answer.status !== 202) continue;
      this.#marked.add(victim.instanceId);
      this.#fault({ kind: "unhealthy", instanceId: victim.instanceId, detail: { by: "az-rebalance", zone: short }, mark: before });
      // Its replacement fails in the short zone (ICE) and, after the retry's backoff, launches in the other.
      await this.#until(`a replacement launched outside ${short}`, () =>
        this.#since(before).some((e) => e.name === "instance_launched" && (e.payload as { availabilityZone: string }).availabilityZone !== short) || undefined,
      );
      const now = perZone(await control.instances());
      spread = Math.max(...now.values()) - Math.min(...now.values());
    }
    const iceSeen = this.#since(mark).some((e) => e.name === "launch_failed" && (e.payload as { errorCode: string }).errorCode === "InsufficientInstanceCapacity");
    // Capacity is back; the operator lets Auto Scaling rebalance.
    const resumedAt = this.#o.watch.entries.length;
    await control.clearLaunchFailures();
    await operator.resumeProcesses(["AZRebalance"]);
    this.#say("az-rebalance: capacity back, AZRebalance resumed");
    const terminating = await this.#until("AZ rebalancing to terminate an instance in the long zone", () =>
      this.#since(resumedAt).find((e) => e.name === "az_rebalance" && (e.payload as { phase: string }).phase === "terminating"),
    );
    await operator.suspendProcesses(["AZRebalance"]);
    const p = terminating.payload as { fromZone: string; toZone: string; instanceId: string; replacementId: string };
    const fault = this.#fault({ kind: "az-rebalance", instanceId: p.instanceId, detail: { ...p, short, iceSeen }, mark });
    this.#settle(fault, "landed");
  }

  /**
   * A boot loop: the next launches' user data dies. A replacement is called for (a rebalance, a
   * health check or a Spot notice, seeded), each failed boot launches another, until the boot
   * breaker trips (Launch suspended). After a pause the operator fixes the cause (the failures are
   * cleared) and runs `spotq fleet resume`.
   */
  async #bootFailures(): Promise<void> {
    const { control, operator, random } = this.#o;
    await this.#until("the breaker closed and no boot failure pending", async () => {
      const [b, pending] = await Promise.all([control.breaker(), control.bootFailures()]);
      return (!b.open && pending.length === 0) || undefined;
    });
    const breaker = await control.breaker();
    const burst = breaker.failures + 2;
    const mark = this.#o.watch.entries.length;
    await control.injectBootFailures(burst, "user-data");
    const trigger = random.pick(["rebalance", "unhealthy", "spot-notice"] as const);
    this.#say(`boot-failures: ${burst} boots will fail; ${trigger} calls for a replacement`);
    await this.#perform(trigger);
    const tripped = await this.#until("the boot breaker to trip", () => this.#since(mark).find((e) => e.name === "boot_breaker_tripped"));
    const trippedAt = this.#o.watch.entries.indexOf(tripped);
    // The breaker stays open a while: nothing may launch meanwhile.
    await sleep(random.int(2_000, 5_000));
    const pendingAtFix = (await control.bootFailures()).reduce((n, b) => n + b.remaining, 0);
    await control.clearBootFailures();
    const resumedAt = this.#o.watch.entries.length;
    const said = await operator.resumeAfterBreaker();
    this.#say(`boot-failures: ${said}`);
    const fault = this.#fault({
      kind: "boot-failures",
      detail: { burst, trigger, failures: breaker.failures, trip: tripped.payload, pendingAtFix, markIndex: mark, trippedIndex: trippedAt, resumedIndex: resumedAt },
      mark,
    });
    this.#settle(fault, "landed");
  }

  /**
   * One instance's GPU dies: the file its GPU check and its processor look for appears in its
   * folder. The instance is one whose worker is at work on a job (so past its boot's preflight):
   * the job under way ends well, the next one crashes, and the preflight run again after that
   * failure finds the GPU gone.
   */
  async #badInstance(): Promise<void> {
    const { instance } = await this.#findJob("bad-instance", () => true);
    const mark = this.#o.watch.entries.length;
    this.#marked.add(instance.instanceId);
    const brokenAt = new Date().toISOString();
    writeFileSync(path.join(instance.dir, this.#o.badFile), `GPU lost at ${brokenAt}\n`);
    this.#fault({ kind: "bad-instance", instanceId: instance.instanceId, detail: { zone: instance.availabilityZone, brokenAt }, mark });
  }

  // ------------------------------------------------------------------ effects

  /** Settles pending faults from the job records and the fleet's events; a miss queues the act again. */
  async #check(): Promise<void> {
    for (const f of this.faults.filter((x) => x.status === "pending")) {
      switch (f.kind) {
        case "kill":
        case "spot-notice": {
          const job = await this.#o.jobs.get(f.jobId!);
          const entry = (job.attemptHistory ?? []).find((a) => a.attempt === f.attempt);
          if (!entry) break;
          const wanted = f.kind === "kill" ? "LOST" : "INTERRUPTED";
          if (entry.outcome === wanted && (f.kind === "kill" || entry.error?.code === "INTERRUPTED")) this.#settle(f, "landed");
          else this.#settle(f, "missed", `attempt ${f.attempt} ended ${entry.outcome}${entry.error ? ` (${entry.error.code})` : ""}`);
          break;
        }
        case "rebalance":
        case "unhealthy":
        case "bad-instance": {
          const gone = this.#since(f.mark).find((e) => e.name === "instance_terminated" && (e.payload as { instanceId: string }).instanceId === f.instanceId);
          if (!gone) break;
          const reason = (gone.payload as { reason: string }).reason;
          const wanted = { rebalance: ["capacity-rebalance"], unhealthy: ["unhealthy"], "bad-instance": ["unhealthy", "service-failed"] }[f.kind];
          if (wanted.includes(reason)) this.#settle(f, "landed");
          else this.#settle(f, "missed", `the instance went for another reason: ${reason}`);
          break;
        }
        case "instance-refresh": {
          const last = this.#since(f.mark)
            .filter((e) => e.name === "instance_refresh" && (e.payload as { instanceRefreshId: string }).instanceRefreshId === f.detail.instanceRefreshId)
            .at(-1)?.payload as { status: string; statusReason?: string } | undefined;
          if (last?.status === "Successful") this.#settle(f, "landed");
          else if (last && ["Failed", "Cancelled"].includes(last.status)) this.#settle(f, "missed", `refresh ${last.status}: ${last.statusReason ?? ""}`);
          break;
        }
        case "launch-failure":
          if (this.#since(f.mark).some((e) => e.name === "launch_failed" && (e.payload as { errorCode: string }).errorCode === f.detail.code)) this.#settle(f, "landed");
          break;
        default:
          break;
      }
    }
  }

  #fault(f: Omit<Fault, "status" | "at">): Fault {
    const fault: Fault = { ...f, status: "pending", at: new Date().toISOString() };
    this.faults.push(fault);
    this.#say(`${f.kind}${f.instanceId ? ` on ${f.instanceId}` : ""}${f.jobId ? ` (job ${f.jobId} attempt ${f.attempt})` : ""}`);
    return fault;
  }

  /** Records the effect; a miss queues the act again (unless the act retries by itself). */
  #settle(f: Fault, status: "landed" | "missed", why?: string, requeue = true): void {
    f.status = status;
    if (why) f.why = why;
    this.#say(`${f.kind}${f.instanceId ? ` on ${f.instanceId}` : ""}: ${status}${why ? ` (${why})` : ""}`);
    if (status === "missed" && requeue) this.#queue.push({ kind: f.kind, pauseMs: this.#o.random.int(500, 2000) });
  }

  #since(mark: number): FleetEntry[] {
    return this.#o.watch.entries.slice(mark);
  }

  #refreshActive(): boolean {
    const last = new Map<string, string>();
    for (const e of this.#o.watch.entries)
      if (e.name === "instance_refresh") {
        const p = e.payload as { instanceRefreshId: string; status: string };
        last.set(p.instanceRefreshId, p.status);
      }
    return [...last.values()].some((s) => s === "Pending" || s === "InProgress" || s === "Cancelling");
  }

  /** Every instance in service and healthy, none struck or on its way out, as many as desired; no refresh, breaker or injected failure. */
  async #awaitQuiet(what: string): Promise<void> {
    await this.#until(`${what}: a quiet group`, async () => {
      const { control } = this.#o;
      const [instances, g, breaker, boots, launches] = await Promise.all([control.instances(), control.group(), control.breaker(), control.bootFailures(), control.launchFailures()]);
      const quiet =
        instances.length >= 2 &&
        instances.length === g.desiredCapacity &&
        instances.every((i) => i.lifecycleState === "InService" && i.healthStatus === "Healthy" && !i.spotInterruption && !i.rebalanceRecommendation) &&
        !this.#refreshActive() &&
        !breaker.open &&
        boots.length === 0 &&
        launches.length === 0;
      return quiet || undefined;
    });
  }

  /** Polls until `check` gives a value; past the stuck bound it throws. */
  async #until<T>(what: string, check: () => T | undefined | Promise<T | undefined>): Promise<T> {
    const started = Date.now();
    for (;;) {
      const v = await check();
      if (v !== undefined) return v;
      if (this.#stopped) throw new Error(`${what}: the chaos was stopped`);
      if (Date.now() - started > this.#stuckMs) throw new Error(`${what}: not seen within ${this.#stuckMs / 1000} s`);
      await sleep(250);
    }
  }

  get #baitAfterMs(): number {
    return this.#o.baitAfterMs ?? 8_000;
  }

  get #stuckMs(): number {
    return this.#o.stuckMs ?? 240_000;
  }

  #say(line: string): void {
    this.log.push(`${new Date().toISOString()} ${line}`);
  }
}

function ageMs(iso: string | undefined): number {
  return iso ? Date.now() - Date.parse(iso) : Infinity;
}
