import {
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  RecordLifecycleActionHeartbeatCommand,
  SetInstanceHealthCommand,
  SetDesiredCapacityCommand,
  SetInstanceProtectionCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  type AutoScalingClient,
} from "@aws-sdk/client-auto-scaling";
import { SpotqError } from "../core/errors.ts";
import type { FleetControl, GroupState, LifecycleActionResult } from "../core/ports.ts";
import { withContext } from "./clients.ts";

export interface AutoScalingFleetControlOptions {
  /** The Auto Scaling group of the fleet. */
  groupName: string;
}

/**
 * The fleet's Auto Scaling group through the SDK. SDK errors are rethrown with what was being done,
 * keeping the SDK's `name` (e.g. `ValidationError` when a decrement would go below the minimum).
 */
export class AutoScalingFleetControl implements FleetControl {
  readonly #client: AutoScalingClient;
  readonly groupName: string;

  constructor(client: AutoScalingClient, options: AutoScalingFleetControlOptions) {
    if (!options.groupName) throw new SpotqError("CONFIG", "AutoScalingFleetControl needs a groupName");
    this.#client = client;
    this.groupName = options.groupName;
  }

  async protect(instanceId: string, protect: boolean): Promise<void> {
    try {
      await this.#client.send(
        new SetInstanceProtectionCommand({ AutoScalingGroupName: this.groupName, InstanceIds: [instanceId], ProtectedFromScaleIn: protect }),
      );
    } catch (err) {
      throw withContext(`Auto Scaling ${protect ? "protect" : "unprotect"} instance ${instanceId} in group ${this.groupName}`, err);
    }
  }

  async terminate(instanceId: string, decrement: boolean): Promise<void> {
    try {
      await this.#client.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: instanceId, ShouldDecrementDesiredCapacity: decrement }));
    } catch (err) {
      throw withContext(`Auto Scaling terminate instance ${instanceId} ${decrement ? "with" : "without"} decrement`, err);
    }
  }

  async describeGroup(): Promise<GroupState> {
    let r;
    try {
      r = await this.#client.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [this.groupName] }));
    } catch (err) {
      throw withContext(`Auto Scaling describe group ${this.groupName}`, err);
    }
    const g = r.AutoScalingGroups?.find((x) => x.AutoScalingGroupName === this.groupName);
    // AWS answers an unknown group with an empty list, not an error.
    if (!g) throw new SpotqError("GROUP_NOT_FOUND", `Auto Scaling group ${this.groupName} does not exist`);
    return {
      name: this.groupName,
      minSize: g.MinSize ?? 0,
      maxSize: g.MaxSize ?? 0,
      desiredCapacity: g.DesiredCapacity ?? 0,
      instances: (g.Instances ?? []).map((i) => ({
        instanceId: i.InstanceId ?? "",
        lifecycleState: i.LifecycleState ?? "",
        protectedFromScaleIn: i.ProtectedFromScaleIn ?? false,
        healthStatus: i.HealthStatus ?? "Healthy",
        ...(i.LaunchTemplate?.Version ? { launchTemplateVersion: i.LaunchTemplate.Version } : {}),
        ...(i.AvailabilityZone ? { availabilityZone: i.AvailabilityZone } : {}),
        ...(i.InstanceType ? { instanceType: i.InstanceType } : {}),
      })),
      ...(groupTemplateVersion(g) ? { launchTemplateVersion: groupTemplateVersion(g) } : {}),
      suspendedProcesses: (g.SuspendedProcesses ?? []).flatMap((p) => (p.ProcessName ? [p.ProcessName] : [])),
      tags: Object.fromEntries((g.Tags ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? ""]] : []))),
    };
  }

  async setHealth(instanceId: string, status: "Healthy" | "Unhealthy"): Promise<void> {
    try {
      await this.#client.send(new SetInstanceHealthCommand({ InstanceId: instanceId, HealthStatus: status, ShouldRespectGracePeriod: false }));
    } catch (err) {
      throw withContext(`Auto Scaling set health of instance ${instanceId} to ${status}`, err);
    }
  }

  async completeLifecycleAction(hookName: string, instanceId: string, result: LifecycleActionResult): Promise<void> {
    try {
      await this.#client.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: this.groupName,
          LifecycleHookName: hookName,
          InstanceId: instanceId,
          LifecycleActionResult: result,
        }),
      );
    } catch (err) {
      throw withContext(`Auto Scaling complete lifecycle action ${hookName} of instance ${instanceId} with ${result}`, err);
    }
  }

  async recordLifecycleHeartbeat(hookName: string, instanceId: string): Promise<void> {
    try {
      await this.#client.send(
        new RecordLifecycleActionHeartbeatCommand({ AutoScalingGroupName: this.groupName, LifecycleHookName: hookName, InstanceId: instanceId }),
      );
    } catch (err) {
      throw withContext(`Auto Scaling heartbeat of lifecycle action ${hookName} of instance ${instanceId}`, err);
    }
  }

  /**
   * Raises desired capacity to `atLeast` (capped at max), never lowering it. Auto Scaling has no
   * conditional SetDesiredCapacity, so this is a read (describe) then a write (set). Within this
   * process the rounds never interleave: calls made while a round runs join one batch that runs
   * next, with the largest `atLeast` asked, and share its result. So concurrent callers here can
   * never lower desired capacity, and N concurrent callers cost at most two rounds. Across
   * processes (many Lambda containers) a lowering needs two rounds' describe-to-set windows
   * (tens of milliseconds) to overlap with different targets: docs/scaling.md has the bound.
   */
  raiseDesired(atLeast: number): Promise<{ before: number; after: number }> {
    const open = this.#batch;
    if (open) {
      open.atLeast = Math.max(open.atLeast, atLeast);
      return open.result;
    }
    const batch = { atLeast, result: undefined as unknown as Promise<{ before: number; after: number }> };
    batch.result = (async () => {
      await this.#round;
      // From here on, new callers start the next batch.
      this.#batch = undefined;
      const run = this.#raiseOnce(batch.atLeast);
      this.#round = run.then(
        () => undefined,
        () => undefined,
      );
      return run;
    })();
    this.#batch = batch;
    return batch.result;
  }

  #round: Promise<void> = Promise.resolve();
  #batch: { atLeast: number; result: Promise<{ before: number; after: number }> } | undefined;

  async #raiseOnce(atLeast: number): Promise<{ before: number; after: number }> {
    const g = await this.describeGroup();
    const target = Math.min(atLeast, g.maxSize);
    if (target <= g.desiredCapacity) return { before: g.desiredCapacity, after: g.desiredCapacity };
    try {
      // HonorCooldown false: a submitted job must not wait for a cooldown to get an instance.
      await this.#client.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: this.groupName, DesiredCapacity: target, HonorCooldown: false }));
    } catch (err) {
      throw withContext(`Auto Scaling raise desired capacity of ${this.groupName} from ${g.desiredCapacity} to ${target}`, err);
    }
    return { before: g.desiredCapacity, after: target };
  }
}

/** The launch template version of a group: its own launch template, or the mixed-instances policy's. */
function groupTemplateVersion(g: { LaunchTemplate?: { Version?: string }; MixedInstancesPolicy?: { LaunchTemplate?: { LaunchTemplateSpecification?: { Version?: string } } } }): string | undefined {
  return g.LaunchTemplate?.Version ?? g.MixedInstancesPolicy?.LaunchTemplate?.LaunchTemplateSpecification?.Version;
}
