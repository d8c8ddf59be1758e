/**
 * `npx tsx bench/scale-out-burst.ts`: alarm-only scale-out of a burst of jobs from 0 instances on the
 * local fleet (issue 9: "10 instances within 2 alarm periods plus warmup"), per scaling policy, with
 * the simulator's figure for the same config and burst measured in the same run as the baseline.
 *
 * The fleet runs the scaling model (core/scaling/) at AWS's cadence on its scaled clock: 60 s
 * periods, one evaluation period, datapoints a period late, a fixed boot, fast path off. Each
 * instance runs a stand-in worker (bench/scale-out-burst-worker.ts) that takes one job and keeps it,
 * like the simulator's burst of hour-long jobs (bench/scale-out-burst-worker.mjs). Times are AWS
 * (scaled) time. "In service" is what the simulator counts as taking work; "all running" adds the
 * stand-in's start-up and first poll on the wall clock.
 *
 *   npx tsx bench/scale-out-burst.ts                          # deficit and visible, 20x faster (~5 min)
 *   npx tsx bench/scale-out-burst.ts --policy deficit --time-scale 10
 *
 * Options: --policy P (deficit, visible, target-tracking; repeatable; default deficit and visible),
 * --jobs N (default 10), --boot S (AWS seconds, default 300), --time-scale K (periods K times
 * faster, 1..60, default 20). Prints a markdown table on stdout; progress goes to stderr.
 */
import { PurgeQueueCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { awsSettingsToEnv } from "../aws/clients.ts";
import { queueDepth } from "../aws/job-queue.ts";
import { ValidationError, type Problem } from "../core/errors.ts";
import { fleetConfig, type FleetConfig } from "../core/fleet-config.ts";
import { deploymentToEnv } from "../core/runtime.ts";
import { POLICY_KINDS, type PolicyKind } from "../core/scaling/policy.ts";
import { simulate } from "../core/scaling/sim/engine.ts";
import { spotModel } from "../core/scaling/sim/spot-model.ts";
import { provision, startEmulators, type LocalEmulators, type Resources } from "../scripts/local/emulators.ts";
import { LocalFleet } from "../scripts/local/fleet.ts";

const REPO = resolve(import.meta.dirname, "..");
const PERIOD_SECONDS = 60;
const progress = (line: string) => process.stderr.write(`${line}\n`);

interface BurstOptions {
  policies: PolicyKind[];
  jobs: number;
  bootSeconds: number;
  timeScale: number;
}

function parseBurstOptions(argv: string[]): BurstOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      policy: { type: "string", multiple: true },
      jobs: { type: "string", default: "10" },
      boot: { type: "string", default: "300" },
      "time-scale": { type: "string", default: "20" },
    },
  });
  const problems: Problem[] = [];
  const policies = (values.policy ?? ["deficit", "visible"]) as PolicyKind[];
  for (const p of policies) if (!POLICY_KINDS.includes(p)) problems.push({ field: "--policy", reason: `must be one of ${POLICY_KINDS.join(", ")}, got ${JSON.stringify(p)}` });
  const number = (field: string, raw: string, ok: (n: number) => boolean, reason: string): number => {
    const n = Number(raw);
    if (raw.trim() === "" || !ok(n)) problems.push({ field, reason: `${reason}, got ${JSON.stringify(raw)}` });
    return n;
  };
  const options: BurstOptions = {
    policies,
    jobs: number("--jobs", values.jobs, (n) => Number.isInteger(n) && n >= 1 && n <= 20, "must be a whole number from 1 to 20"),
    bootSeconds: number("--boot", values.boot, (n) => Number.isFinite(n) && n >= 0 && n <= 3600, "must be seconds from 0 to 3600"),
    timeScale: number("--time-scale", values["time-scale"], (n) => Number.isFinite(n) && n >= 1 && n <= 60, "must be a number from 1 (AWS's cadence) to 60"),
  };
  if (problems.length) throw new ValidationError("invalid scale-out-burst options", problems);
  return options;
}

/** What one policy's burst did on the local fleet, in AWS seconds from the burst. */
interface BurstRun {
  policy: PolicyKind;
  /** Alarm evaluations that raised desired capacity. */
  raises: number;
  desiredAll: number;
  inServiceAll: number;
  runningAll: number;
  /** The burst's time on the fleet's scaled clock, seconds from the fleet's start (the simulator gets the same). */
  burstOffset: number;
  launches: number;
  /** Mean launch to InService of its instances (AWS seconds): the boot delay plus starting the process, on the wall clock. */
  measuredBoot: number;
}

async function runBurst(o: BurstOptions, policy: PolicyKind, emulators: LocalEmulators, resources: Resources, config: FleetConfig): Promise<BurstRun> {
  const sqs = emulators.clients.sqs();
  const workRoot = mkdtempSync(join(tmpdir(), "spotq-bench-burst-"));
  const fleet = await LocalFleet.start({
    config,
    launch: { command: process.execPath, args: [join(REPO, "bench", "scale-out-burst-worker.mjs")], cwd: REPO },
    workRoot,
    env: { ...process.env, ...awsSettingsToEnv(emulators.settings), ...deploymentToEnv(resources) },
    timeScale: 1 / o.timeScale,
    bootSeconds: o.bootSeconds,
    scaling: { sqs, queueUrl: resources.queueUrl, metricDelaySeconds: PERIOD_SECONDS },
    stopGraceSeconds: 2,
    removeInstanceFolders: true,
    controlPort: false,
  });
  const clock = fleet.clock;
  const since = (at: number, from: number) => (at - from) / 1000;
  let launches = 0;
  let raises = 0;
  const inService: number[] = [];
  const launchedAt = new Map<string, number>();
  const boots: number[] = [];
  let desiredAllAt: number | undefined;
  fleet.on("instance_launched", (e) => {
    launches++;
    launchedAt.set(e.instanceId, clock.now());
  });
  fleet.on("instance_in_service", (e) => {
    inService.push(clock.now());
    boots.push(since(clock.now(), launchedAt.get(e.instanceId) ?? clock.now()));
  });
  fleet.on("desired_changed", (d) => {
    if (d.reason === "alarm") raises++;
    if (d.after >= o.jobs && desiredAllAt === undefined) desiredAllAt = clock.now();
  });
  fleet.on("alarm_fired", (f) => progress(`    period ${f.period}: ${f.policy} alarm at ${f.value}${f.step ? `, step ${f.step} +${f.addInstances}` : ""} on ${f.currentCapacity} warm: desired ${f.before} → ${f.after}`));
  try {
    const entries = Array.from({ length: o.jobs }, (_, i) => ({ Id: `j${i}`, MessageBody: JSON.stringify({ jobId: `burst-${i}` }) }));
    for (let i = 0; i < entries.length; i += 10) await sqs.send(new SendMessageBatchCommand({ QueueUrl: resources.queueUrl, Entries: entries.slice(i, i + 10) }));
    const burstAt = clock.now();
    // Polls the queue (a bench, not a test): all jobs taken = every message in flight.
    const deadlineMs = Date.now() + ((4 * 3600) / o.timeScale) * 1000;
    let runningAt: number | undefined;
    while (runningAt === undefined) {
      if (Date.now() > deadlineMs) throw new Error(`${policy}: the burst was not all running after 4 hours of AWS time`);
      const d = await queueDepth(sqs, resources.queueUrl);
      if (d.inFlight >= o.jobs) runningAt = clock.now();
      else await sleep(100);
    }
    return {
      policy,
      raises,
      desiredAll: since(desiredAllAt ?? runningAt, burstAt),
      inServiceAll: since(inService[o.jobs - 1] ?? runningAt, burstAt),
      runningAll: since(runningAt, burstAt),
      burstOffset: since(burstAt, clock.origin),
      launches,
      measuredBoot: boots.reduce((a, b) => a + b, 0) / Math.max(1, boots.length),
    };
  } finally {
    await fleet.stop();
    rmSync(workRoot, { recursive: true, force: true });
    await sqs.send(new PurgeQueueCommand({ QueueUrl: resources.queueUrl }));
  }
}

/** The simulator on the same config and burst (the same offset into the alarm's period). */
function simulateBurst(o: BurstOptions, config: FleetConfig, run: BurstRun, bootSeconds: number): number {
  const spot = spotModel(JSON.parse(readFileSync(join(REPO, "scripts", "sim", "spot-model.json"), "utf8")));
  const r = simulate({
    config,
    variant: { name: run.policy, policy: run.policy, fastPath: false },
    workload: {
      name: "burst",
      description: `${o.jobs} hour-long jobs at once`,
      jobs: Array.from({ length: o.jobs }, () => ({ submitS: run.burstOffset, processS: 3600 })),
      spanSeconds: Math.ceil(run.burstOffset) + 1,
    },
    spot,
    seed: 1,
    startEpochMs: Date.parse("2025-01-06T00:00:00Z"),
    fixedBootSeconds: bootSeconds,
    queueActiveSecondsAgo: 60,
    interruptionScale: 0,
  });
  return r.waitSeconds.max;
}

const mmss = (seconds: number) => {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
};

async function main(): Promise<void> {
  const o = parseBurstOptions(process.argv.slice(2));
  progress("starting fauxqs and dynalite ...");
  const emulators = await startEmulators();
  try {
    const rows: string[] = [];
    for (const policy of o.policies) {
      const config = fleetConfig(
        // A deployment (and so a queue) per policy: nothing left in flight by one run reaches the next.
        { name: `burst-${policy}`, fleet: { minSize: 0, maxSize: o.jobs, bootSeconds: o.bootSeconds, platform: "linux" }, scaling: { policy, periodSeconds: PERIOD_SECONDS, evaluationPeriods: 1, fastPath: false } },
        "bench config",
      );
      const resources = await provision(emulators.clients, config, "spotq-bench-burst");
      progress(`${policy}: ${o.jobs} jobs from 0, alarms only, ${o.timeScale}x faster than AWS ...`);
      const run = await runBurst(o, policy, emulators, resources, config);
      const sim = simulateBurst(o, config, run, o.bootSeconds);
      const simMeasured = simulateBurst(o, config, run, run.measuredBoot);
      const bound = 2 * PERIOD_SECONDS + o.bootSeconds;
      progress(
        `  local: desired ${o.jobs} after ${mmss(run.desiredAll)}, in service ${mmss(run.inServiceAll)}, all running ${mmss(run.runningAll)}; ` +
          `simulator ${mmss(sim)} (boot ${o.bootSeconds} s), ${mmss(simMeasured)} (the local boot, ${run.measuredBoot.toFixed(1)} s)`,
      );
      rows.push(
        `| ${policy} | ${run.raises} | ${mmss(run.desiredAll)} | ${mmss(run.inServiceAll)} | ${mmss(run.runningAll)} | ${run.measuredBoot.toFixed(1)} s | ${mmss(sim)} | ${mmss(simMeasured)} | ${mmss(bound)} | ${run.launches} |`,
      );
    }
    process.stdout.write(
      [
        `Alarm-only scale-out of ${o.jobs} jobs from 0 on the local fleet (AWS time: ${PERIOD_SECONDS} s periods, datapoints a period late, boot ${o.bootSeconds} s; run ${o.timeScale}x faster)`,
        "",
        `| policy | alarm raises | desired ${o.jobs} | ${o.jobs} in service | all running | local boot | simulator: all running | simulator, local boot | bound: 2 periods + boot | launches |`,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ...rows,
        "",
      ].join("\n"),
    );
  } finally {
    await emulators.stop();
  }
}

await main();
