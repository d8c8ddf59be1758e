/**
 * `npm run bench:scale-out`: the time from `POST /jobs` to the Auto Scaling group's desired capacity
 * rising, from desired 0, measured in the same run on the same local fleet for
 * - the fast path: the API raises desired capacity itself after enqueueing (DESIGN §5);
 * - alarms alone: an API with `scaling.fastPath: false`; the fleet's queue-depth alarm and
 *   step-scaling policy raise it, at AWS's cadence (60 s metric periods, 1 evaluation period) with a
 *   metric delay for SQS → CloudWatch (60 s by default: a minute's datapoint reaches the alarm at the
 *   next minute boundary).
 *
 *   npm run bench:scale-out                                   # AWS cadence, 3 alarm samples (~6 min)
 *   npm run bench:scale-out -- --time-scale 60 --samples 10   # periods 60× faster, to show the ratio
 *
 * Options: --samples N (alarm path, default 3), --fast-samples N (default 10), --time-scale K
 * (1..120, default 1: real cadence), --metric-delay S (seconds of AWS time, default 60),
 * --first-job-samples N (per mode, default 3; 0 skips the second part), --first-job-time-scale K
 * (default 60: the modelled parts of the second part, alarm cadence and boot, run K× faster and
 * are scaled back; the worker's own part is real time).
 *
 * The second part (bench/scale-out-first-job.ts) measures time to first job start from zero: the
 * rise of desired capacity, the modelled boot and everything after it (the real worker starting,
 * receiving and claiming the job), for both modes, so the saving shows against the whole wait.
 * Prints a markdown table on stdout; progress goes to stderr. See docs/bench-scale-out.md.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { PurgeQueueCommand } from "@aws-sdk/client-sqs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { apiDepsFromEnv } from "../api/compose.ts";
import { jsonLineLog } from "../api/log.ts";
import { startApiServer, type ApiServer } from "../api/server.ts";
import { AwsClients, awsSettingsFromEnv, awsSettingsToEnv } from "../aws/clients.ts";
import { ValidationError, type Problem } from "../core/errors.ts";
import { fleetConfig, type FleetConfigInput } from "../core/fleet-config.ts";
import { FAST_PATH_MIN_INTERVAL_MS } from "../core/scaling/model.ts";
import { queuesSignal } from "../core/scaling/policy.ts";
import { ENV, deploymentToEnv } from "../core/runtime.ts";
import { provision, startEmulators } from "../scripts/local/emulators.ts";
import { LocalFleet, type LaunchSpec } from "../scripts/local/fleet.ts";
import { measureFirstJobStart, type FirstJobSample } from "./scale-out-first-job.ts";
import { FleetWatch, type AlarmTick } from "./scale-out-watch.ts";
import { formatDuration, formatRatio, markdownTable, spread, type ModeRow } from "./scale-out-table.ts";

/** AWS's cadence for the alarm path: 1-minute metric periods, one breaching period to alarm. */
const PERIOD_SECONDS = 60;
const EVALUATION_PERIODS = 1;
/** A time scale above this makes periods too short for a fast-path sample to fit between two alarm ticks. */
const MAX_TIME_SCALE = 120;
/** A fast-path sample starts only this long (wall clock) before the alarm's next sample of the queue. */
const QUIET_WINDOW_MS = 300;
const BUCKET = "spotq-bench";
const SOURCE_PREFIX = "bench/scale-out/scan-1";

/**
 * Stands in for the worker on each instance: it never receives, so a job's backlog stands for the
 * alarm path, and it starts in milliseconds. The bench measures desired capacity, not processing.
 */
const IDLE_WORKER: LaunchSpec = { command: process.execPath, args: ["-e", "setInterval(() => {}, 1 << 30)"] };

const progress = (line: string) => process.stderr.write(`${line}\n`);

interface ScaleOutOptions {
  /** Alarm-path samples. @default 3 */
  samples: number;
  /** Fast-path samples. @default 10 */
  fastSamples: number;
  /** Periods run this many times faster (the fleet's timeScale is its inverse). @default 1 */
  timeScale: number;
  /** SQS → CloudWatch lag before a datapoint reaches the alarm, in AWS seconds. @default 60 */
  metricDelaySeconds: number;
  /** Time-to-first-job samples per mode; 0 skips that part. @default 3 */
  firstJobSamples: number;
  /** Time scale of the modelled parts (alarm cadence, boot) in the first-job part. @default 60 */
  firstJobTimeScale: number;
}

/** Reads the command line; refuses every bad option at once, naming it. */
function parseScaleOutOptions(argv: string[]): ScaleOutOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      samples: { type: "string", default: "3" },
      "fast-samples": { type: "string", default: "10" },
      "time-scale": { type: "string", default: "1" },
      "metric-delay": { type: "string", default: String(PERIOD_SECONDS) },
      "first-job-samples": { type: "string", default: "3" },
      "first-job-time-scale": { type: "string", default: "60" },
    },
  });
  const problems: Problem[] = [];
  const number = (field: string, raw: string, ok: (n: number) => boolean, reason: string): number => {
    const n = Number(raw);
    if (raw.trim() === "" || !ok(n)) problems.push({ field, reason: `${reason}, got ${JSON.stringify(raw)}` });
    return n;
  };
  const options: ScaleOutOptions = {
    samples: number("--samples", values.samples, (n) => Number.isInteger(n) && n >= 1 && n <= 1000, "must be a whole number from 1 to 1000"),
    fastSamples: number("--fast-samples", values["fast-samples"], (n) => Number.isInteger(n) && n >= 1 && n <= 1000, "must be a whole number from 1 to 1000"),
    timeScale: number(
      "--time-scale",
      values["time-scale"],
      (n) => Number.isFinite(n) && n >= 1 && n <= MAX_TIME_SCALE,
      `must be a number from 1 (AWS's cadence) to ${MAX_TIME_SCALE} (a 60 s period in 0.5 s)`,
    ),
    metricDelaySeconds: number("--metric-delay", values["metric-delay"], (n) => Number.isFinite(n) && n >= 0 && n <= 900, "must be seconds from 0 to 900"),
    firstJobSamples: number("--first-job-samples", values["first-job-samples"], (n) => Number.isInteger(n) && n >= 0 && n <= 100, "must be a whole number from 0 to 100"),
    firstJobTimeScale: number(
      "--first-job-time-scale",
      values["first-job-time-scale"],
      (n) => Number.isFinite(n) && n >= 1 && n <= MAX_TIME_SCALE,
      `must be a number from 1 to ${MAX_TIME_SCALE}`,
    ),
  };
  if (problems.length) throw new ValidationError("invalid bench:scale-out options", problems);
  return options;
}

/** One alarm-path sample: where in the metric period the job was submitted, and how long desired took. */
interface AlarmSample {
  offsetMs: number;
  ms: number;
}

/** The local stack the bench runs on, and what it does to it between samples. */
interface Bench {
  watch: FleetWatch;
  fastApi: ApiServer;
  alarmApi: ApiServer;
  /** Wall-clock length of a metric period, and the metric delay, in this run. */
  periodMs: number;
  delayMs: number;
  /** AWS time per wall-clock time: 1 at AWS's cadence. */
  timeScale: number;
  submit(api: ApiServer): Promise<void>;
  purge(): Promise<void>;
  /** Desired capacity back to 0 and every instance gone. */
  resetToZero(): Promise<void>;
}

/**
 * Fast path, from desired 0: POST, wait for desired_changed (reason `api`), then purge and reset.
 * A sample starts only well before the alarm's next look at the queue, so the alarm (running on the
 * same fleet) never sees its message; if it did anyway, the bench waits until that datapoint has
 * passed through the alarm before the next sample.
 */
async function measureFastPath(b: Bench, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 1; i <= count; i++) {
    // A first job from zero comes to a quiet API: no fast-path round in the last interval, and no
    // desired capacity it still trusts from one (the bench, not Auto Scaling, lowered it to 0).
    await sleep(FAST_PATH_MIN_INTERVAL_MS);
    while (b.watch.nextTickAt - Date.now() < QUIET_WINDOW_MS) await b.watch.nextTick("while waiting for a quiet window");
    const ticksBefore = b.watch.ticks;
    const rise = b.watch.nextRise("api", 10_000, "the fast path did not raise desired capacity (is SPOTQ_GROUP reaching the fleet's Auto Scaling endpoint?)");
    const t0 = performance.now();
    await b.submit(b.fastApi);
    const r = await rise;
    await b.purge();
    const purgedAt = Date.now();
    await b.resetToZero();
    if (r.before !== 0) throw new Error(`fast-path sample ${i}: desired capacity was ${r.before}, not 0, when the job was submitted`);
    out.push(r.t - t0);
    progress(`  fast path ${i}/${count}: desired ${r.before} → ${r.after} after ${formatDuration(r.t - t0)}`);
    if (b.watch.ticks !== ticksBefore) {
      progress(`  (the alarm sampled the queue during that sample; waiting until its datapoint has passed)`);
      await b.watch.tickAtOrAfter(purgedAt + b.delayMs + b.periodMs, "after a fast-path sample");
      await b.resetToZero();
    }
  }
  return out;
}

/**
 * Alarms alone, from desired 0: submit at a chosen offset in the alarm's metric period, wait for
 * desired_changed (reason `alarm`). Offsets are stratified: sample i of n falls at a random point of
 * the i-th n-th of the period (in shuffled order), so a few samples still cover the whole minute.
 *
 * Reset: the alarm sampled the standing backlog once more at the tick that fired (purged right
 * after); that stale datapoint reaches the alarm `delay` later and would raise desired again. So
 * desired goes back to 0 right after the tick that consumes it, and the next job is submitted in
 * the period after that tick, so its first datapoint sees no instance (about three periods a sample).
 */
async function measureAlarmPath(b: Bench, count: number): Promise<AlarmSample[]> {
  const offsets = Array.from({ length: count }, (_, i) => ((i + Math.random()) / count) * b.periodMs);
  for (let i = offsets.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [offsets[i], offsets[j]] = [offsets[j], offsets[i]];
  }
  const out: AlarmSample[] = [];
  let ref = b.watch.lastTickAt;
  for (let i = 1; i <= count; i++) {
    const offset = offsets[i - 1];
    // Too late in this period for the offset drawn: take it in the next one.
    while (ref + offset < Date.now() + 20) ref = (await b.watch.nextTick("while waiting for the next metric period")).at;
    await sleep(ref + offset - Date.now());
    const rise = b.watch.nextRise(
      "alarm",
      b.delayMs + 3 * b.periodMs + 5_000,
      "the queue-depth alarm did not raise desired capacity (the job's backlog should have reached it)",
    );
    const t0 = performance.now();
    const submittedAt = Date.now();
    await b.submit(b.alarmApi);
    progress(
      `  alarm path ${i}/${count}: submitted ${aws(submittedAt - ref, b)} into the metric period; the model expects desired to rise in ~${aws(expectedAlarmMs(submittedAt - ref, b), b)}`,
    );
    const r = await rise;
    const fireAt = b.watch.lastTickAt;
    await b.purge();
    if (r.before !== 0) throw new Error(`alarm sample ${i}: desired capacity was ${r.before}, not 0, when the alarm fired (the reset came too late)`);
    out.push({ offsetMs: submittedAt - ref, ms: r.t - t0 });
    progress(`  alarm path ${i}/${count}: desired ${r.before} → ${r.after} after ${aws(r.t - t0, b)}`);
    // The tick that consumes the stale datapoint also samples the queue with this sample's instance
    // still in service (for the deficit signal: a next job would count as served). So the next
    // sample starts in the period after the reset: about three periods a sample.
    if (b.delayMs === 0) {
      await b.resetToZero();
      ref = fireAt;
    } else {
      const consumed = await b.watch.tickAtOrAfter(fireAt + b.delayMs, "to consume the stale datapoint");
      await b.resetToZero();
      ref = consumed.at;
    }
  }
  return out;
}

/**
 * The alarm path as the fleet models it: the next tick samples the backlog, its datapoint reaches the
 * alarm `delay` later, and the first tick from then on evaluates it and runs the policy.
 */
function expectedAlarmMs(offsetMs: number, b: Bench): number {
  const sampled = b.periodMs - offsetMs;
  return sampled + Math.ceil(b.delayMs / b.periodMs - 1e-9) * b.periodMs;
}

/** The time-to-first-job table and the saving against the whole wait. */
function firstJobTable(samples: FirstJobSample[], o: ScaleOutOptions): string[] {
  const modes = ["fast path", "alarms alone"] as const;
  const of = (m: (typeof modes)[number]) => samples.filter((s) => s.mode === m);
  const range = (xs: number[]) => {
    const s = spread(xs);
    return s.samples === 1 ? formatDuration(s.p50) : `${formatDuration(s.p50)} [${formatDuration(s.min)}–${formatDuration(s.max)}]`;
  };
  const fast = spread(of("fast path").map((s) => s.totalMs));
  const alarm = spread(of("alarms alone").map((s) => s.totalMs));
  const saving = alarm.p50 - fast.p50;
  return [
    `Time to first job start from zero (desired 0, no instance): submit → desired rises → modelled boot (fleet.bootSeconds) → the real worker starts, polls, receives and claims the job (its record RUNNING). ` +
      `Median [min–max] of ${o.firstJobSamples} sample${o.firstJobSamples === 1 ? "" : "s"} per mode, each on a fresh fleet. The alarm cadence and the boot ran ×${o.firstJobTimeScale} faster and are shown in AWS time; "after boot" is wall-clock time, not scaled.`,
    "",
    "| mode | samples | desired rises | boot (modelled) | after boot (measured) | time to first job start |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...modes.map((m) => {
      const xs = of(m);
      return `| ${m} | ${xs.length} | ${range(xs.map((s) => s.riseMs))} | ${formatDuration(xs[0]!.bootMs)} | ${range(xs.map((s) => s.afterBootMs))} | ${range(xs.map((s) => s.totalMs))} |`;
    }),
    "",
    `The fast path saves ${formatDuration(saving)} of the ${formatDuration(alarm.p50)} wait for the first job with alarms alone (p50): ${((100 * saving) / alarm.p50).toFixed(0)} % of the whole wait; the boot dominates what is left.`,
  ];
}

/** A wall-clock duration of this run shown in AWS time (scaled back in a time-scaled run). */
function aws(ms: number, b: Bench): string {
  return formatDuration(ms * b.timeScale);
}

async function main(): Promise<void> {
  const options = parseScaleOutOptions(process.argv.slice(2));
  const periodMs = (PERIOD_SECONDS * 1000) / options.timeScale;
  const delayMs = (options.metricDelaySeconds * 1000) / options.timeScale;
  const scaled = options.timeScale !== 1;

  const cleanups: (() => Promise<void> | void)[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const c of cleanups.reverse()) {
        try {
          await c();
        } catch (err) {
          progress(`cleanup: ${(err as Error).message}`);
        }
      }
    })());
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const)
    process.once(signal, () => {
      progress(`${signal}: stopping the fleet, the API and the emulators ...`);
      void cleanup().finally(() => process.exit(code));
    });

  try {
    const configInput: FleetConfigInput = {
      fleet: { minSize: 0, maxSize: 10 },
      scaling: { periodSeconds: PERIOD_SECONDS, evaluationPeriods: EVALUATION_PERIODS, fastPath: true },
    };
    const config = fleetConfig(configInput, "bench config");
    const step = Object.entries(config.scaling.scaleOutSteps).sort((a, b) => a[1].backlogAtLeast - b[1].backlogAtLeast)[0];

    progress("starting fauxqs and dynalite ...");
    const emulators = await startEmulators();
    cleanups.push(() => emulators.stop());
    const resources = await provision(emulators.clients, config, BUCKET);
    await emulators.clients.s3().send(new PutObjectCommand({ Bucket: BUCKET, Key: `${SOURCE_PREFIX}/part-0.ply`, Body: "ply\n" }));

    const workRoot = mkdtempSync(join(tmpdir(), "spotq-bench-scale-out-"));
    cleanups.push(() => rmSync(workRoot, { recursive: true, force: true }));
    progress(`starting the local fleet (min 0, desired 0, alarm every ${formatDuration(periodMs)} wall clock) ...`);
    const fleet = await LocalFleet.start({
      config,
      launch: IDLE_WORKER,
      workRoot,
      minSize: 0,
      desiredCapacity: 0,
      // Desired 0 between samples must take the instance away: nothing here lifts protection.
      newInstancesProtectedFromScaleIn: false,
      timeScale: 1 / options.timeScale,
      // No capacity for returned jobs: the bench's reset to 0 takes instances away while the next
      // sample's job is queued, and that rule (on with scaling.fastPath) would raise desired for it
      // before the alarm could: the alarms-alone samples must see the alarm alone.
      scaling: { sqs: emulators.clients.sqs(), queueUrl: resources.queueUrl, metricDelaySeconds: options.metricDelaySeconds, returnedJobs: false },
      stopGraceSeconds: 2,
      removeInstanceFolders: true,
      controlPort: false,
    });
    const startedAt = Date.now();
    cleanups.push(() => fleet.stop());
    fleet.on("scaling_error", (err) => progress(`fleet: ${err.message}`));
    // BENCH_VERBOSE=1: every evaluation and every change of desired capacity, to see why a sample waits.
    if (process.env.BENCH_VERBOSE) fleet.on("desired_changed", (e) => progress(`    desired ${e.before} → ${e.after} (${e.reason})`));
    const watch = new FleetWatch(fleet, {
      periodMs,
      startedAt,
      // At AWS's cadence a line a minute shows the wait; the policy runs right after the evaluation.
      onTick:
        scaled && !process.env.BENCH_VERBOSE
        ? undefined
        : (t: AlarmTick) => setImmediate(() => progress(`    alarm evaluated: ${t.state} [${t.datapoints.join(", ")}], desired ${fleet.group.desiredCapacity}`)),
    });
    cleanups.push(() => watch.dispose());

    // Both APIs are composed from the environment as `npm start` and the Lambda are: SPOTQ_GROUP and
    // SPOTQ_ENDPOINT_AUTOSCALING give the fast path the fleet; the second has scaling.fastPath false.
    const env: NodeJS.ProcessEnv = {
      ...awsSettingsToEnv({ ...emulators.settings, endpoints: { ...emulators.settings.endpoints, autoscaling: fleet.autoscalingEndpoint } }),
      ...deploymentToEnv({ ...resources, groupName: fleet.groupName }),
      [ENV.configJson]: JSON.stringify(configInput),
    };
    const apiClients = new AwsClients(awsSettingsFromEnv(env));
    cleanups.push(() => apiClients.destroy());
    const log = jsonLineLog((line) => process.stderr.write(`${line}\n`), "warn");
    const fastDeps = apiDepsFromEnv(env, apiClients, log);
    const alarmDeps = apiDepsFromEnv({ ...env, [ENV.configJson]: JSON.stringify({ ...configInput, scaling: { ...configInput.scaling, fastPath: false } }) }, apiClients, log);
    if (!fastDeps.fleet || !fastDeps.config.scaling.fastPath) throw new Error("the fast-path API was composed without its Auto Scaling group");
    if (alarmDeps.config.scaling.fastPath) throw new Error("the alarms-alone API still has its fast path");
    const fastApi = await startApiServer({ deps: fastDeps, port: 0 });
    cleanups.push(() => fastApi.close());
    const alarmApi = await startApiServer({ deps: alarmDeps, port: 0 });
    cleanups.push(() => alarmApi.close());

    const sqs = emulators.clients.sqs();
    const body = JSON.stringify({ "Source Folder Path": `s3://${BUCKET}/${SOURCE_PREFIX}`, "Target Folder Path": `s3://${BUCKET}/bench/scale-out/out-1`, "Complete Type": 1 });
    const bench: Bench = {
      watch,
      fastApi,
      alarmApi,
      periodMs,
      delayMs,
      timeScale: options.timeScale,
      async submit(api) {
        const res = await fetch(`${api.url}/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
        const text = await res.text();
        if (res.status !== 202) throw new Error(`POST /jobs answered ${res.status}: ${text}`);
      },
      async purge() {
        await sqs.send(new PurgeQueueCommand({ QueueUrl: resources.queueUrl }));
      },
      async resetToZero() {
        if (fleet.group.desiredCapacity !== 0) fleet.setDesired(0);
        const deadline = Date.now() + 15_000;
        while (fleet.instances().length > 0) {
          if (Date.now() > deadline) throw new Error(`instances still in the group 15 s after desired 0: ${fleet.instances().map((i) => `${i.instanceId} ${i.lifecycleState}`).join(", ")}`);
          await sleep(5);
        }
      },
    };

    progress(`fast path: ${options.fastSamples} samples`);
    const fast = await measureFastPath(bench, options.fastSamples);
    const minutes = (options.samples * 3 * PERIOD_SECONDS) / options.timeScale / 60;
    progress(
      `alarms alone: ${options.samples} samples, ${scaled ? `time-scaled ×${options.timeScale}, ` : ""}about three periods each (~${minutes < 1 ? `${Math.ceil(minutes * 60)} s` : `${minutes.toFixed(0)} min`})`,
    );
    const alarm = await measureAlarmPath(bench, options.samples);

    let firstJob: FirstJobSample[] = [];
    if (options.firstJobSamples > 0) {
      // The first part's fleet (idle stand-ins) must not take the jobs of the second.
      await fleet.stop();
      progress(
        `time to first job start: ${options.firstJobSamples} samples per mode on fresh fleets running the real worker; alarm cadence and boot time-scaled ×${options.firstJobTimeScale}`,
      );
      firstJob = await measureFirstJobStart({
        samples: options.firstJobSamples,
        timeScale: options.firstJobTimeScale,
        metricDelaySeconds: options.metricDelaySeconds,
        periodSeconds: PERIOD_SECONDS,
        evaluationPeriods: EVALUATION_PERIODS,
        settings: emulators.settings,
        resources,
        body,
        progress,
      });
    }

    const fastSpread = spread(fast);
    const alarmWall = spread(alarm.map((s) => s.ms));
    const alarmAws = spread(alarm.map((s) => s.ms * options.timeScale));
    const cadence = `${PERIOD_SECONDS} s periods, ${EVALUATION_PERIODS} evaluation period, ${options.metricDelaySeconds} s metric delay`;
    const rows: ModeRow[] = [{ mode: "fast path (API raises desired on submit)", spread: fastSpread }];
    if (scaled) {
      rows.push({ mode: `alarms alone, **time-scaled ×${options.timeScale}**, wall clock as measured (${cadence} ÷ ${options.timeScale})`, spread: alarmWall });
      rows.push({ mode: `alarms alone, **time-scaled ×${options.timeScale}**, scaled back to AWS time (measured × ${options.timeScale})`, spread: alarmAws });
    } else rows.push({ mode: `alarms alone, AWS cadence (${cadence})`, spread: alarmAws });

    const signal = queuesSignal(config.scaling.policy, 1);
    const alarmRule =
      config.scaling.policy === "visible"
        ? `ApproximateNumberOfMessagesVisible ≥ ${step[1].backlogAtLeast} → step "${step[0]}" (+${step[1].addInstances})`
        : `the "${config.scaling.policy}" policy (the default), ${signal.label}: ${signal.expression} ≥ 1`;
    const lines = [
      `Time from \`POST /jobs\` to the group's desired capacity rising (0 → 1), same run, same local fleet. ` +
        `Alarm: ${alarmRule}. ` +
        `${scaled ? `Alarm path time-scaled ×${options.timeScale} (fleet timeScale 1/${options.timeScale}). ` : ""}` +
        `Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
      "",
      markdownTable(rows),
      "",
      `Ratio alarms alone / fast path (p50): ${formatRatio(alarmAws.p50 / fastSpread.p50)}${scaled ? ` (from the time-scaled run scaled back to AWS time)` : ""}; ` +
        `fastest alarm / slowest fast path: ${formatRatio(alarmAws.min / fastSpread.max)}.`,
      "",
      `Alarm samples (submit offset in the metric period → time to desired, AWS time): ` +
        alarm.map((s) => `${formatDuration(s.offsetMs * options.timeScale)} → ${formatDuration(s.ms * options.timeScale)}`).join("; ") +
        `. Model: (period − offset) + ${options.metricDelaySeconds} s delay rounded up to whole periods.`,
    ];
    if (firstJob.length) lines.push("", ...firstJobTable(firstJob, options));
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    progress("stopping the fleet, the APIs and the emulators ...");
    await cleanup();
  }
}

try {
  await main();
} catch (err) {
  const e = err as Error & { problems?: Problem[] };
  progress(`bench:scale-out: ${e.message}`);
  for (const p of e.problems ?? []) progress(`  ${p.field}: ${p.reason}`);
  process.exitCode = 1;
}
