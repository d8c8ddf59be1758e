import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type { GroupState } from "../../core/ports.ts";

/** Lifecycle states of an instance in an Auto Scaling group (the subset the local fleet plays). */
export const LIFECYCLE = {
  pending: "Pending",
  inService: "InService",
  terminating: "Terminating",
} as const;
export type LifecycleState = (typeof LIFECYCLE)[keyof typeof LIFECYCLE];

/** Why desired capacity changed. */
export type DesiredReason =
  /** SetDesiredCapacity through the Auto Scaling API (the API's fast path, a CLI). */
  | "api"
  /** The queue-depth alarm's step-scaling policy. */
  | "alarm"
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
  /** A Spot interruption notice ran out. */
  | "spot-interruption"
  /** Killed outright (hardware loss, a test). */
  | "killed"
  /** The local fleet is stopping. */
  | "fleet-stop";

export interface GroupInstanceRecord {
  instanceId: string;
  lifecycleState: LifecycleState;
  protectedFromScaleIn: boolean;
  instanceType: string;
  availabilityZone: string;
  launchedAt: number;
  /** When it entered InService (warmup counts from here). */
  inServiceAt?: number;
}

/** A scaling activity, as TerminateInstanceInAutoScalingGroup returns it. */
export interface ScalingActivity {
  activityId: string;
  groupName: string;
  description: string;
  cause: string;
  startTime: Date;
  statusCode: "InProgress" | "Successful";
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

export interface LocalGroupOptions {
  name: string;
  minSize: number;
  maxSize: number;
  /** @default minSize */
  desiredCapacity?: number;
  /** New instances start protected from scale-in (spotq's groups set this). @default true */
  newInstancesProtectedFromScaleIn?: boolean;
  /** Reported as DefaultInstanceWarmup. */
  defaultInstanceWarmup?: number;
  /** @default "g4dn.xlarge" */
  instanceType?: string;
  /** @default ["us-east-1a"] */
  availabilityZones?: string[];
  /** @default "us-east-1" */
  region?: string;
}

/** Events of a group. Listeners get one object each. */
export type GroupEvents = {
  desired_changed: [{ before: number; after: number; reason: DesiredReason }];
  /** TerminateInstanceInAutoScalingGroup accepted: the instance is Terminating and must be stopped. */
  terminate_requested: [{ instanceId: string; decrement: boolean; activity: ScalingActivity }];
  protection_changed: [{ instanceIds: string[]; protectedFromScaleIn: boolean }];
};

/**
 * The state of one Auto Scaling group and AWS's rules over it: desired stays within [min, max],
 * terminating with decrement may not take desired below min, only group members can be protected
 * or terminated. It decides; the local fleet acts (starts and stops processes) on its events.
 */
export class LocalAutoScalingGroup extends EventEmitter<GroupEvents> {
  readonly name: string;
  readonly arn: string;
  readonly createdTime = new Date();
  readonly region: string;
  readonly instanceType: string;
  readonly availabilityZones: string[];
  readonly defaultInstanceWarmup: number | undefined;
  minSize: number;
  maxSize: number;
  newInstancesProtectedFromScaleIn: boolean;
  #desired: number;
  readonly #instances = new Map<string, GroupInstanceRecord>();
  readonly #terminations = new Map<string, ScalingActivity>();

  constructor(options: LocalGroupOptions) {
    super();
    const { name, minSize, maxSize } = options;
    const desired = options.desiredCapacity ?? minSize;
    for (const [k, v] of Object.entries({ minSize, maxSize, desiredCapacity: desired }))
      if (!Number.isInteger(v) || v < 0) throw new RangeError(`group ${name}: ${k} must be a whole number >= 0, got ${v}`);
    if (maxSize < minSize) throw new RangeError(`group ${name}: maxSize (${maxSize}) is below minSize (${minSize})`);
    if (desired < minSize || desired > maxSize)
      throw new RangeError(`group ${name}: desiredCapacity (${desired}) must lie within minSize ${minSize} and maxSize ${maxSize}`);
    this.name = name;
    this.minSize = minSize;
    this.maxSize = maxSize;
    this.#desired = desired;
    this.newInstancesProtectedFromScaleIn = options.newInstancesProtectedFromScaleIn ?? true;
    this.defaultInstanceWarmup = options.defaultInstanceWarmup;
    this.instanceType = options.instanceType ?? "g4dn.xlarge";
    this.availabilityZones = options.availabilityZones ?? ["us-east-1a"];
    this.region = options.region ?? "us-east-1";
    this.arn = `arn:aws:autoscaling:${this.region}:000000000000:autoScalingGroup:${randomUUID()}:autoScalingGroupName/${name}`;
  }

  get desiredCapacity(): number {
    return this.#desired;
  }

  /** SetDesiredCapacity: AWS refuses a value outside [min, max] with these messages. */
  setDesiredCapacity(value: number, reason: DesiredReason = "api"): { before: number; after: number } {
    if (!Number.isInteger(value) || value < 0)
      throw new AutoScalingError("ValidationError", `Value ${value} at 'desiredCapacity' failed to satisfy constraint: Member must be a whole number >= 0`);
    if (value > this.maxSize)
      throw new AutoScalingError("ValidationError", `New SetDesiredCapacity value ${value} is above max value ${this.maxSize} for the AutoScalingGroup.`);
    if (value < this.minSize)
      throw new AutoScalingError("ValidationError", `New SetDesiredCapacity value ${value} is below min value ${this.minSize} for the AutoScalingGroup.`);
    return this.#setDesired(value, reason);
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
  }

  /**
   * TerminateInstanceInAutoScalingGroup: marks the instance Terminating and, with `decrement`,
   * lowers desired capacity, refusing (as AWS does) when that would go below the minimum.
   * Asking again for an instance already Terminating returns the same activity without a second decrement.
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
    inst.lifecycleState = LIFECYCLE.terminating;
    const now = new Date();
    const activity: ScalingActivity = {
      activityId: randomUUID(),
      groupName: this.name,
      description: `Terminating EC2 instance: ${instanceId}`,
      cause: `At ${now.toISOString().replace(/\.\d{3}Z$/, "Z")} instance ${instanceId} was taken out of service in response to a user request${
        decrement ? `, shrinking the capacity from ${before} to ${before - 1}` : ""
      }.`,
      startTime: now,
      statusCode: "InProgress",
      progress: 0,
      details: JSON.stringify({ "Availability Zone": inst.availabilityZone }),
    };
    this.#terminations.set(instanceId, activity);
    if (decrement) this.#setDesired(before - 1, "self-terminate");
    this.emit("terminate_requested", { instanceId, decrement, activity });
    return activity;
  }

  /** A new instance launched by the group, Pending until booted; protected when the group says so. */
  addInstance(instanceId: string, launchedAt = Date.now()): GroupInstanceRecord {
    if (this.#instances.has(instanceId)) throw new Error(`instance ${instanceId} is already in group ${this.name}`);
    const rec: GroupInstanceRecord = {
      instanceId,
      lifecycleState: LIFECYCLE.pending,
      protectedFromScaleIn: this.newInstancesProtectedFromScaleIn,
      instanceType: this.instanceType,
      availabilityZone: this.availabilityZones[this.#instances.size % this.availabilityZones.length],
      launchedAt,
    };
    this.#instances.set(instanceId, rec);
    return rec;
  }

  /** Moves an instance on in its lifecycle (Pending → InService → Terminating). */
  setLifecycleState(instanceId: string, state: LifecycleState, at = Date.now()): void {
    const inst = this.#instances.get(instanceId);
    if (!inst) throw new Error(`instance ${instanceId} is not in group ${this.name}`);
    inst.lifecycleState = state;
    if (state === LIFECYCLE.inService) inst.inServiceAt = at;
  }

  /** The instance is gone (Terminated instances leave the group's list). */
  removeInstance(instanceId: string): void {
    this.#instances.delete(instanceId);
    this.#terminations.delete(instanceId);
  }

  instance(instanceId: string): GroupInstanceRecord | undefined {
    return this.#instances.get(instanceId);
  }

  instances(): GroupInstanceRecord[] {
    return [...this.#instances.values()];
  }

  /** Instances that count towards capacity: every one not Terminating. */
  activeInstances(): GroupInstanceRecord[] {
    return this.instances().filter((i) => i.lifecycleState !== LIFECYCLE.terminating);
  }

  /**
   * The instances to terminate to bring capacity down by `count`. Protected instances are never
   * chosen; when too few are unprotected, fewer are returned and the rest wait (as AWS does).
   * Among the unprotected, instances still booting go first (no work lost), then the oldest.
   */
  chooseForScaleIn(count: number): GroupInstanceRecord[] {
    if (count <= 0) return [];
    return this.activeInstances()
      .filter((i) => !i.protectedFromScaleIn)
      .sort((a, b) => Number(b.lifecycleState === LIFECYCLE.pending) - Number(a.lifecycleState === LIFECYCLE.pending) || a.launchedAt - b.launchedAt)
      .slice(0, count);
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
      })),
    };
  }

  #setDesired(value: number, reason: DesiredReason): { before: number; after: number } {
    const before = this.#desired;
    this.#desired = value;
    if (before !== value) this.emit("desired_changed", { before, after: value, reason });
    return { before, after: value };
  }
}
