import {
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
  SetInstanceProtectionCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  type AutoScalingClient,
} from "@aws-sdk/client-auto-scaling";
import { SpotqError } from "../core/errors.ts";
import type { FleetControl, GroupState } from "../core/ports.ts";
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
      })),
    };
  }

  async raiseDesired(atLeast: number): Promise<{ before: number; after: number }> {
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
