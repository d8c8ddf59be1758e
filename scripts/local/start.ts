/**
 * The whole system on one machine: fauxqs (SQS + S3), dynalite (DynamoDB), the local fleet (the
 * Auto Scaling group, its instances' IMDS, worker processes) and the jobs API, wired exactly as in
 * AWS but for the endpoints. `npm start` runs it with a demo job and stays up; `npm run demo` runs
 * the demo and exits 0 only if the job SUCCEEDED, its outputs verified, and the fleet went back to 0.
 *
 * The stack keeps its history in its folder (`.spotq/local`, or SPOTQ_LOCAL_DIR): queues, objects
 * and job records on disk, and every instance's folder with its logs, so a restart finds the jobs,
 * their outputs and their logs again. `--fresh` starts empty. One stack per folder: a second one
 * refuses to start and names the first, and never touches its files.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { awsSettingsToEnv } from "../../aws/clients.ts";
import { DynamoJobStore } from "../../aws/job-store.ts";
import { startApiServer, type ApiServer } from "../../api/server.ts";
import { SpotqError } from "../../core/errors.ts";
import type { FleetConfig } from "../../core/fleet-config.ts";
import { deploymentToEnv, ENV } from "../../core/runtime.ts";
import { FolderTransfer } from "../../worker/transfer.ts";
import { cliName } from "../cli/cli-name.ts";
import { localStackConfig } from "./config-overlay.ts";
import { demoFailureLines, runDemo } from "./demo.ts";
import { emulatorDataDirs, provision, startEmulators, type LocalEmulators, type Resources } from "./emulators.ts";
import { LocalFleet, workerLaunchSpec, type LocalFleetOptions } from "./fleet.ts";
import { clockPrefix, followFleet, jobChangeLine, StorePollingJobChanges } from "./live-feed.ts";
import { localTenant, SAMPLE_SCAN, sampleLocations, seedSampleScan, watchedPrefixFor } from "./sample-scan.ts";
import { clearLocalState, localStackDir, lockStackFolder, StackRunningError, writeLocalState } from "./state.ts";
import { provisionLocalEvents, startLocalTrigger, type LocalTrigger } from "./local-outputs.ts";

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
  /** Write the state file the CLI reads (in the folder and under the spotq home). @default true */
  writeState?: boolean;
  /** Keep queues, objects and job records on disk in the folder, so a restart finds them. @default true */
  persist?: boolean;
  /** Wipe the folder's history (emulator data, instance folders and logs) before starting. @default false */
  fresh?: boolean;
  /** Fixed emulator ports (0 = free). */
  fauxqsPort?: number;
  dynamoPort?: number;
}

/** A running local stack. */
export interface LocalStack {
  apiUrl: string;
  controlUrl: string;
  config: FleetConfig;
  /** Where the config came from, for the banner. */
  configSource: string;
  /** The sample scan: its folder on disk and its S3 URI, and the target the hints use. */
  sample: { folder: string; source: string; target: string };
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
  // Taken before anything in the folder is read or changed: a running stack's files stay its own.
  const unlock = lockStackFolder(dir);
  let emulators: LocalEmulators | undefined;
  let fleet: LocalFleet | undefined;
  let api: ApiServer | undefined;
  let trigger: LocalTrigger | undefined;
  try {
    const { config, source: configSource } = options.config
      ? { config: options.config, source: "the given config" }
      : localStackConfig(REPO_ROOT);
    if (options.fresh) wipeHistory(dir);
    const persist = options.persist ?? true;
    emulators = await startEmulators({
      ...(persist ? { dataDir: dir } : {}),
      ...(options.fauxqsPort !== undefined ? { fauxqsPort: options.fauxqsPort } : {}),
      ...(options.dynamoPort !== undefined ? { dynamoPort: options.dynamoPort } : {}),
    });
    const resources = await provision(emulators.clients, config, "spotq-local");
    const where = sampleLocations(config.storage, localTenant(config));
    const seeded = await seedSampleScan({ dir, bucket: resources.bucket, prefix: where.source, transfer: new FolderTransfer(emulators.clients.s3()) });
    const sample = { folder: seeded.folder, source: `s3://${resources.bucket}/${where.source}`, target: `s3://${resources.bucket}/${where.target}` };
    const events = await provisionLocalEvents(emulators, config);
    const configJson = JSON.stringify(config);
    // The On-Demand fallback's queue is provisioned, but no local On-Demand group serves it yet: the
    // workers are not told of it, so no hand-back moves a job where nothing would take it.
    const { onDemandQueueUrl: _unserved, ...served } = resources;
    const baseEnv: NodeJS.ProcessEnv = { ...process.env, ...awsSettingsToEnv(emulators.settings), ...deploymentToEnv(served), ...events.env, [ENV.configJson]: configJson };
    delete baseEnv[ENV.config];
    fleet = await LocalFleet.start({
      config,
      launch: workerLaunchSpec(REPO_ROOT),
      workRoot: path.join(dir, "instances"),
      env: { ...baseEnv, SPOTQ_LOG_LEVEL: process.env.SPOTQ_LOG_LEVEL ?? "info" },
      // The alarm counts the high-priority queue with the jobs queue, as infra's metric math does.
      scaling: { sqs: emulators.clients.sqs(), queueUrl: resources.queueUrl, ...(resources.highQueueUrl ? { moreQueueUrls: [resources.highQueueUrl] } : {}), metricDelaySeconds: options.metricDelaySeconds ?? 60 },
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
      // The console's fleet view reads alarm states from the local fleet's control surface.
      SPOTQ_FLEET_CONTROL_URL: fleet.controlEndpoint ?? "",
    };
    api = await startApiServer({ env: apiEnv, ...(options.port !== undefined ? { port: options.port } : {}) });
    trigger = startLocalTrigger(emulators, apiEnv, config);
    const controlUrl = fleet.controlEndpoint ?? "";
    const running = { emulators, fleet, api, trigger };
    let stopped: Promise<void> | undefined;
    const stack: LocalStack = {
      apiUrl: api.url,
      controlUrl,
      config,
      configSource,
      sample,
      emulators,
      resources: { ...resources, groupName },
      fleet,
      api,
      dir,
      ...(events.queueUrl ? { events: { queueUrl: events.queueUrl } } : {}),
      ...(trigger ? { trigger: trigger.trigger } : {}),
      stop() {
        stopped ??= (async () => {
          if (options.writeState !== false) clearLocalState(dir);
          try {
            await running.trigger?.stop();
            await running.api.close();
            await running.fleet.stop();
            await running.emulators.stop();
          } finally {
            unlock();
          }
        })();
        return stopped;
      },
    };
    if (options.writeState !== false)
      writeLocalState(dir, {
        pid: process.pid,
        startedAt: new Date().toISOString(),
        apiUrl: api.url,
        controlUrl,
        autoscalingUrl: fleet.autoscalingEndpoint,
        aws: emulators.settings,
        deployment: { ...resources, groupName },
        dir,
      });
    return stack;
  } catch (err) {
    await trigger?.stop().catch(() => undefined);
    await api?.close().catch(() => undefined);
    await fleet?.stop().catch(() => undefined);
    await emulators?.stop().catch(() => undefined);
    unlock();
    throw err;
  }
}

/** What `--fresh` removes from a stack folder: everything it keeps between runs (the lock stays). */
export function wipeHistory(dir: string): void {
  const data = emulatorDataDirs(dir);
  for (const folder of [data.sqs, data.s3, data.dynamodb, path.join(dir, "instances"), path.join(dir, SAMPLE_SCAN.folder)])
    rmSync(folder, { recursive: true, force: true, maxRetries: 3 });
}

/** How many jobs of earlier runs the stack found, by state, for the banner: `3 jobs (2 SUCCEEDED, 1 FAILED)`. */
async function historySummary(stack: LocalStack): Promise<string> {
  const store = new DynamoJobStore(stack.emulators.clients.dynamo(), { tableName: stack.resources.tableName });
  const counts = new Map<string, number>();
  let next: string | undefined;
  let total = 0;
  do {
    const page = await store.list({ limit: 100, ...(next ? { next } : {}) });
    for (const j of page.items) counts.set(j.state, (counts.get(j.state) ?? 0) + 1);
    total += page.items.length;
    next = page.next;
  } while (next && total < 10_000);
  if (total === 0) return "no jobs yet";
  return `${total} job${total === 1 ? "" : "s"} (${[...counts].map(([state, n]) => `${n} ${state}`).join(", ")})`;
}

/** `npm start` (demo, then stay up) and `npm run demo` (demo, then exit with its verdict). */
export async function runLocalStack(o: { demo: boolean; exitAfterDemo?: boolean; fresh?: boolean }): Promise<number> {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const err = (s: string) => process.stderr.write(`${s}\n`);
  out("spotq local stack: starting emulators, fleet and API ...");
  let stack: LocalStack;
  try {
    stack = await startLocalStack({ ...(o.fresh ? { fresh: true } : {}) });
  } catch (e) {
    for (const line of startFailure(e as Error)) err(line);
    return 1;
  }
  const { settings } = stack.emulators;
  const rel = (p: string) => displayPath(p);
  out(`  SQS + S3    ${settings.endpoints.sqs}   (fauxqs)`);
  out(`  DynamoDB    ${settings.endpoints.dynamodb}   (dynalite)`);
  out(`  fleet       group ${stack.resources.groupName}: min ${stack.config.fleet.minSize}, max ${stack.config.fleet.maxSize}; Auto Scaling ${stack.fleet.autoscalingEndpoint}; control ${stack.controlUrl}`);
  out(`  jobs API    ${stack.apiUrl}`);
  out(`  console     ${stack.apiUrl}/console`);
  out(`  config      ${stack.configSource}`);
  out(`  folder      ${rel(stack.dir)}  (instances/<id>/worker.log and telemetry/ logs; queues, objects and jobs on disk)`);
  out(`  history     ${await historySummary(stack).catch((e: Error) => `unreadable: ${e.message}`)}${o.fresh ? " (started fresh)" : "; `npm start -- --fresh` starts empty"}`);

  let stopping = false;
  let stopFeed: (() => Promise<void>) | undefined;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    out("stopping: fleet, API, emulators ... (the history stays in the folder)");
    await stopFeed?.();
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
    if (!result.ok) for (const line of demoFailureLines(result)) out(line);
  }
  if (o.exitAfterDemo) {
    await stop(verdict);
    return verdict;
  }
  printHowTo(stack, out);
  stopFeed = startLiveFeed(stack, out);
  return await new Promise<number>(() => undefined); // stays up until Ctrl-C
}

/** Why the stack did not start, and the fix: lines for stderr. */
export function startFailure(e: Error): string[] {
  if (e instanceof StackRunningError) {
    return [
      `spotq: ${e.message}`,
      "  fix: use that one (`npm run spotq -- list`), stop it (Ctrl-C in its terminal, or `npm run spotq -- local down`), " +
        "or start another in its own folder: SPOTQ_LOCAL_DIR=/tmp/spotq-2 SPOTQ_PORT=8788 npm start",
    ];
  }
  const lines = [`spotq: the local stack did not start: ${e.message}`];
  if (/EADDRINUSE|cannot listen/.test(e.message)) lines.push("  fix: another process holds the port; stop it (`npm run spotq -- local down`) or set SPOTQ_PORT");
  else if (e instanceof SpotqError && e.code === "VALIDATION") lines.push("  fix: correct the keys named above in your SPOTQ_CONFIG file, or unset SPOTQ_CONFIG to run on the local default");
  else if (/LOCK|IO error/.test(e.message)) lines.push("  fix: another process holds the stack's data; stop it, or start with `npm start -- --fresh`");
  return lines;
}

/** A path as the user would type it from here: relative when it is under the working directory. */
function displayPath(p: string): string {
  const r = path.relative(process.cwd(), p);
  return r && !r.startsWith("..") && !path.isAbsolute(r) ? r : p;
}

function printHowTo(stack: LocalStack, out: (s: string) => void): void {
  const cli = cliName({ ...process.env, npm_lifecycle_event: undefined });
  const { source, target, folder } = stack.sample;
  const body = JSON.stringify({ "Source Folder Path": source, "Target Folder Path": target, "Use GPU": true });
  // With tenants (api.tenants) every request needs a tenant's key: the examples use the local tenant's.
  const tenant = localTenant(stack.config);
  const keyHeader = tenant ? ` -H 'x-api-key: ${tenant.apiKey}'` : "";
  out("");
  out("ready. Submit more jobs while this runs (Ctrl-C stops everything; the history stays):");
  if (tenant) out(`  (tenants: ${stack.config.api.tenants.map((t) => t.name).join(", ")}; the examples act as ${tenant.name}: export SPOTQ_API_KEY=${tenant.apiKey})`);
  out(`  curl -s -X POST ${stack.apiUrl}/jobs -H 'content-type: application/json' -H 'Idempotency-Key: ${SAMPLE_SCAN.name}'${keyHeader} \\`);
  out(`    -d '${body}'`);
  out(`  curl -s${keyHeader} ${stack.apiUrl}/jobs/<jobId>`);
  out(`  ${cli} submit test/fixtures/medit-request.json --source ${source} --target ${target} --wait`);
  // A tenant's uploads go under its own prefix: a job on a folder outside it is refused (a 400 naming the folder).
  const uploadPrefix = tenant ? tenant.prefixes[0] : (stack.config.storage.sourcePrefixes[0] ?? "scans/");
  out(`  ${cli} upload ${displayPath(folder)} s3://${stack.resources.bucket}/${uploadPrefix}my-scan     (or your own scan folder)`);
  out(`  ${cli} list   |   ${cli} logs <jobId> --follow   |   ${cli} local instances | interrupt <instanceId> | kill <instanceId>`);
  const markerPrefix = stack.trigger ? watchedPrefixFor(stack.config.triggers.s3.prefixes, tenant) : undefined;
  if (markerPrefix)
    out(`  ${cli} upload ${displayPath(folder)} s3://${stack.resources.bucket}/${markerPrefix}my-scan --submit request.json   (a spotq.json there submits the folder)`);
  if (stack.events) out(`  ${cli} events --follow   (job state changes, from ${stack.events.queueUrl})`);
  if (cli !== "spotq") out("  (`npm link` once puts `spotq` on your PATH)");
  out("");
  out("live: one line per job state change and per fleet change");
}

/** Prints job and fleet changes as they happen; returns the function that stops it. */
function startLiveFeed(stack: LocalStack, out: (s: string) => void): () => Promise<void> {
  const say = (line: string) => out(`${clockPrefix()} ${line}`);
  const stopFleet = followFleet(stack.fleet, say);
  const store = new DynamoJobStore(stack.emulators.clients.dynamo(), { tableName: stack.resources.tableName });
  let lastError = "";
  const source = new StorePollingJobChanges(store, {
    onError: (e) => {
      if (e.message !== lastError) say(`jobs: reading the jobs table failed: ${e.message}`);
      lastError = e.message;
    },
  });
  const stopJobs = source.start((change) => say(jobChangeLine(change)));
  return async () => {
    stopFleet();
    await stopJobs();
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const known = new Set(["--demo-only", "--no-demo", "--fresh"]);
  const unknown = args.filter((a) => !known.has(a));
  if (unknown.length > 0) {
    process.stderr.write(`spotq: unknown option ${unknown.join(" ")}\n  fix: npm start [-- --fresh] [--no-demo]   (--fresh wipes the history; --no-demo skips the demo job)\n`);
    process.exitCode = 2;
  } else {
    process.exitCode = await runLocalStack({ demo: !args.includes("--no-demo"), exitAfterDemo: args.includes("--demo-only"), fresh: args.includes("--fresh") });
  }
}
