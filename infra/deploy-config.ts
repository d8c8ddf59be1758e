import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ValidationError, type Problem } from "../core/errors.ts";
import { loadFleetConfigFile, parseFleetConfig, type FleetConfig } from "../core/fleet-config.ts";
import { ENV } from "../core/runtime.ts";

/**
 * The least `fleet.bootSeconds` a Windows fleet may claim. A generalized (sysprepped) Windows
 * Server AMI specializes at first boot before EC2Launch runs the user data; with the GPU driver,
 * the Node.js install, the service and the preflight, a worker is rarely ready in under 4 minutes
 * (AWS's "Windows fast launch" exists because of this). A smaller warmup makes the scaling policy
 * count booting instances as missing capacity and launch more.
 */
export const WINDOWS_MIN_BOOT_SECONDS = 240;

/** Why a fleet on the default ECS GPU AMI needs a pinned Node.js (the AMI has none, and workers never download one from the internet). */
export const ECS_AMI_NODE_REASON =
  "is required when processor.container runs on the default ECS GPU-optimised AMI (no fleet.amiId): that AMI has Docker and the NVIDIA container toolkit but no Node.js; pin one with `npm run fetch:node`, or set fleet.amiId to an AMI that has Node.js";

/** The config file `cdktf synth` / `npm run synth` reads when neither `--config` nor SPOTQ_CONFIG names one. */
export const DEFAULT_CONFIG_FILE = "spotq.config.json";

/**
 * What only a real deployment needs beyond the core schema: an AMI, subnets, alarm periods
 * CloudWatch can serve for SQS metrics, and a DLQ that outlives the jobs queue. The local stack
 * runs happily without these, so they are checked here and not in core.
 */
export function deployProblems(c: FleetConfig): Problem[] {
  const problems: Problem[] = [];
  // A container profile boots the ECS GPU-optimised AMI unless fleet.amiId names another (infra/constructs/fleet.ts).
  if (!c.fleet.amiId && !c.processor.container)
    problems.push({ field: "fleet.amiId", reason: "is required to deploy: the AMI the GPU workers boot (see docs/deploy.md, AMI prerequisites)" });
  if (!c.fleet.amiId && c.processor.container && !c.fleet.artifacts.node) problems.push({ field: "fleet.artifacts.node", reason: ECS_AMI_NODE_REASON });
  if (c.fleet.subnetIds.length === 0)
    problems.push({ field: "fleet.subnetIds", reason: "is required to deploy: at least one subnet, ideally one per Availability Zone" });
  if (c.scaling.periodSeconds < 60)
    problems.push({
      field: "scaling.periodSeconds",
      reason: `is ${c.scaling.periodSeconds}, but SQS publishes its metrics once a minute: an alarm with a shorter period keeps lapsing into INSUFFICIENT_DATA; use 60 or a multiple of it`,
    });
  if (c.fleet.platform === "windows" && c.fleet.bootSeconds < WINDOWS_MIN_BOOT_SECONDS)
    problems.push({
      field: "fleet.bootSeconds",
      reason: `is ${c.fleet.bootSeconds}, but a Windows GPU worker takes at least ${WINDOWS_MIN_BOOT_SECONDS} s from launch to its first job (first-boot specialization, EC2Launch, the driver, Node.js, preflight); a shorter warmup launches extra instances`,
    });
  if (c.fleet.bootBreaker.windowSeconds % 60 !== 0)
    problems.push({
      field: "fleet.bootBreaker.windowSeconds",
      reason: `is ${c.fleet.bootBreaker.windowSeconds}, but it is the period of a CloudWatch alarm on BootstrapFailed, which must be a multiple of 60`,
    });
  problems.push(...templateSequenceProblems(c));
  return problems;
}

/**
 * Every string of the config reaches Terraform (the worker's config object, the Lambda's
 * environment, names, the user data), where `${` interpolates and `%{` is a directive. Infra
 * escapes what it passes on, but a value that needs escaping is almost always a mistake (a shell
 * or PowerShell variable meant for somewhere else), so it is refused with its key.
 */
export function templateSequenceProblems(c: FleetConfig): Problem[] {
  const problems: Problem[] = [];
  const walk = (value: unknown, path: string) => {
    if (typeof value === "string") {
      const seq = ["${", "%{"].find((s) => value.includes(s));
      if (seq)
        problems.push({
          field: path,
          reason: `contains "${seq}", which Terraform reads as a template ${seq === "${" ? "interpolation" : "directive"}; spotq passes values through literally, so write the value without it`,
        });
    } else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
  };
  walk(c, "");
  return problems;
}

/** Validates a parsed config object for deployment, or throws a {@link ValidationError} naming each bad key. */
export function deployConfig(input: unknown, source = "fleet config"): FleetConfig {
  const parsed = parseFleetConfig(input);
  if (!parsed.ok) throw new ValidationError(`invalid ${source}`, parsed.problems);
  const problems = deployProblems(parsed.value);
  if (problems.length > 0) throw new ValidationError(`${source} cannot be deployed`, problems);
  return parsed.value;
}

/** Reads, validates and checks a config file for deployment. */
export function loadDeployConfig(file: string): FleetConfig {
  const config = loadFleetConfigFile(file);
  const problems = deployProblems(config);
  if (problems.length > 0) throw new ValidationError(`fleet config ${file} cannot be deployed`, problems);
  return config;
}

/**
 * Which config file to synthesize: `--config <file>`, else SPOTQ_CONFIG, else `spotq.config.json`
 * in the project root. A missing default file is an error that says how to make one.
 */
export function configFileFrom(argv: readonly string[], env: NodeJS.ProcessEnv, projectRoot: string): string {
  const i = argv.indexOf("--config");
  if (i >= 0) {
    const file = argv[i + 1];
    if (!file || file.startsWith("--")) throw new ValidationError("bad arguments", [{ field: "--config", reason: "needs a file path" }]);
    return resolve(file);
  }
  const fromEnv = env[ENV.config];
  if (fromEnv) return resolve(fromEnv);
  const file = resolve(projectRoot, DEFAULT_CONFIG_FILE);
  if (!existsSync(file))
    throw new ValidationError("no fleet config", [
      {
        field: DEFAULT_CONFIG_FILE,
        reason: `not found in ${projectRoot}: copy spotq.config.example.json to ${DEFAULT_CONFIG_FILE} and fill in fleet.amiId and fleet.subnetIds, or name a file with --config or ${ENV.config}`,
      },
    ]);
  return file;
}
