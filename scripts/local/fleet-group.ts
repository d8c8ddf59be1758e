import { randomBytes, randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type { GroupState } from "../../core/ports.ts";
import { launchBackoffMs, poolKey, poolOrder, tryLaunch, type LaunchErrorCode, type LaunchFailureRule, type Pool } from "./fleet-launch.ts";

/** Lifecycle states of an instance in an Auto Scaling group (the ones the local fleet plays). */
export const LIFECYCLE = {
  pending: "Pending",
  pendingWait: "Pending:Wait",
  pendingProceed: "Pending:Proceed",
  inService: "InService",
  terminating: "Terminating",
  terminatingWait: "Terminating:Wait",
  terminatingProceed: "Terminating:Proceed",
  /** Out of service but kept (locally: a failed boot kept by `debugKeepFailedInstances`). */
  standby: "Standby",
} as const;
export type LifecycleState = (typeof LIFECYCLE)[keyof typeof LIFECYCLE];

/** The Auto Scaling processes SuspendProcesses/ResumeProcesses know. */
export const SCALING_PROCESSES = [
  "Launch",
  "Terminate",
  "AddToLoadBalancer",
  "AlarmNotification",
  "AZRebalance",
  "HealthCheck",
  "InstanceRefresh",
  "ReplaceUnhealthy",
  "ScheduledActions",
] as const;
export type ScalingProcess = (typeof SCALING_PROCESSES)[number];

export const LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING";
export const TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING";
export type LifecycleTransition = typeof LAUNCHING | typeof TERMINATING;
export type LifecycleActionResult = "CONTINUE" | "ABANDON";

/** A lifecycle hook of the group (PutLifecycleHook). */
export interface LifecycleHookSpec {
  name: string;
  /** Seconds of the group's clock (scaled by the group's time scale). */
  heartbeatTimeoutSeconds: number;
  defaultResult: LifecycleActionResult;
}

/** Why desired capacity changed. */
export type DesiredReason =
  /** SetDesiredCapacity through the Auto Scaling API (the API's fast path, a CLI). */
  | "api"
  /** The scaling alarm's policy (`scaling.policy`, decided by core/scaling's model). */
  | "alarm"
  /** A scheduled action of `scaling.schedule`. */
  | "schedule"
  /** The fast path for returned jobs: an instance left while jobs queued or in flight had no instance (core/scaling's `fastPathDesired`). */
  | "returned-jobs"
  /** TerminateInstanceInAutoScalingGroup with decrement (in spotq: an idle worker retiring itself). */
  | "self-terminate"
  /** The local fleet's control surface or in-process API. */
  | "control";

/** Why an instance is being terminated. */
export type TerminationReason =
  /** TerminateInstanceInAutoScalingGroup (in spotq: the worker on it). */
  | "self-terminate"
  /** Desired capacity went below the number of instances. */
  | "scale-in"
  /** A Spot interruption notice ran out (or, with a terminate hook, began). */
  | "spot-interruption"
  /** Killed outright (hardware loss, a test). */
  | "killed"
  /** The local fleet is stopping. */
  | "fleet-stop"
  /** Capacity Rebalancing: the at-risk instance goes once its replacement is InService. */
  | "capacity-rebalance"
  /** AZ rebalancing: an instance of the over-represented zone goes once its replacement is InService. */
  | "az-rebalance"
  /** SetInstanceHealth Unhealthy: the group replaces it. */
  | "unhealthy"
  /** An instance refresh replaces it. */
  | "instance-refresh"
  /** The launch lifecycle action ended ABANDON (explicitly or by timeout). */
  | "launch-abandoned"
  /** Its boot failed without a launch hook (user data or the worker died); it leaves without decrement. */
  | "boot-failed"
  /** Its service gave up after it had booted (fatal exit, crash loop); it leaves without decrement. */
  | "service-failed";

/** An active lifecycle action: the instance waits in Pending:Wait or Terminating:Wait. */
export interface LifecycleAction {
  hookName: string;
  transition: LifecycleTransition;
  token: string;
  startedAt: number;
  /** When the heartbeat timeout runs out (a heartbeat moves it). */
  deadline: number;
  /** The global timeout: 100 × the heartbeat timeout or 48 h, whichever is smaller. */
  globalDeadline: number;
  defaultResult: LifecycleActionResult;
}

export interface GroupInstanceRecord {
  instanceId: string;
  lifecycleState: LifecycleState;
  protectedFromScaleIn: boolean;
  healthStatus: "Healthy" | "Unhealthy";
  instanceType: string;
  availabilityZone: string;
  /** The launch template version it was launched from. */
  launchTemplateVersion: string;
  launchedAt: number;
  /** When it entered InService (warmup counts from here). */
  inServiceAt?: number;
  /** What IMDS `autoscaling/target-lifecycle-state` shows. */
  targetLifecycleState: "InService" | "Terminated";
  /** The active lifecycle action, while in a wait state. */
  action?: LifecycleAction;
  terminationReason?: TerminationReason;
  /** Its launch's scaling activity, while the launch is not over (InService, or gone). */
  launchActivity?: ScalingActivity;
  /** It completed its launch (CONTINUE, or InService without a launch hook). */
  booted: boolean;
  /** Capacity Rebalancing: a rebalance recommendation came; its replacement, once launched. */
  atRisk?: { recommendedAt: number; replacementId?: string };
  /** AZ rebalancing chose it to go; its replacement in the under-represented zone. */
  azVictim?: { replacementId: string };
  /** What it was launched to replace (Capacity Rebalancing or AZ rebalancing). */
  replaces?: { instanceId: string; why: "capacity-rebalance" | "az-rebalance" };
}

/** A scaling activity, as the Auto Scaling API returns it. */
export interface ScalingActivity {
  activityId: string;
  groupName: string;
  description: string;
  cause: string;
  startTime: Date;
  endTime?: Date;
  /**
   * A launch is `PreInService` (or `MidLifecycleAction` in the launch hook) until the instance is
   * InService (`Successful`), `Failed` when EC2 refused it, `Cancelled` when the instance left
   * before it was in service (boot failed, launch hook ABANDON); a termination is `InProgress`
   * until the instance is gone.
   */
  statusCode: "PreInService" | "MidLifecycleAction" | "InProgress" | "Successful" | "Failed" | "Cancelled";
  statusMessage?: string;
  progress: number;
  details: string;
}

/** An error Auto Scaling answers with: the code and message AWS uses, an HTTP 400 Sender fault. */
export class AutoScalingError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.name = code;
    this.code = code;
    this.status = status;
  }
}

/** StartInstanceRefresh preferences (the subset the local group plays). */
export interface RefreshPreferences {
  /** @default 90 */
  minHealthyPercentage?: number;
  /** Seconds (group clock) a new instance warms up before the next batch. @default the group's DefaultInstanceWarmup, else 0 */
  instanceWarmup?: number;
  /** Skip instances already on the desired launch template version. @default false */
  skipMatching?: boolean;
  /** What to do with instances protected from scale in. @default "Wait" */
  scaleInProtectedInstances?: "Refresh" | "Ignore" | "Wait";
}

export type RefreshStatus = "Pending" | "InProgress" | "Successful" | "Failed" | "Cancelling" | "Cancelled";

/** An instance refresh, as DescribeInstanceRefreshes shows it. */
export interface InstanceRefreshView {
  instanceRefreshId: string;
  groupName: string;
  status: RefreshStatus;
  statusReason?: string;
  startTime: Date;
  endTime?: Date;
  percentageComplete: number;
  instancesToUpdate: number;
  preferences: Required<RefreshPreferences>;
  /** The launch template version it rolls out. */
  launchTemplateVersion: string;
}

interface RefreshRun {
  id: string;
  status: RefreshStatus;
  statusReason?: string;
  startTime: number;
  endTime?: number;
  prefs: Required<RefreshPreferences>;
  targetVersion: string;
  /** Instances still to replace (as they were at the start, minus skipped ones). */
  toReplace: Set<string>;
  total: number;
  /** Instances the refresh is terminating now. */
  terminating: Set<string>;
  /** Since when only protected instances are left to replace (ScaleInProtectedInstances Wait). */
  waitingProtectedSince?: number;
}

/** ScaleInProtectedInstances Wait: AWS waits one hour for protection to be removed, then fails the refresh. */
export const REFRESH_PROTECTED_WAIT_SECONDS = 3600;

export interface LocalGroupOptions {
  name: string;
  minSize: number;
  maxSize: number;
  /** @default minSize */
  desiredCapacity?: number;
  /** New instances start protected from scale-in (spotq's groups set this). @default true */
  newInstancesProtectedFromScaleIn?: boolean;
  /** Reported as DefaultInstanceWarmup; the instance refresh's warmup (group seconds). */
  defaultInstanceWarmup?: number;
  /** @default "g4dn.xlarge" */
  instanceType?: string;
  /** The mixed instances policy's types, most preferred first. @default [instanceType] */
  instanceTypes?: string[];
  /** @default ["us-east-1a"] */
  availabilityZones?: string[];
  /** @default "us-east-1" */
  region?: string;
  /** Capacity Rebalancing: a rebalance recommendation launches a replacement. @default false */
  capacityRebalance?: boolean;
  /** The group's lifecycle hooks; none by default (instances go Pending → InService, Terminating → Terminated). */
  lifecycleHooks?: { launch?: LifecycleHookSpec; terminate?: LifecycleHookSpec };
  /** A failed boot keeps its instance, out of service (Standby), instead of terminating it. @default false */
  keepFailedInstances?: boolean;
  /**
   * The group launches and terminates by itself to match desired capacity (what the local fleet wants).
   * Off, it only keeps state and answers the API (an endpoint tested on its own). @default false
   */
  managed?: boolean;
  /** The launch template version new instances get. @default 1 */
  launchTemplateVersion?: number;
  /** Multiplies the group's clock (hook timeouts, retries, refresh pacing): 0.01 turns 60 s into 0.6 s. @default 1 */
  timeScale?: number;
  /** Wait before the first launch retry after a failed launch (group seconds); doubles each time. @default 10 */
  launchRetrySeconds?: number;
  /** @default 300 */
  maxLaunchRetrySeconds?: number;
  /** A capacity pool that failed is tried last for this long (group seconds). @default 60 */
  poolCooldownSeconds?: number;
  /** @default Date.now */
  clock?: () => number;
  /** @default i-0 + 16 hex digits */
  newInstanceId?: () => string;
}

export interface LaunchFailedEvent {
  /** The EventBridge detail-type a rule would match. */
  detailType: "EC2 Instance Launch Unsuccessful";
  activityId: string;
  statusCode: "Failed";
  statusMessage: string;
  cause: string;
  errorCode: LaunchErrorCode;
  instanceType: string;
  availabilityZone: string;
  /** When the group tries again (ms since the epoch). */
  retryAt: number;
}

/** Events of a group. Listeners get one object each. */
/**
 * A lifecycle action started (Pending:Wait / Terminating:Wait), got a heartbeat, or completed (by
 * the API, the timeout's default result, or the service manager). `deadline` is epoch ms in the
 * group and an ISO time in the fleet's events.
 */
export interface LifecycleActionEvent<Deadline> {
  instanceId: string;
  hookName: string;
  transition: LifecycleTransition;
  phase: "started" | "heartbeat" | "completed";
  result?: LifecycleActionResult;
  by?: "api" | "timeout" | "service";
  deadline?: Deadline;
}

export type GroupEvents = {
  desired_changed: [{ before: number; after: number; reason: DesiredReason }];
  /** TerminateInstanceInAutoScalingGroup accepted (kept for callers of the API alone). */
  terminate_requested: [{ instanceId: string; decrement: boolean; activity: ScalingActivity }];
  protection_changed: [{ instanceIds: string[]; protectedFromScaleIn: boolean }];
  /** A launch succeeded: the instance is Pending; the fleet boots it. */
  instance_launched: [{ instanceId: string; instance: GroupInstanceRecord; purpose: "capacity" | "capacity-rebalance" | "az-rebalance" }];
  launch_failed: [LaunchFailedEvent];
  lifecycle_action: [LifecycleActionEvent<number>];
  instance_in_service: [{ instanceId: string }];
  /** The instance is Terminating (or Terminating:Wait when `hook`). */
  termination_started: [{ instanceId: string; reason: TerminationReason; hook: boolean }];
  /** Terminating:Proceed: the instance must be shut down now; the fleet calls removeInstance() when it is. */
  termination_proceed: [{ instanceId: string; reason: TerminationReason }];
  instance_removed: [{ instanceId: string; reason: TerminationReason }];
  health_changed: [{ instanceId: string; status: "Healthy" | "Unhealthy" }];
  /** A failed boot; `kept` when the instance stays (Standby) for a look. */
  boot_failed: [{ instanceId: string; cause: string; kept: boolean }];
  processes_suspended: [{ processes: ScalingProcess[]; reason: string }];
  processes_resumed: [{ processes: ScalingProcess[] }];
  tags_changed: [{ set: Record<string, string>; deleted: string[] }];
  capacity_rebalance: [{ instanceId: string; phase: "replacement-launched" | "terminating" | "blocked"; replacementId?: string; why?: string }];
  az_rebalance: [{ phase: "replacement-launched" | "terminating"; fromZone: string; toZone: string; instanceId: string; replacementId: string }];
  launch_template_changed: [{ before: string; after: string }];
  instance_refresh: [{ instanceRefreshId: string; status: RefreshStatus; percentageComplete: number; instancesToUpdate: number; statusReason?: string }];
  /** Desired is below the instance count but the rest are protected: the group waits, as AWS does. */
  scale_in_waiting: [{ excess: number; protectedInstances: string[] }];
  /** Something changed that may move the next deadline (the fleet re-arms its timer). */
  changed: [];
};

/**
 * The state of one Auto Scaling group and AWS's rules over it, on an injectable clock:
 * desired within [min, max]; launches into the emptiest zone, retried in other zones and types with
 * backoff; lifecycle hooks with heartbeat timeouts and default results; scale-in that never picks a
 * protected instance; Capacity Rebalancing and AZ rebalancing (launch before terminate); health
 * replacement; instance refresh; suspended processes and tags.
 *
 * It decides; the local fleet acts on its events (starts and stops processes) and calls back
 * ({@link bootCompleted}, {@link removeInstance}). Time-driven rules run in {@link tick}; the fleet
 * calls it at {@link nextDeadline}.
 */
export class LocalAutoScalingGroup extends EventEmitter<GroupEvents> {
  readonly name: string;
  readonly arn: string;
  readonly createdTime: Date;
  readonly region: string;
  readonly instanceTypes: readonly string[];
  readonly availabilityZones: string[];
  readonly defaultInstanceWarmup: number | undefined;
  readonly launchTemplate: { id: string; name: string };
  readonly hooks: { launch?: LifecycleHookSpec; terminate?: LifecycleHookSpec };
  minSize: number;
  maxSize: number;
  newInstancesProtectedFromScaleIn: boolean;
  capacityRebalance: boolean;
  keepFailedInstances: boolean;
  managed: boolean;
  #desired: number;
  #templateVersion: number;
  readonly #instances = new Map<string, GroupInstanceRecord>();
  readonly #terminations = new Map<string, ScalingActivity>();
  readonly #activities: ScalingActivity[] = [];
  readonly #suspended = new Map<ScalingProcess, string>();
  readonly #tags = new Map<string, { value: string; propagateAtLaunch: boolean }>();
  readonly #launchRules: LaunchFailureRule[] = [];
  readonly #poolFailedAt = new Map<string, number>();
  #launchRetry: { at: number; retries: number } | undefined;
  readonly #refreshes: RefreshRun[] = [];
  readonly #clock: () => number;
  readonly #scale: number;
  readonly #newId: () => string;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #poolCooldownMs: number;
  #settling = false;
  #settleAgain = false;
  #lastWaiting = "";

  constructor(options: LocalGroupOptions) {
    super();
    const { name, minSize, maxSize } = options;
    const desired = options.desiredCapacity ?? minSize;
    for (const [k, v] of Object.entries({ minSize, maxSize, desiredCapacity: desired }))
      if (!Number.isInteger(v) || v < 0) throw new RangeError(`group ${name}: ${k} must be a whole number >= 0, got ${v}`);
    if (maxSize < minSize) throw new RangeError(`group ${name}: maxSize (${maxSize}) is below minSize (${minSize})`);
    if (desired < minSize || desired > maxSize)
      throw new RangeError(`group ${name}: desiredCapacity (${desired}) must lie within minSize ${minSize} and maxSize ${maxSize}`);
    const scale = options.timeScale ?? 1;
    if (!(Number.isFinite(scale) && scale > 0)) throw new RangeError(`group ${name}: timeScale must be a number above 0, got ${scale}`);
    this.#clock = options.clock ?? Date.now;
    this.createdTime = new Date(this.#clock());
    this.name = name;
    this.minSize = minSize;
    this.maxSize = maxSize;
    this.#desired = desired;
    this.newInstancesProtectedFromScaleIn = options.newInstancesProtectedFromScaleIn ?? true;
    this.defaultInstanceWarmup = options.defaultInstanceWarmup;
    this.instanceTypes = options.instanceTypes?.length ? [...options.instanceTypes] : [options.instanceType ?? "g4dn.xlarge"];
    this.availabilityZones = options.availabilityZones ?? ["us-east-1a"];
    this.region = options.region ?? "us-east-1";
    this.capacityRebalance = options.capacityRebalance ?? false;
    this.hooks = { ...options.lifecycleHooks };
    this.keepFailedInstances = options.keepFailedInstances ?? false;
    this.managed = options.managed ?? false;
    this.#templateVersion = options.launchTemplateVersion ?? 1;
    this.#scale = scale;
    this.#newId = options.newInstanceId ?? (() => `i-0${randomBytes(8).toString("hex")}`);
    this.#retryBaseMs = this.#ms(options.launchRetrySeconds ?? 10);
    this.#retryMaxMs = this.#ms(options.maxLaunchRetrySeconds ?? 300);
    this.#poolCooldownMs = this.#ms(options.poolCooldownSeconds ?? 60);
    this.arn = `arn:aws:autoscaling:${this.region}:000000000000:autoScalingGroup:${randomUUID()}:autoScalingGroupName/${name}`;
    this.launchTemplate = { id: `lt-0${randomBytes(8).toString("hex")}`, name: `${name}-template` };
  }

  get desiredCapacity(): number {
    return this.#desired;
  }

  /** The first (most preferred) instance type. */
  get instanceType(): string {
    return this.instanceTypes[0];
  }

  /** The launch template version new instances get (a number as text). */
  get launchTemplateVersion(): string {
    return String(this.#templateVersion);
  }

  now(): number {
    return this.#clock();
  }

  // ---------------------------------------------------------------- the Auto Scaling API

  /** SetDesiredCapacity: AWS refuses a value outside [min, max] with these messages. */
  setDesiredCapacity(value: number, reason: DesiredReason = "api"): { before: number; after: number } {
    if (!Number.isInteger(value) || value < 0)
      throw new AutoScalingError("ValidationError", `Value ${value} at 'desiredCapacity' failed to satisfy constraint: Member must be a whole number >= 0`);
    if (value > this.maxSize)
      throw new AutoScalingError("ValidationError", `New SetDesiredCapacity value ${value} is above max value ${this.maxSize} for the AutoScalingGroup.`);
    if (value < this.minSize)
      throw new AutoScalingError("ValidationError", `New SetDesiredCapacity value ${value} is below min value ${this.minSize} for the AutoScalingGroup.`);
    const r = this.#setDesired(value, reason);
    this.#settle();
    return r;
  }

  /**
   * A scheduled action (PutScheduledUpdateGroupAction, run at its time): the new sizes replace the
   * old ones, desired capacity already kept within them by the caller (core/scaling's
   * `applyScheduledAction`). Refused when min exceeds max or desired falls outside them.
   */
  applyScheduledSizes(sizes: { minSize: number; maxSize: number; desiredCapacity: number }): { before: number; after: number } {
    const { minSize, maxSize, desiredCapacity } = sizes;
    for (const [k, v] of Object.entries(sizes))
      if (!Number.isInteger(v) || v < 0) throw new AutoScalingError("ValidationError", `Value ${v} at '${k}' failed to satisfy constraint: Member must be a whole number >= 0`);
    if (minSize > maxSize) throw new AutoScalingError("ValidationError", `Max size (${maxSize}) must be greater than or equal to min size (${minSize}).`);
    if (desiredCapacity < minSize || desiredCapacity > maxSize)
      throw new AutoScalingError("ValidationError", `Desired capacity:${desiredCapacity} must be between the specified min size:${minSize} and max size:${maxSize}`);
    this.minSize = minSize;
    this.maxSize = maxSize;
    const r = this.#setDesired(desiredCapacity, "schedule");
    this.#settle();
    return r;
  }

  /** SetInstanceProtection: every id must be an instance of this group. */
  setInstanceProtection(instanceIds: readonly string[], protectedFromScaleIn: boolean): void {
    if (instanceIds.length === 0) throw new AutoScalingError("ValidationError", "At least one instance ID is required.");
    const missing = instanceIds.filter((id) => !this.#instances.has(id));
    if (missing.length)
      throw new AutoScalingError(
        "ValidationError",
        `The instance${missing.length > 1 ? "s" : ""} ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} not part of Auto Scaling group ${this.name}.`,
      );
    for (const id of instanceIds) this.#instances.get(id)!.protectedFromScaleIn = protectedFromScaleIn;
    this.emit("protection_changed", { instanceIds: [...instanceIds], protectedFromScaleIn });
    this.#settle();
  }

  /**
   * TerminateInstanceInAutoScalingGroup: the instance terminates (through the terminate hook, if any)
   * and, with `decrement`, desired capacity goes down, refused (as AWS does) below the minimum.
   * Asking again for an instance already terminating returns the same activity without a second decrement.
   */
  terminateInstance(instanceId: string, decrement: boolean): ScalingActivity {
    const inst = this.#instances.get(instanceId);
    if (!inst) throw new AutoScalingError("ValidationError", `Instance Id not found - No managed instance found for instance ID: ${instanceId}`);
    const existing = this.#terminations.get(instanceId);
    if (existing) return existing;
    if (decrement && this.#desired - 1 < this.minSize)
      throw new AutoScalingError(
        "ValidationError",
        `Currently, desiredSize equals minSize (${this.minSize}). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.`,
      );
    const before = this.#desired;
    const activity = this.#beginTermination(
      instanceId,
      "self-terminate",
      `instance ${instanceId} was taken out of service in response to a user request${decrement ? `, shrinking the capacity from ${before} to ${before - 1}` : ""}`,
    );
    if (decrement) this.#setDesired(before - 1, "self-terminate");
    this.emit("terminate_requested", { instanceId, decrement, activity });
    this.#settle();
    return activity;
  }

  /** SetInstanceHealth: Unhealthy takes the instance out of service; the group replaces it (unless ReplaceUnhealthy is suspended). */
  setInstanceHealth(instanceId: string, status: "Healthy" | "Unhealthy"): void {
    if (status !== "Healthy" && status !== "Unhealthy")
      throw new AutoScalingError("ValidationError", `Value ${status} at 'healthStatus' failed to satisfy constraint: Member must be Healthy or Unhealthy`);
    const inst = this.#instances.get(instanceId);
    if (!inst) throw new AutoScalingError("ValidationError", `Instance Id not found - No managed instance found for instance ID: ${instanceId}`);
    if (inst.healthStatus !== status) {
      inst.healthStatus = status;
      this.emit("health_changed", { instanceId, status });
    }
    this.#settle();
  }

  /** CompleteLifecycleAction, by instance id or token. */
  completeLifecycleAction(input: { hookName: string; instanceId?: string; token?: string; result: string }): void {
    const result = input.result;
    if (result !== "CONTINUE" && result !== "ABANDON")
      throw new AutoScalingError("ValidationError", `Value ${result} at 'lifecycleActionResult' failed to satisfy constraint: Member must be CONTINUE or ABANDON`);
    const inst = this.#findAction(input);
    this.#completeAction(inst, result, "api");
    this.#settle();
  }

  /** RecordLifecycleActionHeartbeat: restarts the heartbeat timeout (never past the global timeout). */
  recordLifecycleActionHeartbeat(input: { hookName: string; instanceId?: string; token?: string }): void {
    const inst = this.#findAction(input);
    const a = inst.action!;
    const spec = this.#hookOf(a.transition)!;
    a.deadline = Math.min(a.globalDeadline, this.#clock() + this.#ms(spec.heartbeatTimeoutSeconds));
    this.emit("lifecycle_action", { instanceId: inst.instanceId, hookName: a.hookName, transition: a.transition, phase: "heartbeat", deadline: a.deadline });
    this.#settle();
  }

  /** SuspendProcesses: none named suspends them all. */
  suspendProcesses(names: readonly string[] = [], reason?: string): ScalingProcess[] {
    const list = this.#processes(names);
    const why = reason ?? `User suspended at ${awsTime(this.#clock())}`;
    const added = list.filter((p) => !this.#suspended.has(p));
    for (const p of added) this.#suspended.set(p, why);
    if (added.length) this.emit("processes_suspended", { processes: added, reason: why });
    this.#settle();
    return added;
  }

  /** ResumeProcesses: none named resumes them all. */
  resumeProcesses(names: readonly string[] = []): ScalingProcess[] {
    const list = this.#processes(names).filter((p) => this.#suspended.has(p));
    for (const p of list) this.#suspended.delete(p);
    if (list.length) {
      // Launches resume at once, without the backoff left from before.
      if (list.includes("Launch")) this.#launchRetry = undefined;
      this.emit("processes_resumed", { processes: list });
    }
    this.#settle();
    return list;
  }

  isSuspended(process: ScalingProcess): boolean {
    return this.#suspended.has(process);
  }

  suspendedProcesses(): { processName: ScalingProcess; suspensionReason: string }[] {
    return [...this.#suspended].map(([processName, suspensionReason]) => ({ processName, suspensionReason }));
  }

  /** CreateOrUpdateTags on the group. */
  setTags(tags: readonly { key: string; value: string; propagateAtLaunch?: boolean }[]): void {
    for (const t of tags) {
      if (!t.key) throw new AutoScalingError("ValidationError", "1 validation error detected: Value null at 'tags.member.key' failed to satisfy constraint: Member must not be null");
      this.#tags.set(t.key, { value: t.value, propagateAtLaunch: t.propagateAtLaunch ?? false });
    }
    this.emit("tags_changed", { set: Object.fromEntries(tags.map((t) => [t.key, t.value])), deleted: [] });
  }

  /** DeleteTags on the group; deleting a tag that is not there is not an error. */
  deleteTags(keys: readonly string[]): void {
    const deleted = keys.filter((k) => this.#tags.delete(k));
    this.emit("tags_changed", { set: {}, deleted });
  }

  tags(): Record<string, string> {
    return Object.fromEntries([...this.#tags].map(([k, v]) => [k, v.value]));
  }

  tagDescriptions(): { key: string; value: string; propagateAtLaunch: boolean }[] {
    return [...this.#tags].map(([key, v]) => ({ key, ...v }));
  }

  /** Scaling activities, newest first. */
  activities(): ScalingActivity[] {
    return [...this.#activities].reverse();
  }

  // ---------------------------------------------------------------- instance refresh

  /** StartInstanceRefresh (Rolling). Refused while one is Pending, InProgress or Cancelling. */
  startInstanceRefresh(input: { preferences?: RefreshPreferences; launchTemplateVersion?: string } = {}): string {
    if (this.#activeRefresh())
      throw new AutoScalingError("InstanceRefreshInProgress", "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.");
    const p = input.preferences ?? {};
    const prefs: Required<RefreshPreferences> = {
      minHealthyPercentage: p.minHealthyPercentage ?? 90,
      instanceWarmup: p.instanceWarmup ?? this.defaultInstanceWarmup ?? 0,
      skipMatching: p.skipMatching ?? false,
      scaleInProtectedInstances: p.scaleInProtectedInstances ?? "Wait",
    };
    if (!Number.isInteger(prefs.minHealthyPercentage) || prefs.minHealthyPercentage < 0 || prefs.minHealthyPercentage > 100)
      throw new AutoScalingError("ValidationError", `Value ${prefs.minHealthyPercentage} at 'preferences.minHealthyPercentage' failed to satisfy constraint: Member must have value between 0 and 100`);
    if (!(Number.isFinite(prefs.instanceWarmup) && prefs.instanceWarmup >= 0))
      throw new AutoScalingError("ValidationError", `Value ${prefs.instanceWarmup} at 'preferences.instanceWarmup' failed to satisfy constraint: Member must have value greater than or equal to 0`);
    if (!["Refresh", "Ignore", "Wait"].includes(prefs.scaleInProtectedInstances))
      throw new AutoScalingError("ValidationError", `Value ${prefs.scaleInProtectedInstances} at 'preferences.scaleInProtectedInstances' failed to satisfy constraint: Member must satisfy enum value set: [Refresh, Ignore, Wait]`);
    const target = input.launchTemplateVersion ?? this.launchTemplateVersion;
    if (!/^[1-9]\d*$/.test(target))
      throw new AutoScalingError("ValidationError", `Launch template version ${target} is not valid: spotq groups name a version number, never $Latest or $Default`);
    const toReplace = new Set(
      this.#counted()
        .filter((i) => !(prefs.skipMatching && i.launchTemplateVersion === target))
        .map((i) => i.instanceId),
    );
    const run: RefreshRun = {
      id: randomUUID(),
      status: "Pending",
      startTime: this.#clock(),
      prefs,
      targetVersion: target,
      toReplace,
      total: toReplace.size,
      terminating: new Set(),
    };
    this.#refreshes.push(run);
    this.#refreshEvent(run);
    this.#settle();
    return run.id;
  }

  /** CancelInstanceRefresh: replacements under way finish; no new ones start. */
  cancelInstanceRefresh(): string {
    const run = this.#activeRefresh();
    if (!run || run.status === "Cancelling")
      throw new AutoScalingError("ActiveInstanceRefreshNotFound", `No in progress or pending Instance Refresh found for Auto Scaling group ${this.name}`);
    run.status = "Cancelling";
    this.#refreshEvent(run);
    this.#settle();
    return run.id;
  }

  /** DescribeInstanceRefreshes: newest first. */
  instanceRefreshes(ids: readonly string[] = []): InstanceRefreshView[] {
    return [...this.#refreshes]
      .reverse()
      .filter((r) => ids.length === 0 || ids.includes(r.id))
      .map((r) => this.#refreshView(r));
  }

  /** A new launch template version for new instances (what a deploy of a changed template does). */
  bumpLaunchTemplateVersion(): { before: string; after: string } {
    const before = this.launchTemplateVersion;
    this.#templateVersion++;
    const after = this.launchTemplateVersion;
    this.emit("launch_template_changed", { before, after });
    return { before, after };
  }

  // ---------------------------------------------------------------- injected EC2 behaviour

  /** Injects a launch failure: every matching launch attempt fails with `code` (`count` times, or until cleared). */
  injectLaunchFailure(rule: { code: LaunchErrorCode; instanceType?: string; availabilityZone?: string; count?: number }): void {
    if (rule.availabilityZone && !this.availabilityZones.includes(rule.availabilityZone))
      throw new AutoScalingError("ValidationError", `availabilityZone ${rule.availabilityZone} is not a zone of group ${this.name} (${this.availabilityZones.join(", ")})`);
    if (rule.instanceType && !this.instanceTypes.includes(rule.instanceType))
      throw new AutoScalingError("ValidationError", `instanceType ${rule.instanceType} is not an instance type of group ${this.name} (${this.instanceTypes.join(", ")})`);
    this.#launchRules.push({
      code: rule.code,
      ...(rule.instanceType ? { instanceType: rule.instanceType } : {}),
      ...(rule.availabilityZone ? { availabilityZone: rule.availabilityZone } : {}),
      ...(rule.count !== undefined ? { remaining: rule.count } : {}),
    });
  }

  /** Clears every injected launch failure; the next retry launches. */
  clearLaunchFailures(): void {
    this.#launchRules.length = 0;
    this.#poolFailedAt.clear();
    if (this.#launchRetry) this.#launchRetry.at = Math.min(this.#launchRetry.at, this.#clock());
    this.#settle();
  }

  launchFailureRules(): LaunchFailureRule[] {
    return this.#launchRules.map((r) => ({ ...r }));
  }

  // ---------------------------------------------------------------- what the fleet reports

  /** The instance's user data started (its boot delay is over): Pending:Wait with a launch hook, else InService. */
  bootCompleted(instanceId: string): void {
    const inst = this.#instances.get(instanceId);
    if (!inst || inst.lifecycleState !== LIFECYCLE.pending) return;
    if (this.hooks.launch) this.#startAction(inst, LAUNCHING);
    else this.#enterService(inst);
    this.#settle();
  }

  /**
   * The instance's bootstrap or service failed (user data died, the worker exited 2/3, a crash loop).
   * Before the launch completed it is a failed boot: the launch action is abandoned (or, without a
   * launch hook, the instance leaves without decrement). After, the instance just leaves (a replacement).
   */
  serviceFailed(instanceId: string, cause: string, options: { bootFailureWithoutHook?: boolean } = {}): void {
    const inst = this.#instances.get(instanceId);
    if (!inst || isTerminatingState(inst.lifecycleState) || inst.lifecycleState === LIFECYCLE.standby) return;
    if (inst.action?.transition === LAUNCHING) this.#completeAction(inst, "ABANDON", "service", cause);
    else if (!inst.booted || (!this.hooks.launch && options.bootFailureWithoutHook)) this.#failBoot(inst, cause, "boot-failed");
    else {
      this.#beginTermination(instanceId, "service-failed", `instance ${instanceId} left the group: ${cause}`);
      // No worker is left to hold the terminate hook: the leave path completes it (CONTINUE) at once
      // rather than keep an idle instance for the hook's whole timeout.
      if (inst.action?.transition === TERMINATING) this.#completeAction(inst, "CONTINUE", "service", cause);
    }
    this.#settle();
  }

  /**
   * A rebalance recommendation reached the instance. With Capacity Rebalancing the group launches a
   * replacement and, once that is InService, terminates this one through its terminate hook.
   */
  rebalanceRecommended(instanceId: string): void {
    const inst = this.#instances.get(instanceId);
    if (!inst || !this.capacityRebalance || inst.atRisk || isTerminatingState(inst.lifecycleState) || inst.lifecycleState === LIFECYCLE.standby) return;
    inst.atRisk = { recommendedAt: this.#clock() };
    this.#settle();
  }

  /**
   * Ends an instance now, skipping the terminate hook (the machine is gone: killed, Spot reclaim at
   * the notice's end, fleet stop). Returns false when it is not in the group.
   */
  forceTerminate(instanceId: string, reason: TerminationReason): boolean {
    const inst = this.#instances.get(instanceId);
    if (!inst) return false;
    if (!isTerminatingState(inst.lifecycleState)) this.#beginTermination(instanceId, reason, `instance ${instanceId} was terminated: ${reason}`, { skipHook: true });
    else if (inst.lifecycleState === LIFECYCLE.terminatingWait) {
      inst.action = undefined;
      this.#proceed(inst);
    }
    this.#settle();
    return true;
  }

  /**
   * Starts terminating an instance on the group's own account (Spot notice with a terminate hook):
   * through the terminate hook, desired unchanged.
   */
  beginTermination(instanceId: string, reason: TerminationReason): void {
    const inst = this.#instances.get(instanceId);
    if (!inst || isTerminatingState(inst.lifecycleState)) return;
    this.#beginTermination(instanceId, reason, `instance ${instanceId} is being terminated: ${reason}`);
    this.#settle();
  }

  /** The instance is gone (Terminated instances leave the group's list). */
  removeInstance(instanceId: string): void {
    const inst = this.#instances.get(instanceId);
    if (!inst) return;
    this.#instances.delete(instanceId);
    if (inst.launchActivity) this.#endActivity(inst.launchActivity, "Cancelled", `Instance ${instanceId} left before it was in service.`);
    inst.launchActivity = undefined;
    const activity = this.#terminations.get(instanceId);
    if (activity) {
      activity.statusCode = "Successful";
      activity.progress = 100;
      activity.endTime = new Date(this.#clock());
    }
    this.#terminations.delete(instanceId);
    // Links to it go: a replacement that failed lets its at-risk instance get another; a replacement
    // whose at-risk instance left is ordinary capacity.
    for (const other of this.#instances.values()) {
      if (other.atRisk?.replacementId === instanceId) delete other.atRisk.replacementId;
      if (other.azVictim?.replacementId === instanceId) delete other.azVictim;
      if (other.replaces?.instanceId === instanceId) delete other.replaces;
    }
    this.emit("instance_removed", { instanceId, reason: inst.terminationReason ?? "killed" });
    this.#settle();
  }

  /** Runs what is due at the clock's now: hook timeouts, launch retries, refresh steps. */
  tick(): void {
    const now = this.#clock();
    for (const inst of [...this.#instances.values()]) {
      const a = inst.action;
      if (a && (now >= a.deadline || now >= a.globalDeadline)) this.#completeAction(inst, a.defaultResult, "timeout");
    }
    this.#settle();
  }

  /** The next time something is due (ms since the epoch), if anything is. */
  nextDeadline(): number | undefined {
    let next = Infinity;
    for (const inst of this.#instances.values()) if (inst.action) next = Math.min(next, inst.action.deadline, inst.action.globalDeadline);
    const now = this.#clock();
    if (this.#launchRetry && this.managed && this.#launchRetry.at > now) next = Math.min(next, this.#launchRetry.at);
    const run = this.#activeRefresh();
    if (run && this.managed) {
      const warmMs = this.#ms(run.prefs.instanceWarmup);
      for (const i of this.#counted())
        if (i.inServiceAt !== undefined && i.inServiceAt >= run.startTime && i.inServiceAt + warmMs > now) next = Math.min(next, i.inServiceAt + warmMs);
      const giveUpAt = run.waitingProtectedSince === undefined ? undefined : run.waitingProtectedSince + this.#ms(REFRESH_PROTECTED_WAIT_SECONDS);
      // Only future times: a deadline already passed (the refresh paused by a suspended process) must not spin the timer.
      if (giveUpAt !== undefined && giveUpAt > now) next = Math.min(next, giveUpAt);
    }
    return next === Infinity ? undefined : next;
  }

  // ---------------------------------------------------------------- state, as tests and the fleet see it

  /** Adds an instance by hand (tests of the API alone); a managed group launches its own. */
  addInstance(instanceId: string, launchedAt = this.#clock()): GroupInstanceRecord {
    if (this.#instances.has(instanceId)) throw new Error(`instance ${instanceId} is already in group ${this.name}`);
    const rec = this.#newRecord(instanceId, { instanceType: this.instanceType, availabilityZone: this.#emptiestZone() }, launchedAt);
    this.#instances.set(instanceId, rec);
    return rec;
  }

  /** Moves an instance on by hand (tests of the API alone). */
  setLifecycleState(instanceId: string, state: LifecycleState, at = this.#clock()): void {
    const inst = this.#instances.get(instanceId);
    if (!inst) throw new Error(`instance ${instanceId} is not in group ${this.name}`);
    inst.lifecycleState = state;
    if (state === LIFECYCLE.inService) {
      inst.inServiceAt = at;
      inst.booted = true;
    }
    if (isTerminatingState(state)) inst.targetLifecycleState = "Terminated";
  }

  instance(instanceId: string): GroupInstanceRecord | undefined {
    return this.#instances.get(instanceId);
  }

  instances(): GroupInstanceRecord[] {
    return [...this.#instances.values()];
  }

  /** Instances that are not terminating (what AWS counts toward the group's size), Standby included. */
  activeInstances(): GroupInstanceRecord[] {
    return this.instances().filter((i) => !isTerminatingState(i.lifecycleState));
  }

  /**
   * The instances to terminate to bring capacity down by `count`. Protected instances are never
   * chosen; when too few are unprotected, fewer are returned and the rest wait (as AWS does).
   * The zone with the most instances goes first (AWS's default termination policy keeps zones
   * balanced); within it, instances still booting (no work lost), then the oldest.
   */
  chooseForScaleIn(count: number): GroupInstanceRecord[] {
    if (count <= 0) return [];
    const chosen: GroupInstanceRecord[] = [];
    const pool = this.#counted().filter((i) => !i.protectedFromScaleIn);
    const perZone = this.#perZone(this.#counted());
    while (chosen.length < count && pool.length) {
      pool.sort(
        (a, b) =>
          (perZone.get(b.availabilityZone) ?? 0) - (perZone.get(a.availabilityZone) ?? 0) ||
          Number(!b.booted) - Number(!a.booted) ||
          a.launchedAt - b.launchedAt,
      );
      const next = pool.shift()!;
      chosen.push(next);
      perZone.set(next.availabilityZone, (perZone.get(next.availabilityZone) ?? 1) - 1);
    }
    return chosen;
  }

  /** The group as the FleetControl port describes it. */
  describe(): GroupState {
    return {
      name: this.name,
      minSize: this.minSize,
      maxSize: this.maxSize,
      desiredCapacity: this.#desired,
      instances: this.instances().map((i) => ({
        instanceId: i.instanceId,
        lifecycleState: i.lifecycleState,
        protectedFromScaleIn: i.protectedFromScaleIn,
        healthStatus: i.healthStatus,
        launchTemplateVersion: i.launchTemplateVersion,
        availabilityZone: i.availabilityZone,
        instanceType: i.instanceType,
      })),
      launchTemplateVersion: this.launchTemplateVersion,
      suspendedProcesses: [...this.#suspended.keys()],
      tags: this.tags(),
    };
  }

  // ---------------------------------------------------------------- internals

  #ms(seconds: number): number {
    return seconds * 1000 * this.#scale;
  }

  #processes(names: readonly string[]): ScalingProcess[] {
    for (const n of names)
      if (!(SCALING_PROCESSES as readonly string[]).includes(n))
        throw new AutoScalingError("ValidationError", `Invalid process name: ${n}. Valid processes: ${SCALING_PROCESSES.join(", ")}`);
    return names.length ? [...new Set(names as ScalingProcess[])] : [...SCALING_PROCESSES];
  }

  #hookOf(transition: LifecycleTransition): LifecycleHookSpec | undefined {
    return transition === LAUNCHING ? this.hooks.launch : this.hooks.terminate;
  }

  #findAction(input: { hookName: string; instanceId?: string; token?: string }): GroupInstanceRecord {
    if (!input.hookName)
      throw new AutoScalingError("ValidationError", "1 validation error detected: Value null at 'lifecycleHookName' failed to satisfy constraint: Member must not be null");
    if (!input.instanceId && !input.token)
      throw new AutoScalingError("ValidationError", "Either InstanceId or LifecycleActionToken must be specified");
    const found = this.instances().find(
      (i) =>
        i.action &&
        i.action.hookName === input.hookName &&
        (input.token ? i.action.token === input.token : true) &&
        (input.instanceId ? i.instanceId === input.instanceId : true),
    );
    if (!found)
      throw new AutoScalingError(
        "ValidationError",
        input.token ? `No active Lifecycle Action found with token ${input.token}` : `No active Lifecycle Action found with instance ID ${input.instanceId}`,
      );
    return found;
  }

  #startAction(inst: GroupInstanceRecord, transition: LifecycleTransition): void {
    const spec = this.#hookOf(transition)!;
    const now = this.#clock();
    const timeoutMs = this.#ms(spec.heartbeatTimeoutSeconds);
    inst.action = {
      hookName: spec.name,
      transition,
      token: randomUUID(),
      startedAt: now,
      deadline: now + timeoutMs,
      globalDeadline: now + Math.min(this.#ms(172_800), 100 * timeoutMs),
      defaultResult: spec.defaultResult,
    };
    inst.lifecycleState = transition === LAUNCHING ? LIFECYCLE.pendingWait : LIFECYCLE.terminatingWait;
    if (transition === LAUNCHING && inst.launchActivity) inst.launchActivity.statusCode = "MidLifecycleAction";
    this.emit("lifecycle_action", { instanceId: inst.instanceId, hookName: spec.name, transition, phase: "started", deadline: inst.action.deadline });
  }

  #completeAction(inst: GroupInstanceRecord, result: LifecycleActionResult, by: "api" | "timeout" | "service", cause?: string): void {
    const a = inst.action!;
    inst.action = undefined;
    this.emit("lifecycle_action", { instanceId: inst.instanceId, hookName: a.hookName, transition: a.transition, phase: "completed", result, by });
    if (a.transition === TERMINATING) {
      // ABANDON and CONTINUE both let a terminating instance go (no retention policy locally).
      this.#proceed(inst);
      return;
    }
    if (result === "CONTINUE") {
      inst.lifecycleState = LIFECYCLE.pendingProceed;
      this.#enterService(inst);
      return;
    }
    const why = cause ?? (by === "timeout" ? `launch lifecycle action timed out (default result ${a.defaultResult})` : "launch lifecycle action ABANDON");
    this.#failBoot(inst, why, "launch-abandoned");
  }

  /** A failed boot: kept (Standby) in debug mode, else terminated without decrement; a replacement follows. */
  #failBoot(inst: GroupInstanceRecord, cause: string, reason: TerminationReason): void {
    const kept = this.keepFailedInstances;
    this.emit("boot_failed", { instanceId: inst.instanceId, cause, kept });
    if (this.#instances.get(inst.instanceId) !== inst || isTerminatingState(inst.lifecycleState)) return; // a listener ended it
    if (kept) {
      inst.action = undefined;
      inst.lifecycleState = LIFECYCLE.standby;
      this.#unlinkReplacement(inst);
      return;
    }
    this.#beginTermination(inst.instanceId, reason, `instance ${inst.instanceId} failed to boot: ${cause}`, { skipHook: true });
  }

  #enterService(inst: GroupInstanceRecord): void {
    inst.lifecycleState = LIFECYCLE.inService;
    inst.inServiceAt = this.#clock();
    inst.booted = true;
    const launch = inst.launchActivity;
    if (launch) this.#endActivity(launch, "Successful");
    else
      this.#recordActivity({
        description: `Launching a new EC2 instance: ${inst.instanceId}`,
        cause: `At ${awsTime(inst.launchedAt)} an instance was started in response to a difference between desired and actual capacity.`,
        statusCode: "Successful",
        details: { "Availability Zone": inst.availabilityZone },
      });
    inst.launchActivity = undefined;
    this.emit("instance_in_service", { instanceId: inst.instanceId });
  }

  #beginTermination(instanceId: string, reason: TerminationReason, cause: string, options: { skipHook?: boolean } = {}): ScalingActivity {
    const inst = this.#instances.get(instanceId)!;
    const existing = this.#terminations.get(instanceId);
    if (existing) return existing;
    inst.action = undefined;
    this.#unlinkReplacement(inst);
    if (inst.launchActivity) {
      // It leaves before it was in service: its launch is over too.
      this.#endActivity(inst.launchActivity, "Cancelled", `Instance ${instanceId} left before it was in service: ${cause}.`);
      inst.launchActivity = undefined;
    }
    inst.terminationReason = reason;
    inst.targetLifecycleState = "Terminated";
    inst.lifecycleState = LIFECYCLE.terminating;
    const activity = this.#recordActivity({
      description: `Terminating EC2 instance: ${instanceId}`,
      cause: `At ${awsTime(this.#clock())} ${cause}.`,
      statusCode: "InProgress",
      details: { "Availability Zone": inst.availabilityZone },
    });
    this.#terminations.set(instanceId, activity);
    const hook = !options.skipHook && this.hooks.terminate !== undefined;
    if (hook) this.#startAction(inst, TERMINATING);
    this.emit("termination_started", { instanceId, reason, hook });
    if (!hook && this.#instances.get(instanceId) === inst && inst.lifecycleState === LIFECYCLE.terminating) this.#proceed(inst);
    return activity;
  }

  /** A replacement that goes (or fails) before the instance it replaces lets that one count again and get another. */
  #unlinkReplacement(inst: GroupInstanceRecord): void {
    const partner = inst.replaces && this.#instances.get(inst.replaces.instanceId);
    if (partner?.atRisk?.replacementId === inst.instanceId) delete partner.atRisk.replacementId;
    if (partner?.azVictim?.replacementId === inst.instanceId) delete partner.azVictim;
    delete inst.replaces;
  }

  #proceed(inst: GroupInstanceRecord): void {
    if (inst.lifecycleState === LIFECYCLE.terminatingWait) inst.lifecycleState = LIFECYCLE.terminatingProceed;
    this.emit("termination_proceed", { instanceId: inst.instanceId, reason: inst.terminationReason ?? "killed" });
  }

  #newRecord(instanceId: string, pool: Pool, launchedAt: number): GroupInstanceRecord {
    return {
      instanceId,
      lifecycleState: LIFECYCLE.pending,
      protectedFromScaleIn: this.newInstancesProtectedFromScaleIn,
      healthStatus: "Healthy",
      instanceType: pool.instanceType,
      availabilityZone: pool.availabilityZone,
      launchTemplateVersion: this.#activeRefresh()?.targetVersion ?? this.launchTemplateVersion,
      launchedAt,
      targetLifecycleState: "InService",
      booted: false,
    };
  }

  /** Instances that count toward desired capacity: not terminating, not Standby, not on their way out (replacement launched). */
  #counted(): GroupInstanceRecord[] {
    return this.instances().filter(
      (i) => !isTerminatingState(i.lifecycleState) && i.lifecycleState !== LIFECYCLE.standby && !i.atRisk?.replacementId && !i.azVictim,
    );
  }

  #perZone(list: GroupInstanceRecord[]): Map<string, number> {
    const m = new Map<string, number>(this.availabilityZones.map((z) => [z, 0]));
    for (const i of list) m.set(i.availabilityZone, (m.get(i.availabilityZone) ?? 0) + 1);
    return m;
  }

  #emptiestZone(): string {
    const perZone = this.#perZone(this.activeInstances());
    return [...this.availabilityZones].sort((a, b) => (perZone.get(a) ?? 0) - (perZone.get(b) ?? 0))[0];
  }

  /** Rebalancing may exceed max size by 10 % or one instance, whichever is greater. */
  #rebalanceCeiling(): number {
    return this.maxSize + Math.max(1, Math.floor(this.maxSize * 0.1));
  }

  #setDesired(value: number, reason: DesiredReason): { before: number; after: number } {
    const before = this.#desired;
    this.#desired = value;
    if (before !== value) this.emit("desired_changed", { before, after: value, reason });
    return { before, after: value };
  }

  #endActivity(activity: ScalingActivity, statusCode: "Successful" | "Cancelled", statusMessage?: string): void {
    activity.statusCode = statusCode;
    activity.progress = 100;
    activity.endTime = new Date(this.#clock());
    if (statusMessage) activity.statusMessage = statusMessage;
  }

  #recordActivity(a: { description: string; cause: string; statusCode: ScalingActivity["statusCode"]; statusMessage?: string; details: Record<string, string> }): ScalingActivity {
    const now = new Date(this.#clock());
    const activity: ScalingActivity = {
      activityId: randomUUID(),
      groupName: this.name,
      description: a.description,
      cause: a.cause,
      startTime: now,
      ...(a.statusCode === "Successful" || a.statusCode === "Failed" || a.statusCode === "Cancelled" ? { endTime: now } : {}),
      statusCode: a.statusCode,
      ...(a.statusMessage ? { statusMessage: a.statusMessage } : {}),
      progress: a.statusCode === "Successful" || a.statusCode === "Failed" || a.statusCode === "Cancelled" ? 100 : 0,
      details: JSON.stringify(a.details),
    };
    this.#activities.push(activity);
    if (this.#activities.length > 200) this.#activities.shift();
    return activity;
  }

  /** Applies every rule until nothing changes, then tells the fleet. Re-entrant calls fold into the running one. */
  #settle(): void {
    if (this.#settling) {
      this.#settleAgain = true;
      return;
    }
    this.#settling = true;
    try {
      let rounds = 0;
      do {
        this.#settleAgain = false;
        if (this.managed) this.#reconcileOnce();
        if (++rounds > 1000) throw new Error(`group ${this.name}: its rules did not settle`);
      } while (this.#settleAgain);
    } finally {
      this.#settling = false;
    }
    this.emit("changed");
  }

  #reconcileOnce(): void {
    const canTerminate = !this.isSuspended("Terminate");
    // Health: an Unhealthy instance is terminated (protection does not stop it) and replaced.
    if (canTerminate && !this.isSuspended("ReplaceUnhealthy"))
      for (const i of this.instances())
        if (i.healthStatus === "Unhealthy" && !isTerminatingState(i.lifecycleState) && i.lifecycleState !== LIFECYCLE.standby)
          this.#beginTermination(i.instanceId, "unhealthy", `an instance was taken out of service in response to an EC2 health check indicating it has been terminated or stopped`);
    // Capacity Rebalancing / AZ rebalancing: the old instance goes once its replacement is InService.
    if (canTerminate)
      for (const i of this.instances()) {
        const replacement = i.atRisk?.replacementId ?? i.azVictim?.replacementId;
        if (!replacement || isTerminatingState(i.lifecycleState)) continue;
        if (this.#instances.get(replacement)?.lifecycleState !== LIFECYCLE.inService) continue;
        if (i.atRisk) {
          this.emit("capacity_rebalance", { instanceId: i.instanceId, phase: "terminating", replacementId: replacement });
          this.#beginTermination(i.instanceId, "capacity-rebalance", `an instance was taken out of service in response to an EC2 instance rebalance recommendation; its replacement ${replacement} is InService`);
        } else if (!i.protectedFromScaleIn) {
          const r = this.#instances.get(replacement)!;
          this.emit("az_rebalance", { phase: "terminating", fromZone: i.availabilityZone, toZone: r.availabilityZone, instanceId: i.instanceId, replacementId: replacement });
          this.#beginTermination(i.instanceId, "az-rebalance", `an instance was taken out of service in response to an Availability Zone rebalancing activity`);
        }
      }
    this.#refreshStep();
    this.#launches();
    if (canTerminate) this.#scaleIn();
  }

  #launches(): void {
    if (this.isSuspended("Launch")) return;
    const now = this.#clock();
    if (this.#launchRetry && now < this.#launchRetry.at) return;
    // Capacity: as many as desired asks for.
    while (this.#counted().length < this.#desired) if (!this.#launchOne("capacity")) return;
    // Capacity Rebalancing: one replacement per at-risk instance, within the rebalancing margin over max.
    if (this.capacityRebalance)
      for (const i of this.instances()) {
        if (!i.atRisk || i.atRisk.replacementId || isTerminatingState(i.lifecycleState) || i.lifecycleState === LIFECYCLE.standby) continue;
        if (this.activeInstances().length >= this.#rebalanceCeiling()) {
          this.emit("capacity_rebalance", { instanceId: i.instanceId, phase: "blocked", why: `the group is at its rebalancing ceiling (max ${this.maxSize} + margin)` });
          break;
        }
        const r = this.#launchOne("capacity-rebalance", { replaces: i });
        if (!r) return;
        i.atRisk.replacementId = r.instanceId;
        this.emit("capacity_rebalance", { instanceId: i.instanceId, phase: "replacement-launched", replacementId: r.instanceId });
      }
    this.#azRebalance();
  }

  /** AZ rebalancing: launch in the emptiest zone first, then terminate in the fullest (protected instances stay). */
  #azRebalance(): void {
    if (this.availabilityZones.length < 2 || this.isSuspended("AZRebalance") || this.isSuspended("Terminate")) return;
    if (this.instances().some((i) => i.azVictim) || this.#activeRefresh()) return;
    const counted = this.#counted();
    if (counted.length !== this.#desired || this.activeInstances().length >= this.#rebalanceCeiling()) return;
    const now = this.#clock();
    const perZone = this.#perZone(counted);
    // A zone whose pools failed lately is not a target (the rebalance would only fail there again).
    const usable = this.availabilityZones.filter((z) => !this.instanceTypes.every((t) => now - (this.#poolFailedAt.get(poolKey({ instanceType: t, availabilityZone: z })) ?? -Infinity) < this.#poolCooldownMs));
    if (usable.length === 0) return;
    const to = usable.reduce((a, b) => ((perZone.get(b) ?? 0) < (perZone.get(a) ?? 0) ? b : a));
    const from = this.availabilityZones.reduce((a, b) => ((perZone.get(b) ?? 0) > (perZone.get(a) ?? 0) ? b : a));
    if ((perZone.get(from) ?? 0) - (perZone.get(to) ?? 0) <= 1) return;
    const victim = counted
      .filter((i) => i.availabilityZone === from && !i.protectedFromScaleIn && i.lifecycleState === LIFECYCLE.inService && !i.atRisk)
      .sort((a, b) => a.launchedAt - b.launchedAt)[0];
    if (!victim) return;
    const r = this.#launchOne("az-rebalance", { zone: to, replaces: victim });
    if (!r) return;
    victim.azVictim = { replacementId: r.instanceId };
    this.emit("az_rebalance", { phase: "replacement-launched", fromZone: from, toZone: r.availabilityZone, instanceId: victim.instanceId, replacementId: r.instanceId });
  }

  /** One launch attempt in the best pool. A failure is a failed scaling activity, an event, and a retry with backoff. */
  #launchOne(purpose: "capacity" | "capacity-rebalance" | "az-rebalance", options: { zone?: string; replaces?: GroupInstanceRecord } = {}): GroupInstanceRecord | undefined {
    const now = this.#clock();
    const [pool] = poolOrder({
      zones: this.availabilityZones,
      instanceTypes: this.instanceTypes,
      perZone: this.#perZone(this.#counted()),
      failedAt: this.#poolFailedAt,
      now,
      cooldownMs: this.#poolCooldownMs,
      ...(options.zone ? { zone: options.zone } : {}),
    });
    const before = this.#counted().length;
    const cause =
      purpose === "capacity"
        ? `At ${awsTime(now)} an instance was started in response to a difference between desired and actual capacity, increasing the capacity from ${before} to ${before + 1}.`
        : purpose === "capacity-rebalance"
          ? `At ${awsTime(now)} an instance was launched in response to an EC2 instance rebalance recommendation for ${options.replaces?.instanceId}.`
          : `At ${awsTime(now)} an instance was launched to rebalance the group across Availability Zones.`;
    const error = tryLaunch(this.#launchRules, pool, this.availabilityZones);
    if (error) {
      this.#poolFailedAt.set(poolKey(pool), now);
      const retries = (this.#launchRetry?.retries ?? 0) + 1;
      const at = now + launchBackoffMs(retries, this.#retryBaseMs, this.#retryMaxMs);
      this.#launchRetry = { at, retries };
      const activity = this.#recordActivity({
        description: `Launching a new EC2 instance.  Status Reason: ${error.message}`,
        cause,
        statusCode: "Failed",
        statusMessage: error.message,
        details: { "Availability Zone": pool.availabilityZone, "Instance Type": pool.instanceType },
      });
      this.emit("launch_failed", {
        detailType: "EC2 Instance Launch Unsuccessful",
        activityId: activity.activityId,
        statusCode: "Failed",
        statusMessage: error.message,
        cause,
        errorCode: error.code,
        instanceType: pool.instanceType,
        availabilityZone: pool.availabilityZone,
        retryAt: at,
      });
      return undefined;
    }
    this.#launchRetry = undefined;
    const instanceId = this.#newId();
    const rec = this.#newRecord(instanceId, pool, now);
    rec.launchActivity = this.#recordActivity({
      description: `Launching a new EC2 instance: ${instanceId}`,
      cause,
      statusCode: "PreInService",
      details: { "Availability Zone": pool.availabilityZone, "Instance Type": pool.instanceType },
    });
    if (options.replaces) rec.replaces = { instanceId: options.replaces.instanceId, why: purpose === "az-rebalance" ? "az-rebalance" : "capacity-rebalance" };
    this.#instances.set(instanceId, rec);
    this.emit("instance_launched", { instanceId, instance: rec, purpose });
    return rec;
  }

  #scaleIn(): void {
    const counted = this.#counted().length;
    const excessTotal = counted - this.#desired;
    const chosen = this.chooseForScaleIn(excessTotal);
    for (const c of chosen) this.#beginTermination(c.instanceId, "scale-in", `an instance was taken out of service in response to a difference between desired and actual capacity, shrinking the capacity from ${counted} to ${this.#desired}`);
    const excess = excessTotal - chosen.length;
    const waiting = excess > 0 ? this.#counted().filter((i) => i.protectedFromScaleIn).map((i) => i.instanceId) : [];
    const key = `${excess}:${waiting.join(",")}`;
    if (excess > 0 && key !== this.#lastWaiting) this.emit("scale_in_waiting", { excess, protectedInstances: waiting });
    this.#lastWaiting = excess > 0 ? key : "";
  }

  #activeRefresh(): RefreshRun | undefined {
    return this.#refreshes.find((r) => r.status === "Pending" || r.status === "InProgress" || r.status === "Cancelling");
  }

  /**
   * One step of the active instance refresh (Rolling: terminate, then the group launches the
   * replacement). A batch starts only when the previous one is replaced and warmed up, and keeps at
   * least MinHealthyPercentage of desired capacity healthy (at least one instance at a time).
   */
  #refreshStep(): void {
    const run = this.#activeRefresh();
    if (!run) return;
    const now = this.#clock();
    for (const id of run.terminating) if (!this.#instances.has(id)) run.terminating.delete(id);
    for (const id of run.toReplace) {
      const i = this.#instances.get(id);
      if (!i || isTerminatingState(i.lifecycleState) || i.lifecycleState === LIFECYCLE.standby) run.toReplace.delete(id);
    }
    const warmMs = this.#ms(run.prefs.instanceWarmup);
    const warming = this.#counted().filter(
      (i) => i.launchedAt >= run.startTime && !(i.lifecycleState === LIFECYCLE.inService && i.inServiceAt! + warmMs <= now),
    );
    const busy = run.terminating.size > 0 || warming.length > 0;
    if (run.status === "Cancelling") {
      if (!busy) this.#endRefresh(run, "Cancelled");
      return;
    }
    if (run.status === "Pending") {
      run.status = "InProgress";
      this.#refreshEvent(run);
    }
    if (this.isSuspended("InstanceRefresh") || this.isSuspended("Launch") || this.isSuspended("Terminate")) return;
    const ignoreProtected = run.prefs.scaleInProtectedInstances === "Ignore";
    if (ignoreProtected) for (const id of run.toReplace) if (this.#instances.get(id)!.protectedFromScaleIn) run.toReplace.delete(id);
    if (run.toReplace.size === 0 && !busy) {
      this.#templateVersion = Number(run.targetVersion);
      this.#endRefresh(run, "Successful");
      return;
    }
    if (busy) return;
    const waitProtected = run.prefs.scaleInProtectedInstances === "Wait";
    const remaining = [...run.toReplace].map((id) => this.#instances.get(id)!);
    const candidates = remaining
      .filter((i) => !(waitProtected && i.protectedFromScaleIn))
      .sort((a, b) => Number(a.protectedFromScaleIn) - Number(b.protectedFromScaleIn) || a.launchedAt - b.launchedAt);
    if (candidates.length === 0) {
      run.waitingProtectedSince ??= now;
      if (now - run.waitingProtectedSince >= this.#ms(REFRESH_PROTECTED_WAIT_SECONDS)) {
        run.statusReason = `Timed out waiting for instances protected from scale in to be unprotected: ${remaining.map((i) => i.instanceId).join(", ")}`;
        this.#endRefresh(run, "Failed");
      }
      return;
    }
    run.waitingProtectedSince = undefined;
    const healthy = this.#counted().filter(
      (i) => i.lifecycleState === LIFECYCLE.inService && i.healthStatus === "Healthy" && i.inServiceAt! + warmMs <= now,
    ).length;
    const minHealthy = Math.ceil((this.#desired * run.prefs.minHealthyPercentage) / 100);
    const batch = Math.max(1, healthy - minHealthy);
    for (const i of candidates.slice(0, batch)) {
      run.toReplace.delete(i.instanceId);
      run.terminating.add(i.instanceId);
      this.#beginTermination(i.instanceId, "instance-refresh", `an instance was taken out of service in response to an instance refresh ${run.id}`);
    }
    this.#refreshEvent(run);
  }

  #endRefresh(run: RefreshRun, status: RefreshStatus): void {
    run.status = status;
    run.endTime = this.#clock();
    run.waitingProtectedSince = undefined;
    this.#refreshEvent(run);
  }

  #refreshEvent(run: RefreshRun): void {
    const v = this.#refreshView(run);
    this.emit("instance_refresh", {
      instanceRefreshId: v.instanceRefreshId,
      status: v.status,
      percentageComplete: v.percentageComplete,
      instancesToUpdate: v.instancesToUpdate,
      ...(v.statusReason ? { statusReason: v.statusReason } : {}),
    });
  }

  #refreshView(r: RefreshRun): InstanceRefreshView {
    const toUpdate = r.status === "Successful" ? 0 : r.toReplace.size + r.terminating.size;
    return {
      instanceRefreshId: r.id,
      groupName: this.name,
      status: r.status,
      ...(r.statusReason ? { statusReason: r.statusReason } : {}),
      startTime: new Date(r.startTime),
      ...(r.endTime !== undefined ? { endTime: new Date(r.endTime) } : {}),
      percentageComplete: r.total === 0 || r.status === "Successful" ? 100 : Math.floor((100 * (r.total - toUpdate)) / r.total),
      instancesToUpdate: toUpdate,
      preferences: { ...r.prefs },
      launchTemplateVersion: r.targetVersion,
    };
  }
}

export function isTerminatingState(state: LifecycleState): boolean {
  return state === LIFECYCLE.terminating || state === LIFECYCLE.terminatingWait || state === LIFECYCLE.terminatingProceed;
}

/** AWS writes times in activities to the second: `2026-01-05T10:00:00Z`. */
function awsTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
