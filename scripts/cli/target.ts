import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { awsSettingsFromEnv, type AwsSettings } from "../../aws/clients.ts";
import type { DeploymentNames } from "../../core/runtime.ts";
import { findLocalStack, localStackDir, spotqHome } from "../local/state.ts";
import { CliError } from "./cli-error.ts";

/** Where the CLI talks to: a running local stack, or a deployed one. */
export interface Target {
  kind: "local" | "deployed";
  apiUrl: string;
  apiKey?: string;
  aws: AwsSettings;
  /** Resource names, for the commands that go to AWS directly (upload, logs, redrive). */
  deployment?: Partial<DeploymentNames>;
  /** The local fleet's control surface (local only). */
  controlUrl?: string;
  /** The local stack's folder (local only). */
  localDir?: string;
  /** Other local stacks running besides the one chosen (local only). */
  othersRunning?: number;
}

export interface TargetFlags {
  api?: string;
  apiKey?: string;
  region?: string;
  profile?: string;
  outputs?: string;
}

/** The outputs file `cdktf deploy --outputs-file` writes, looked for by default. */
export const DEFAULT_OUTPUTS_FILE = "spotq-outputs.json";

/**
 * Finds the stack to talk to, in this order: `--api`/`SPOTQ_API_URL`; a cdktf outputs file
 * (`--outputs`, else ./spotq-outputs.json); a local stack started with `npm start`: the one of this
 * folder (SPOTQ_LOCAL_DIR, else ./.spotq/local) when it runs, else the newest one registered under
 * the spotq home (SPOTQ_HOME, else ~/.spotq), so the CLI works from any folder.
 */
export function resolveTarget(flags: TargetFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Target {
  if (flags.profile) process.env.AWS_PROFILE = flags.profile; // read by the SDK's default credential chain
  const region = flags.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const apiKey = flags.apiKey ?? env.SPOTQ_API_KEY;
  const outputsFile = flags.outputs ?? (existsSync(path.join(cwd, DEFAULT_OUTPUTS_FILE)) ? DEFAULT_OUTPUTS_FILE : undefined);
  const outputs = outputsFile ? readOutputs(path.resolve(cwd, outputsFile)) : undefined;
  const apiUrl = flags.api ?? env.SPOTQ_API_URL ?? outputs?.apiUrl;
  if (apiUrl) {
    const aws = awsSettingsFromEnv(env);
    if (region) aws.region = region;
    else if (outputs?.region) aws.region = outputs.region;
    return { kind: "deployed", apiUrl: apiUrl.replace(/\/+$/, ""), ...(apiKey ? { apiKey } : {}), aws, deployment: outputs?.deployment ?? {} };
  }
  const found = findLocalStack(localStackDir(env, cwd), env);
  if (found) {
    const local = found.state;
    // A local stack with tenants (api.tenants) checks x-api-key as API Gateway would.
    return { kind: "local", apiUrl: local.apiUrl, ...(apiKey ? { apiKey } : {}), aws: local.aws, deployment: local.deployment, controlUrl: local.controlUrl, localDir: local.dir, othersRunning: found.others };
  }
  throw new CliError(
    `no spotq stack found: no --api, no SPOTQ_API_URL, no spotq-outputs.json here, and no local stack running (none registered in ${spotqHome(env)})`,
    "start the local stack with `npm start` in the spotq folder, or pass --api URL --api-key KEY (or --outputs FILE from `cdktf deploy --outputs-file`)",
  );
}

/** Reads a cdktf outputs file: `{ "<stack>": { "api_url": ..., ... } }` (snake or camel case). */
export function readOutputs(file: string): { apiUrl?: string; region?: string; deployment: Partial<DeploymentNames> } {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(`cannot read outputs file ${file}: ${(err as Error).message}`, "write it with `cdktf deploy --outputs-file spotq-outputs.json`");
  }
  const stacks = Object.values(json).filter((v): v is Record<string, unknown> => typeof v === "object" && v !== null);
  const flat: Record<string, string> = {};
  for (const s of stacks.length ? stacks : [json])
    for (const [k, v] of Object.entries(s)) if (typeof v === "string") flat[k.replace(/[-_]/g, "").toLowerCase()] = v;
  const pick = (...names: string[]) => names.map((n) => flat[n.toLowerCase()]).find((v) => v !== undefined);
  const deployment: Partial<DeploymentNames> = {};
  const set = (k: keyof DeploymentNames, v: string | undefined) => {
    if (v) deployment[k] = v;
  };
  set("bucket", pick("bucket", "bucketName", "dataBucket"));
  set("queueUrl", pick("queueUrl"));
  set("dlqUrl", pick("dlqUrl"));
  set("tableName", pick("tableName", "table"));
  set("groupName", pick("groupName", "asgName", "autoScalingGroupName"));
  const apiUrl = pick("apiUrl", "apiEndpoint");
  const region = pick("region");
  return { ...(apiUrl ? { apiUrl } : {}), ...(region ? { region } : {}), deployment };
}

/** The named resource, or a clear error saying which output is missing. */
export function need<K extends keyof DeploymentNames>(target: Target, key: K, what: string): string {
  const v = target.deployment?.[key];
  if (!v)
    throw new CliError(
      `${what} needs the deployment's ${key}, which this target does not know`,
      "pass --outputs spotq-outputs.json (from `cdktf deploy --outputs-file`), or run against the local stack",
    );
  return v as string;
}
