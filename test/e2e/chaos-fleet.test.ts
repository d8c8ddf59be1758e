import assert from "node:assert/strict";
import path from "node:path";
import type { AttemptRecord, JobRecord } from "../../core/job.ts";
import { REPO_ROOT } from "../../scripts/local/start.ts";
import { JobFeed } from "../support/e2e-feed.ts";
import { ACT_KINDS, failedOrLost, FleetChaos, planActs, type ActKind } from "../support/e2e-fleet-chaos.ts";
import { FleetOperator } from "../support/e2e-operator.ts";
import { SeededRandom } from "../support/e2e-random.ts";
import { makeScan, meditRequest, outputProblems, readFolder, SAVE_SOURCE, uploadScan, type Scan } from "../support/e2e-scans.ts";
import { startE2eStack, type E2eStack } from "../support/e2e-stack.ts";
import { attemptLogs, deadLetters, isEmpty, metricLines, queueState, workerLogLines } from "../support/e2e-telemetry.ts";
import { waitUntil } from "../support/e2e-wait.ts";

/** How a planned job behaves, through the request option "Fake Medit Behaviour". */
type Kind = "short" | "long" | "flaky" | "crash";

interface PlannedJob {
  name: string;
  kind: Kind;
  behaviour: string;
  inputs: Scan;
  uploaded?: boolean;
  jobId?: string;
}

const MAX_ATTEMPTS = 3;
const MAX_SIZE = 4;
/** The group's clock runs 5× fast: alarm periods, boot, warmup, launch retries, hook timeouts, the breaker's window. */
const TIME_SCALE = 0.2;
/** The worker's view of the terminate hook (it heartbeats every third of it); the group gets the same on the wall clock. */
const TERMINATE_HOOK_SECONDS = 30;
const LAUNCH_HOOK_SECONDS = 600;
/** 104 jobs. Crash jobs fail every attempt; flaky ones fail their first attempt only. */
const MIX: Record<Kind, number> = { short: 58, long: 22, flaky: 16, crash: 8 };
/** Long jobs held back as bait for acts that need one running. */
const RESERVE = 6;
/** The bad GPU: this file in an instance's folder fails its GPU check and crashes its processor. */
const BAD_GPU_FILE = "gpu-broken";
/** Every kind of chaos lands at least this often, whatever the seed. */
const MINIMUMS: Record<ActKind, number> = {
  kill: 2,
  "spot-notice": 2,
  rebalance: 2,
  unhealthy: 1,
  "scale-in": 1,
  "instance-refresh": 1,
  "az-rebalance": 1,
  "launch-failure": 1,
  "boot-failures": 1,
  "bad-instance": 1,
};
/** Up to this many more of some kinds, seeded. */
const EXTRAS: Partial<Record<ActKind, number>> = { kill: 3, "spot-notice": 2, rebalance: 1, unhealthy: 1 };

const history = (j: JobRecord): AttemptRecord[] => j.attemptHistory ?? [];

/** "key n" for each key, in order of first appearance. */
function countBy<T>(items: readonly T[], key: (t: T) => string): string[] {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return [...m].map(([k, n]) => `${k} ${n}`);
}

/**
 * The fleet's whole repertoire at once, over 104 jobs (short, long, flaky, crashing), on a group with
 * lifecycle hooks, Capacity Rebalancing and two zones: a seeded monkey SIGKILLs workers, posts Spot
 * notices and rebalance recommendations, fails health checks, scales in, rolls a new launch template
 * out with an instance refresh, takes a zone's capacity away and lets AZ rebalancing fix the spread,
 * refuses a launch for the vCPU quota, makes boots fail until the boot breaker trips (then an
 * operator resumes), and kills one instance's GPU. Whatever the seed, every kind lands at least
 * once. Every job must end SUCCEEDED with exactly its outputs (written by the one attempt that
 * succeeded) or, for the crashing jobs only, FAILED after exactly maxAttempts failed attempts; none
 * lost, stuck or SUCCEEDED twice; no interruption, rebalance or hand-back counted as a failure; the
 * boot loop stopped by the breaker; the bad instance out within `fleet.unhealthyAfterFailures`
 * failures; terminations through the terminate hook completed by the worker, not by the hook's
 * timeout; and, once the work is done, every worker retires and the group is back to 0.
 * E2E_SEED replays a run's plan.
 */
describe("e2e: fleet chaos — 104 jobs through kills, notices, rebalances, lifecycle terminations, AZ rebalancing, launch and boot failures and a bad GPU", function () {
  this.timeout(20 * 60_000);
  const random = SeededRandom.fromEnv();
  let e: E2eStack;

  before(async function () {
    this.timeout(90_000);
    process.stdout.write(`      fleet chaos seed ${random.seed} (replay with E2E_SEED=${random.seed})\n`);
    // The stack's workers start from this process's environment: the GPU check (fake-nvidia-smi, run in
    // the instance's folder) and the processor (e2e-gpu-medit) look for this file there.
    const previous = process.env.FAKE_NVIDIA_SMI_FAIL_FILE;
    process.env.FAKE_NVIDIA_SMI_FAIL_FILE = BAD_GPU_FILE;
    try {
      e = await startE2eStack({
        config: (c) => ({
          ...c,
          processor: {
            ...c.processor,
            args: (c.processor?.args ?? []).map((a) => (a.endsWith(path.join("scripts", "fake-medit.ts")) ? path.join(REPO_ROOT, "test", "support", "e2e-gpu-medit.ts") : a)),
          },
          // The schema's minimum visibility and a short heartbeat: a SIGKILLed worker's job comes back within 30 s.
          queue: { ...c.queue, visibilityTimeoutSeconds: 30, receiveWaitSeconds: 5 },
          jobs: { ...c.jobs, heartbeatSeconds: 2, maxAttempts: MAX_ATTEMPTS, retryBackoffSeconds: 1 },
          fleet: {
            ...c.fleet,
            maxSize: MAX_SIZE,
            // The feed keeps work queued while the chaos lasts, so no worker idles until the chaos is over,
            // and by then every killed worker's job has been taken over: idleness only ends the run.
            idleTimeoutSeconds: 20,
            capacityRebalance: true,
            lifecycleHooks: { launchTimeoutSeconds: LAUNCH_HOOK_SECONDS, terminateTimeoutSeconds: TERMINATE_HOOK_SECONDS },
          },
          scaling: { ...c.scaling, periodSeconds: 10 },
        }),
        metricDelaySeconds: 0,
        fleet: {
          timeScale: TIME_SCALE,
          // In group seconds: on the wall clock the hooks last what the workers believe.
          lifecycleHooks: { launchTimeoutSeconds: LAUNCH_HOOK_SECONDS / TIME_SCALE, terminateTimeoutSeconds: TERMINATE_HOOK_SECONDS / TIME_SCALE },
          capacityRebalance: true,
          // As infra has it; the AZ act resumes it for a while.
          suspendedProcesses: ["AZRebalance"],
          instanceTypes: ["g4dn.xlarge", "g5.xlarge"],
          launchRetrySeconds: 5,
          // The worker reads IMDS every 5 s: a notice gives it time to hand its job back before the instance goes.
          spotNoticeSeconds: 8,
          restartDelaySeconds: 1,
        },
      });
    } finally {
      if (previous === undefined) delete process.env.FAKE_NVIDIA_SMI_FAIL_FILE;
      else process.env.FAKE_NVIDIA_SMI_FAIL_FILE = previous;
    }
  });

  after(async function () {
    this.timeout(120_000);
    await e?.stop();
  });

  it("ends every job once, SUCCEEDED with its outputs or (crash jobs only) FAILED after its last attempt, while each kind of chaos lands", async () => {
    const started = Date.now();
    const { bucket, queueUrl, dlqUrl } = e.stack.resources;
    const s3 = e.stack.emulators.clients.s3();
    const sqs = e.stack.emulators.clients.sqs();
    const config = e.stack.config;
    const K = config.fleet.unhealthyAfterFailures;
    const N = config.fleet.bootBreaker.failures;

    // The seeded plan: jobs, then acts.
    let serial = 0;
    const newJob = (kind: Kind): PlannedJob => {
      const i = serial++;
      const behaviour = {
        short: () => `sleep=${random.int(200, 1500)}`,
        long: () => `sleep=${random.int(8_000, 12_000)}`,
        flaky: () => `fail-attempts=1 sleep=${random.int(200, 1500)}`,
        crash: () => "crash",
      }[kind]();
      const inputs = makeScan(`fleet-chaos-${random.seed}-${i}`, { files: random.int(1, 3), bytesPerFile: random.int(1, 8) * 1024 });
      return { name: `fleet-chaos-${String(i).padStart(3, "0")}`, kind, behaviour, inputs };
    };
    const planned = random.shuffle(Object.entries(MIX).flatMap(([k, n]) => Array<Kind>(n).fill(k as Kind))).map(newJob);
    const reserve = planned.filter((p) => p.kind === "long").slice(-RESERVE);
    const items = planned.filter((p) => !reserve.includes(p));
    // Kills take a visibility timeout to land: none among the last 3 acts, so the run does not end waiting for one alone.
    const acts = planActs(random, { minimums: MINIMUMS, extras: EXTRAS, pauseMs: [1_000, 4_000], slowNotInLast: 3 });
    process.stdout.write(`      acts: ${acts.map((a) => a.kind).join(", ")}\n`);
    for (const p of planned) {
      await uploadScan(s3, bucket, `scans/${p.name}`, p.inputs);
      p.uploaded = true;
    }
    const phases: [string, number][] = [["uploads", Date.now()]];

    const byId = new Map<string, PlannedJob>();
    let chaosOver = false;
    const feed = new JobFeed<PlannedJob>({
      jobs: e.jobs,
      items,
      reserve,
      // Enough for the fast path and the alarm to keep every instance busy; few enough that bait and the last jobs start soon.
      queuedTarget: MAX_SIZE + 2,
      // Beyond the plan: long jobs as bait, and (should the chaos outlast the plan) a seeded mix to keep work flowing.
      extra: (purpose) => newJob(purpose === "bait" ? "long" : random.pick<Kind>(["short", "short", "long", "flaky"])),
      keepBusy: () => !chaosOver,
      submit: async (p) => {
        if (!p.uploaded) {
          await uploadScan(s3, bucket, `scans/${p.name}`, p.inputs);
          p.uploaded = true;
        }
        p.jobId = await e.jobs.submit(meditRequest(bucket, `scans/${p.name}`, `results/${p.name}`, p.behaviour));
        byId.set(p.jobId, p);
      },
    });
    const chaos = new FleetChaos({
      random,
      jobs: e.jobs,
      control: e.control,
      operator: new FleetOperator(e.stack),
      watch: e.fleet,
      acts,
      minimums: MINIMUMS,
      kindOf: (jobId) => byId.get(jobId)?.kind,
      bait: () => feed.bait(),
      badFile: BAD_GPU_FILE,
      baitAfterMs: 4_000,
    });

    // Act: jobs flow in while the monkey plays its script; the reserve goes in once every kind has landed.
    feed.start();
    let final: JobRecord[];
    try {
      await chaos.run();
      phases.push(["chaos", Date.now()]);
      chaosOver = true;
      feed.release();
      final = await feed.allFinished((id) => byId.get(id)?.kind);
    } catch (err) {
      process.stdout.write(`      chaos log:\n        ${chaos.log.join("\n        ")}\n`);
      throw err;
    } finally {
      chaosOver = true;
      chaos.stop();
      await feed.stop();
    }
    phases.push(["jobs final", Date.now()]);
    if (process.env.E2E_VERBOSE) process.stdout.write(`      chaos log:\n        ${chaos.log.join("\n        ")}\n`);
    await waitUntil("the queue is empty", async () => isEmpty(await queueState(sqs, queueUrl)), 90_000, {
      describe: async () => JSON.stringify(await queueState(sqs, queueUrl)),
    });

    // Nothing stays up that has no work: every worker retires when idle (through the terminate hook)
    // and the group returns to 0; an instance left without a working worker would hold it up.
    await e.fleet.until("the group back to 0 instances, desired 0", () => e.fleet.snapshot().instances === 0 && e.fleet.snapshot().desired === 0, 180_000);
    phases.push(["group at 0", Date.now()]);

    // Assess.
    const records = new Map(final.map((j) => [j.jobId, j]));
    const jobsPlanned = feed.submitted;
    const metrics = metricLines(e.dir);
    const logs = attemptLogs(e.dir);
    const workerLog = workerLogLines(e.dir);
    const dlq = await deadLetters(sqs, dlqUrl);
    const entries = e.fleet.entries;
    const landed = (k: ActKind) => chaos.faults.filter((f) => f.kind === k && f.status === "landed");

    // Terminations through the terminate hook (a lifecycle action started), by reason.
    const hooked = new Set(e.fleet.all("lifecycle_action", (a) => a.phase === "started" && a.transition === "autoscaling:EC2_INSTANCE_TERMINATING").map((a) => a.instanceId));
    const terminated = e.fleet.all("instance_terminated");
    const lifecycleTerminations = terminated.filter((t) => hooked.has(t.instanceId) && t.reason !== "spot-interruption");
    const byReason = countBy(lifecycleTerminations, (t) => t.reason);
    const hookTimeouts = e.fleet.all("lifecycle_action", (a) => a.phase === "completed" && a.by === "timeout");

    // The boot loop and the breaker.
    const boot = landed("boot-failures")[0];
    assert.ok(boot, `the boot breaker tripped: ${JSON.stringify(chaos.faults.filter((f) => f.kind === "boot-failures"))}`);
    const { markIndex, trippedIndex, resumedIndex, trip } = boot.detail as { markIndex: number; trippedIndex: number; resumedIndex: number; trip: { failures: number } };
    const burst = entries.slice(markIndex, resumedIndex);
    const failedBoots = burst.filter((x) => x.name === "boot_failed").map((x) => (x.payload as { instanceId: string }).instanceId);
    const launchedBeforeTrip = new Set(entries.slice(0, trippedIndex).filter((x) => x.name === "instance_launched").map((x) => (x.payload as { instanceId: string }).instanceId));
    const launchedWhileOpen = entries.slice(trippedIndex, resumedIndex).filter((x) => x.name === "instance_launched");

    // The bad instance.
    const bad = landed("bad-instance")[0];
    assert.ok(bad, `the bad instance left: ${JSON.stringify(chaos.faults.filter((f) => f.kind === "bad-instance"))}`);
    const badId = bad.instanceId!;
    const brokenAt = bad.detail.brokenAt as string;
    const badFailures = final.flatMap((j) =>
      history(j).filter(
        (a) => a.instanceId === badId && (a.finishedAt ?? "") >= brokenAt && (a.outcome === "FAILED" || (a.outcome === "INTERRUPTED" && a.error?.code === "INSTANCE_FAULT")),
      ),
    );
    const judgedBroken = workerLog.filter((l) => l.event === "instance_unhealthy");

    const counts = {
      jobs: jobsPlanned.length,
      succeeded: final.filter((j) => j.state === "SUCCEEDED").length,
      failed: final.filter((j) => j.state === "FAILED").length,
      retried: metrics.filter((m) => m.outcome === "retried").length,
      interrupted: final.reduce((n, j) => n + (j.interruptions ?? 0), 0),
      rebalances: e.fleet.all("rebalance_recommendation").length,
      "lifecycle terminations": lifecycleTerminations.length,
      "AZ rebalances": e.fleet.all("az_rebalance", (a) => a.phase === "terminating").length,
      "launch failures": e.fleet.all("launch_failed").length,
      "boot failures until breaker": failedBoots.length,
      "bad instance failures": badFailures.length,
      kills: chaos.faults.filter((f) => f.kind === "kill").length,
      "max instances": e.fleet.max("active"),
    };
    const table = (c: Record<string, number>) => {
      const names = Object.keys(c);
      const widths = names.map((n) => Math.max(n.length, String(c[n]).length));
      return `      ${names.map((n, i) => n.padStart(widths[i]!)).join(" | ")}\n      ${widths.map((w) => "-".repeat(w)).join("-|-")}\n      ${names.map((n, i) => String(c[n]).padStart(widths[i]!)).join(" | ")}\n`;
    };
    process.stdout.write(table(counts));
    for (const l of judgedBroken)
      process.stdout.write(`      judged broken by its worker: ${l.instanceId}${l.instanceId === badId ? " (the bad GPU)" : ""}, ${String(l.marked)}: ${String(l.reason).slice(0, 300)}\n`);
    process.stdout.write(
      `      (seed ${random.seed}, ${((Date.now() - started) / 1000).toFixed(0)} s: ${phases.map(([n, t], i) => `${n} ${((t - (phases[i - 1]?.[1] ?? started)) / 1000).toFixed(0)} s`).join(", ")}; lifecycle terminations: ${byReason.join(", ")}; ` +
        `launch failures: ${countBy(e.fleet.all("launch_failed"), (l) => l.errorCode).join(", ")}; ` +
        `spot notices ${e.fleet.all("spot_interruption").length}; lost ${final.flatMap(history).filter((a) => a.outcome === "LOST").length}; ` +
        `worker restarts ${e.fleet.all("worker_restarted").length}; instances judged broken by their worker ${judgedBroken.length}; ` +
        `hook timeouts ${hookTimeouts.length}; jobs beyond the plan ${feed.extras}; acts ${chaos.faults.map((f) => `${f.kind}:${f.status}`).join(" ")})\n`,
    );

    assert.deepEqual(feed.errors, [], "the feed submitted every job");
    // Every kind of chaos landed at least its minimum.
    for (const k of ACT_KINDS) assert.ok(landed(k).length >= MINIMUMS[k], `${k} landed ${landed(k).length} times, at least ${MINIMUMS[k]} wanted`);

    // 0 lost: every job in a final state, the queue empty, nothing RUNNING.
    assert.ok(jobsPlanned.length >= 100, `at least 100 jobs, got ${jobsPlanned.length}`);
    assert.equal(counts.succeeded + counts.failed, jobsPlanned.length, `every job SUCCEEDED or FAILED: ${final.map((j) => j.state).join(",")}`);
    assert.deepEqual(await e.jobs.list("RUNNING"), [], "nothing left RUNNING");

    // FAILED only for the crash jobs, after maxAttempts failed or lost attempts: no interruption, rebalance or hand-back counted.
    const meantToFail = jobsPlanned.filter((p) => p.kind === "crash").map((p) => p.jobId!).sort();
    assert.deepEqual(final.filter((j) => j.state === "FAILED").map((j) => j.jobId).sort(), meantToFail, "exactly the jobs that crash on every attempt are FAILED");

    for (const p of jobsPlanned) {
      const job = records.get(p.jobId!)!;
      const what = `job ${p.jobId} (${p.name}, ${p.kind} "${p.behaviour}")`;
      const h = history(job);
      const outcomes = h.map((a) => `${a.outcome}${a.error ? `:${a.error.code}` : ""}@${a.instanceId}`);
      // 0 SUCCEEDED twice: one SUCCEEDED attempt, one "succeeded" metric line, from the same attempt.
      const succeededAttempts = h.filter((a) => a.outcome === "SUCCEEDED");
      const succeededLines = metrics.filter((m) => m.jobId === p.jobId && m.outcome === "succeeded");
      assert.ok(succeededAttempts.length <= 1, `${what} succeeded more than once: ${outcomes.join(", ")}`);
      assert.equal(succeededLines.length, succeededAttempts.length, `${what}: "succeeded" metric lines ${JSON.stringify(succeededLines)} vs history ${outcomes.join(", ")}`);
      // Outputs written by exactly one attempt: the one that succeeded; any other that got as far as a
      // finished upload was cut short right after it (lost or handed back), never a failed or second success.
      const uploaders = logs.filter((l) => l.jobId === p.jobId && / uploaded \d+ objects/.test(l.text));
      for (const u of uploaders) {
        const a = h.find((x) => x.attempt === u.attempt);
        assert.ok(
          a && (a.outcome === "SUCCEEDED" || a.outcome === "LOST" || a.outcome === "INTERRUPTED"),
          `${what}: attempt ${u.attempt} on ${u.instanceId} uploaded outputs and ended ${a?.outcome}: ${outcomes.join(", ")}`,
        );
      }
      const found = await readFolder(s3, bucket, `results/${p.name}`);
      if (job.state === "SUCCEEDED") {
        const s = succeededAttempts[0]!;
        assert.deepEqual([succeededLines[0]!.attempt, succeededLines[0]!.instanceId], [s.attempt, s.instanceId], `${what}: the metric line is the succeeding attempt's`);
        assert.ok(uploaders.some((u) => u.attempt === s.attempt && u.instanceId === s.instanceId), `${what}: the succeeding attempt uploaded the outputs`);
        assert.deepEqual(outputProblems(found, p.inputs, SAVE_SOURCE), [], `${what}: outputs`);
        assert.equal(h.at(-1)?.outcome, "SUCCEEDED", `${what}: history ${outcomes.join(", ")}`);
        assert.ok(failedOrLost(h) < MAX_ATTEMPTS, `${what}: ${outcomes.join(", ")}`);
        if (p.kind === "flaky") assert.ok(job.attempts >= 2 && h[0]?.outcome !== "SUCCEEDED", `${what} succeeded on a later attempt: ${outcomes.join(", ")}`);
      } else {
        assert.equal(failedOrLost(h), MAX_ATTEMPTS, `${what} FAILED after exactly ${MAX_ATTEMPTS} failed or lost attempts: ${outcomes.join(", ")}`);
        for (const a of h.filter((x) => x.outcome === "FAILED")) assert.equal(a.error?.code, "PROCESS_CRASH", `${what}: ${outcomes.join(", ")}`);
        assert.ok(job.error?.code && job.error.message, `${what} FAILED with a reason: ${JSON.stringify(job.error)}`);
        assert.deepEqual([...found.keys()], [], `${what} uploaded nothing`);
        assert.equal(uploaders.length, 0, `${what}: no attempt uploaded`);
      }
    }
    assert.deepEqual(dlq.map((m) => m.jobId).sort(), meantToFail, "the DLQ holds one message per FAILED job, and nothing else");

    // A rebalance recommendation, and a terminate hook without a Spot notice (a health check), let the running job finish.
    for (const f of [...landed("rebalance"), ...landed("unhealthy")].filter((x) => x.jobId)) {
      const a = history(records.get(f.jobId!)!).find((x) => x.attempt === f.attempt);
      assert.ok(a && (a.outcome === "SUCCEEDED" || a.outcome === "FAILED") && a.instanceId === f.instanceId, `${f.kind} on ${f.instanceId}: job ${f.jobId} attempt ${f.attempt} finished there: ${JSON.stringify(a)}`);
    }
    // A Spot notice handed its job back at once, without using up an attempt.
    for (const f of landed("spot-notice")) assert.ok(records.get(f.jobId!)!.interruptions >= 1, `notice on ${f.instanceId}: job ${f.jobId} counted its interruption`);
    // Every killed worker was restarted by its service manager, and its job taken over (LOST) elsewhere.
    assert.ok(e.fleet.all("worker_restarted").length >= landed("kill").length, "the service manager restarted every killed worker");

    // The boot loop stopped by the breaker: it tripped at N failed boots, nothing launched while it was
    // open, and every failed boot of the burst came from a launch made before the trip.
    assert.equal(trip.failures, N, `the breaker tripped at ${N} failed boots: ${JSON.stringify(trip)}`);
    assert.deepEqual(launchedWhileOpen, [], "no launch while the breaker was open");
    for (const id of failedBoots) assert.ok(launchedBeforeTrip.has(id), `failed boot of ${id}: launched before the trip`);
    assert.ok(failedBoots.length >= N, `the burst failed at least ${N} boots: ${failedBoots.length}`);
    assert.ok(entries.slice(resumedIndex).some((x) => x.name === "instance_in_service"), "after `spotq fleet resume` instances launched and came into service again");

    // The bad instance out within K failures: its worker found the GPU gone (the preflight after a failure,
    // or at a restart's boot) and it left: marked Unhealthy by its worker, or the service's failure path.
    const badLeft = terminated.find((t) => t.instanceId === badId);
    assert.ok(badLeft && (badLeft.reason === "unhealthy" || badLeft.reason === "service-failed"), `bad instance ${badId} left the group: ${JSON.stringify(badLeft)}`);
    assert.ok(badFailures.length <= K, `bad instance ${badId}: ${badFailures.length} failures before it left, at most ${K}: ${JSON.stringify(badFailures)}`);
    assert.ok(badFailures.filter((a) => a.outcome === "FAILED").length <= K - 1, `bad instance ${badId}: at most ${K - 1} attempts charged`);
    if (badLeft.reason === "unhealthy")
      assert.ok(
        workerLog.some((l) => l.instanceId === badId && l.event === "instance_unhealthy" && l.marked === "health"),
        `the worker on ${badId} marked it Unhealthy: ${JSON.stringify(workerLog.filter((l) => l.instanceId === badId && /unhealthy|preflight|fault/.test(l.event ?? "")))}`,
      );

    // Terminations through the hook ended by the worker's CompleteLifecycleAction, or after a service failure
    // by the leave path's, never by the hook's timeout (an idle GPU instance held for nothing).
    assert.deepEqual(hookTimeouts, [], "no lifecycle action ran out its timeout");
    assert.ok(counts["max instances"] <= MAX_SIZE + 1, `at most ${MAX_SIZE} instances, plus one while rebalancing (AWS's margin)`);
  });
});
