import assert from "node:assert/strict";
import type { AttemptRecord, JobRecord } from "../../core/job.ts";
import { ChaosMonkey } from "../support/e2e-chaos.ts";
import { JobFeed } from "../support/e2e-feed.ts";
import { SeededRandom } from "../support/e2e-random.ts";
import { makeScan, meditRequest, outputProblems, readFolder, SAVE_SOURCE, uploadScan, type Scan } from "../support/e2e-scans.ts";
import { startE2eStack, type E2eStack } from "../support/e2e-stack.ts";
import { deadLetters, isEmpty, metricLines, queueState } from "../support/e2e-telemetry.ts";
import { waitUntil } from "../support/e2e-wait.ts";

/** How a planned job behaves, through the request option "Fake Medit Behaviour". */
type Kind = "short" | "long" | "flaky" | "crash";

interface PlannedJob {
  name: string;
  kind: Kind;
  behaviour: string;
  inputs: Scan;
  jobId?: string;
}

const MAX_ATTEMPTS = 3;
const MAX_SIZE = 4;
/** The plan: 50 jobs. Crash jobs fail on every attempt; flaky ones fail their first attempt only. */
const MIX: Record<Kind, number> = { short: 24, long: 12, flaky: 8, crash: 6 };
/** Long jobs held back until a kill and a notice have landed (bait for them if nothing else runs). */
const RESERVE = 3;

const failedOrLost = (h: readonly AttemptRecord[] | undefined) => (h ?? []).filter((a) => a.outcome === "FAILED" || a.outcome === "LOST").length;

/**
 * Chaos: 50 jobs on a fleet whose workers are SIGKILLed at random, whose instances get Spot
 * notices, and some of whose jobs crash on every attempt or fail once. Whatever happens, every
 * job must end SUCCEEDED with exactly its outputs, or FAILED with a reason after its last attempt
 * (and in the DLQ) — exactly the jobs meant to fail — none lost, none stuck, none run to
 * SUCCEEDED twice. The seed of the plan and of every choice is printed; E2E_SEED replays it.
 */
describe("e2e: chaos — 50 jobs through worker kills, Spot notices and crashing processors", function () {
  this.timeout(15 * 60_000);
  const random = SeededRandom.fromEnv();
  let e: E2eStack;

  before(async function () {
    this.timeout(60_000);
    process.stdout.write(`      chaos seed ${random.seed} (replay with E2E_SEED=${random.seed})\n`);
    e = await startE2eStack({
      config: (c) => ({
        ...c,
        // The schema's minimum visibility and a short heartbeat: a SIGKILLed worker's job comes back within 30 s.
        queue: { ...c.queue, visibilityTimeoutSeconds: 30, receiveWaitSeconds: 5 },
        jobs: { ...c.jobs, heartbeatSeconds: 2, maxAttempts: MAX_ATTEMPTS, retryBackoffSeconds: 1 },
        // Idle workers outwait a killed job's message (invisible for up to 30 s after its last heartbeat), then retire.
        fleet: { ...c.fleet, maxSize: MAX_SIZE, idleTimeoutSeconds: 60 },
        // Besides the fast path, the alarm brings capacity back if a job returns to an empty fleet.
        scaling: { ...c.scaling, periodSeconds: 10 },
      }),
      metricDelaySeconds: 0,
      // The worker polls IMDS every 5 s: a notice gives it time to hand its job back before the instance goes.
      fleet: { spotNoticeSeconds: 8, restartDelaySeconds: 1 },
    });
  });

  after(async function () {
    this.timeout(90_000);
    await e?.stop();
  });

  it("ends every job SUCCEEDED with its outputs, or FAILED after its last attempt — exactly those meant to fail; none lost, stuck or run twice", async () => {
    const started = Date.now();
    const { bucket, queueUrl, dlqUrl } = e.stack.resources;
    const s3 = e.stack.emulators.clients.s3();
    const sqs = e.stack.emulators.clients.sqs();

    // Prepare: the seeded plan, each job with inputs of its own.
    let serial = 0;
    const newJob = (kind: Kind): PlannedJob => {
      const i = serial++;
      const behaviour = {
        short: () => `sleep=${random.int(200, 1500)}`,
        long: () => `sleep=${random.int(10_000, 15_000)}`,
        flaky: () => `fail-attempts=1 sleep=${random.int(200, 1500)}`,
        crash: () => "crash",
      }[kind]();
      const inputs = makeScan(`chaos-${random.seed}-${i}`, { files: random.int(1, 3), bytesPerFile: random.int(1, 8) * 1024 });
      return { name: `chaos-${String(i).padStart(2, "0")}`, kind, behaviour, inputs };
    };
    const planned = random.shuffle(Object.entries(MIX).flatMap(([k, n]) => Array<Kind>(n).fill(k as Kind))).map(newJob);
    const reserve = planned.filter((p) => p.kind === "long").slice(-RESERVE);
    for (const p of planned) await uploadScan(s3, bucket, `scans/${p.name}`, p.inputs);
    const byId = new Map<string, PlannedJob>();
    // Everything at once but the reserve, which goes in once the minimum chaos has landed (or as bait for it).
    const feed = new JobFeed<PlannedJob>({
      jobs: e.jobs,
      items: planned.filter((p) => !reserve.includes(p)),
      reserve,
      queuedTarget: Infinity,
      extra: () => newJob("long"),
      submit: async (p) => {
        if (!planned.includes(p)) await uploadScan(s3, bucket, `scans/${p.name}`, p.inputs);
        p.jobId = await e.jobs.submit(meditRequest(bucket, `scans/${p.name}`, `results/${p.name}`, p.behaviour));
        byId.set(p.jobId, p);
      },
    });

    // Act: submit everything (the reserve once a kill and a notice landed), and let the monkey loose until every job has finished.
    const monkey = new ChaosMonkey({
      random,
      jobs: e.jobs,
      control: e.control,
      maxKills: 10,
      maxNotices: 6,
      killChance: 0.45,
      noticeChance: 0.3,
      pauseMs: [1500, 4000],
      // Every kill costs its job an attempt: only jobs that have lost none yet, so none runs out of attempts.
      mayKill: (j) => byId.get(j.jobId)?.kind !== "crash" && failedOrLost(j.attemptHistory) === 0,
      // A notice costs nothing; long jobs are still at work when the worker reads it.
      mayInterrupt: (j) => byId.get(j.jobId)?.kind === "long",
      // Whatever the seed, a kill and a notice land (the job LOST, the job INTERRUPTED).
      minimums: { kills: 1, notices: 1 },
      bait: () => feed.bait(),
    });
    feed.start();
    monkey.start();
    let final: JobRecord[];
    try {
      await waitUntil("a kill and a notice landed", () => monkey.satisfied, 10 * 60_000, { pollMs: 1000, describe: () => JSON.stringify(monkey.faults) });
      feed.release();
      final = await feed.allFinished((id) => byId.get(id)?.kind);
    } finally {
      await monkey.stop();
      await feed.stop();
    }
    const plan = feed.submitted;
    await waitUntil("the queue is empty", async () => isEmpty(await queueState(sqs, queueUrl)), 90_000, {
      describe: async () => JSON.stringify(await queueState(sqs, queueUrl)),
    });

    // Assess.
    const records = new Map(final.map((j) => [j.jobId, j]));
    const metrics = metricLines(e.dir);
    const dlq = await deadLetters(sqs, dlqUrl);
    const history = final.flatMap((j) => j.attemptHistory ?? []);
    const restarts = e.fleet.all("worker_restarted").length;
    const counts = {
      jobs: plan.length,
      succeeded: final.filter((j) => j.state === "SUCCEEDED").length,
      failed: final.filter((j) => j.state === "FAILED").length,
      retried: metrics.filter((m) => m.outcome === "retried").length,
      interrupted: final.reduce((n, j) => n + (j.interruptions ?? 0), 0),
      "lost (taken over)": history.filter((a) => a.outcome === "LOST").length,
      kills: monkey.kills,
      "spot notices": monkey.notices,
      restarts,
      "max instances": e.fleet.max("active"),
    };
    const names = Object.keys(counts);
    const widths = names.map((n) => Math.max(n.length, String(counts[n as keyof typeof counts]).length));
    process.stdout.write(
      `      ${names.map((n, i) => n.padStart(widths[i]!)).join(" | ")}\n      ${widths.map((w) => "-".repeat(w)).join("-|-")}\n      ${names
        .map((n, i) => String(counts[n as keyof typeof counts]).padStart(widths[i]!))
        .join(" | ")}\n      (seed ${random.seed}, ${((Date.now() - started) / 1000).toFixed(0)} s)\n`,
    );

    assert.deepEqual(monkey.errors, [], "the control surface refused no fault for a reason other than a race");
    assert.deepEqual(feed.errors, [], "every job was submitted");
    const meantToFail = plan.filter((p) => p.kind === "crash").map((p) => p.jobId!).sort();
    const failed = final.filter((j) => j.state === "FAILED").map((j) => j.jobId).sort();
    assert.deepEqual(failed, meantToFail, "exactly the jobs that crash on every attempt are FAILED");
    assert.equal(counts.succeeded + counts.failed, plan.length, `no job CANCELLED or otherwise: ${final.map((j) => j.state).join(",")}`);

    for (const p of plan) {
      const job = records.get(p.jobId!)!;
      const what = `job ${p.jobId} (${p.name}, ${p.kind} "${p.behaviour}")`;
      const outcomes = (job.attemptHistory ?? []).map((a) => a.outcome);
      assert.ok(outcomes.filter((o) => o === "SUCCEEDED").length <= 1, `${what} succeeded more than once: ${outcomes.join(",")}`);
      const succeededLines = metrics.filter((m) => m.jobId === p.jobId && m.outcome === "succeeded");
      assert.ok(succeededLines.length <= 1, `${what} has ${succeededLines.length} "succeeded" metric lines: ${JSON.stringify(succeededLines)}`);
      const found = await readFolder(s3, bucket, `results/${p.name}`);
      if (job.state === "SUCCEEDED") {
        assert.deepEqual(outputProblems(found, p.inputs, SAVE_SOURCE), [], `${what}: outputs`);
        assert.equal(outcomes.at(-1), "SUCCEEDED", `${what}: history ${outcomes.join(",")}`);
        // The first attempt of a flaky job always fails (or was cut short): it succeeds on a later one.
        if (p.kind === "flaky") assert.ok(job.attempts >= 2 && outcomes[0] !== "SUCCEEDED", `${what} succeeded on a retry: ${outcomes.join(",")}`);
      } else {
        assert.equal(failedOrLost(job.attemptHistory), MAX_ATTEMPTS, `${what} FAILED after exactly ${MAX_ATTEMPTS} failed attempts: ${outcomes.join(",")}`);
        assert.ok(job.error?.code && job.error.message, `${what} FAILED with a reason: ${JSON.stringify(job.error)}`);
        if (!outcomes.includes("LOST")) assert.equal(job.error.code, "PROCESS_CRASH", `${what}: ${job.error.message}`);
        assert.deepEqual([...found.keys()], [], `${what} uploaded nothing`);
      }
    }
    assert.deepEqual(dlq.map((m) => m.jobId).sort(), meantToFail, "the DLQ holds one message per FAILED job, and nothing else");
    for (const m of dlq) assert.ok(m.reason.startsWith(`${records.get(m.jobId)!.error!.code}:`), `DLQ reason of ${m.jobId}: ${m.reason}`);
    assert.deepEqual(await e.jobs.list("RUNNING"), [], "nothing left RUNNING");

    // The chaos happened, and struck where it was aimed.
    const lostByKill = monkey.faults.filter((f) => f.kind === "kill" && records.get(f.jobId)?.attemptHistory?.some((a) => a.attempt === f.attempt && a.outcome === "LOST"));
    const interruptedByNotice = monkey.faults.filter(
      (f) => f.kind === "spot-notice" && records.get(f.jobId)?.attemptHistory?.some((a) => a.attempt === f.attempt && a.outcome === "INTERRUPTED"),
    );
    assert.ok(lostByKill.length >= 1, `a killed worker's job came back and was taken over: ${JSON.stringify(monkey.faults)}`);
    assert.ok(interruptedByNotice.length >= 1, `a Spot notice handed a running job back: ${JSON.stringify(monkey.faults)}`);
    assert.ok(restarts >= lostByKill.length, "the service manager restarted every killed worker");
    assert.ok(counts.retried >= 1, "failed attempts were retried");
    assert.ok(counts["max instances"] <= MAX_SIZE, `at most ${MAX_SIZE} instances counted toward capacity`);
  });
});
