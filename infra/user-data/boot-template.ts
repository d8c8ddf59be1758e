import { renderLinuxBoot } from "./linux.ts";
import { toTemplate } from "./template.ts";
import { renderWindowsBoot } from "./windows.ts";
import type { WorkerBoot } from "./worker-boot.ts";

/**
 * The user data of a worker instance as a Terraform template: PowerShell for Windows AMIs, bash
 * for Linux. It ships its own log to CloudWatch Logs first, installs the pinned Node.js (or
 * checks the AMI's), fetches the exact artifact versions its launch template names, and installs
 * the worker under a service manager that applies the exit-code table of CONTRACTS §4. A boot
 * that fails leaves: it logs why, counts BootstrapFailed (the boot breaker's metric) and abandons
 * its launch (or terminates without decrement), unless fleet.debugKeepFailedInstances keeps it.
 */
export function renderBootTemplate(boot: WorkerBoot): string {
  return toTemplate(boot.platform === "windows" ? renderWindowsBoot(boot) : renderLinuxBoot(boot));
}
