import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fleetConfig, type FleetConfigInput } from "../../core/fleet-config.ts";
import { simulate, type SimResult } from "../../core/scaling/sim/engine.ts";
import { spotModel } from "../../core/scaling/sim/spot-model.ts";
import type { Workload } from "../../core/scaling/sim/workload.ts";
import { localDefaultConfigInput } from "../../scripts/local/local-config.ts";
import { REPO_ROOT } from "../../scripts/local/start.ts";
import { makeScan, meditRequest, uploadScan } from "../support/e2e-scans.ts";
import { startE2eStack, type E2eStack } from "../support/e2e-stack.ts";

/**
 * Issue 9 §7: the simulator agrees with the local fleet. A short trace runs through the whole local
 * stack (API with its fast path, the local fleet running the scaling model, real worker processes
 * and the fake processor), time-scaled, and through `simulate` with the same config; queue wait and
 * instance-seconds must agree within 10%. Everything is compared in scaled seconds (AWS time).
 *
 * The local fleet plays AWS (its rules follow the AWS documentation), the simulator plays the model.
 * What the simulator cannot know comes from the local run, as a user would measure it for theirs:
 * - the trace it gets is the one that ran: each job's submit time and how long its run took on the
 *   instance (download, processor, upload), on the scaled clock;
 * - each instance's boot is the local one, in launch order: from launch to InService. The group has
 *   its lifecycle hooks, as infra deploys it, so an instance goes InService when its worker has
 *   passed its preflight and completes the launch hook, just before its first poll: that is the
 *   model's boot. It is the fleet's boot delay plus the worker's start-up, which runs on the wall
 *   clock and so is not scaled (a Node process with tsx takes seconds on a loaded machine: tens of
 *   scaled seconds, and not the same for every instance).
 * The figures without that calibration (the nominal boot) are printed too.
 */
const K = 0.1; // time scale: a scaled second is 0.1 s of wall clock
const PERIOD = 60;
const BOOT = 240; // the fleet's boot delay (scaled)
const IDLE = 300; // the idle timeout (scaled); the worker reads it on the wall clock
/**
 * [submit, run] in scaled seconds from the trace's start: a burst of three from zero, a job an idle
 * instance takes (the burst's instances are done by ~700 s and idle until ~1000 s), a job after the
 * fleet went back to zero (the last instance leaves by ~1400 s).
 */
const TRACE: [number, number][] = [
  [0, 300],
  [10, 240],
  [20, 300],
  [780, 240],
  [1560, 180],
];
/**
 * The trace starts this far into an alarm period, so every submit falls 20 s or more (2 s of wall
 * clock) from a period's boundary: a submit at a boundary lands in one period or the next depending
 * on when the local alarm's timer fires on a loaded machine, while the simulator's periods are exact.
 */
const PHASE = 20;
const TOLERANCE = 0.1;

const SPOT = spotModel(JSON.parse(readFileSync(path.join(REPO_ROOT, "scripts", "sim", "spot-model.json"), "utf8")));

function configInput(fastPath: boolean, idleTimeoutSeconds: number): FleetConfigInput {
  const c = localDefaultConfigInput(REPO_ROOT);
  return {
    ...c,
    // Short long polls: the worker checks its idle time between polls (a 20 s poll would be 200 scaled s late).
    queue: { ...c.queue, receiveWaitSeconds: 1 },
    fleet: { ...c.fleet, minSize: 0, maxSize: 4, bootSeconds: BOOT, idleTimeoutSeconds },
    scaling: { ...c.scaling, policy: "deficit", periodSeconds: PERIOD, evaluationPeriods: 1, fastPath },
  };
}

interface LocalRun {
  /** Per job, in scaled seconds from the fleet's start. */
  jobs: { submitS: number; startS: number; runS: number }[];
  /** Per instance: launch to terminated, scaled seconds. */
  lifetimes: number[];
  instanceSeconds: number;
  launches: number;
  /** Per instance in launch order: launch to InService (the boot delay and the worker's start-up to its launch hook), scaled seconds. */
  bootS: number[];
}

async function runLocal(fastPath: boolean): Promise<LocalRun> {
  let e: E2eStack | undefined;
  try {
    e = await startE2eStack({
      config: () => configInput(fastPath, IDLE * K),
      // The hooks as infra has them; their timeouts in group (scaled) seconds, as the config gives them.
      fleet: { timeScale: K, bootSeconds: BOOT, lifecycleHooks: true },
      metricDelaySeconds: PERIOD,
    });
    const stack = e.stack;
    const fleet = stack.fleet;
    const clock = fleet.clock;
    const scaled = (wallMs: number) => (clock.scaled(wallMs) - clock.origin) / 1000;
    const launched = new Map<string, number>();
    const inService = new Map<string, number>();
    const lifetimes: number[] = [];
    fleet.on("instance_launched", (i) => launched.set(i.instanceId, clock.now()));
    fleet.on("instance_in_service", (i) => inService.set(i.instanceId, clock.now()));
    fleet.on("instance_terminated", (i) => lifetimes.push((clock.now() - launched.get(i.instanceId)!) / 1000));

    const { bucket } = stack.resources;
    await uploadScan(stack.emulators.clients.s3(), bucket, "scans/agree", makeScan("agree", { files: 2, bytesPerFile: 4096 }));
    // Submit each job at its time on the scaled clock, counted from the fleet's start (so the alarm's
    // periods line up with the simulator's), PHASE seconds into a period.
    const t0 = periodStartAfter((clock.now() - clock.origin) / 1000 + 5) + PHASE;
    const ids = await Promise.all(
      TRACE.map(
        ([at, run], i) =>
          new Promise<string>((resolve, reject) =>
            setTimeout(
              () => e!.jobs.submit(meditRequest(bucket, "scans/agree", `results/agree-${i}`, `sleep=${Math.round(run * K * 1000)}`)).then(resolve, reject),
              clock.wallDelayUntil(clock.origin + (t0 + at) * 1000),
            ),
          ),
      ),
    );
    const records = await Promise.all(ids.map((id) => e!.jobs.finished(id, 600_000)));
    for (const r of records) assert.equal(r.state, "SUCCEEDED", JSON.stringify(r.error));
    await e.fleet.until("the fleet back at 0", () => e!.fleet.snapshot().instances === 0 && e!.fleet.snapshot().desired === 0, 300_000);

    // Launch order (the map's), as the simulator numbers its launches.
    const bootS = [...launched].map(([id, at]) => {
      const up = inService.get(id);
      assert.ok(up !== undefined, `instance ${id} never went InService`);
      return (up - at) / 1000;
    });
    return {
      jobs: records.map((r) => ({
        submitS: scaled(Date.parse(r.submittedAt)),
        startS: scaled(Date.parse(r.startedAt!)),
        runS: (Date.parse(r.finishedAt!) - Date.parse(r.startedAt!)) / 1000 / K,
      })),
      lifetimes,
      instanceSeconds: lifetimes.reduce((s, x) => s + x, 0),
      launches: launched.size,
      bootS,
    };
  } finally {
    await e?.stop();
  }
}

/** `bootS`: each launch's boot in launch order; past its end (or when empty) the nominal boot. */
function runSim(fastPath: boolean, local: LocalRun, bootS: readonly number[]): SimResult {
  const workload: Workload = {
    name: "local-trace",
    description: "the trace as it ran on the local fleet",
    jobs: local.jobs.map((j) => ({ submitS: j.submitS, processS: j.runS })),
    spanSeconds: Math.ceil(Math.max(...local.jobs.map((j) => j.submitS))) + 1,
  };
  return simulate({
    config: fleetConfig(configInput(fastPath, IDLE), "agreement config"),
    variant: { name: fastPath ? "deficit+fast" : "deficit", policy: "deficit", fastPath },
    workload,
    spot: SPOT,
    seed: 1,
    startEpochMs: Date.parse("2025-01-06T00:00:00Z"),
    fixedBootSeconds: BOOT,
    bootSecondsByLaunch: bootS,
    queueActiveSecondsAgo: 0, // the local queue publishes every period (no idle-queue late datapoint)
    interruptionScale: 0,
  });
}

/** The first alarm period boundary (whole periods from the fleet's start) at or after `s`. */
const periodStartAfter = (s: number) => Math.ceil(s / PERIOD) * PERIOD;
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const off = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-9);

describe("e2e: the simulator agrees with the local fleet (issue 9 §7)", function () {
  this.timeout(30 * 60_000);

  for (const fastPath of [true, false])
    it(`${fastPath ? "deficit + fast path" : "deficit, alarms only"}: queue wait and instance-seconds within ${TOLERANCE * 100}%`, async () => {
      const local = await runLocal(fastPath);
      const boot = mean(local.bootS);
      const sim = runSim(fastPath, local, local.bootS);
      const nominal = runSim(fastPath, local, []);
      const localWaits = local.jobs.map((j) => j.startS - j.submitS);
      const localWait = mean(localWaits);
      const simWait = sim.waitSeconds.mean;
      const simInstance = sim.instanceSeconds.boot + sim.instanceSeconds.busy + sim.instanceSeconds.idle;
      const nominalInstance = nominal.instanceSeconds.boot + nominal.instanceSeconds.busy + nominal.instanceSeconds.idle;
      const f = (x: number) => x.toFixed(0).padStart(6);
      process.stdout.write(
        [
          `      time scale ${K}; period ${PERIOD} s, idle timeout ${IDLE} s; boot (launch to InService) measured ${boot.toFixed(1)} s on average = delay ${BOOT} + worker start-up ${(boot - BOOT).toFixed(1)} (per instance in launch order ${local.bootS.map((s) => s.toFixed(0)).join(", ")}) (scaled seconds)`,
          `      local jobs [submit, wait, run]: ${JSON.stringify(local.jobs.map((j) => [j.submitS, j.startS - j.submitS, j.runS].map((x) => Math.round(x))))}; instance lifetimes ${JSON.stringify(local.lifetimes.map(Math.round))}`,
          `      per job wait  local: ${localWaits.map(f).join("")}`,
          `                    sim: ${sim.waits.map(f).join("")}`,
          `      mean wait     local ${localWait.toFixed(1)} s, sim ${simWait.toFixed(1)} s (${(off(simWait, localWait) * 100).toFixed(1)}% off); sim with the nominal boot ${nominal.waitSeconds.mean.toFixed(1)} s`,
          `      instance-s    local ${local.instanceSeconds.toFixed(0)} (${local.launches} launches), sim ${simInstance.toFixed(0)} (${sim.launches} launches; boot ${sim.instanceSeconds.boot.toFixed(0)}, busy ${sim.instanceSeconds.busy.toFixed(0)}, idle ${sim.instanceSeconds.idle.toFixed(0)}) (${(off(simInstance, local.instanceSeconds) * 100).toFixed(1)}% off); sim with the nominal boot ${nominalInstance.toFixed(0)}`,
          "",
        ].join("\n"),
      );
      assert.equal(sim.jobs, TRACE.length);
      assert.equal(sim.launches, local.launches, "the same number of instances launched");
      assert.ok(off(simWait, localWait) <= TOLERANCE, `mean queue wait: sim ${simWait.toFixed(1)} s vs local ${localWait.toFixed(1)} s`);
      assert.ok(off(simInstance, local.instanceSeconds) <= TOLERANCE, `instance-seconds: sim ${simInstance.toFixed(0)} vs local ${local.instanceSeconds.toFixed(0)}`);
    });
});
