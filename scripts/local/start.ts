/**
 * The whole system on one machine: fauxqs (SQS + S3), dynalite (DynamoDB), the local fleet (the
 * Auto Scaling group, its instances' IMDS, worker processes) and the jobs API, wired exactly as in
 * AWS but for the endpoints. `npm start` runs it with a demo job and stays up; `npm run demo` runs
 * the demo and exits 0 only if the job SUCCEEDED, its outputs verified, and the fleet went back to 0.
 */
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { awsSettingsToEnv } from "../../aws/clients.ts";
import { startApiServer, type ApiServer } from "../../api/server.ts";
import type { FleetConfig } from "../../core/fleet-config.ts";
import { deploymentToEnv, ENV, fleetConfigFromEnv } from "../../core/runtime.ts";
import { runDemo } from "./demo.ts";
import { provision, startEmulators, type LocalEmulators, type Resources } from "./emulators.ts";
import { LocalFleet, workerLaunchSpec, type LocalFleetOptions } from "./fleet.ts";
import { provisionLocalEvents, startLocalTrigger, type LocalTrigger } from "./local-outputs.ts";
import { localDefaultConfig } from "./local-config.ts";
import { clearLocalState, localStackDir, writeLocalState } from "./state.ts";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface LocalStackOptions {
  /** The API's port; 0 picks a free one. @default SPOTQ_PORT, else 8787 */
  port?: number;
  /** The stack's folder (instances, telemetry, state). @default SPOTQ_LOCAL_DIR, else .spotq/local */
  dir?: string;
  /** @default SPOTQ_CONFIG if set, else the embedded local default */
  config?: FleetConfig;
  /** Fleet options to override (boot delay, time scale, Spot notice, ...). */
  fleet?: Partial<Omit<LocalFleetOptions, "config" | "launch" | "workRoot">>;
  /** CloudWatch's lag before a queue-depth datapoint reaches the alarm. @default 60 */
  metricDelaySeconds?: number;
  /** Write the state file the CLI reads. @default true */
  writeState?: boolean;
  /** Fixed emulator ports (0 = free). */
  fauxqsPort?: number;
  dynamoPort?: number;
}

/** A running local stack. */
export interface LocalStack {
  apiUrl: string;
  controlUrl: string;
  config: FleetConfig;
  emulators: LocalEmulators;
  resources: Resources & { groupName: string };
  fleet: LocalFleet;
  api: ApiServer;
  dir: string;
  /** Issue 10: the events queue (`<name>-events`), and the S3 trigger's notification path. */
  events?: { queueUrl: string };
  trigger?: LocalTrigger["trigger"];
  stop(): Promise<void>;
}

/** Starts every piece and wires them; `stop()` ends them all and leaves no process behind. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const dir = options.dir ?? localStackDir();
  const config = options.config ?? (process.env[ENV.config] || process.env[ENV.configJson] ? fleetConfigFromEnv() : localDefaultConfig(REPO_ROOT));
  rmSync(path.join(dir, "instances"), { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  const emulators = await startEmulators({
    ...(options.fauxqsPort !== undefined ? { fauxqsPort: options.fauxqsPort } : {}),
    ...(options.dynamoPort !== undefined ? { dynamoPort: options.dynamoPort } : {}),
  });
  let fleet: LocalFleet | undefined;
  let api: ApiServer | undefined;
  let trigger: LocalTrigger | undefined;
  try {
    const resources = await provision(emulators.clients, config, "spotq-local");
    const events = await provisionLocalEvents(emulators, config);
    const configJson = JSON.stringify(config);
    const baseEnv: NodeJS.ProcessEnv = { ...process.env, ...awsSettingsToEnv(emulators.settings), ...deploymentToEnv(resources), ...events.env, [ENV.configJson]: configJson };
    delete baseEnv[ENV.config];
    fleet = await LocalFleet.start({
      config,
      launch: workerLaunchSpec(REPO_ROOT),
      workRoot: path.join(dir, "instances"),
      env: { ...baseEnv, SPOTQ_LOG_LEVEL: process.env.SPOTQ_LOG_LEVEL ?? "info" },
      scaling: { sqs: emulators.clients.sqs(), queueUrl: resources.queueUrl, metricDelaySeconds: options.metricDelaySeconds ?? 60 },
      bootSeconds: 2,
      removeInstanceFolders: false,
      ...options.fleet,
    });
    const groupName = fleet.groupName;
    const apiEnv: NodeJS.ProcessEnv = {
      ...baseEnv,
      SPOTQ_ENDPOINT_AUTOSCALING: fleet.autoscalingEndpoint,
      [ENV.group]: groupName,
      SPOTQ_LOG_LEVEL: process.env.SPOTQ_API_LOG_LEVEL ?? "warn",
    };
    api = await startApiServer({ env: apiEnv, ...(options.port !== undefined ? { port: options.port } : {}) });
    trigger = startLocalTrigger(emulators, apiEnv, config);
    const controlUrl = fleet.controlEndpoint ?? "";
    const stack: LocalStack = {
      apiUrl: api.url,
      controlUrl,
      config,
      emulators,
      resources: { ...resources, groupName },
      fleet,
      api,
      dir,
      ...(events.queueUrl ? { events: { queueUrl: events.queueUrl } } : {}),
      ...(trigger ? { trigger: trigger.trigger } : {}),
      async stop() {
        if (options.writeState !== false) clearLocalState(dir);
        await trigger?.stop();
        await api?.close();
        await fleet?.stop();
        await emulators.stop();
      },
    };
    if (options.writeState !== false)
      writeLocalState(dir, {
        pid: process.pid,
        startedAt: new Date().toISOString(),
        apiUrl: api.url,
        controlUrl,
        aws: emulators.settings,
        deployment: { ...resources, groupName },
        dir,
      });
    return stack;
  } catch (err) {
    await trigger?.stop().catch(() => undefined);
    await api?.close().catch(() => undefined);
    await fleet?.stop().catch(() => undefined);
    await emulators.stop().catch(() => undefined);
    throw err;
  }
}

/** `npm start` (demo, then stay up) and `npm run demo` (demo, then exit with its verdict). */
export async function runLocalStack(o: { demo: boolean; exitAfterDemo?: boolean }): Promise<number> {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out("spotq local stack: starting emulators, fleet and API ...");
  let stack: LocalStack;
  try {
    stack = await startLocalStack();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`spotq: the local stack did not start: ${e.message}\n`);
    if (/EADDRINUSE|cannot listen/.test(e.message))
      process.stderr.write(`  fix: another process holds the port; stop it (\`npm run spotq -- local down\`) or set SPOTQ_PORT\n`);
    return 1;
  }
  const { settings } = stack.emulators;
  out(`  SQS + S3    ${settings.endpoints.sqs}   (fauxqs)`);
  out(`  DynamoDB    ${settings.endpoints.dynamodb}   (dynalite)`);
  out(`  fleet       group ${stack.resources.groupName}: min ${stack.config.fleet.minSize}, max ${stack.config.fleet.maxSize}; Auto Scaling ${stack.fleet.autoscalingEndpoint}; control ${stack.controlUrl}`);
  out(`  jobs API    ${stack.apiUrl}`);
  out(`  folder      ${stack.dir}  (instances/<id>/worker.log, telemetry/)`);

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    out("stopping: fleet, API, emulators ...");
    await stack.stop();
    out("stopped.");
    process.exit(code);
  };
  process.once("SIGINT", () => void stop(0));
  process.once("SIGTERM", () => void stop(0));

  let verdict = 0;
  if (o.demo) {
    const result = await runDemo(stack, out);
    verdict = result.ok ? 0 : 1;
    if (!result.ok) out(`demo FAILED: ${result.reason}`);
  }
  if (o.exitAfterDemo) {
    await stop(verdict);
    return verdict;
  }
  printHowTo(stack, out);
  return await new Promise<number>(() => undefined); // stays up until Ctrl-C
}

function printHowTo(stack: LocalStack, out: (s: string) => void): void {
  const b = stack.resources.bucket;
  out("");
  out("ready. Submit more jobs while this runs (Ctrl-C stops everything):");
  out(`  npm run spotq -- upload ./my-scan s3://${b}/scans/my-scan`);
  out(`  npm run spotq -- submit test/fixtures/medit-request.json --source s3://${b}/scans/my-scan --target s3://${b}/results/my-scan --wait`);
  out(`  curl -s -X POST ${stack.apiUrl}/jobs -H 'content-type: application/json' \\`);
  out(`    -d '{"Source Folder Path":"s3://${b}/demo/src","Target Folder Path":"s3://${b}/demo/target-2","Use GPU":true}'`);
  out(`  curl -s ${stack.apiUrl}/jobs/<jobId>`);
  out(`  npm run spotq -- local instances | interrupt <instanceId> | kill <instanceId>`);
  if (stack.trigger) out(`  npm run spotq -- upload ./my-scan s3://${b}/${stack.config.triggers.s3.prefixes[0]}my-scan --submit request.json   (a spotq.json there submits the folder)`);
  if (stack.events) out(`  npm run spotq -- events --follow   (job state changes, from ${stack.events.queueUrl})`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const demoOnly = process.argv.includes("--demo-only");
  process.exitCode = await runLocalStack({ demo: !process.argv.includes("--no-demo"), exitAfterDemo: demoOnly });
}
