import os from "node:os";
import path from "node:path";
import { platformOf, type WorkerPlatform } from "../core/config-json.ts";
import { ValidationError, type Problem } from "../core/errors.ts";
import type { FleetConfig } from "../core/fleet-config.ts";
import { DEFAULT_TRANSFER_OPTIONS, type TransferOptions } from "./transfer.ts";

/**
 * The worker's settings. Everything but the instance id and the config has a default taken from
 * the fleet config; tests shorten the times here (the config schema keeps production minimums).
 */
export interface WorkerOptions {
  /** This instance's id (SPOTQ_INSTANCE_ID, or IMDS). */
  instanceId: string;
  config: FleetConfig;
  /** Where job folders are created. @default config.fleet.workRoot, else C:\spotq\work on Windows, <tmp>/spotq-work elsewhere */
  workRoot?: string;
  /** @default the running platform */
  platform?: WorkerPlatform;
  /** Visibility of a received message, renewed by the heartbeat. @default config.queue.visibilityTimeoutSeconds */
  visibilityTimeoutSeconds?: number;
  /** @default config.jobs.heartbeatSeconds */
  heartbeatSeconds?: number;
  /** Long-poll wait of each receive. @default config.queue.receiveWaitSeconds */
  receiveWaitSeconds?: number;
  /** @default config.fleet.idleTimeoutSeconds */
  idleTimeoutSeconds?: number;
  /** Limit of one processor run. @default config.jobs.timeoutSeconds */
  jobTimeoutSeconds?: number;
  /** How often IMDS is asked for Spot notices. @default 5 */
  spotPollSeconds?: number;
  /** From SIGTERM to SIGKILL of the processor tree (POSIX). @default 5 */
  killGraceSeconds?: number;
  /** Wait after a failed poll (SQS, Auto Scaling unreachable) before the next. @default 5 */
  errorBackoffSeconds?: number;
  /**
   * First wait after Auto Scaling refused to terminate this idle instance for a reason other than
   * the minimum size (AccessDenied, throttling); doubled after each refusal up to
   * `terminateRetryMaxSeconds`. The worker keeps serving meanwhile. @default 30
   */
  terminateRetrySeconds?: number;
  /** @default 3600 */
  terminateRetryMaxSeconds?: number;
  /** The terminate hook's heartbeat timeout. @default config.fleet.lifecycleHooks.terminateTimeoutSeconds */
  terminateHookTimeoutSeconds?: number;
  /** How often a job finishing under the terminate hook heartbeats it. @default a third of terminateHookTimeoutSeconds */
  lifecycleHeartbeatSeconds?: number;
  /**
   * After asking Auto Scaling to terminate this instance (idle, rebalance, unhealthy), how long to
   * wait for IMDS to show the target lifecycle state Terminated, to complete the terminate hook at
   * once rather than leave it to its timeout. Not waited for when IMDS does not serve the state. @default 120
   */
  lifecycleWaitSeconds?: number;
  transfer?: Partial<TransferOptions>;
}

/** Options with every default filled in and checked. */
export type ResolvedWorkerOptions = Required<Omit<WorkerOptions, "transfer">> & { transfer: TransferOptions };

/** The default work root of a platform. */
export function defaultWorkRoot(platform: WorkerPlatform): string {
  return platform === "win32" ? "C:\\spotq\\work" : path.join(os.tmpdir(), "spotq-work");
}

/**
 * Fills in the defaults and checks the relations the worker relies on; throws a ValidationError
 * naming every bad option.
 */
export function resolveWorkerOptions(o: WorkerOptions): ResolvedWorkerOptions {
  const c = o.config;
  const platform = o.platform ?? platformOf(process.platform);
  const r: ResolvedWorkerOptions = {
    instanceId: o.instanceId,
    config: c,
    platform,
    workRoot: o.workRoot ?? c.fleet.workRoot ?? defaultWorkRoot(platform),
    visibilityTimeoutSeconds: o.visibilityTimeoutSeconds ?? c.queue.visibilityTimeoutSeconds,
    heartbeatSeconds: o.heartbeatSeconds ?? c.jobs.heartbeatSeconds,
    receiveWaitSeconds: o.receiveWaitSeconds ?? c.queue.receiveWaitSeconds,
    idleTimeoutSeconds: o.idleTimeoutSeconds ?? c.fleet.idleTimeoutSeconds,
    jobTimeoutSeconds: o.jobTimeoutSeconds ?? c.jobs.timeoutSeconds,
    spotPollSeconds: o.spotPollSeconds ?? 5,
    killGraceSeconds: o.killGraceSeconds ?? 5,
    errorBackoffSeconds: o.errorBackoffSeconds ?? 5,
    terminateRetrySeconds: o.terminateRetrySeconds ?? 30,
    terminateRetryMaxSeconds: o.terminateRetryMaxSeconds ?? 3600,
    terminateHookTimeoutSeconds: o.terminateHookTimeoutSeconds ?? c.fleet.lifecycleHooks.terminateTimeoutSeconds,
    lifecycleHeartbeatSeconds: o.lifecycleHeartbeatSeconds ?? (o.terminateHookTimeoutSeconds ?? c.fleet.lifecycleHooks.terminateTimeoutSeconds) / 3,
    lifecycleWaitSeconds: o.lifecycleWaitSeconds ?? 120,
    transfer: { ...DEFAULT_TRANSFER_OPTIONS, ...o.transfer },
  };
  const problems: Problem[] = [];
  if (!r.instanceId) problems.push({ field: "instanceId", reason: "is required" });
  const positive = [
    "visibilityTimeoutSeconds",
    "heartbeatSeconds",
    "idleTimeoutSeconds",
    "jobTimeoutSeconds",
    "spotPollSeconds",
    "terminateRetrySeconds",
    "terminateRetryMaxSeconds",
    "terminateHookTimeoutSeconds",
    "lifecycleHeartbeatSeconds",
  ] as const;
  for (const k of positive) if (!(r[k] > 0)) problems.push({ field: k, reason: `must be positive, got ${r[k]}` });
  for (const k of ["killGraceSeconds", "errorBackoffSeconds", "lifecycleWaitSeconds"] as const)
    if (!(r[k] >= 0)) problems.push({ field: k, reason: `must be 0 or more, got ${r[k]}` });
  if (!(r.receiveWaitSeconds >= 0 && r.receiveWaitSeconds <= 20))
    problems.push({ field: "receiveWaitSeconds", reason: `must be from 0 to 20 (SQS's long-poll limit), got ${r.receiveWaitSeconds}` });
  if (r.heartbeatSeconds >= r.visibilityTimeoutSeconds)
    problems.push({
      field: "heartbeatSeconds",
      reason: `must be less than visibilityTimeoutSeconds (${r.visibilityTimeoutSeconds}), or the message becomes visible between beats`,
    });
  if (r.lifecycleHeartbeatSeconds >= r.terminateHookTimeoutSeconds)
    problems.push({
      field: "lifecycleHeartbeatSeconds",
      reason: `must be less than terminateHookTimeoutSeconds (${r.terminateHookTimeoutSeconds}), or the terminate hook times out between heartbeats`,
    });
  if (r.visibilityTimeoutSeconds > 43_200)
    problems.push({ field: "visibilityTimeoutSeconds", reason: `must be at most 43200 (SQS's 12 h), got ${r.visibilityTimeoutSeconds}` });
  if (problems.length) throw new ValidationError("invalid worker options", problems);
  return r;
}
