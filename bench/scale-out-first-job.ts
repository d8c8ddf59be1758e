/**
 * The second part of `bench:scale-out`: time to **first job start** from zero, for the fast path
 * and for alarms alone, so the saving is seen against the whole wait and not only against the API
 * call. Each sample starts a fresh local fleet at desired 0 whose instances run the **real worker**
 * (worker/main.ts with the fake-medit processor), submits one job and waits until its record turns
 * RUNNING (the worker has received and claimed it: what `spotq status` shows as started).
 *
 * A sample's time, in AWS time, is the sum of three parts:
 * - **desired rises**: submit → desired capacity leaves 0 (fast path: real; alarms alone: the
 *   fleet's alarm model, time-scaled and scaled back as in the first part of the bench);
 * - **boot**: the modelled instance boot, `fleet.bootSeconds` (300 s by default), waited here
 *   time-scaled and counted at its modelled length;
 * - **after boot**: everything from the end of the modelled boot to RUNNING on the wall clock, not
 *   scaled: the worker process starting, its config and preflight, the first poll, the receive, the
 *   claim. This part is real work and is measured as it is.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PurgeQueueCommand } from "@aws-sdk/client-sqs";
import { apiDepsFromEnv } from "../api/compose.ts";
import { silentLog } from "../api/log.ts";
import { startApiServer } from "../api/server.ts";
import { AwsClients, awsSettingsFromEnv, awsSettingsToEnv, type AwsSettings } from "../aws/clients.ts";
import { DynamoJobStore } from "../aws/job-store.ts";
import { fleetConfig, type FleetConfigInput } from "../core/fleet-config.ts";
import { ENV, deploymentToEnv } from "../core/runtime.ts";
import type { Resources } from "../scripts/local/emulators.ts";
import { LocalFleet, workerLaunchSpec } from "../scripts/local/fleet.ts";
import { localDefaultConfigInput } from "../scripts/local/local-config.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

export type FirstJobMode = "fast path" | "alarms alone";

/** One sample; every duration in milliseconds of AWS time. */
export interface FirstJobSample {
  mode: FirstJobMode;
  /** Submit → desired capacity leaves 0. */
  riseMs: number;
  /** The modelled boot, at its modelled length. */
  bootMs: number;
  /** End of the modelled boot → the job's record RUNNING, measured on the wall clock. */
  afterBootMs: number;
  totalMs: number;
}

export interface FirstJobOptions {
  /** Samples per mode (the modes alternate). */
  samples: number;
  /** The modelled parts (alarm periods, metric delay, boot) run this many times faster. */
  timeScale: number;
  metricDelaySeconds: number;
  /** Alarm period and evaluation periods, as in the first part of the bench. */
  periodSeconds: number;
  evaluationPeriods: number;
  settings: AwsSettings;
  resources: Resources;
  /** A valid request body (its source folder exists). */
  body: string;
  progress: (line: string) => void;
}

/** Runs the samples, fast path and alarms alone alternating, each on a fresh fleet. */
export async function measureFirstJobStart(o: FirstJobOptions): Promise<FirstJobSample[]> {
  const local = localDefaultConfigInput(REPO_ROOT);
  // The local stack's fake-medit processor and queue settings; the model's default boot, not its 5 s.
  const { bootSeconds: _localBoot, ...localFleet } = local.fleet ?? {};
  const configInput: FleetConfigInput = {
    ...local,
    processor: { ...local.processor!, env: { FAKE_MEDIT_SLEEP_MS: "0" } },
    fleet: { ...localFleet, minSize: 0, maxSize: 10, idleTimeoutSeconds: 600 },
    scaling: { periodSeconds: o.periodSeconds, evaluationPeriods: o.evaluationPeriods, fastPath: true },
  };
  const config = fleetConfig(configInput, "first-job bench config");
  const bootMs = config.fleet.bootSeconds * 1000;
  const periodMs = (o.periodSeconds * 1000) / o.timeScale;
  const clients = new AwsClients(o.settings);
  const store = new DynamoJobStore(clients.dynamo(), { tableName: o.resources.tableName });
  const out: FirstJobSample[] = [];
  try {
    // Alarm samples are submitted at stratified offsets in the metric period, as in the first part.
    const offsets = Array.from({ length: o.samples }, (_, i) => ((i + Math.random()) / o.samples) * periodMs);
    for (let i = 0; i < 2 * o.samples; i++) {
      const mode: FirstJobMode = i % 2 === 0 ? "fast path" : "alarms alone";
      const s = await sample(mode, mode === "alarms alone" ? offsets[(i - 1) / 2]! : 0);
      out.push(s);
      o.progress(
        `  first job, ${mode} ${Math.floor(i / 2) + 1}/${o.samples}: desired rose after ${seconds(s.riseMs)}, boot ${seconds(s.bootMs)} (modelled), RUNNING ${seconds(s.afterBootMs)} after the boot: ${seconds(s.totalMs)} in all`,
      );
    }
  } finally {
    clients.destroy();
  }
  return out;

  async function sample(mode: FirstJobMode, offsetMs: number): Promise<FirstJobSample> {
    await clients.sqs().send(new PurgeQueueCommand({ QueueUrl: o.resources.queueUrl }));
    const workRoot = mkdtempSync(join(tmpdir(), "spotq-bench-first-job-"));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...awsSettingsToEnv(o.settings),
      ...deploymentToEnv(o.resources),
      [ENV.configJson]: JSON.stringify(configInput),
      SPOTQ_LOG_LEVEL: "warn",
    };
    delete env[ENV.config];
    const fleet = await LocalFleet.start({
      config,
      launch: workerLaunchSpec(REPO_ROOT),
      workRoot,
      env,
      minSize: 0,
      desiredCapacity: 0,
      timeScale: 1 / o.timeScale,
      bootSeconds: config.fleet.bootSeconds,
      scaling: { sqs: clients.sqs(), queueUrl: o.resources.queueUrl, metricDelaySeconds: o.metricDelaySeconds },
      removeInstanceFolders: true,
      controlPort: false,
      stopGraceSeconds: 2,
    });
    const startedAt = Date.now();
    const apiEnv = {
      ...env,
      ...awsSettingsToEnv({ ...o.settings, endpoints: { ...o.settings.endpoints, autoscaling: fleet.autoscalingEndpoint } }),
      [ENV.group]: fleet.groupName,
      [ENV.configJson]: JSON.stringify(mode === "fast path" ? configInput : { ...configInput, scaling: { ...configInput.scaling, fastPath: false } }),
    };
    const apiClients = new AwsClients(awsSettingsFromEnv(apiEnv));
    const api = await startApiServer({ deps: apiDepsFromEnv(apiEnv, apiClients, silentLog), port: 0 });
    try {
      if (offsetMs > 0) await sleep(Math.max(0, startedAt + offsetMs - Date.now()));
      const rose = new Promise<number>((resolve) => {
        const on = (e: { before: number; after: number }) => {
          if (e.before === 0 && e.after > 0) {
            fleet.off("desired_changed", on);
            resolve(performance.now());
          }
        };
        fleet.on("desired_changed", on);
      });
      const t0 = performance.now();
      const res = await fetch(`${api.url}/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: o.body });
      const answer = (await res.json()) as { jobId?: string };
      if (res.status !== 202 || !answer.jobId) throw new Error(`POST /jobs answered ${res.status}: ${JSON.stringify(answer)}`);
      const limitMs = (o.metricDelaySeconds * 1000) / o.timeScale + 3 * periodMs + 10_000;
      const t1 = await within(rose, limitMs, `desired capacity did not rise (${mode})`);
      // RUNNING: polled; the worker's claim is what a user sees as the job starting.
      const deadline = Date.now() + bootMs / o.timeScale + 120_000;
      let t3: number | undefined;
      while (t3 === undefined) {
        const r = await store.get(answer.jobId);
        if (r && r.state !== "QUEUED") t3 = performance.now();
        else if (Date.now() > deadline) throw new Error(`job ${answer.jobId} was not RUNNING within 2 minutes after the boot (${mode}); see the instance's worker.log`);
        else await sleep(20);
      }
      const riseMs = (t1 - t0) * (mode === "fast path" ? 1 : o.timeScale);
      const afterBootMs = t3 - t1 - bootMs / o.timeScale;
      return { mode, riseMs, bootMs, afterBootMs, totalMs: riseMs + bootMs + afterBootMs };
    } finally {
      await api.close();
      apiClients.destroy();
      await fleet.stop();
      rmSync(workRoot, { recursive: true, force: true });
    }
  }
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
