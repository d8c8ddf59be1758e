/**
 * A stand-in worker for the local fleet's tests. It runs on a local instance exactly as the real
 * worker would: it finds its instance id through IMDSv2 and talks to the group through
 * AutoScalingFleetControl, both configured only by the environment the fleet gives it.
 *
 * Tests steer it with files in its work folder (SPOTQ_WORK_ROOT):
 * - `command-<n>.json` (n = 1, 2, ...): `{"do": "protect", "value": bool}`, `{"do": "terminate", "decrement": bool}`,
 *   `{"do": "describe"}`, `{"do": "exit", "code": n}`, `{"do": "spawn-child"}`,
 *   `{"do": "complete", "hook": name, "result": "CONTINUE"|"ABANDON"}`, `{"do": "heartbeat", "hook": name}`,
 *   `{"do": "health", "status": "Unhealthy"}`, `{"do": "target-state"}`;
 *   it answers each in `result-<n>.json`: `{ok: true, ...}` or `{ok: false, error: {name, message}}`.
 * and with its environment, for what a real worker does on its own (the fleet's `launch.env`):
 * - `FLEET_TEST_BOOT=continue`: complete the launch hook (`FLEET_TEST_LAUNCH_HOOK`) CONTINUE at start, as the
 *   worker does once its preflight passed (that completion is "booted"); `exit:<n>`: exit with n at start
 *   instead (2 config, 3 preflight), before completing anything;
 * - `FLEET_TEST_ON_TERMINATE=continue`: once IMDS `autoscaling/target-lifecycle-state` says Terminated, complete
 *   the terminate hook (`FLEET_TEST_TERMINATE_HOOK`) CONTINUE and exit 0;
 * - `SPOTQ_STOP_FILE`: exit 0 once that file exists (the Windows service stop).
 * It reports in the same folder:
 * - `worker-<pid>.json` when it starts: instance id, pid, and the environment the fleet gave it;
 * - `spot-notice.json` once IMDS shows a Spot notice; `sigterm-<pid>.json` when asked to stop;
 * - `target-terminated.json` when it saw the target lifecycle state Terminated; `stop-file-<pid>.json`.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { LifecycleActionResult } from "../../core/ports.ts";
import { join } from "node:path";
import { AwsClients } from "../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../aws/fleet-control.ts";
import { Imdsv2Metadata } from "../../aws/instance-metadata.ts";
import { ENV, requireEnv } from "../../core/runtime.ts";

const root = requireEnv(process.env, ENV.workRoot);
const metadata = new Imdsv2Metadata();
const clients = new AwsClients();
const fleet = new AutoScalingFleetControl(clients.autoscaling(), { groupName: requireEnv(process.env, ENV.group) });

/** Writes atomically, so a test polling for the file never reads half of it. */
function report(name: string, value: unknown): void {
  const tmp = join(root, `.${name}.tmp`);
  writeFileSync(tmp, JSON.stringify(value));
  renameSync(tmp, join(root, name));
}

process.on("SIGTERM", () => {
  report(`sigterm-${process.pid}.json`, { pid: process.pid });
  clients.destroy();
  process.exit(0);
});

const instanceId = await metadata.instanceId();
report(`worker-${process.pid}.json`, {
  instanceId,
  pid: process.pid,
  env: Object.fromEntries(
    [
      "AWS_EC2_METADATA_SERVICE_ENDPOINT",
      "SPOTQ_ENDPOINT_AUTOSCALING",
      ENV.group,
      ENV.workRoot,
      ENV.telemetry,
      ENV.telemetryDir,
      ENV.instanceId,
      "FLEET_TEST_MARK",
      "SPOTQ_STOP_FILE",
    ].map((k) => [k, process.env[k] ?? null]),
  ),
});

const boot = process.env.FLEET_TEST_BOOT ?? "";
if (boot.startsWith("exit:")) process.exit(Number(boot.slice(5)));
if (boot === "continue") await fleet.completeLifecycleAction(requireEnv(process.env, "FLEET_TEST_LAUNCH_HOOK"), instanceId, "CONTINUE");
const stopFile = process.env.SPOTQ_STOP_FILE;
const onTerminate = process.env.FLEET_TEST_ON_TERMINATE ?? "";

async function run(cmd: { do: string; value?: boolean; decrement?: boolean; code?: number; hook?: string; result?: string; status?: string }): Promise<Record<string, unknown>> {
  switch (cmd.do) {
    case "complete":
      await fleet.completeLifecycleAction(cmd.hook!, instanceId, (cmd.result ?? "CONTINUE") as LifecycleActionResult);
      return {};
    case "heartbeat":
      await fleet.recordLifecycleHeartbeat(cmd.hook!, instanceId);
      return {};
    case "health":
      await fleet.setHealth(instanceId, (cmd.status ?? "Unhealthy") as "Healthy" | "Unhealthy");
      return {};
    case "target-state":
      return { state: (await metadata.targetLifecycleState()) ?? null };
    case "protect":
      await fleet.protect(instanceId, cmd.value ?? true);
      return {};
    case "terminate":
      await fleet.terminate(instanceId, cmd.decrement ?? true);
      return {};
    case "describe":
      return { group: await fleet.describeGroup() };
    case "spawn-child": {
      // A long "processor" in the worker's process group, as a real job would be.
      const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1 << 30)"], { stdio: "ignore" });
      return { childPid: child.pid };
    }
    case "exit":
      setImmediate(() => process.exit(cmd.code ?? 0));
      return {};
    default:
      throw new Error(`unknown command ${cmd.do}`);
  }
}

let noticeSeen = false;
let terminatedSeen = false;
for (let n = 1; ; ) {
  if (stopFile && existsSync(stopFile)) {
    report(`stop-file-${process.pid}.json`, { pid: process.pid });
    clients.destroy();
    process.exit(0);
  }
  if (onTerminate && !terminatedSeen && (await metadata.targetLifecycleState()) === "Terminated") {
    terminatedSeen = true;
    report("target-terminated.json", { pid: process.pid });
    if (onTerminate === "continue") {
      await fleet.completeLifecycleAction(requireEnv(process.env, "FLEET_TEST_TERMINATE_HOOK"), instanceId, "CONTINUE");
      clients.destroy();
      process.exit(0);
    }
  }
  if (!noticeSeen) {
    const notice = await metadata.spotInterruption();
    if (notice) {
      noticeSeen = true;
      report("spot-notice.json", notice);
    }
  }
  const file = join(root, `command-${n}.json`);
  if (existsSync(join(root, `result-${n}.json`))) {
    n++; // answered by an earlier run of this worker (before a restart)
    continue;
  }
  if (existsSync(file)) {
    const cmd = JSON.parse(readFileSync(file, "utf8"));
    try {
      report(`result-${n}.json`, { ok: true, ...(await run(cmd)) });
    } catch (err) {
      const e = err as Error;
      report(`result-${n}.json`, { ok: false, error: { name: e.name, message: e.message } });
    }
    n++;
    continue;
  }
  await new Promise((r) => setTimeout(r, 50));
}
