import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fleetConfig, type FleetConfigInput } from "../../../../core/fleet-config.ts";
import { ValidationError } from "../../../../core/errors.ts";
import { compare, comparisonJson, lowerBound } from "../../../../core/scaling/sim/compare.ts";
import { simulate, type PolicyVariant } from "../../../../core/scaling/sim/engine.ts";
import { pricePerSecond, spotModel } from "../../../../core/scaling/sim/spot-model.ts";
import { generateWorkload, parseWorkloadCsv, workloadCsv, type Workload } from "../../../../core/scaling/sim/workload.ts";

const SPOT = spotModel(JSON.parse(readFileSync(new URL("../../../../scripts/sim/spot-model.json", import.meta.url), "utf8")));
const MONDAY = Date.parse("2025-01-06T00:00:00Z");
const SEED = Number(process.env.SIM_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** One instance type, so prices are exact. */
function config(input: FleetConfigInput = {}) {
  return fleetConfig({ ...input, fleet: { instanceTypes: ["g4dn.xlarge"], minSize: 0, maxSize: 10, bootSeconds: 300, idleTimeoutSeconds: 600, ...input.fleet } });
}
const trace = (jobs: [number, number][], span = 86_400): Workload => ({ name: "test", description: "test", jobs: jobs.map(([submitS, processS]) => ({ submitS, processS })), spanSeconds: span });
const run = (c: ReturnType<typeof config>, variant: PolicyVariant, workload: Workload, extra: Partial<Parameters<typeof simulate>[0]> = {}) =>
  simulate({ config: c, variant, workload, spot: SPOT, seed: 1, startEpochMs: MONDAY, interruptionScale: 0, ...extra });

describe("core/scaling: the fleet simulator", () => {
  before(() => console.log(`      simulator seed ${SEED} (replay: SIM_SEED=${SEED})`));

  it("replays exactly from its seed, and another seed gives another run", () => {
    const workload = generateWorkload("clinic-hours", { seed: SEED });
    const a = compare({ config: config(), workload, spot: SPOT, seed: SEED, startEpochMs: MONDAY });
    const b = compare({ config: config(), workload: generateWorkload("clinic-hours", { seed: SEED }), spot: SPOT, seed: SEED, startEpochMs: MONDAY });
    assert.deepEqual(comparisonJson(a), comparisonJson(b));
    const other = compare({ config: config(), workload: generateWorkload("clinic-hours", { seed: SEED + 1 }), spot: SPOT, seed: SEED + 1, startEpochMs: MONDAY });
    assert.notDeepEqual(comparisonJson(other), comparisonJson(a));
  });

  describe("alarm-only scale-out of 10 jobs from 0 (metrics one period late, queue active)", () => {
    // Ten hour-long jobs in the first second: no instance frees up for another job.
    const burst = trace(Array.from({ length: 10 }, (_, i): [number, number] => [i * 0.1, 3600]));
    const boot = 300;
    const period = 60;
    const bound = 2 * period + boot; // two alarm periods plus the warmup (= boot time)

    it("deficit steps: every job has an instance within 2 alarm periods plus warmup", () => {
      const r = run(config(), { name: "deficit", policy: "deficit", fastPath: false }, burst, { fixedBootSeconds: boot, queueActiveSecondsAgo: 60 });
      assert.equal(r.jobs, 10);
      assert.equal(r.maxInstances, 10);
      assert.ok(r.waitSeconds.max <= bound, `max wait ${r.waitSeconds.max} s > ${bound} s`);
      assert.equal(r.raises.alarm, 1, "one evaluation asked for all 10");
    });

    it("visible steps (+1/+3/+10) take several boot cycles: the issue's slow scale-out", () => {
      const r = run(config(), { name: "visible", policy: "visible", fastPath: false }, burst, { fixedBootSeconds: boot, queueActiveSecondsAgo: 60 });
      assert.ok(r.waitSeconds.max > 3 * bound, `max wait ${r.waitSeconds.max} s`);
    });

    it("the fast path gets them all at once: wait = boot time", () => {
      const r = run(config(), { name: "deficit+fast", policy: "deficit", fastPath: true }, burst, { fixedBootSeconds: boot });
      assert.ok(Math.abs(r.waitSeconds.max - boot) < 1, `max wait ${r.waitSeconds.max}`);
    });

    it("after an idle night the first datapoint comes late, so alarms alone wait longer than the fast path", () => {
      const late = run(config(), { name: "deficit", policy: "deficit", fastPath: false }, burst, { fixedBootSeconds: boot });
      const warm = run(config(), { name: "deficit", policy: "deficit", fastPath: false }, burst, { fixedBootSeconds: boot, queueActiveSecondsAgo: 60 });
      assert.ok(late.waitSeconds.max > warm.waitSeconds.max, `inactive ${late.waitSeconds.max} vs active ${warm.waitSeconds.max}`);
    });
  });

  it("prices one job exactly: boot, run and the idle timeout, then the idle rule ends the instance", () => {
    const c = config();
    const r = run(c, { name: "config" }, trace([[100, 900]]), { fixedBootSeconds: 300 });
    assert.deepEqual(r.instanceSeconds, { boot: 300, busy: 900, idle: 600 });
    const perSecond = pricePerSecond(SPOT, "g4dn.xlarge", "spot", "windows", c.fleet.rootVolumeGiB);
    assert.ok(Math.abs(r.costUsd - 1800 * perSecond) < 1e-9);
    assert.equal(r.waitSeconds.max, 300);
    assert.equal(r.launches, 1);
  });

  it("reuses an idle instance: a job arriving within the idle timeout waits 0 and launches nothing", () => {
    const r = run(config(), { name: "config" }, trace([[0, 600], [1200, 600]]), { fixedBootSeconds: 300 });
    assert.equal(r.launches, 1);
    assert.deepEqual(r.waits, [300, 0]);
  });

  it("boots each instance in its measured time, in launch order, when given a list (a replayed run)", () => {
    // Two jobs at once: the fast path launches two instances; the second boots later, so its job waits longer.
    const r = run(config(), { name: "deficit+fast", policy: "deficit", fastPath: true }, trace([[0, 600], [0, 600], [3000, 60]]), {
      bootSecondsByLaunch: [250, 320],
      fixedBootSeconds: 400,
    });
    assert.equal(r.launches, 3);
    // The third launch is past the list: the fixed boot.
    assert.deepEqual(r.waits, [250, 320, 400]);
  });

  it("honours scaling.schedule: a standby during clinic hours serves a job at once", () => {
    const c = config({ scaling: { schedule: { open: { recurrence: "0 8 * * MON-FRI", minSize: 1 }, close: { recurrence: "0 18 * * MON-FRI", minSize: 0 } } } });
    const r = run(c, { name: "config" }, trace([[9 * 3600, 600]]), { fixedBootSeconds: 300 });
    assert.deepEqual(r.waits, [0]);
    assert.equal(r.raises.schedule, 1);
    // The standby ran 08:00 until the idle check after 18:00.
    assert.ok(r.instanceSeconds.idle >= 10 * 3600 - 600, `idle ${r.instanceSeconds.idle}`);
  });

  describe("the lower bound", () => {
    it("launches one instance per job: wait = boot, cost = boot + processing", () => {
      const c = config();
      const lb = lowerBound({ config: c, workload: trace([[0, 900], [10, 300]]), spot: SPOT, seed: 1, startEpochMs: MONDAY, fixedBootSeconds: 300 });
      assert.deepEqual(lb.instanceSeconds, { boot: 600, busy: 1200, idle: 0 });
      assert.equal(lb.waitSeconds.max, 300);
      assert.ok(Math.abs(lb.costUsd - 1800 * pricePerSecond(SPOT, "g4dn.xlarge", "spot", "windows", c.fleet.rootVolumeGiB)) < 1e-9);
    });

    it("waits 0 when the config keeps a standby", () => {
      const lb = lowerBound({ config: config({ fleet: { minSize: 1 } }), workload: trace([[0, 900]]), spot: SPOT, seed: 1, startEpochMs: MONDAY });
      assert.equal(lb.waitSeconds.max, 0);
    });
  });

  describe("Spot interruptions and the On-Demand fallback", () => {
    const workload = generateWorkload("steady", { seed: 3, jobsPerDay: 80 });
    it("hands interrupted jobs back; every job still finishes", () => {
      const r = run(config(), { name: "config" }, workload, { interruptionScale: 3000 });
      assert.ok(r.interruptedJobs > 0, "the stress rate interrupts some jobs");
      assert.equal(r.jobs, workload.jobs.length);
      assert.equal(r.onDemand, undefined);
    });

    it("moves a job interrupted N times to the On-Demand group, which costs more per hour and ends the re-runs", () => {
      const c = config({ scaling: { onDemandFallback: { afterInterruptions: 1, maxSize: 2 } } });
      const r = run(c, { name: "config" }, workload, { interruptionScale: 3000 });
      assert.ok(r.onDemand && r.onDemand.jobs > 0, JSON.stringify(r.onDemand));
      assert.equal(r.jobs, workload.jobs.length);
      assert.ok(r.interruptions <= r.interruptedJobs, "after one interruption a job is On-Demand: never interrupted twice");
    });
  });

  describe("workloads", () => {
    it("generators are seeded: the same seed, the same jobs", () => {
      for (const g of ["steady", "clinic-hours", "nightly-batch"] as const) assert.deepEqual(generateWorkload(g, { seed: SEED }), generateWorkload(g, { seed: SEED }));
      const clinic = generateWorkload("clinic-hours", { seed: SEED, days: 7 });
      for (const j of clinic.jobs) {
        const day = Math.floor(j.submitS / 86_400);
        const hour = (j.submitS % 86_400) / 3600;
        assert.ok(day < 5 && hour >= 8 && hour < 18, `a clinic job at day ${day} ${hour.toFixed(2)} h`);
      }
    });

    it("reads a CSV trace and writes it back", () => {
      const w = parseWorkloadCsv("submit_s,process_s\n# a comment\n10,600\n\n0,300\n", "t.csv");
      assert.deepEqual(w.jobs, [{ submitS: 0, processS: 300 }, { submitS: 10, processS: 600 }]);
      assert.deepEqual(parseWorkloadCsv(workloadCsv(w), "t.csv").jobs, w.jobs);
    });

    it("names the line and the value of every bad row", () => {
      assert.throws(
        () => parseWorkloadCsv("submit_s,process_s\n10,abc\n-1,5\n1,2,3\n", "bad.csv"),
        (e: unknown) =>
          e instanceof ValidationError &&
          /bad\.csv:2: process_s "abc" must be a number of seconds > 0/.test(e.message) &&
          /bad\.csv:3: submit_s "-1"/.test(e.message) &&
          /bad\.csv:4: expected 2 values/.test(e.message),
      );
      assert.throws(() => parseWorkloadCsv("when,how\n1,2\n", "h.csv"), /the header must be "submit_s,process_s"/);
    });
  });
});
