import { renderLinuxBoot } from "./linux.ts";
import { toTemplate } from "./template.ts";
import { renderWindowsBoot } from "./windows.ts";
import type { WorkerBoot } from "./worker-boot.ts";

/**
 * The user data of a worker instance as a Terraform template: PowerShell for Windows AMIs, bash
 * for Linux. It installs Node.js when needed, fetches the worker bundle and the fleet config from
 * the artifacts bucket, and installs the worker as a service that restarts when it fails. A
 * bootstrap that fails terminates its own instance (decrementing the group), since a new
 * instance is protected from scale-in and would otherwise idle forever.
 */
export function renderBootTemplate(boot: WorkerBoot): string {
  return toTemplate(boot.platform === "windows" ? renderWindowsBoot(boot) : renderLinuxBoot(boot));
}
