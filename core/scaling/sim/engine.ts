import type { FleetConfig } from "../../fleet-config.ts";
import { decideIdleFromCounts } from "../idle.ts";
import { SqsMetricFeed } from "../metric-feed.ts";
import { onDemandScalingSpec, ScalingModel, scalingSpec, type ScalingSpec } from "../model.ts";
import type { PolicyKind } from "../policy.ts";
import { applyScheduledAction, scheduledActions } from "../schedule.ts";
import { Rng } from "./rng.ts";
import { interruptionRatePerSecond, pickType, pricePerSecond, sampleBootSeconds, typeMix, type SpotModel } from "./spot-model.ts";
import type { Workload } from "./workload.ts";

/**
 * The fleet simulator: a discrete-event simulation of spotq's fleet on a workload, in accelerated
 * time, deciding everything through the scaling model (core/scaling/model.ts):
 *
 * - jobs arrive on the jobs queue; the fast path (when on) raises desired capacity at each submit
 *   and each hand-back, as `ScalingModel.fastPathDesired` says;
 * - each period the queue's and the group's metrics are sampled, published one metric delay later
 *   (an SQS datapoint only while the queue is active, and late after inactivity), and the model's
 *   alarm and policy raise desired capacity;
 * - the group launches instances up to desired capacity; each boots for a time drawn from the Spot
 *   model, then takes jobs one at a time (first come, first served, the longest-idle instance first);
 * - an instance idle for `fleet.idleTimeoutSeconds` applies the idle rule (`decideIdleFromCounts`):
 *   stay as a standby, or terminate with or without decrement;
 * - Spot interruptions come at the type's rate: the job is handed back at once (to the On-Demand
 *   queue after `scaling.onDemandFallback.afterInterruptions`), the instance goes 2 minutes later and
 *   the group replaces it; scheduled actions set min, max and desired capacity.
 *
 * Left out: instance shutdown time after an idle termination, job failures and retries, rebalance
 * recommendations, the fast path's 1 s coalescing (seconds against minutes of boot) and the API's
 * own latency. Every draw comes from a stream of one seed (`Rng.fork`), so a run replays exactly.
 */

export interface PolicyVariant {
  /** The name in reports (`config`, `deficit+fast`, …). */
  name: string;
  /** @default the config's scaling.policy */
  policy?: PolicyKind;
  /** @default the config's scaling.fastPath */
  fastPath?: boolean;
  /**
   * A hand-back (Spot interruption) raises desired capacity through the fast path too, as the
   * worker will in phase 2 (docs/scaling.md, "Capacity for returned jobs"). Today only the submit
   * does, so returned jobs wait for the group's replacement or the alarm. @default false
   */
  fastPathOnReturn?: boolean;
}

export interface SimInput {
  config: FleetConfig;
  variant: PolicyVariant;
  workload: Workload;
  spot: SpotModel;
  seed: number;
  /** Wall-clock time of the start (schedules are evaluated on it): a Monday 00:00 in the workload's zone. */
  startEpochMs: number;
  /**
   * Seconds since the queue's last API call at the start; undefined (the default) = inactive (more
   * than six hours: a fleet at zero overnight), so the first datapoint after the first submit is late.
   */
  queueActiveSecondsAgo?: number;
  /** Every instance boots in exactly this long (tests); default: drawn from the Spot model. */
  fixedBootSeconds?: number;
  /**
   * Measured boots, in launch order: the n-th instance launched boots in the n-th of these (a run
   * replayed against a fleet whose boots were measured one by one). Launches past the end use
   * `fixedBootSeconds` or the Spot model.
   */
  bootSecondsByLaunch?: readonly number[];
  /** Multiplies the Spot interruption rates (0 = none). @default 1 */
  interruptionScale?: number;
  /** Record a time series per period for charts. @default false */
  series?: boolean;
}

export interface SeriesPoint {
  t: number;
  visible: number;
  running: number;
  pending: number;
  idle: number;
  busy: number;
  desired: number;
  costUsd: number;
}

export interface SimResult {
  name: string;
  policy: PolicyKind;
  fastPath: boolean;
  jobs: number;
  unfinishedJobs: number;
  costUsd: number;
  costPerJobUsd: number;
  instanceSeconds: { boot: number; busy: number; idle: number };
  waitSeconds: { p50: number; p95: number; max: number; mean: number };
  /** Submit to done (queue wait, every attempt's run, and the waits after hand-backs). */
  turnaroundSeconds: { p50: number; p95: number; max: number };
  interruptedJobs: number;
  interruptions: number;
  launches: number;
  maxInstances: number;
  /** The On-Demand fallback group, when configured. */
  onDemand?: { jobs: number; costUsd: number; instanceSeconds: { boot: number; busy: number; idle: number }; launches: number };
  /** Seconds from start until the fleet was at rest with every job done. */
  endSeconds: number;
  /** Per-job queue wait (seconds, workload order), for tuning and tests. */
  waits: number[];
  /** Per-job submit-to-done (seconds) of the finished jobs. */
  turnarounds: number[];
  /** Scale-out decisions that raised desired capacity, by who: fast path, alarm, schedule. */
  raises: { fastPath: number; alarm: number; schedule: number };
  series?: SeriesPoint[];
}

type Phase = "pending" | "idle" | "busy" | "terminating" | "gone";

interface Inst {
  id: number;
  pool: Pool;
  type: string;
  market: "spot" | "on-demand";
  phase: Phase;
  inServiceAt?: number;
  since: number;
  idleToken: number;
  pricePerS: number;
  job?: Job;
}

interface Job {
  index: number;
  submitS: number;
  processS: number;
  firstStartS?: number;
  doneS?: number;
  interruptions: number;
  done: boolean;
  runToken: number;
  onDemand: boolean;
}

interface Pool {
  name: "spot" | "on-demand";
  model: ScalingModel;
  spec: ScalingSpec;
  market: "spot" | "on-demand";
  desired: number;
  min: number;
  max: number;
  queue: Job[];
  queueHead: number;
  instances: Inst[];
  idle: Inst[];
  feed: SqsMetricFeed;
  mix: { type: string; share: number }[];
  fastPath: boolean;
  acct: { boot: number; busy: number; idle: number; cost: number; launches: number; jobs: number };
  maxActive: number;
}

interface Event {
  t: number;
  seq: number;
  run: () => void;
}

/** A binary min-heap of events by time, then insertion order (so equal times replay in a fixed order). */
class EventQueue {
  readonly #heap: Event[] = [];
  #seq = 0;
  get size(): number {
    return this.#heap.length;
  }
  push(t: number, run: () => void): void {
    const h = this.#heap;
    h.push({ t, seq: this.#seq++, run });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }
  pop(): Event | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}
const less = (a: Event, b: Event) => a.t < b.t || (a.t === b.t && a.seq < b.seq);

/** Spot's two-minute warning: the instance goes this long after the notice. */
const SPOT_NOTICE_SECONDS = 120;
const DAY = 86_400;

/** Runs one policy variant on a workload; deterministic for a seed. */
export function simulate(input: SimInput): SimResult {
  const { config, spot, workload } = input;
  const rng = new Rng(input.seed);
  const bootRng = rng.fork("boot");
  const typeRng = rng.fork("type");
  const interruptRng = rng.fork("interruptions");
  const metricRng = rng.fork("metrics");
  const platform = config.fleet.platform;
  const bootDist = spot.boot[platform];
  const timing = {
    sqsDelayMs: spot.metrics.sqsDelaySeconds * 1000,
    groupDelayMs: spot.metrics.groupDelaySeconds * 1000,
    inactiveAfterMs: spot.metrics.inactiveAfterSeconds * 1000,
  };
  const late = spot.metrics.lateFirstDatapointSeconds;
  const interruptionScale = input.interruptionScale ?? 1;
  const events = new EventQueue();
  let now = 0;
  let nextInstanceId = 0;
  const raises = { fastPath: 0, alarm: 0, schedule: 0 };

  const spec = scalingSpec(config, {
    ...(input.variant.policy ? { policy: input.variant.policy } : {}),
    ...(input.variant.fastPath !== undefined ? { fastPath: input.variant.fastPath } : {}),
  });
  const lastActivityMs = input.queueActiveSecondsAgo === undefined ? undefined : -input.queueActiveSecondsAgo * 1000;

  const newPool = (name: Pool["name"], s: ScalingSpec, market: Pool["market"], mix: Pool["mix"], fastPath: boolean): Pool => ({
    name,
    model: new ScalingModel(s),
    spec: s,
    market,
    desired: s.minSize,
    min: s.minSize,
    max: s.maxSize,
    queue: [],
    queueHead: 0,
    instances: [],
    idle: [],
    feed: new SqsMetricFeed(timing, lastActivityMs),
    mix,
    fastPath,
    acct: { boot: 0, busy: 0, idle: 0, cost: 0, launches: 0, jobs: 0 },
    maxActive: 0,
  });

  const spotPool = newPool("spot", spec, "spot", typeMix(spot, config.fleet.instanceTypes), spec.fastPath);
  const fallback = config.scaling.onDemandFallback;
  let odPool: Pool | undefined;
  if (fallback) {
    const odType = fallback.instanceType ?? config.fleet.instanceTypes[0]!;
    const odSpec = onDemandScalingSpec(config)!;
    odPool = newPool("on-demand", odSpec, "on-demand", typeMix(spot, [odType]), true);
  }
  const pools = odPool ? [spotPool, odPool] : [spotPool];

  const jobs: Job[] = workload.jobs.map((j, index) => ({ index, submitS: j.submitS, processS: j.processS, interruptions: 0, done: false, runToken: 0, onDemand: false }));
  let done = 0;

  // ---- accounting ----
  const account = (i: Inst) => {
    const dt = now - i.since;
    if (dt > 0) {
      const a = i.pool.acct;
      if (i.phase === "pending") a.boot += dt;
      else if (i.phase === "busy") a.busy += dt;
      else if (i.phase === "idle" || i.phase === "terminating") a.idle += dt;
      if (i.phase !== "gone") a.cost += dt * i.pricePerS;
    }
    i.since = now;
  };
  const setPhase = (i: Inst, phase: Phase) => {
    account(i);
    i.phase = phase;
  };

  // ---- the queue ----
  const visibleCount = (p: Pool) => p.queue.length - p.queueHead;
  const touchQueue = (p: Pool) => {
    const ms = now * 1000;
    if (!p.feed.active(ms)) p.feed.touch(ms, metricRng.uniform(late.min, late.max) * 1000);
    else p.feed.touch(ms, 0);
  };
  const enqueue = (p: Pool, job: Job) => {
    p.queue.push(job);
    touchQueue(p);
    if (p.queueHead > 1024 && p.queueHead * 2 > p.queue.length) {
      p.queue.splice(0, p.queueHead);
      p.queueHead = 0;
    }
  };

  // ---- the group ----
  const count = (p: Pool, phase: Phase) => {
    let n = 0;
    for (const i of p.instances) if (i.phase === phase) n++;
    return n;
  };
  /** Instances Auto Scaling counts against desired capacity (an interrupted one until it is gone). */
  const active = (p: Pool) => p.instances.length;
  const setDesired = (p: Pool, d: number, by: keyof typeof raises) => {
    const next = Math.min(p.max, Math.max(p.min, d));
    if (next > p.desired) raises[by]++;
    p.desired = next;
    reconcile(p);
  };
  const reconcile = (p: Pool) => {
    while (active(p) < p.desired) launch(p);
    let excess = active(p) - p.desired;
    // Scale-in picks only unprotected instances: idle ones (the worker lifts protection only while idle).
    while (excess > 0 && p.idle.length > 0) {
      remove(p.idle[0]!);
      excess--;
    }
    p.maxActive = Math.max(p.maxActive, active(p));
  };
  const launch = (p: Pool) => {
    const onDemandBase = p.name === "spot" ? config.fleet.onDemandBaseCapacity : 0;
    const market: Inst["market"] = p.market === "on-demand" || p.instances.filter((i) => i.market === "on-demand").length < onDemandBase ? "on-demand" : "spot";
    const type = pickType(p.mix, typeRng);
    const inst: Inst = {
      id: nextInstanceId++,
      pool: p,
      type,
      market,
      phase: "pending",
      since: now,
      idleToken: 0,
      pricePerS: pricePerSecond(spot, type, market, platform, config.fleet.rootVolumeGiB),
    };
    p.instances.push(inst);
    p.acct.launches++;
    const boot = input.bootSecondsByLaunch?.[inst.id] ?? input.fixedBootSeconds ?? sampleBootSeconds(bootDist, bootRng);
    events.push(now + boot, () => inService(inst));
    if (market === "spot") {
      const band = spot.instanceTypes[type]!.interruptionBand;
      const after = interruptRng.exponential(interruptionRatePerSecond(spot, band) * interruptionScale);
      if (Number.isFinite(after)) events.push(now + after, () => interrupt(inst));
    }
  };
  const remove = (i: Inst) => {
    setPhase(i, "gone");
    const p = i.pool;
    p.instances.splice(p.instances.indexOf(i), 1);
    const k = p.idle.indexOf(i);
    if (k >= 0) p.idle.splice(k, 1);
  };
  const inService = (i: Inst) => {
    if (i.phase !== "pending") return;
    i.inServiceAt = now;
    becomeIdle(i);
    touchQueue(i.pool);
    dispatch(i.pool);
  };
  const becomeIdle = (i: Inst) => {
    setPhase(i, "idle");
    i.job = undefined;
    i.pool.idle.push(i);
    const token = ++i.idleToken;
    events.push(now + i.pool.spec.idleTimeoutSeconds, () => idleCheck(i, token));
  };
  const idleCheck = (i: Inst, token: number) => {
    if (i.phase !== "idle" || i.idleToken !== token) return;
    const p = i.pool;
    const counted = count(p, "pending") + count(p, "idle") + count(p, "busy");
    const decision = decideIdleFromCounts({ desiredCapacity: p.desired, minSize: p.min, counted, selfState: "InService", instanceId: String(i.id) });
    if (decision.action === "stay") {
      const next = ++i.idleToken;
      events.push(now + p.spec.idleTimeoutSeconds, () => idleCheck(i, next));
      return;
    }
    if (decision.action === "terminate") {
      if (decision.decrement) p.desired = Math.max(p.min, p.desired - 1);
      remove(i);
      reconcile(p);
    }
  };

  // ---- jobs ----
  const dispatch = (p: Pool) => {
    while (p.idle.length > 0 && visibleCount(p) > 0) {
      const job = p.queue[p.queueHead++]!;
      const inst = p.idle.shift()!;
      start(inst, job);
    }
  };
  const start = (i: Inst, job: Job) => {
    setPhase(i, "busy");
    i.idleToken++;
    i.job = job;
    job.firstStartS ??= now;
    const token = ++job.runToken;
    events.push(now + job.processS, () => finish(i, job, token));
  };
  const finish = (i: Inst, job: Job, token: number) => {
    if (job.runToken !== token || i.job !== job || i.phase !== "busy") return;
    job.done = true;
    job.doneS = now;
    done++;
    i.pool.acct.jobs++;
    becomeIdle(i);
    dispatch(i.pool);
  };
  const fastPath = (p: Pool, submitted: boolean, force = false) => {
    if (!p.fastPath && !force) return;
    const depth = { visible: visibleCount(p), inFlight: count(p, "busy"), delayed: 0 };
    const d = p.model.fastPathDesired(depth, { desiredCapacity: p.desired, maxSize: p.max }, { submitted });
    if (d > p.desired) setDesired(p, d, "fastPath");
  };
  const submit = (job: Job) => {
    enqueue(spotPool, job);
    fastPath(spotPool, true);
    dispatch(spotPool);
  };
  const interrupt = (i: Inst) => {
    if (i.phase === "gone" || i.phase === "terminating") return;
    const p = i.pool;
    const job = i.job;
    const k = p.idle.indexOf(i);
    if (k >= 0) p.idle.splice(k, 1);
    setPhase(i, "terminating");
    i.job = undefined;
    events.push(now + SPOT_NOTICE_SECONDS, () => {
      remove(i);
      reconcile(p);
    });
    if (job) {
      // The worker hands the job back at once (a fresh message), then it waits for capacity again.
      job.interruptions++;
      job.runToken++;
      const toOnDemand = odPool !== undefined && fallback !== undefined && job.interruptions >= fallback.afterInterruptions;
      const target = toOnDemand ? odPool! : p;
      if (toOnDemand) job.onDemand = true;
      enqueue(target, job);
      // The On-Demand queue is fed by hand-backs only: its group is raised at each (its design).
      if (toOnDemand || input.variant.fastPathOnReturn) fastPath(target, false, true);
      dispatch(target);
    }
  };

  // ---- alarms and schedules ----
  const sample = (p: Pool) => {
    const t = now * 1000;
    const inService = count(p, "idle") + count(p, "busy");
    // Idle workers long-poll: the queue is active while any instance is in service.
    if (inService > 0) touchQueue(p);
    const sqs = p.feed.publishes(t);
    const publishedAt = t + Math.max(sqs ? timing.sqsDelayMs : 0, timing.groupDelayMs);
    p.model.recordSample(t, { visible: sqs ? visibleCount(p) : undefined, notVisible: sqs ? count(p, "busy") : undefined, pending: count(p, "pending"), inService }, publishedAt);
    const warm = p.model.currentCapacity(
      p.instances.map((i) => ({ lifecycleState: i.phase === "idle" || i.phase === "busy" ? "InService" : i.phase === "pending" ? "Pending" : "Terminating", ...(i.inServiceAt !== undefined ? { inServiceAt: i.inServiceAt * 1000 } : {}) })),
      t,
    );
    const d = p.model.evaluateCounts(t, { desiredCapacity: p.desired, maxSize: p.max, currentCapacity: warm });
    if (d.after > p.desired) setDesired(p, d.after, "alarm");
  };

  const series: SeriesPoint[] = [];
  const totalCost = () => {
    let c = 0;
    for (const p of pools) {
      for (const i of p.instances) account(i);
      c += p.acct.cost;
    }
    return c;
  };
  const hardEnd = workload.spanSeconds + 2 * DAY;
  let finished = false;
  let endSeconds = 0;
  const atRest = () => {
    if (done < jobs.length || now < workload.spanSeconds) return false;
    for (const p of pools) {
      if (p.instances.some((i) => i.phase !== "idle")) return false;
      if (p.instances.length > p.min) return false;
    }
    return true;
  };
  const tick = (p: Pool) => {
    if (finished) return;
    sample(p);
    if (p === spotPool) {
      if (input.series)
        series.push({
          t: now,
          visible: visibleCount(p) + (odPool ? visibleCount(odPool) : 0),
          running: count(p, "busy") + (odPool ? count(odPool, "busy") : 0),
          pending: pools.reduce((s, q) => s + count(q, "pending"), 0),
          idle: pools.reduce((s, q) => s + count(q, "idle") + count(q, "terminating"), 0),
          busy: pools.reduce((s, q) => s + count(q, "busy"), 0),
          desired: p.desired,
          costUsd: totalCost(),
        });
      if (atRest() || now >= hardEnd) {
        finished = true;
        endSeconds = now;
        return;
      }
    }
    events.push(now + p.spec.periodSeconds, () => tick(p));
  };

  // ---- start ----
  // The group's sizes at the start are those the schedule left in the week before.
  const startMs = input.startEpochMs;
  for (const a of scheduledActions(spec.schedule, startMs - 7 * DAY * 1000, startMs)) {
    const s = applyScheduledAction({ minSize: spotPool.min, maxSize: spotPool.max, desiredCapacity: spotPool.desired }, a.entry);
    [spotPool.min, spotPool.max, spotPool.desired] = [s.minSize, s.maxSize, s.desiredCapacity];
  }
  // Instances standing at the start have been in service a long time: warm, and the queue active.
  for (let k = 0; k < spotPool.desired; k++) {
    launch(spotPool);
    const inst = spotPool.instances[spotPool.instances.length - 1]!;
    inst.inServiceAt = -DAY;
    inst.phase = "idle";
    spotPool.idle.push(inst);
    const token = ++inst.idleToken;
    events.push(spec.idleTimeoutSeconds, () => idleCheck(inst, token));
  }
  if (spotPool.desired > 0) spotPool.feed.touch(0, 0);
  for (const a of scheduledActions(spec.schedule, startMs, startMs + hardEnd * 1000))
    events.push((a.at - startMs) / 1000, () => {
      const s = applyScheduledAction({ minSize: spotPool.min, maxSize: spotPool.max, desiredCapacity: spotPool.desired }, a.entry);
      spotPool.min = s.minSize;
      spotPool.max = s.maxSize;
      if (s.desiredCapacity > spotPool.desired) raises.schedule++;
      spotPool.desired = s.desiredCapacity;
      reconcile(spotPool);
    });
  for (const job of jobs) events.push(job.submitS, () => submit(job));
  for (const p of pools) events.push(p.spec.periodSeconds, () => tick(p));

  while (!finished) {
    const e = events.pop();
    if (!e) break;
    now = e.t;
    e.run();
  }
  for (const p of pools) for (const i of p.instances) account(i);

  const waits = jobs.map((j) => (j.firstStartS === undefined ? Infinity : j.firstStartS - j.submitS));
  const finishedWaits = waits.filter(Number.isFinite).sort((a, b) => a - b);
  const turnarounds = jobs.filter((j) => j.doneS !== undefined).map((j) => j.doneS! - j.submitS).sort((a, b) => a - b);
  const cost = pools.reduce((s, p) => s + p.acct.cost, 0);
  const sum = (k: "boot" | "busy" | "idle") => pools.reduce((s, p) => s + p.acct[k], 0);
  const result: SimResult = {
    name: input.variant.name,
    policy: spec.policy,
    fastPath: spec.fastPath,
    jobs: done,
    unfinishedJobs: jobs.length - done,
    costUsd: cost,
    costPerJobUsd: done > 0 ? cost / done : 0,
    instanceSeconds: { boot: sum("boot"), busy: sum("busy"), idle: sum("idle") },
    waitSeconds: {
      p50: percentile(finishedWaits, 0.5),
      p95: percentile(finishedWaits, 0.95),
      max: finishedWaits.length ? finishedWaits[finishedWaits.length - 1]! : 0,
      mean: finishedWaits.length ? finishedWaits.reduce((s, w) => s + w, 0) / finishedWaits.length : 0,
    },
    turnaroundSeconds: { p50: percentile(turnarounds, 0.5), p95: percentile(turnarounds, 0.95), max: turnarounds.length ? turnarounds[turnarounds.length - 1]! : 0 },
    interruptedJobs: jobs.filter((j) => j.interruptions > 0).length,
    interruptions: jobs.reduce((s, j) => s + j.interruptions, 0),
    launches: pools.reduce((s, p) => s + p.acct.launches, 0),
    maxInstances: Math.max(...pools.map((p) => p.maxActive)),
    endSeconds: endSeconds || now,
    waits,
    turnarounds: jobs.filter((j) => j.doneS !== undefined).map((j) => j.doneS! - j.submitS),
    raises,
    ...(odPool
      ? {
          onDemand: {
            jobs: jobs.filter((j) => j.onDemand).length,
            costUsd: odPool.acct.cost,
            instanceSeconds: { boot: odPool.acct.boot, busy: odPool.acct.busy, idle: odPool.acct.idle },
            launches: odPool.acct.launches,
          },
        }
      : {}),
    ...(input.series ? { series } : {}),
  };
  return result;
}

/** Nearest-rank percentile of ascending values (0 for none). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}
