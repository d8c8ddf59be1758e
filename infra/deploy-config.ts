import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ValidationError, type Problem } from "../core/errors.ts";
import { loadFleetConfigFile, parseFleetConfig, type FleetConfig } from "../core/fleet-config.ts";
import { ENV } from "../core/runtime.ts";

/** How long the jobs queue keeps a message; the DLQ must keep its messages longer. */
export const JOBS_QUEUE_RETENTION_DAYS = 4;

/** The config file `cdktf synth` / `npm run synth` reads when neither `--config` nor SPOTQ_CONFIG names one. */
export const DEFAULT_CONFIG_FILE = "spotq.config.json";

/**
 * What only a real deployment needs beyond the core schema: an AMI, subnets, alarm periods
 * CloudWatch can serve for SQS metrics, and a DLQ that outlives the jobs queue. The local stack
 * runs happily without these, so they are checked here and not in core.
 */
export function deployProblems(c: FleetConfig): Problem[] {
  const problems: Problem[] = [];
  if (!c.fleet.amiId) problems.push({ field: "fleet.amiId", reason: "is required to deploy: the AMI the GPU workers boot (see docs/deploy.md, AMI prerequisites)" });
  if (c.fleet.subnetIds.length === 0)
    problems.push({ field: "fleet.subnetIds", reason: "is required to deploy: at least one subnet, ideally one per Availability Zone" });
  if (c.scaling.periodSeconds < 60)
    problems.push({
      field: "scaling.periodSeconds",
      reason: `is ${c.scaling.periodSeconds}, but SQS publishes its metrics once a minute: an alarm with a shorter period keeps lapsing into INSUFFICIENT_DATA; use 60 or a multiple of it`,
    });
  if (c.queue.dlqRetentionDays <= JOBS_QUEUE_RETENTION_DAYS)
    problems.push({
      field: "queue.dlqRetentionDays",
      reason: `must be more than the jobs queue's ${JOBS_QUEUE_RETENTION_DAYS} days: a dead-lettered message keeps its first enqueue time, so a shorter DLQ retention drops it early`,
    });
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
