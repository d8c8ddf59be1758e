import { ENV } from "../../core/runtime.ts";
import { BOOT_VARIABLES, placeholder } from "./template.ts";

/** The name of the worker's service (Windows service, systemd unit). */
export const WORKER_SERVICE = "spotq-worker";

/** EC2 refuses user data above 16 KB (before base64). */
export const USER_DATA_LIMIT_BYTES = 16_384;

export type Platform = "windows" | "linux";

/** What the bootstrap of a worker instance needs to know that is fixed at synth time. */
export interface WorkerBoot {
  platform: Platform;
  region: string;
  /** Node.js major version installed from nodejs.org when the AMI has none (or one older than 22). */
  nodeMajor: number;
  /** Key of the worker bundle in the artifacts bucket. */
  workerKey: string;
  /** Key of the fleet config in the artifacts bucket. */
  configKey: string;
  /** Where job folders go; absent means the platform default ({@link defaultWorkRoot}). */
  workRoot?: string;
}

/** Where the bootstrap puts the worker, its config and its log, per platform. */
export const BOOT_PATHS = {
  windows: {
    home: "C:\\ProgramData\\spotq",
    worker: "C:\\ProgramData\\spotq\\worker.mjs",
    config: "C:\\ProgramData\\spotq\\spotq.config.json",
    log: "C:\\ProgramData\\spotq\\worker.log",
  },
  linux: {
    home: "/opt/spotq",
    worker: "/opt/spotq/worker.mjs",
    config: "/etc/spotq/spotq.config.json",
    // The worker's output goes to the journal: journalctl -u spotq-worker
  },
} as const;

/** The work root when the config names none: on the root volume, which infra sizes. */
export function defaultWorkRoot(platform: Platform): string {
  return platform === "windows" ? "C:\\spotq\\jobs" : "/var/lib/spotq/jobs";
}

/**
 * The worker's environment (core/runtime.ts ENV), in order; the deployment's names are
 * template placeholders filled in at apply time.
 */
export function workerEnvironment(boot: WorkerBoot): [string, string][] {
  return [
    [ENV.config, BOOT_PATHS[boot.platform].config],
    [ENV.table, placeholder(BOOT_VARIABLES.table)],
    [ENV.queueUrl, placeholder(BOOT_VARIABLES.queueUrl)],
    [ENV.dlqUrl, placeholder(BOOT_VARIABLES.dlqUrl)],
    [ENV.bucket, placeholder(BOOT_VARIABLES.bucket)],
    [ENV.group, placeholder(BOOT_VARIABLES.group)],
    [ENV.workRoot, boot.workRoot ?? defaultWorkRoot(boot.platform)],
    [ENV.telemetry, "cloudwatch"],
    // The SDK (v3) does not read the region from instance metadata by itself.
    ["AWS_REGION", boot.region],
    // Instance metadata is IMDSv2-only (the launch template requires tokens): never fall back.
    ["AWS_EC2_METADATA_V1_DISABLED", "true"],
  ];
}
