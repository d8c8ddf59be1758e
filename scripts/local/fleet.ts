import type { SQSClient } from "@aws-sdk/client-sqs";
import { platformOf } from "../../core/config-json.ts";
import { sweepLeftovers } from "../../worker/leftovers.ts";
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { queueDepth } from "../../aws/job-queue.ts";
import { orderedSteps, type FleetConfig } from "../../core/fleet-config.ts";
import { SpotqError, ValidationError, type Problem } from "../../core/errors.ts";
import { resourceNames } from "../../core/names.ts";
import { ENV } from "../../core/runtime.ts";
import { IMDS_ENDPOINT_ENV } from "../../aws/instance-metadata.ts";
import { startAutoScalingServer, type AutoScalingServer } from "./autoscaling-server.ts";
import { startFleetControlServer, type FleetControlServer } from "./fleet-control-server.ts";
import { LIFECYCLE, LocalAutoScalingGroup, type DesiredReason, type LifecycleState, type TerminationReason } from "./fleet-group.ts";
import { QueueDepthAlarm, stepScalingDesired, type AlarmEvaluation } from "./fleet-scaling.ts";
import { WorkerService, type LaunchSpec } from "./fleet-service.ts";
import { startImdsServer, type ImdsServer, type SpotAction } from "./imds-server.ts";

export type { LaunchSpec } from "./fleet-service.ts";
export type { DesiredReason, TerminationReason } from "./fleet-group.ts";

/** The variable that points the worker at the local Auto Scaling endpoint (aws/clients.ts reads it). */
const AUTOSCALING_ENDPOINT_ENV = "SPOTQ_ENDPOINT_AUTOSCALING";

export interface LocalFleetOptions {
  /** The deployment's fleet config: sizes, boot time (the warmup) and the scaling alarm and steps. */
  config: FleetConfig;
  /** How each instance runs its worker. See {@link workerLaunchSpec} for the real one. */
  launch: LaunchSpec;
  /** Each instance gets `<workRoot>/<instanceId>/` as its work folder. */
  workRoot: string;
  /** The environment every worker starts from (AWS endpoints, table, queue...). @default process.env */
  env?: NodeJS.ProcessEnv;
  /** @default resourceNames(config.name).group */
  groupName?: string;
  /** @default config.fleet.minSize */
  minSize?: number;
  /** @default config.fleet.maxSize */
  maxSize?: number;
  /** Desired capacity at start. @default minSize */
  desiredCapacity?: number;
  /** New instances start protected from scale-in, as spotq's groups do. @default true */
  newInstancesProtectedFromScaleIn?: boolean;
  /** Time from launch to InService and the worker's start (scaled by `timeScale`). @default 0 */
  bootSeconds?: number;
  /** Instance warmup of the step-scaling policy, counted from InService (scaled). @default config.fleet.bootSeconds */
  warmupSeconds?: number;
  /**
   * Multiplies the scaling clock: the alarm period, the metric delay, boot and warmup.
   * 0.01 turns a 60 s period into 0.6 s. Process-facing times (Spot notice, grace, restart) are not scaled,
   * since the worker sees them on the wall clock. @default 1
   */
  timeScale?: number;
  /** The queue-depth alarm; without it the fleet only follows desired capacity set through the API. */
  scaling?: {
    sqs: SQSClient;
    queueUrl: string;
    /** CloudWatch's lag before a datapoint reaches the alarm (scaled). @default 0 */
    metricDelaySeconds?: number;
  };
  /** Time from a Spot notice to the instance's termination (AWS gives 120). @default 10 */
  spotNoticeSeconds?: number;
  /** SIGTERM to SIGKILL when an instance shuts down. @default 10 */
  stopGraceSeconds?: number;
  /** The service manager's wait before restarting a failed worker. @default 1 */
  restartDelaySeconds?: number;
  /** Also pass SPOTQ_INSTANCE_ID (otherwise the worker reads it from IMDS, as on EC2). @default false */
  passInstanceId?: boolean;
  /** Remove an instance's folder when it terminates (its disk goes away on EC2). @default false: kept for inspection */
  removeInstanceFolders?: boolean;
  /** @default "127.0.0.1" */
  host?: string;
  /** Port of the Auto Scaling endpoint. @default 0 (free port) */
  autoscalingPort?: number;
  /** Port of the HTTP control surface; false for none. @default 0 (free port) */
  controlPort?: number | false;
}

/** An instance as the fleet's API and control surface show it. */
export interface FleetInstanceView {
  instanceId: string;
  lifecycleState: LifecycleState;
  protectedFromScaleIn: boolean;
  /** The worker's main process, when running. */
  pid?: number;
  /** Times the service manager restarted the worker. */
  restarts: number;
  /** The instance's work folder (SPOTQ_WORK_ROOT); `worker.log` holds the worker's output. */
  dir: string;
  /** The instance's IMDS endpoint, once started. */
  imdsEndpoint?: string;
  launchedAt: string;
  inServiceAt?: string;
  /** The posted Spot notice, if any. */
  spotInterruption?: { action: SpotAction; time: string };
}

/** Typed events of the fleet; each listener gets one object. */
export type FleetEvents = {
  instance_launched: [{ instanceId: string; dir: string }];
  instance_in_service: [{ instanceId: string; pid?: number }];
  instance_terminating: [{ instanceId: string; reason: TerminationReason }];
  instance_terminated: [{ instanceId: string; reason: TerminationReason }];
  desired_changed: [{ before: number; after: number; reason: DesiredReason }];
  worker_exited: [{ instanceId: string; pid?: number; code: number | null; signal: NodeJS.Signals | null; error?: string; restart: boolean }];
  worker_restarted: [{ instanceId: string; pid: number; restarts: number }];
  spot_interruption: [{ instanceId: string; action: SpotAction; time: string }];
  rebalance_recommendation: [{ instanceId: string; noticeTime: string }];
  /** Desired is below the instance count but the rest are protected: the group waits, as AWS does. */
  scale_in_waiting: [{ excess: number; protectedInstances: string[] }];
  /** Every alarm evaluation (for a live view); `alarm_fired` is the one that runs the policy. */
  alarm_evaluated: [AlarmEvaluation & { at: number }];
  alarm_fired: [{ value: number; step: string; addInstances: number; currentCapacity: number; before: number; after: number }];
  /** Reading the backlog failed (the alarm then sees no datapoint for that period). */
  scaling_error: [Error];
};

/** Every event name of the fleet, for listeners that record them all (tests, live views). */
export const FLEET_EVENT_NAMES = [
  "instance_launched",
  "instance_in_service",
  "instance_terminating",
  "instance_terminated",
  "desired_changed",
  "worker_exited",
  "worker_restarted",
  "spot_interruption",
  "rebalance_recommendation",
  "scale_in_waiting",
  "alarm_evaluated",
  "alarm_fired",
  "scaling_error",
] as const satisfies readonly (keyof FleetEvents)[];
// A new event must be added to the list above: this line fails to compile otherwise.
const everyEventNamed: Exclude<keyof FleetEvents, (typeof FLEET_EVENT_NAMES)[number]> extends never ? true : false = true;
void everyEventNamed;

interface FleetInstance {
  instanceId: string;
  dir: string;
  imds?: ImdsServer;
  service?: WorkerService;
  /** Settles once the IMDS endpoint is up (or failed to start). */
  imdsReady: Promise<void>;
  /** Settles once the launch is over: in service, or given up because the instance terminates. */
  launching: Promise<void>;
  /** Ends the boot delay early (termination while booting). */
  cancelBoot?: () => void;
  noticeTimer?: NodeJS.Timeout;
  spotInterruption?: { action: SpotAction; time: string };
  terminating?: Promise<void>;
}

/** The launch spec of the real worker: `<repo>/node_modules/.bin/node --import tsx worker/main.ts`. */
export function workerLaunchSpec(repoRoot: string): LaunchSpec {
  const root = resolve(repoRoot);
  return { command: join(root, "node_modules", ".bin", "node"), args: ["--import", "tsx", "worker/main.ts"], cwd: root };
}

/** A new EC2-style instance id: `i-0` and 16 hex digits. */
export function newInstanceId(): string {
  return `i-0${randomBytes(8).toString("hex")}`;
}

/**
 * A local fleet that plays the Auto Scaling group for real: it serves the Auto Scaling API on a local
 * endpoint, keeps desired/min/max, and starts or stops instances to match desired capacity. Each
 * instance has an id, its own IMDSv2 endpoint and work folder, and a worker process kept up by a
 * service manager. It evaluates the queue-depth alarm and step-scaling policy of the fleet config
 * against the local queue. Start with {@link LocalFleet.start}; always {@link LocalFleet.stop}.
 */
export class LocalFleet extends EventEmitter<FleetEvents> {
  readonly group: LocalAutoScalingGroup;
  readonly autoscalingEndpoint: string;
  /** The HTTP control surface, unless disabled. */
  readonly controlEndpoint: string | undefined;
  readonly alarm: QueueDepthAlarm | undefined;

  readonly #options: LocalFleetOptions;
  readonly #asg: AutoScalingServer;
  #control: FleetControlServer | undefined;
  readonly #instances = new Map<string, FleetInstance>();
  readonly #scale: number;
  #alarmTimer: NodeJS.Timeout | undefined;
  #lastAlarm: (AlarmEvaluation & { at: number }) | undefined;
  #lastWaiting = "";
  #reconciling = false;
  #reconcileAgain = false;
  #stopping = false;
  readonly #onProcessExit = () => {
    for (const inst of this.#instances.values()) inst.service?.killNow();
  };

  private constructor(options: LocalFleetOptions, asg: AutoScalingServer) {
    super();
    this.#options = options;
    this.#asg = asg;
    this.group = asg.group;
    this.autoscalingEndpoint = asg.endpoint;
    this.controlEndpoint = undefined;
    this.#scale = options.timeScale ?? 1;
    const c = options.config;
    this.alarm = options.scaling
      ? new QueueDepthAlarm({
          steps: orderedSteps(c),
          evaluationPeriods: c.scaling.evaluationPeriods,
          metricDelayMs: this.#ms(options.scaling.metricDelaySeconds ?? 0),
        })
      : undefined;
  }

  /** Starts the Auto Scaling endpoint, the control surface, the alarm, and the instances of the initial desired capacity. */
  static async start(options: LocalFleetOptions): Promise<LocalFleet> {
    checkOptions(options);
    const c = options.config;
    const minSize = options.minSize ?? c.fleet.minSize;
    const group = new LocalAutoScalingGroup({
      name: options.groupName ?? resourceNames(c.name).group,
      minSize,
      maxSize: options.maxSize ?? c.fleet.maxSize,
      desiredCapacity: options.desiredCapacity ?? minSize,
      newInstancesProtectedFromScaleIn: options.newInstancesProtectedFromScaleIn ?? true,
      defaultInstanceWarmup: options.warmupSeconds ?? c.fleet.bootSeconds,
      instanceType: c.fleet.instanceTypes[0],
      availabilityZones: [`${c.region}a`, `${c.region}b`],
      region: c.region,
    });
    mkdirSync(options.workRoot, { recursive: true });
    const asg = await startAutoScalingServer({ group, host: options.host, port: options.autoscalingPort });
    const fleet = new LocalFleet(options, asg);
    try {
      if (options.controlPort !== false) {
        fleet.#control = await startFleetControlServer(fleet, { host: options.host, port: options.controlPort || 0 });
        (fleet as { controlEndpoint: string | undefined }).controlEndpoint = fleet.#control.endpoint;
      }
    } catch (err) {
      await asg.stop();
      throw err;
    }
    fleet.#wire();
    process.on("exit", fleet.#onProcessExit);
    // Launch on the next turn, so listeners attached as soon as start() resolves see every event.
    setImmediate(() => fleet.#reconcile());
    if (fleet.alarm) fleet.#scheduleAlarm();
    return fleet;
  }

  get groupName(): string {
    return this.group.name;
  }

  /** Every instance the group holds, booting, in service or terminating. */
  instances(): FleetInstanceView[] {
    return this.group.instances().flatMap((r) => this.#view(r.instanceId) ?? []);
  }

  instance(instanceId: string): FleetInstanceView | undefined {
    return this.#view(instanceId);
  }

  /** Sets desired capacity (AWS's rules apply: within [min, max]). */
  setDesired(value: number): { before: number; after: number } {
    return this.group.setDesiredCapacity(value, "control");
  }

  /** The last alarm evaluation, when the alarm runs. */
  alarmState(): (AlarmEvaluation & { at: number }) | undefined {
    return this.#lastAlarm;
  }

  /**
   * Posts a Spot interruption notice in the instance's IMDS for `noticeSeconds` from now, then at that
   * time shuts the instance down (SIGTERM, SIGKILL after the grace). The group replaces it if desired
   * capacity still calls for it. A Spot instance in a group is terminated whatever the action says.
   */
  async interrupt(instanceId: string, options: { action?: SpotAction; noticeSeconds?: number } = {}): Promise<{ action: SpotAction; time: string }> {
    const inst = this.#require(instanceId);
    await inst.imdsReady;
    if (!inst.imds || inst.terminating) throw new FleetError("INSTANCE_TERMINATING", `instance ${instanceId} is already terminating`);
    const noticeSeconds = options.noticeSeconds ?? this.#options.spotNoticeSeconds ?? 10;
    const notice = inst.imds.setSpotInterruption(options.action ?? "terminate", noticeSeconds);
    inst.spotInterruption = notice;
    clearTimeout(inst.noticeTimer);
    inst.noticeTimer = setTimeout(() => void this.#terminate(instanceId, "spot-interruption"), noticeSeconds * 1000);
    this.emit("spot_interruption", { instanceId, ...notice });
    return notice;
  }

  /** Posts a rebalance recommendation in the instance's IMDS (nothing else happens locally). */
  async recommendRebalance(instanceId: string): Promise<{ noticeTime: string }> {
    const inst = this.#require(instanceId);
    await inst.imdsReady;
    if (!inst.imds || inst.terminating) throw new FleetError("INSTANCE_TERMINATING", `instance ${instanceId} is already terminating`);
    const r = inst.imds.setRebalanceRecommendation();
    this.emit("rebalance_recommendation", { instanceId, ...r });
    return r;
  }

  /** SIGKILLs the instance's worker process; its service manager restarts it. Returns the killed pid. */
  killProcess(instanceId: string): number | undefined {
    const inst = this.#require(instanceId);
    return inst.service?.killMain();
  }

  /** Kills the instance outright (no notice, no grace, like a hardware loss); the group replaces it. */
  async killInstance(instanceId: string): Promise<void> {
    this.#require(instanceId);
    await this.#terminate(instanceId, "killed");
  }

  /** Terminates every instance (no orphan processes), stops the alarm and the endpoints. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearTimeout(this.#alarmTimer);
    await Promise.all([...this.#instances.keys()].map((id) => this.#terminate(id, "fleet-stop")));
    process.off("exit", this.#onProcessExit);
    await this.#control?.stop();
    await this.#asg.stop();
  }

  #wire(): void {
    this.group.on("desired_changed", (e) => {
      this.emit("desired_changed", e);
      this.#reconcile();
    });
    this.group.on("terminate_requested", (e) => void this.#terminate(e.instanceId, "self-terminate"));
    this.group.on("protection_changed", () => this.#reconcile());
  }

  /**
   * Launches or scales in until the instances that count (not Terminating) match desired capacity.
   * Terminating an instance reconciles again; a call made while one runs is folded into it.
   */
  #reconcile(): void {
    if (this.#stopping) return;
    if (this.#reconciling) {
      this.#reconcileAgain = true;
      return;
    }
    this.#reconciling = true;
    try {
      do {
        this.#reconcileAgain = false;
        this.#reconcileOnce();
      } while (this.#reconcileAgain && !this.#stopping);
    } finally {
      this.#reconciling = false;
    }
  }

  #reconcileOnce(): void {
    const active = this.group.activeInstances().length;
    const desired = this.group.desiredCapacity;
    for (let i = active; i < desired; i++) this.#launch();
    if (active > desired) {
      const chosen = this.group.chooseForScaleIn(active - desired);
      for (const c of chosen) void this.#terminate(c.instanceId, "scale-in");
      const excess = active - desired - chosen.length;
      const waiting = excess > 0 ? this.group.activeInstances().filter((i) => i.protectedFromScaleIn).map((i) => i.instanceId) : [];
      const key = `${excess}:${waiting.join(",")}`;
      if (excess > 0 && key !== this.#lastWaiting) this.emit("scale_in_waiting", { excess, protectedInstances: waiting });
      this.#lastWaiting = excess > 0 ? key : "";
    } else this.#lastWaiting = "";
  }

  #launch(): void {
    const instanceId = newInstanceId();
    const dir = join(this.#options.workRoot, instanceId);
    this.group.addInstance(instanceId);
    const rec = this.group.instance(instanceId)!;
    const inst: FleetInstance = { instanceId, dir, imdsReady: Promise.resolve(), launching: Promise.resolve() };
    this.#instances.set(instanceId, inst);
    const imdsReady = (async () => {
      mkdirSync(join(dir, "telemetry"), { recursive: true });
      inst.imds = await startImdsServer({ instanceId, instanceType: rec.instanceType, availabilityZone: rec.availabilityZone, host: this.#options.host });
    })();
    inst.imdsReady = imdsReady.catch(() => undefined);
    this.emit("instance_launched", { instanceId, dir });
    inst.launching = imdsReady
      .then(() => this.#boot(inst))
      .catch(async (err: Error) => {
        // An instance that cannot start (a port, a folder) is lost like a failed launch; the group
        // replaces it, after a pause so a lasting cause does not spin.
        this.emit("scaling_error", new FleetError("LAUNCH_FAILED", `instance ${instanceId} failed to launch: ${err.message}`, { cause: err }));
        await new Promise((r) => setTimeout(r, (this.#options.restartDelaySeconds ?? 1) * 1000));
        void this.#terminate(instanceId, "killed");
      });
  }

  /** The boot delay, then InService and the worker's first start. */
  async #boot(inst: FleetInstance): Promise<void> {
    if (inst.terminating || this.#stopping) return;
    const bootMs = this.#ms(this.#options.bootSeconds ?? 0);
    if (bootMs > 0)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, bootMs);
        inst.cancelBoot = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    if (inst.terminating || this.#stopping) return;
    this.group.setLifecycleState(inst.instanceId, LIFECYCLE.inService);
    inst.service = new WorkerService({
      launch: this.#options.launch,
      env: this.#instanceEnv(inst),
      logFile: join(inst.dir, "worker.log"),
      restartDelayMs: (this.#options.restartDelaySeconds ?? 1) * 1000,
    });
    inst.service.on("exited", (e) => this.emit("worker_exited", { instanceId: inst.instanceId, ...e, pid: e.pid }));
    inst.service.on("started", (e) => {
      if (e.restarts > 0) this.emit("worker_restarted", { instanceId: inst.instanceId, pid: e.pid, restarts: e.restarts });
    });
    inst.service.start();
    this.emit("instance_in_service", { instanceId: inst.instanceId, pid: inst.service.pid });
  }

  #instanceEnv(inst: FleetInstance): NodeJS.ProcessEnv {
    return {
      ...(this.#options.env ?? process.env),
      ...this.#options.launch.env,
      [IMDS_ENDPOINT_ENV]: inst.imds!.endpoint,
      [AUTOSCALING_ENDPOINT_ENV]: this.autoscalingEndpoint,
      [ENV.group]: this.group.name,
      [ENV.workRoot]: inst.dir,
      [ENV.telemetry]: "files",
      [ENV.telemetryDir]: join(inst.dir, "telemetry"),
      ...(this.#options.passInstanceId ? { [ENV.instanceId]: inst.instanceId } : {}),
    };
  }

  /** Shuts an instance down once: Terminating, worker stopped, IMDS closed, removed from the group. */
  #terminate(instanceId: string, reason: TerminationReason): Promise<void> {
    const inst = this.#instances.get(instanceId);
    if (!inst) return Promise.resolve();
    if (inst.terminating) return inst.terminating;
    let finish!: () => void;
    inst.terminating = new Promise((r) => (finish = r));
    if (this.group.instance(instanceId)) this.group.setLifecycleState(instanceId, LIFECYCLE.terminating);
    inst.cancelBoot?.();
    clearTimeout(inst.noticeTimer);
    this.emit("instance_terminating", { instanceId, reason });
    // Leaving the count of active instances may call for a replacement at once, as AWS launches one.
    this.#reconcile();
    void (async () => {
      try {
        await inst.launching;
        const graceMs = reason === "killed" ? 0 : (this.#options.stopGraceSeconds ?? 10) * 1000;
        await inst.service?.stop(graceMs);
        // An instance that goes away takes every process with it. The worker runs its processor in a
        // process group of its own (so it can kill the whole tree), which the service's stop does not
        // reach: end the processors the worker recorded in its job folders, as the machine's death would.
        await sweepLeftovers(inst.dir, platformOf(process.platform)).catch(() => undefined);
        await inst.imds?.stop();
        if (this.#options.removeInstanceFolders) rmSync(inst.dir, { recursive: true, force: true });
      } finally {
        this.group.removeInstance(instanceId);
        this.#instances.delete(instanceId);
        this.emit("instance_terminated", { instanceId, reason });
        finish();
        this.#reconcile();
      }
    })();
    return inst.terminating;
  }

  #scheduleAlarm(): void {
    const periodMs = this.#ms(this.#options.config.scaling.periodSeconds);
    this.#alarmTimer = setTimeout(async () => {
      try {
        await this.#evaluateAlarm();
      } finally {
        if (!this.#stopping) this.#scheduleAlarm();
      }
    }, periodMs);
  }

  /** One period: sample the backlog, evaluate the alarm, and in ALARM run the step-scaling policy. */
  async #evaluateAlarm(): Promise<void> {
    const alarm = this.alarm!;
    const { sqs, queueUrl } = this.#options.scaling!;
    try {
      const depth = await queueDepth(sqs, queueUrl);
      alarm.record(Date.now(), depth.visible);
    } catch (err) {
      if (!this.#stopping) this.emit("scaling_error", err as Error);
    }
    if (this.#stopping) return;
    const now = Date.now();
    const evaluation = { ...alarm.evaluate(now), at: now };
    this.#lastAlarm = evaluation;
    this.emit("alarm_evaluated", evaluation);
    if (evaluation.state !== "ALARM" || !evaluation.step) return;
    const warmupMs = this.#ms(this.#options.warmupSeconds ?? this.#options.config.fleet.bootSeconds);
    const currentCapacity = this.group
      .activeInstances()
      .filter((i) => i.lifecycleState === LIFECYCLE.inService && i.inServiceAt !== undefined && i.inServiceAt + warmupMs <= now).length;
    const before = this.group.desiredCapacity;
    const after = stepScalingDesired({ desired: before, maxSize: this.group.maxSize, currentCapacity, add: evaluation.step.addInstances });
    this.emit("alarm_fired", {
      value: evaluation.value!,
      step: evaluation.step.name,
      addInstances: evaluation.step.addInstances,
      currentCapacity,
      before,
      after,
    });
    if (after > before) this.group.setDesiredCapacity(after, "alarm");
  }

  #view(instanceId: string): FleetInstanceView | undefined {
    const rec = this.group.instance(instanceId);
    const inst = this.#instances.get(instanceId);
    if (!rec || !inst) return undefined;
    return {
      instanceId,
      lifecycleState: rec.lifecycleState,
      protectedFromScaleIn: rec.protectedFromScaleIn,
      ...(inst.service?.pid !== undefined ? { pid: inst.service.pid } : {}),
      restarts: inst.service?.restarts ?? 0,
      dir: inst.dir,
      ...(inst.imds ? { imdsEndpoint: inst.imds.endpoint } : {}),
      launchedAt: new Date(rec.launchedAt).toISOString(),
      ...(rec.inServiceAt !== undefined ? { inServiceAt: new Date(rec.inServiceAt).toISOString() } : {}),
      ...(inst.spotInterruption ? { spotInterruption: inst.spotInterruption } : {}),
    };
  }

  #require(instanceId: string): FleetInstance {
    const inst = this.#instances.get(instanceId);
    if (!inst) throw new FleetError("UNKNOWN_INSTANCE", `instance ${instanceId} is not in group ${this.group.name}`);
    return inst;
  }

  /** Seconds on the scaled clock, in milliseconds. */
  #ms(seconds: number): number {
    return seconds * 1000 * this.#scale;
  }
}

/** Refuses options that cannot work, naming each, before anything is started. */
function checkOptions(o: LocalFleetOptions): void {
  const problems: Problem[] = [];
  const positive = { timeScale: o.timeScale };
  const nonNegative = {
    bootSeconds: o.bootSeconds,
    warmupSeconds: o.warmupSeconds,
    spotNoticeSeconds: o.spotNoticeSeconds,
    stopGraceSeconds: o.stopGraceSeconds,
    restartDelaySeconds: o.restartDelaySeconds,
    "scaling.metricDelaySeconds": o.scaling?.metricDelaySeconds,
  };
  for (const [field, v] of Object.entries(positive))
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) problems.push({ field, reason: `must be a number above 0, got ${v}` });
  for (const [field, v] of Object.entries(nonNegative))
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) problems.push({ field, reason: `must be a number of seconds >= 0, got ${v}` });
  if (!o.launch?.command) problems.push({ field: "launch.command", reason: "is required: the worker's executable" });
  if (!o.workRoot) problems.push({ field: "workRoot", reason: "is required: the folder that gets one folder per instance" });
  if (problems.length) throw new ValidationError("invalid local fleet options", problems);
}

/** A request to the fleet that cannot be done (unknown instance, already terminating), or a failed launch. */
export class FleetError extends SpotqError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "FleetError";
  }
}
