import { ResumeProcessesCommand, SuspendProcessesCommand } from "@aws-sdk/client-auto-scaling";
import { AwsClients } from "../../aws/clients.ts";
import { fleetCommand } from "../../scripts/cli/commands/fleet.ts";
import type { Target } from "../../scripts/cli/target.ts";
import type { LocalStack } from "../../scripts/local/start.ts";

/**
 * What an operator does to the group through the Auto Scaling API, as against AWS: suspend and
 * resume processes (the AWS CLI's `suspend-processes` / `resume-processes`), and `spotq fleet
 * resume` after the boot breaker tripped (the CLI's own code, against the fleet's endpoint).
 */
export class FleetOperator {
  readonly #stack: LocalStack;
  readonly #target: Target;

  constructor(stack: LocalStack) {
    this.#stack = stack;
    const settings = stack.emulators.settings;
    this.#target = {
      kind: "local",
      apiUrl: stack.apiUrl,
      aws: { ...settings, endpoints: { ...settings.endpoints, autoscaling: stack.fleet.autoscalingEndpoint } },
      deployment: { groupName: stack.resources.groupName },
      controlUrl: stack.controlUrl,
    };
  }

  async suspendProcesses(processes: string[]): Promise<void> {
    await this.#withClient((c) => c.send(new SuspendProcessesCommand({ AutoScalingGroupName: this.#stack.resources.groupName, ScalingProcesses: processes })));
  }

  async resumeProcesses(processes: string[]): Promise<void> {
    await this.#withClient((c) => c.send(new ResumeProcessesCommand({ AutoScalingGroupName: this.#stack.resources.groupName, ScalingProcesses: processes })));
  }

  /** `spotq fleet resume`: resumes Launch and clears the breaker's tag; returns what it printed. */
  async resumeAfterBreaker(): Promise<string> {
    const lines: string[] = [];
    const code = await fleetCommand(this.#target, ["resume"], {}, (s) => lines.push(s));
    if (code !== 0) throw new Error(`spotq fleet resume exited ${code}: ${lines.join("\n")}`);
    return lines.join("\n");
  }

  async #withClient<T>(f: (c: ReturnType<AwsClients["autoscaling"]>) => Promise<T>): Promise<T> {
    const clients = new AwsClients(this.#target.aws);
    try {
      return await f(clients.autoscaling());
    } finally {
      clients.destroy();
    }
  }
}
