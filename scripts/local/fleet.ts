import type { SQSClient } from "@aws-sdk/client-sqs";
import { platformOf } from "../../core/config-json.ts";
import { sweepLeftovers } from "../../worker/leftovers.ts";
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { appendFileSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { queueDepth } from "../../aws/job-queue.ts";
import type { BreakerTrip } from "../../core/boot-breaker.ts";
import type { FleetConfig } from "../../core/fleet-config.ts";
import type { QueueDepth } from "../../core/ports.ts";
import type { AlarmState, PolicyKind } from "../../core/scaling/index.ts";
import { SpotqError, ValidationError, type Problem } from "../../core/errors.ts";
import { resourceNames } from "../../core/names.ts";
import { ENV } from "../../core/runtime.ts";
import { IMDS_ENDPOINT_ENV } from "../../aws/instance-metadata.ts";
import { startAutoScalingServer, type AutoScalingServer } from "./autoscaling-server.ts";
import { attachBootBreaker, type LocalBootBreaker } from "./fleet-breaker.ts";
import { startFleetControlServer, type FleetControlServer } from "./fleet-control-server.ts";
import {
  LocalAutoScalingGroup,
  type DesiredReason,
  type GroupEvents,
  type InstanceRefreshView,
  type LaunchFailedEvent,
  type LifecycleActionResult,
  type LifecycleState,
  type LifecycleTransition,
  type RefreshPreferences,
  type RefreshStatus,
  type ScalingProcess,
  type TerminationReason,
} from "./fleet-group.ts";
import { BOOT_FAILURE_MODES, type BootFailureMode, type LaunchErrorCode, type LaunchFailureRule } from "./fleet-launch.ts";
import { LocalScaling, scaledClock, type ScaledClock } from "./fleet-scaling.ts";
import { WorkerService, type LaunchSpec, type ServiceFailure } from "./fleet-service.ts";
import { startImdsServer, type ImdsServer, type SpotAction } from "./imds-server.ts";

export type { LaunchSpec } from "./fleet-service.ts";
export type { DesiredReason, TerminationReason } from "./fleet-group.ts";

/** The variable that points the worker at the local Auto Scaling endpoint (aws/clients.ts reads it). */
const AUTOSCALING_ENDPOINT_ENV = "SPOTQ_ENDPOINT_AUTOSCALING";
/** The stop file the Windows service wrapper creates on a service stop (CONTRACTS §9). */
export const STOP_FILE_ENV = ENV.stopFile;

export { BOOT_FAILURE_MODES, type BootFailureMode } from "./fleet-launch.ts";

export interface LocalFleetOptions {
  /** The deployment's fleet config: sizes, types, boot time (the warmup), hooks, breaker and the scaling alarm and steps. */
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
  /** Time from launch to the user data's start (then Pending:Wait or InService), scaled by `timeScale`. @default 0 */
  bootSeconds?: number;
  /**
   * Instance warmup, counted from InService (scaled): the instance refresh's (the group's
   * DefaultInstanceWarmup), and, when given, the scaling policy's too.
   * @default config.fleet.bootSeconds for the refresh; the scaling model's for the policy (two periods for `deficit`, `fleet.bootSeconds` otherwise)
   */
  warmupSeconds?: number;
  /**
   * Multiplies the scaling clock: the alarm period, the metric delay, boot and warmup, lifecycle hook
   * timeouts, launch retries, the boot breaker's window and refresh pacing. 0.01 turns a 60 s period into
   * 0.6 s. Process-facing times (Spot notice, grace, restart backoff) are not scaled, since the worker
   * sees them on the wall clock. @default 1
   */
  timeScale?: number;
  /**
   * The scaled clock's time at the start (ms since the epoch, or a Date): what `scaling.schedule`'s
   * cron times are read against. With `timeScale` 0.01 a scaled day passes in 14.4 wall minutes.
   * @default the wall clock's now
   */
  clockStart?: number | Date;
  /**
   * The group's lifecycle hooks (`<name>-launching`, `<name>-terminating`, core/names.ts) with the
   * timeouts of `config.fleet.lifecycleHooks` (or the ones given here, in group seconds). Off, instances go
   * Pending → InService and Terminating → Terminated without waiting. The worker must complete the launch
   * action once its preflight passed, or the instance is abandoned when the timeout runs out. @default false
   */
  lifecycleHooks?: boolean | { launchTimeoutSeconds?: number; terminateTimeoutSeconds?: number };
  /** Capacity Rebalancing (a rebalance recommendation launches a replacement). @default config.fleet.capacityRebalance */
  capacityRebalance?: boolean;
  /** @default [`${region}a`, `${region}b`] */
  availabilityZones?: string[];
  /** The mixed instances policy's types, most preferred first. @default config.fleet.instanceTypes */
  instanceTypes?: string[];
  /** Processes suspended from the start. @default ["AZRebalance"], as infra suspends it */
  suspendedProcesses?: ScalingProcess[];
  /** Count failed boots and suspend launches after `config.fleet.bootBreaker.failures` within its window. @default true */
  bootBreaker?: boolean;
  /** Keep an instance whose boot failed (Standby, out of service) instead of terminating it. @default config.fleet.debugKeepFailedInstances */
  keepFailedInstances?: boolean;
  /** First wait before a failed launch is retried (group seconds; doubles, ≤ 300). @default 10 */
  launchRetrySeconds?: number;
  /**
   * The queue the scaling alarm watches. Without it no alarm runs and no returned job raises capacity
   * (desired changes through the API, the control surface and `scaling.schedule` only).
   */
  scaling?: {
    sqs: SQSClient;
    queueUrl: string;
    /** CloudWatch's lag before a datapoint reaches the alarm (scaled). @default 0 */
    metricDelaySeconds?: number;
    /**
     * When an instance has left the group, raise desired capacity to the jobs queued, in flight or
     * delayed (core/scaling's `fastPathDesired`): a lost worker's job gets an instance without waiting
     * for the alarm. @default config.scaling.fastPath
     */
    returnedJobs?: boolean;
  };
  /** Time from a Spot notice to the instance's termination (AWS gives 120). @default 10 */
  spotNoticeSeconds?: number;
  /** SIGTERM (or the stop file) to SIGKILL when an instance shuts down. @default 10 */
  stopGraceSeconds?: number;
  /** The service manager's first wait before restarting a crashed worker; doubles per restart, ≤ 60 s. @default 1 */
  restartDelaySeconds?: number;
  /** Restarts within 10 minutes before the service gives up and the instance leaves. @default 5 */
  maxRestarts?: number;
  /**
   * Stop workers through a stop file (`<instance>/run/stop`, in SPOTQ_STOP_FILE) instead of SIGTERM, as the
   * Windows service wrapper does. @default false
   */
  stopFile?: boolean;
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
  healthStatus: "Healthy" | "Unhealthy";
  availabilityZone: string;
  instanceType: string;
  /** The launch template version it was launched from. */
  launchTemplateVersion: string;
  /** What IMDS `autoscaling/target-lifecycle-state` shows. */
  targetLifecycleState: "InService" | "Terminated";
  /** The lifecycle action it waits on (Pending:Wait / Terminating:Wait) and when its heartbeat timeout runs out. */
  lifecycleAction?: { hookName: string; transition: LifecycleTransition; deadline: string };
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
  /** The posted rebalance recommendation, if any. */
  rebalanceRecommendation?: { noticeTime: string };
  /** Why its boot failed (a kept instance: Standby). */
  bootFailure?: string;
}

/** The group's boot breaker, as the control surface shows it. */
export interface BreakerView {
  /** Launch is suspended and the group carries the breaker's tag. */
  open: boolean;
  trip?: BreakerTrip;
  failuresInWindow: number;
  failures: number;
  windowSeconds: number;
}

/** A group's sizes. */
export interface GroupSizes {
  minSize: number;
  maxSize: number;
  desiredCapacity: number;
}

/** One evaluation of the scaling alarm (core/scaling's model), once a period. */
export interface AlarmEvaluatedEvent {
  /** Wall clock (ms since the epoch). */
  at: number;
  /** The same moment on the fleet's scaled clock (AWS time, the model's clock). */
  scaledAt: number;
  /** The alarm period: 1 for the first after the fleet's start. */
  period: number;
  policy: PolicyKind;
  state: AlarmState;
  /** The datapoints the alarm looked at, oldest first. */
  datapoints: number[];
  /** In ALARM: the latest datapoint, which the policy acts on. */
  value?: number;
  /** Step policies in ALARM: the step that applies. */
  step?: { name: string; backlogAtLeast: number; addInstances: number };
}

/** The alarm's policy ran: the model's decision. */
export interface AlarmFiredEvent {
  period: number;
  scaledAt: number;
  policy: PolicyKind;
  /** The alarm's value: the deficit, the visible backlog, or the backlog per instance. */
  value: number;
  /** Step policies: the step applied and its adjustment. */
  step?: string;
  addInstances?: number;
  /** Instances in service past the policy's warmup: the base Auto Scaling adds to. */
  currentCapacity: number;
  before: number;
  after: number;
}

/** Typed events of the fleet; each listener gets one object. */
export type FleetEvents = {
  instance_launched: [{ instanceId: string; dir: string; availabilityZone: string; instanceType: string; launchTemplateVersion: string }];
  instance_in_service: [{ instanceId: string; pid?: number }];
  instance_terminating: [{ instanceId: string; reason: TerminationReason }];
  instance_terminated: [{ instanceId: string; reason: TerminationReason }];
  desired_changed: [{ before: number; after: number; reason: DesiredReason }];
  worker_exited: [
    { instanceId: string; pid?: number; code: number | null; signal: NodeJS.Signals | null; error?: string; restart: boolean; failure?: ServiceFailure },
  ];
  worker_restarted: [{ instanceId: string; pid: number; restarts: number }];
  spot_interruption: [{ instanceId: string; action: SpotAction; time: string }];
  rebalance_recommendation: [{ instanceId: string; noticeTime: string }];
  /** Desired is below the instance count but the rest are protected: the group waits, as AWS does. */
  scale_in_waiting: [{ excess: number; protectedInstances: string[] }];
  /** Every alarm evaluation, once a period (for a live view); `alarm_fired` is the one that runs the policy. */
  alarm_evaluated: [AlarmEvaluatedEvent];
  /** The alarm was in ALARM and its policy ran (desired capacity changes when `after` > `before`). */
  alarm_fired: [AlarmFiredEvent];
  /** A scheduled action of `scaling.schedule` ran (or was skipped: ScheduledActions suspended). */
  scheduled_action: [
    {
      name: string;
      /** Its time on the scaled clock (ms since the epoch). */
      scaledAt: number;
      before: GroupSizes;
      after: GroupSizes;
      skipped?: string;
    },
  ];
  /** An instance left while jobs queued, in flight or delayed had no instance: desired capacity was raised for them. */
  returned_jobs: [{ visible: number; inFlight: number; delayed: number; before: number; after: number }];
  /** Reading the backlog failed (the alarm then sees no datapoint for that period), or an instance could not start. */
  scaling_error: [Error];
  /**
   * A lifecycle action started (Pending:Wait / Terminating:Wait, "EC2 Instance-launch/terminate Lifecycle
   * Action"), got a heartbeat, or completed (by the API, the timeout's default result, or the service manager).
   */
  lifecycle_action: [
    {
      instanceId: string;
      hookName: string;
      transition: LifecycleTransition;
      phase: "started" | "heartbeat" | "completed";
      result?: LifecycleActionResult;
      by?: "api" | "timeout" | "service";
      deadline?: string;
    },
  ];
  /** A launch attempt failed ("EC2 Instance Launch Unsuccessful"); the group retries at `retryAt`. */
  launch_failed: [Omit<LaunchFailedEvent, "retryAt"> & { retryAt: string }];
  /** A boot failed (user data, worker exit 2/3 or crash loop before the launch completed, launch ABANDON or timeout). */
  boot_failed: [{ instanceId: string; cause: string; kept: boolean; failuresInWindow: number }];
  /** The boot breaker tripped: Launch suspended, the group tagged (what the alarm topic says in AWS). */
  boot_breaker_tripped: [BreakerTrip & { groupName: string }];
  processes_suspended: [{ processes: ScalingProcess[]; reason: string }];
  processes_resumed: [{ processes: ScalingProcess[] }];
  health_changed: [{ instanceId: string; status: "Healthy" | "Unhealthy" }];
  capacity_rebalance: GroupEvents["capacity_rebalance"];
  az_rebalance: GroupEvents["az_rebalance"];
  launch_template_changed: [{ before: string; after: string }];
  instance_refresh: [{ instanceRefreshId: string; status: RefreshStatus; percentageComplete: number; instancesToUpdate: number; statusReason?: string }];
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
  "scheduled_action",
  "returned_jobs",
  "scaling_error",
  "lifecycle_action",
  "launch_failed",
  "boot_failed",
  "boot_breaker_tripped",
  "processes_suspended",
  "processes_resumed",
  "health_changed",
  "capacity_rebalance",
  "az_rebalance",
  "launch_template_changed",
  "instance_refresh",
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
  /** Settles once the launch is over: booted, or given up because the instance terminates. */
  launching: Promise<void>;
  /** Ends the boot delay early (termination while booting). */
  cancelBoot?: () => void;
  noticeTimer?: NodeJS.Timeout;
  spotInterruption?: { action: SpotAction; time: string };
  rebalance?: { noticeTime: string };
  bootFailure?: string;
  /** Settles once the instance is gone. */
  terminated?: Promise<void>;
  /** Why it was ended outright (killed, Spot reclaim, fleet stop), whatever its termination had started for. */
  forced?: TerminationReason;
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
 * endpoint and runs a {@link LocalAutoScalingGroup} (AWS's rules: launches, lifecycle hooks, scale-in,
 * Capacity Rebalancing, AZ rebalancing, health replacement, instance refresh, suspended processes).
 * Each instance has an id, its own IMDSv2 endpoint and work folder, and a worker process kept up by a
 * service manager. It counts failed boots in the boot breaker, and runs the scaling model of core/scaling/
 * against the local queue and group (the alarm and policy of `scaling.policy`, capacity for returned
 * jobs, `scaling.schedule`) on its scaled clock. Start with {@link LocalFleet.start};
 * always {@link LocalFleet.stop}.
 */
export class LocalFleet extends EventEmitter<FleetEvents> {
  readonly group: LocalAutoScalingGroup;
  readonly autoscalingEndpoint: string;
  /** The HTTP control surface, unless disabled. */
  readonly controlEndpoint: string | undefined;
  /** The scaling model (core/scaling/) on the fleet's scaled clock: the alarm, the policy, the fast path's decision, the schedule. */
  readonly scaling: LocalScaling;
  /** The scaled clock: AWS time as the fleet plays it (`timeScale`, `clockStart`). */
  readonly clock: ScaledClock;

  readonly #options: LocalFleetOptions;
  readonly #asg: AutoScalingServer;
  #control: FleetControlServer | undefined;
  readonly #instances = new Map<string, FleetInstance>();
  readonly #scale: number;
  #breaker: LocalBootBreaker | undefined;
  #bootFailures: { mode: BootFailureMode; remaining: number }[] = [];
  #alarmTimer: NodeJS.Timeout | undefined;
  /** Wall clock of the fleet's start: alarm periods fall at whole periods from it. */
  #alarmStart = Date.now();
  #scheduleTimer: NodeJS.Timeout | undefined;
  /** Scheduled actions before this scaled time have run. */
  #scheduleCursor = 0;
  #groupTimer: NodeJS.Timeout | undefined;
  #lastAlarm: AlarmEvaluatedEvent | undefined;
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
    const start = options.clockStart;
    this.clock = scaledClock({ timeScale: this.#scale, ...(start !== undefined ? { origin: typeof start === "number" ? start : start.getTime() } : {}) });
    this.#scheduleCursor = this.clock.now();
    this.scaling = new LocalScaling({
      config: options.config,
      clock: this.clock,
      metricDelaySeconds: options.scaling?.metricDelaySeconds ?? 0,
      ...(options.warmupSeconds !== undefined ? { warmupSeconds: options.warmupSeconds } : {}),
    });
  }

  /** Starts the Auto Scaling endpoint, the control surface, the alarm, and the instances of the initial desired capacity. */
  static async start(options: LocalFleetOptions): Promise<LocalFleet> {
    checkOptions(options);
    const c = options.config;
    const names = resourceNames(c.name);
    const minSize = options.minSize ?? c.fleet.minSize;
    const hooks = options.lifecycleHooks;
    const hookTimeouts = typeof hooks === "object" ? hooks : {};
    const group = new LocalAutoScalingGroup({
      name: options.groupName ?? names.group,
      minSize,
      maxSize: options.maxSize ?? c.fleet.maxSize,
      desiredCapacity: options.desiredCapacity ?? minSize,
      newInstancesProtectedFromScaleIn: options.newInstancesProtectedFromScaleIn ?? true,
      defaultInstanceWarmup: options.warmupSeconds ?? c.fleet.bootSeconds,
      instanceTypes: options.instanceTypes ?? c.fleet.instanceTypes,
      availabilityZones: options.availabilityZones ?? [`${c.region}a`, `${c.region}b`],
      region: c.region,
      capacityRebalance: options.capacityRebalance ?? c.fleet.capacityRebalance,
      keepFailedInstances: options.keepFailedInstances ?? c.fleet.debugKeepFailedInstances,
      timeScale: options.timeScale ?? 1,
      ...(options.launchRetrySeconds !== undefined ? { launchRetrySeconds: options.launchRetrySeconds } : {}),
      ...(hooks
        ? {
            lifecycleHooks: {
              launch: {
                name: names.launchHook,
                heartbeatTimeoutSeconds: hookTimeouts.launchTimeoutSeconds ?? c.fleet.lifecycleHooks.launchTimeoutSeconds,
                defaultResult: "ABANDON",
              },
              terminate: {
                name: names.terminateHook,
                heartbeatTimeoutSeconds: hookTimeouts.terminateTimeoutSeconds ?? c.fleet.lifecycleHooks.terminateTimeoutSeconds,
                defaultResult: "CONTINUE",
              },
            },
          }
        : {}),
      newInstanceId,
    });
    group.suspendProcesses(options.suspendedProcesses ?? ["AZRebalance"]);
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
    setImmediate(() => {
      if (fleet.#stopping) return;
      group.managed = true;
      group.tick();
    });
    if (options.scaling) fleet.#scheduleAlarm();
    fleet.#armSchedule();
    return fleet;
  }

  get groupName(): string {
    return this.group.name;
  }

  /** Every instance the group holds, booting, in service, kept or terminating. */
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
  alarmState(): AlarmEvaluatedEvent | undefined {
    return this.#lastAlarm;
  }

  /** The boot breaker: open (Launch suspended, group tagged) or closed, and the failed boots it counts. */
  breaker(): BreakerView {
    const c = this.#options.config.fleet.bootBreaker;
    const trip = this.#breaker?.trip();
    return {
      open: trip !== undefined && this.group.isSuspended("Launch"),
      ...(trip ? { trip } : {}),
      failuresInWindow: this.#breaker?.failuresInWindow() ?? 0,
      failures: c.failures,
      windowSeconds: c.windowSeconds,
    };
  }

  /**
   * Posts a Spot interruption notice in the instance's IMDS for `noticeSeconds` from now. With a terminate
   * hook the group starts terminating it at once (Terminating:Wait, target lifecycle state Terminated);
   * at the notice's time the instance is shut down whatever the hook says (SIGTERM, SIGKILL after the
   * grace). The group replaces it if desired capacity still calls for it.
   */
  async interrupt(instanceId: string, options: { action?: SpotAction; noticeSeconds?: number } = {}): Promise<{ action: SpotAction; time: string }> {
    const inst = this.#require(instanceId);
    await inst.imdsReady;
    if (!inst.imds || inst.terminated || inst.spotInterruption) throw new FleetError("INSTANCE_TERMINATING", `instance ${instanceId} is already terminating`);
    const noticeSeconds = options.noticeSeconds ?? this.#options.spotNoticeSeconds ?? 10;
    const notice = inst.imds.setSpotInterruption(options.action ?? "terminate", noticeSeconds);
    inst.spotInterruption = notice;
    clearTimeout(inst.noticeTimer);
    inst.noticeTimer = setTimeout(() => void this.#end(instanceId, "spot-interruption"), noticeSeconds * 1000);
    this.emit("spot_interruption", { instanceId, ...notice });
    if (this.group.hooks.terminate) this.group.beginTermination(instanceId, "spot-interruption");
    return notice;
  }

  /**
   * Posts a rebalance recommendation in the instance's IMDS. With Capacity Rebalancing the group
   * launches a replacement and, once that is InService, terminates this instance through its terminate hook.
   */
  async recommendRebalance(instanceId: string): Promise<{ noticeTime: string }> {
    const inst = this.#require(instanceId);
    await inst.imdsReady;
    const rec = this.group.instance(instanceId);
    if (!inst.imds || inst.terminated || !rec || rec.lifecycleState.startsWith("Terminating"))
      throw new FleetError("INSTANCE_TERMINATING", `instance ${instanceId} is already terminating`);
    const r = inst.imds.setRebalanceRecommendation();
    inst.rebalance = r;
    this.emit("rebalance_recommendation", { instanceId, ...r });
    this.group.rebalanceRecommended(instanceId);
    return r;
  }

  /** SetInstanceHealth, as an EC2 status check or the worker would. */
  setHealth(instanceId: string, status: "Healthy" | "Unhealthy"): void {
    this.#require(instanceId);
    this.group.setInstanceHealth(instanceId, status);
  }

  /** Makes matching launches fail (InsufficientInstanceCapacity for a type/zone, the vCPU quota): `count` attempts, or until cleared. */
  injectLaunchFailure(rule: { code: LaunchErrorCode; instanceType?: string; availabilityZone?: string; count?: number }): LaunchFailureRule[] {
    this.group.injectLaunchFailure(rule);
    return this.group.launchFailureRules();
  }

  clearLaunchFailures(): void {
    this.group.clearLaunchFailures();
  }

  /**
   * Makes the next `count` launches fail to boot: `user-data` dies at once (the bootstrap's failure
   * path: launch action ABANDON, or terminate without decrement); `hang` never starts the worker (the
   * launch action times out). Each is a failed boot for the breaker.
   */
  injectBootFailures(count: number, mode: BootFailureMode = "user-data"): { mode: BootFailureMode; remaining: number }[] {
    if (!Number.isInteger(count) || count < 1) throw new ValidationError("invalid boot failure", [{ field: "count", reason: `must be a whole number >= 1, got ${count}` }]);
    if (!BOOT_FAILURE_MODES.includes(mode)) throw new ValidationError("invalid boot failure", [{ field: "mode", reason: `must be one of ${BOOT_FAILURE_MODES.join(", ")}` }]);
    this.#bootFailures.push({ mode, remaining: count });
    return this.bootFailures();
  }

  bootFailures(): { mode: BootFailureMode; remaining: number }[] {
    return this.#bootFailures.map((b) => ({ ...b }));
  }

  clearBootFailures(): void {
    this.#bootFailures = [];
  }

  /** A new launch template version for new instances (what a deploy of a changed template does). */
  bumpLaunchTemplate(): { before: string; after: string } {
    return this.group.bumpLaunchTemplateVersion();
  }

  startInstanceRefresh(input: { preferences?: RefreshPreferences; launchTemplateVersion?: string } = {}): string {
    return this.group.startInstanceRefresh(input);
  }

  cancelInstanceRefresh(): string {
    return this.group.cancelInstanceRefresh();
  }

  instanceRefreshes(): InstanceRefreshView[] {
    return this.group.instanceRefreshes();
  }

  /** SIGKILLs the instance's worker process; its service manager restarts it. Returns the killed pid. */
  killProcess(instanceId: string): number | undefined {
    const inst = this.#require(instanceId);
    return inst.service?.killMain();
  }

  /** Kills the instance outright (no notice, no grace, no hook, like a hardware loss); the group replaces it. */
  async killInstance(instanceId: string): Promise<void> {
    this.#require(instanceId);
    await this.#end(instanceId, "killed");
  }

  /** Terminates every instance (no orphan processes), stops the alarm and the endpoints. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.group.managed = false;
    clearTimeout(this.#alarmTimer);
    clearTimeout(this.#scheduleTimer);
    clearTimeout(this.#groupTimer);
    await Promise.all([...this.#instances.keys()].map((id) => this.#end(id, "fleet-stop")));
    this.#breaker?.detach();
    process.off("exit", this.#onProcessExit);
    await this.#control?.stop();
    await this.#asg.stop();
  }

  #wire(): void {
    const g = this.group;
    const c = this.#options.config.fleet.bootBreaker;
    if (this.#options.bootBreaker !== false)
      this.#breaker = attachBootBreaker(g, {
        failures: c.failures,
        windowSeconds: c.windowSeconds,
        timeScale: this.#scale,
        onTrip: (trip) => this.emit("boot_breaker_tripped", { ...trip, groupName: g.name }),
      });
    g.on("desired_changed", (e) => this.emit("desired_changed", e));
    g.on("instance_launched", (e) => this.#launch(e.instanceId));
    g.on("launch_failed", (e) => this.emit("launch_failed", { ...e, retryAt: new Date(e.retryAt).toISOString() }));
    g.on("lifecycle_action", (e) => {
      const { deadline, ...rest } = e;
      this.emit("lifecycle_action", { ...rest, ...(deadline !== undefined ? { deadline: new Date(deadline).toISOString() } : {}) });
    });
    g.on("instance_in_service", (e) => {
      const inst = this.#instances.get(e.instanceId);
      this.emit("instance_in_service", { instanceId: e.instanceId, ...(inst?.service?.pid !== undefined ? { pid: inst.service.pid } : {}) });
    });
    g.on("termination_started", (e) => {
      const inst = this.#instances.get(e.instanceId);
      inst?.imds?.setTargetLifecycleState("Terminated");
      inst?.cancelBoot?.();
      this.emit("instance_terminating", { instanceId: e.instanceId, reason: e.reason });
    });
    g.on("termination_proceed", (e) => void this.#shutdown(e.instanceId, e.reason));
    g.on("boot_failed", (e) => {
      const inst = this.#instances.get(e.instanceId);
      if (inst) inst.bootFailure = e.cause;
      this.#log(e.instanceId, `boot failed: ${e.cause}${e.kept ? " (kept for a look: debugKeepFailedInstances)" : ""}`);
      this.emit("boot_failed", { ...e, failuresInWindow: this.#breaker?.failuresInWindow() ?? 0 });
    });
    g.on("processes_suspended", (e) => this.emit("processes_suspended", e));
    g.on("processes_resumed", (e) => this.emit("processes_resumed", e));
    g.on("health_changed", (e) => this.emit("health_changed", e));
    g.on("capacity_rebalance", (e) => this.emit("capacity_rebalance", e));
    g.on("az_rebalance", (e) => this.emit("az_rebalance", e));
    g.on("launch_template_changed", (e) => this.emit("launch_template_changed", e));
    g.on("instance_refresh", (e) => this.emit("instance_refresh", e));
    g.on("scale_in_waiting", (e) => this.emit("scale_in_waiting", e));
    g.on("changed", () => this.#armGroupTimer());
  }

  /** One timer for whatever the group has due next (hook timeouts, launch retries, refresh pacing). */
  #armGroupTimer(): void {
    clearTimeout(this.#groupTimer);
    if (this.#stopping) return;
    const next = this.group.nextDeadline();
    if (next === undefined) return;
    this.#groupTimer = setTimeout(() => {
      if (!this.#stopping) this.group.tick();
    }, Math.max(0, next - Date.now()));
  }

  /** The group launched an instance: its IMDS and folder, then the boot delay, then the user data (the worker). */
  #launch(instanceId: string): void {
    const rec = this.group.instance(instanceId)!;
    const dir = join(this.#options.workRoot, instanceId);
    const inst: FleetInstance = { instanceId, dir, imdsReady: Promise.resolve(), launching: Promise.resolve() };
    this.#instances.set(instanceId, inst);
    const imdsReady = (async () => {
      mkdirSync(join(dir, "telemetry"), { recursive: true });
      inst.imds = await startImdsServer({
        instanceId,
        instanceType: rec.instanceType,
        availabilityZone: rec.availabilityZone,
        host: this.#options.host,
        targetLifecycleState: rec.targetLifecycleState,
      });
    })();
    inst.imdsReady = imdsReady.catch(() => undefined);
    this.emit("instance_launched", {
      instanceId,
      dir,
      availabilityZone: rec.availabilityZone,
      instanceType: rec.instanceType,
      launchTemplateVersion: rec.launchTemplateVersion,
    });
    inst.launching = imdsReady
      .then(() => this.#boot(inst))
      .catch(async (err: Error) => {
        // An instance that cannot start (a port, a folder) is lost like a failed launch; the group
        // replaces it, after a pause so a lasting cause does not spin.
        this.emit("scaling_error", new FleetError("LAUNCH_FAILED", `instance ${instanceId} failed to launch: ${err.message}`, { cause: err }));
        await new Promise((r) => setTimeout(r, (this.#options.restartDelaySeconds ?? 1) * 1000));
        void this.#end(instanceId, "killed");
      });
  }

  /** The boot delay, then the user data: an injected failure, or the worker's first start. */
  async #boot(inst: FleetInstance): Promise<void> {
    if (this.#gone(inst)) return;
    // The boot counts from the launch (setting up the instance's IMDS and folder is part of it).
    const launchedAt = this.group.instance(inst.instanceId)?.launchedAt ?? Date.now();
    const bootMs = launchedAt + this.#ms(this.#options.bootSeconds ?? 0) - Date.now();
    if (bootMs > 0)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, bootMs);
        inst.cancelBoot = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    if (this.#gone(inst)) return;
    const rec = this.group.instance(inst.instanceId);
    if (rec) inst.imds?.setTargetLifecycleState(rec.targetLifecycleState);
    const failure = this.#takeBootFailure();
    if (failure) {
      this.#log(inst.instanceId, `user data: injected boot failure (${failure})`);
      this.group.bootCompleted(inst.instanceId);
      if (failure === "user-data") this.group.serviceFailed(inst.instanceId, "user data failed (injected)", { bootFailureWithoutHook: true });
      return;
    }
    inst.service = new WorkerService({
      launch: this.#options.launch,
      env: this.#instanceEnv(inst),
      logFile: join(inst.dir, "worker.log"),
      restartDelayMs: (this.#options.restartDelaySeconds ?? 1) * 1000,
      ...(this.#options.maxRestarts !== undefined ? { maxRestarts: this.#options.maxRestarts } : {}),
      ...(this.#options.stopFile ? { stopFile: stopFileOf(inst.dir) } : {}),
    });
    inst.service.on("exited", (e) => {
      const { restartInMs: _delay, ...rest } = e;
      this.emit("worker_exited", { instanceId: inst.instanceId, ...rest, pid: e.pid });
      if (e.failure && !this.#stopping) this.group.serviceFailed(inst.instanceId, serviceFailureCause(e.failure, e.code), { bootFailureWithoutHook: e.failure !== "crash-loop" });
    });
    inst.service.on("started", (e) => {
      if (e.restarts > 0) this.emit("worker_restarted", { instanceId: inst.instanceId, pid: e.pid, restarts: e.restarts });
    });
    inst.service.start();
    // With a launch hook the instance waits in Pending:Wait until the worker completes the action.
    this.group.bootCompleted(inst.instanceId);
  }

  #takeBootFailure(): BootFailureMode | undefined {
    const next = this.#bootFailures[0];
    if (!next) return undefined;
    if (--next.remaining <= 0) this.#bootFailures.shift();
    return next.mode;
  }

  #gone(inst: FleetInstance): boolean {
    const rec = this.group.instance(inst.instanceId);
    return this.#stopping || inst.terminated !== undefined || !rec || rec.lifecycleState.startsWith("Terminating");
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
      ...(this.#options.stopFile ? { [STOP_FILE_ENV]: stopFileOf(inst.dir) } : {}),
    };
  }

  /** Ends an instance now, skipping its terminate hook (killed, Spot reclaim, fleet stop); resolves once it is gone. */
  #end(instanceId: string, reason: TerminationReason): Promise<void> {
    const inst = this.#instances.get(instanceId);
    if (!inst) return Promise.resolve();
    inst.forced ??= reason;
    if (!this.group.forceTerminate(instanceId, reason)) return this.#shutdown(instanceId, reason);
    return inst.terminated ?? this.#shutdown(instanceId, reason);
  }

  /** Shuts an instance down once (Terminating:Proceed): worker stopped, IMDS closed, removed from the group. */
  #shutdown(instanceId: string, why: TerminationReason): Promise<void> {
    const inst = this.#instances.get(instanceId);
    if (!inst) return Promise.resolve();
    if (inst.terminated) return inst.terminated;
    const reason = inst.forced ?? why;
    let finish!: () => void;
    inst.terminated = new Promise((r) => (finish = r));
    inst.cancelBoot?.();
    clearTimeout(inst.noticeTimer);
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
        this.#instances.delete(instanceId);
        this.emit("instance_terminated", { instanceId, reason });
        finish();
        // Removing it may call for a replacement at once, as AWS launches one.
        this.group.removeInstance(instanceId);
        void this.#coverReturnedJobs();
      }
    })();
    return inst.terminated;
  }

  /** A line in the instance's worker.log, as the bootstrap transcript would have it. */
  #log(instanceId: string, line: string): void {
    const inst = this.#instances.get(instanceId);
    if (!inst) return;
    try {
      appendFileSync(join(inst.dir, "worker.log"), `[local fleet ${new Date().toISOString()}] ${line}\n`);
    } catch {
      // the folder is gone
    }
  }

  /** Alarm periods fall at whole periods (on the scaled clock) from the fleet's start, whatever a period's work took. */
  #scheduleAlarm(): void {
    const next = this.#alarmStart + (this.scaling.periods + 1) * this.scaling.periodWallMs;
    this.#alarmTimer = setTimeout(async () => {
      try {
        await this.#runAlarmPeriod();
      } finally {
        if (!this.#stopping) this.#scheduleAlarm();
      }
    }, Math.max(0, next - Date.now()));
  }

  /**
   * One period, as CloudWatch and Auto Scaling run it: the queue's and the group's metrics become
   * the period's datapoint (published a metric delay later), the alarm is evaluated, and in ALARM
   * the policy of `scaling.policy` runs. The decision is the model's (core/scaling/).
   */
  async #runAlarmPeriod(): Promise<void> {
    const { sqs, queueUrl } = this.#options.scaling!;
    let depth: QueueDepth | undefined;
    try {
      depth = await queueDepth(sqs, queueUrl);
    } catch (err) {
      if (!this.#stopping) this.emit("scaling_error", err as Error);
    }
    if (this.#stopping) return;
    // The period's boundary, whatever the queue read took: CloudWatch stamps a datapoint with its period.
    const boundary = this.clock.scaled(this.#alarmStart + (this.scaling.periods + 1) * this.scaling.periodWallMs);
    const { period, scaledAt, decision: d } = this.scaling.runPeriod(depth, this.#groupState(), boundary);
    const policy = this.scaling.spec.policy;
    const evaluated: AlarmEvaluatedEvent = {
      at: Date.now(),
      scaledAt,
      period,
      policy,
      state: d.alarm.state,
      // Locally every period that read the queue has a datapoint: nothing is missing.
      datapoints: d.alarm.datapoints.filter((v): v is number => v !== undefined),
      ...(d.alarm.value !== undefined ? { value: d.alarm.value } : {}),
      ...(d.step ? { step: { name: d.step.name, backlogAtLeast: d.step.backlogAtLeast, addInstances: d.step.addInstances } } : {}),
    };
    this.#lastAlarm = evaluated;
    this.emit("alarm_evaluated", evaluated);
    if (d.alarm.state !== "ALARM" || d.alarm.value === undefined) return;
    if (policy !== "target-tracking" && !d.step) return;
    // A suspended AlarmNotification process: the alarm still changes state, its policy does not run.
    if (this.group.isSuspended("AlarmNotification")) return;
    this.emit("alarm_fired", {
      period,
      scaledAt,
      policy,
      value: d.alarm.value,
      ...(d.step ? { step: d.step.name, addInstances: d.step.addInstances } : {}),
      currentCapacity: d.currentCapacity,
      before: d.before,
      after: d.after,
    });
    if (d.after > d.before) this.group.setDesiredCapacity(d.after, "alarm");
  }

  /**
   * An instance left the group: when jobs queued, in flight or delayed now outnumber desired capacity
   * (a lost worker's job, whose instance retired or died with a decrement), raise it as the fast path
   * would (core/scaling's `fastPathDesired`), without waiting for the alarm.
   */
  async #coverReturnedJobs(): Promise<void> {
    const s = this.#options.scaling;
    if (!s || this.#stopping || !(s.returnedJobs ?? this.#options.config.scaling.fastPath)) return;
    let depth: QueueDepth;
    try {
      depth = await queueDepth(s.sqs, s.queueUrl);
    } catch (err) {
      if (!this.#stopping) this.emit("scaling_error", err as Error);
      return;
    }
    if (this.#stopping) return;
    const g = this.group;
    const after = this.scaling.fastPathDesired(depth, g);
    const before = g.desiredCapacity;
    if (after <= before) return;
    g.setDesiredCapacity(after, "returned-jobs");
    this.emit("returned_jobs", { ...depth, before, after });
  }

  /** Arms the timer for the next scheduled action of `scaling.schedule` on the scaled clock. */
  #armSchedule(): void {
    clearTimeout(this.#scheduleTimer);
    if (this.#stopping || this.scaling.spec.schedule.length === 0) return;
    const horizon = 8 * 86_400_000;
    const next = this.scaling.scheduledActions(this.#scheduleCursor, this.#scheduleCursor + horizon)[0];
    const target = next?.at ?? this.#scheduleCursor + horizon;
    // setTimeout holds at most 2^31 - 1 ms; a later target re-arms on the way.
    this.#scheduleTimer = setTimeout(() => this.#runSchedule(), Math.min(this.clock.wallDelayUntil(target), 2 ** 31 - 1));
  }

  /** Runs the scheduled actions due by now (Auto Scaling's rule for the sizes: the model's `applySchedule`). */
  #runSchedule(): void {
    if (this.#stopping) return;
    const to = Math.floor(this.clock.now()) + 1;
    const due = this.scaling.scheduledActions(this.#scheduleCursor, to);
    this.#scheduleCursor = to;
    const g = this.group;
    for (const action of due) {
      const before = { minSize: g.minSize, maxSize: g.maxSize, desiredCapacity: g.desiredCapacity };
      if (g.isSuspended("ScheduledActions")) {
        this.emit("scheduled_action", { name: action.entry.name, scaledAt: action.at, before, after: before, skipped: "the ScheduledActions process is suspended" });
        continue;
      }
      const after = this.scaling.applySchedule(before, action);
      g.applyScheduledSizes(after);
      this.emit("scheduled_action", { name: action.entry.name, scaledAt: action.at, before, after });
    }
    this.#armSchedule();
  }

  #groupState() {
    const g = this.group;
    return { desiredCapacity: g.desiredCapacity, minSize: g.minSize, maxSize: g.maxSize, instances: g.activeInstances() };
  }

  #view(instanceId: string): FleetInstanceView | undefined {
    const rec = this.group.instance(instanceId);
    const inst = this.#instances.get(instanceId);
    if (!rec || !inst) return undefined;
    return {
      instanceId,
      lifecycleState: rec.lifecycleState,
      protectedFromScaleIn: rec.protectedFromScaleIn,
      healthStatus: rec.healthStatus,
      availabilityZone: rec.availabilityZone,
      instanceType: rec.instanceType,
      launchTemplateVersion: rec.launchTemplateVersion,
      targetLifecycleState: rec.targetLifecycleState,
      ...(rec.action
        ? { lifecycleAction: { hookName: rec.action.hookName, transition: rec.action.transition, deadline: new Date(rec.action.deadline).toISOString() } }
        : {}),
      ...(inst.service?.pid !== undefined ? { pid: inst.service.pid } : {}),
      restarts: inst.service?.restarts ?? 0,
      dir: inst.dir,
      ...(inst.imds ? { imdsEndpoint: inst.imds.endpoint } : {}),
      launchedAt: new Date(rec.launchedAt).toISOString(),
      ...(rec.inServiceAt !== undefined ? { inServiceAt: new Date(rec.inServiceAt).toISOString() } : {}),
      ...(inst.spotInterruption ? { spotInterruption: inst.spotInterruption } : {}),
      ...(inst.rebalance ? { rebalanceRecommendation: inst.rebalance } : {}),
      ...(inst.bootFailure ? { bootFailure: inst.bootFailure } : {}),
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

/** `<instance>/run/stop`: the stop file of CONTRACTS §9. */
function stopFileOf(dir: string): string {
  return join(dir, "run", "stop");
}

function serviceFailureCause(failure: ServiceFailure, code: number | null): string {
  if (failure === "config") return `worker exit ${code} (bad config or environment)`;
  if (failure === "preflight") return `worker exit ${code} (preflight failed)`;
  return "worker crashed too often (more than 5 restarts in 10 min)";
}

/** Refuses options that cannot work, naming each, before anything is started. */
function checkOptions(o: LocalFleetOptions): void {
  const problems: Problem[] = [];
  const positive = { timeScale: o.timeScale };
  const hooks = typeof o.lifecycleHooks === "object" ? o.lifecycleHooks : {};
  const nonNegative = {
    bootSeconds: o.bootSeconds,
    warmupSeconds: o.warmupSeconds,
    spotNoticeSeconds: o.spotNoticeSeconds,
    stopGraceSeconds: o.stopGraceSeconds,
    restartDelaySeconds: o.restartDelaySeconds,
    launchRetrySeconds: o.launchRetrySeconds,
    "scaling.metricDelaySeconds": o.scaling?.metricDelaySeconds,
    "lifecycleHooks.launchTimeoutSeconds": hooks.launchTimeoutSeconds,
    "lifecycleHooks.terminateTimeoutSeconds": hooks.terminateTimeoutSeconds,
  };
  for (const [field, v] of Object.entries(positive))
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) problems.push({ field, reason: `must be a number above 0, got ${v}` });
  for (const [field, v] of Object.entries(nonNegative))
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) problems.push({ field, reason: `must be a number of seconds >= 0, got ${v}` });
  if (o.clockStart !== undefined && !Number.isFinite(typeof o.clockStart === "number" ? o.clockStart : o.clockStart.getTime()))
    problems.push({ field: "clockStart", reason: `must be a time (ms since the epoch or a Date), got ${String(o.clockStart)}` });
  if (o.maxRestarts !== undefined && !(Number.isInteger(o.maxRestarts) && o.maxRestarts >= 0))
    problems.push({ field: "maxRestarts", reason: `must be a whole number >= 0, got ${o.maxRestarts}` });
  if (o.availabilityZones !== undefined && o.availabilityZones.length === 0) problems.push({ field: "availabilityZones", reason: "must list at least one zone" });
  if (o.instanceTypes !== undefined && o.instanceTypes.length === 0) problems.push({ field: "instanceTypes", reason: "must list at least one instance type" });
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
