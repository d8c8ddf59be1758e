import { resourceNames } from "../../core/names.ts";
import { ENV } from "../../core/runtime.ts";
import { BOOT_VARIABLES, FALLBACK_VARIABLES, NAME_VARIABLES, placeholder, type BootVariable } from "./template.ts";

/** The name of the worker's service (Windows service, systemd unit) and of its scheduled task in an interactive session. */
export const WORKER_SERVICE = "spotq-worker";

/** EC2 refuses user data above 16 KB (before base64). */
export const USER_DATA_LIMIT_BYTES = 16_384;

export type Platform = "windows" | "linux";

/** Environment variables the worker service gives the worker (core/runtime.ts ENV; CONTRACTS §9). */
export const SERVICE_ENV = { stopFile: ENV.stopFile, stopGraceSeconds: ENV.stopGraceSeconds } as const;

/**
 * How the service manager treats the worker's exit codes (CONTRACTS §4), the same on both
 * platforms: 0 stops for good, 2 and 3 are failed boots with no restart, anything else is a crash
 * restarted after 1, 2, 4, 8, 16 s, at most `maxRestarts` times within `windowSeconds`; the next
 * crash, or a 2 or 3, makes the instance leave.
 */
export const EXIT_POLICY = {
  orderly: 0,
  badConfig: 2,
  preflightFailed: 3,
  maxRestarts: 5,
  windowSeconds: 600,
  maxBackoffSeconds: 60,
} as const;

/** The delay before restart number `n` (1-based) of a crashed worker: 1, 2, 4 … capped at 60 s. */
export function restartBackoffSeconds(n: number): number {
  return Math.min(EXIT_POLICY.maxBackoffSeconds, 2 ** Math.max(0, n - 1));
}

/** One artifact an instance fetches: a fixed key, the exact version its launch template names, and the bytes' SHA-256. */
export interface BootArtifact {
  key: string;
  sha256: string;
  /** The template variable Terraform fills with the object's version id. */
  version: BootVariable;
}

/** What the bootstrap of a worker instance needs to know that is fixed at synth time. */
export interface WorkerBoot {
  platform: Platform;
  region: string;
  /** The deployment's name (`config.name`): the metric dimension, and the root of the hook and log group names. */
  deployment: string;
  /** Without a pinned archive, the AMI's node must be at least this major. */
  nodeMajor: number;
  artifacts: {
    worker: BootArtifact;
    config: BootArtifact;
    /** The Windows service wrapper's C# source (Windows only). */
    service?: BootArtifact;
    /** A pinned Node.js release (fleet.artifacts.node); absent means the AMI's own. */
    node?: BootArtifact & { release: string };
  };
  /** Where job folders go; absent means the platform default ({@link defaultWorkRoot}). */
  workRoot?: string;
  /** fleet.debugKeepFailedInstances: a failed boot logs and counts, but the instance stays. */
  debugKeepFailedInstances: boolean;
  /** fleet.stopGraceSeconds: how long a service stop waits for the worker before killing it. */
  stopGraceSeconds: number;
  /** processor.session (Windows): a service, or a scheduled task in an auto-logged-on desktop session. */
  session: "service" | "interactive";
  autoLogon?: { user: string; passwordParameter: string };
  /** processor.container (Linux): the worker runs the processor with Docker, which must be up first; `gpus` when it asks for GPUs. */
  container?: { gpus: boolean };
  /**
   * `scaling.onDemandFallback` is on: the worker's environment gets SPOTQ_GROUP_KIND,
   * SPOTQ_ONDEMAND_QUEUE_URL and SPOTQ_ONDEMAND_GROUP, as template variables (one template serves
   * the Spot and the On-Demand launch template, {@link FALLBACK_VARIABLES}).
   */
  onDemandFallback?: boolean;
}

/** Where the bootstrap puts the worker, its config, its logs and its helpers, per platform. */
export const BOOT_PATHS = {
  windows: {
    home: "C:\\ProgramData\\spotq",
    worker: "C:\\ProgramData\\spotq\\worker.mjs",
    config: "C:\\ProgramData\\spotq\\spotq.config.json",
    log: "C:\\ProgramData\\spotq\\worker.log",
    bootLog: "C:\\ProgramData\\spotq\\bootstrap.log",
    env: "C:\\ProgramData\\spotq\\worker.env",
    stopFile: "C:\\ProgramData\\spotq\\run\\stop",
    /** Functions shared by the bootstrap, the log-shipping task and the service's failure path. */
    instanceScript: "C:\\ProgramData\\spotq\\spotq-instance.ps1",
  },
  linux: {
    home: "/opt/spotq",
    worker: "/opt/spotq/worker.mjs",
    config: "/etc/spotq/spotq.config.json",
    log: "/var/log/spotq/worker.log",
    bootLog: "/var/log/spotq-bootstrap.log",
    env: "/etc/spotq/worker.env",
    /** Linux stops the worker with SIGTERM; the file is set for symmetry and local tests. */
    stopFile: "/run/spotq/stop",
    instanceScript: "/opt/spotq/spotq-instance.sh",
  },
} as const;

/** The work root when the config names none: on the root volume, which infra sizes. */
export function defaultWorkRoot(platform: Platform): string {
  return platform === "windows" ? "C:\\spotq\\jobs" : "/var/lib/spotq/jobs";
}

/** The names a booting instance reports to: its group, the hooks it may complete, the log group of its evidence. */
export function bootNames(boot: WorkerBoot) {
  const names = resourceNames(boot.deployment);
  return { launchHook: names.launchHook, terminateHook: names.terminateHook, bootLogGroup: names.bootLogGroup };
}

/** The template variables a boot's user data uses: the deployment's names and its artifacts' version ids. */
export function bootVariables(boot: WorkerBoot): BootVariable[] {
  const versions = Object.values(boot.artifacts)
    .filter((a): a is BootArtifact => a !== undefined)
    .map((a) => a.version);
  return [...NAME_VARIABLES, ...(boot.onDemandFallback ? FALLBACK_VARIABLES : []), ...versions];
}

/**
 * The worker's environment (core/runtime.ts ENV), in order; the deployment's names are
 * template placeholders filled in at apply time.
 */
export function workerEnvironment(boot: WorkerBoot): [string, string][] {
  const paths = BOOT_PATHS[boot.platform];
  return [
    [ENV.config, paths.config],
    [ENV.table, placeholder(BOOT_VARIABLES.table)],
    [ENV.queueUrl, placeholder(BOOT_VARIABLES.queueUrl)],
    [ENV.dlqUrl, placeholder(BOOT_VARIABLES.dlqUrl)],
    // Empty when the deployment has no high queue (core/runtime.ts reads empty as absent).
    [ENV.highQueueUrl, placeholder(BOOT_VARIABLES.highQueueUrl)],
    [ENV.bucket, placeholder(BOOT_VARIABLES.bucket)],
    [ENV.group, placeholder(BOOT_VARIABLES.group)],
    // The On-Demand fallback: `spot` with the On-Demand queue and group, or `on-demand` with them empty.
    ...(boot.onDemandFallback
      ? ([
          [ENV.groupKind, placeholder(BOOT_VARIABLES.groupKind)],
          [ENV.onDemandQueueUrl, placeholder(BOOT_VARIABLES.onDemandQueueUrl)],
          [ENV.onDemandGroup, placeholder(BOOT_VARIABLES.onDemandGroup)],
        ] as [string, string][])
      : []),
    [ENV.workRoot, boot.workRoot ?? defaultWorkRoot(boot.platform)],
    [ENV.telemetry, "cloudwatch"],
    [SERVICE_ENV.stopFile, paths.stopFile],
    [SERVICE_ENV.stopGraceSeconds, String(boot.stopGraceSeconds)],
    // The SDK (v3) does not read the region from instance metadata by itself.
    ["AWS_REGION", boot.region],
    // Instance metadata is IMDSv2-only (the launch template requires tokens): never fall back.
    ["AWS_EC2_METADATA_V1_DISABLED", "true"],
  ];
}
