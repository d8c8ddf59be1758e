import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FleetConfigInput } from "../../core/fleet-config.ts";
import { localDefaultConfig } from "../../scripts/local/local-config.ts";
import { REPO_ROOT, startLocalStack, type LocalStack, type LocalStackOptions } from "../../scripts/local/start.ts";
import { FleetControlClient } from "./e2e-control.ts";
import { FleetWatch } from "./e2e-fleet-watch.ts";
import { JobsClient } from "./e2e-jobs.ts";
import { processesLeftBy } from "./e2e-processes.ts";

/** What an end-to-end suite changes in the embedded local config and the fleet. */
export interface E2eStackOptions {
  /** Edits of the embedded local default config (core/fleet-config.ts input). */
  config?: (c: FleetConfigInput) => FleetConfigInput;
  fleet?: LocalStackOptions["fleet"];
  /** CloudWatch's lag before a queue-depth datapoint reaches the alarm. @default 60 */
  metricDelaySeconds?: number;
}

/** A whole local stack of one suite, with the test's views of it. */
export interface E2eStack {
  stack: LocalStack;
  /** The stack's temporary folder (instances, their worker logs and telemetry). */
  dir: string;
  /** Every fleet event since the start, with the group's size at that moment. */
  fleet: FleetWatch;
  /** The jobs API over HTTP, as a user calls it. */
  jobs: JobsClient;
  /** The fleet's HTTP control surface. */
  control: FleetControlClient;
  /** Stops everything and checks that no worker, processor or helper process outlived the stack. */
  stop(): Promise<void>;
}

/**
 * Starts the whole system in-process (fauxqs, dynalite, the local fleet with real worker
 * processes, the jobs API) on free ports, in a fresh temporary folder. The folder is outside the
 * repository on purpose: the embedded processor must run from any job folder (it once resolved a
 * bare `--import tsx` from there and failed outside the repository).
 */
export async function startE2eStack(options: E2eStackOptions = {}): Promise<E2eStack> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "spotq-e2e-"));
  const edit = options.config ?? ((c: FleetConfigInput) => c);
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      port: 0,
      writeState: false,
      dir,
      config: localDefaultConfig(REPO_ROOT, edit),
      ...(options.fleet ? { fleet: options.fleet } : {}),
      ...(options.metricDelaySeconds !== undefined ? { metricDelaySeconds: options.metricDelaySeconds } : {}),
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const fleet = new FleetWatch(stack.fleet);
  let stopped = false;
  return {
    stack,
    dir,
    fleet,
    jobs: new JobsClient(stack.apiUrl),
    control: new FleetControlClient(stack.controlUrl),
    async stop() {
      if (stopped) return;
      stopped = true;
      await stack.stop();
      const left = await processesLeftBy(dir, fleet.workerPids());
      if (process.env.E2E_KEEP_DIR) process.stdout.write(`      (kept the stack folder ${dir})\n`);
      else rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      if (left.length === 0) return;
      // Reported, then ended (by pid, only these) so a failing run leaves nothing behind on the machine.
      for (const p of left) killQuietly(p.pid);
      throw new Error(`processes outlived the stack (now killed):\n  ${left.map((p) => `${p.pid} ${p.command}`).join("\n  ")}`);
    },
  };
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
