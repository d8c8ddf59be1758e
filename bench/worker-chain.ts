/**
 * bench/worker-chain: the worker's AWS call chain on each side of the processor (issue 12 §4).
 *
 *   npm run bench:worker-chain                         # 7 rounds per latency, 0 and 20 ms
 *   npm run bench:worker-chain -- --rounds 9 --latency 0,10,20,30
 *
 * One real worker (worker/worker.ts, the production adapters of aws/) runs tiny jobs whose
 * processor only copies one file, so what is measured is the worker's own overhead:
 *
 * - before: message received → processor spawned (protect, claim, log stream, download, config.json);
 * - after: processor exited → SUCCEEDED written, → message deleted, → the next poll starts (the
 *   bookkeeping that follows: events, result file, analytics line, metrics, log flush, cleanup).
 *
 * SQS, S3 and DynamoDB are the local emulators (fauxqs, dynalite), Auto Scaling the local
 * endpoint, each behind bench/support/call-latency-proxy.ts, which holds every request `--latency`
 * ms (an in-region AWS call: about 10–30 ms). CloudWatch Logs and metrics have no emulator here: an
 * in-process stand-in answers each call after the same delay. Job events go to an SQS events queue
 * (SPOTQ_EVENTS_QUEUE_URL, as the local stack does), result file and analytics line to S3.
 *
 * Rounds rotate through the latencies (so drift on a shared machine hits all alike); a warm-up
 * job per latency is run first and not counted. Figures: median of the rounds, with min–max.
 */
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { announcedWorkerStore } from "../aws/announcer-wiring.ts";
import { AwsClients } from "../aws/clients.ts";
import { AutoScalingFleetControl } from "../aws/fleet-control.ts";
import { ensureEventsQueue, EVENTS_ENV } from "../aws/job-events.ts";
import { ensureJobQueues, SqsJobQueue } from "../aws/job-queue.ts";
import { DynamoJobStore, ensureJobTable } from "../aws/job-store.ts";
import { fleetConfig, maxReceiveCount } from "../core/fleet-config.ts";
import { newDispatchId, newJobId } from "../core/job.ts";
import { resourceNames } from "../core/names.ts";
import type { JobQueue, JobStore } from "../core/ports.ts";
import type { JobRequest } from "../core/request.ts";
import { startAutoScalingServer } from "../scripts/local/autoscaling-server.ts";
import { startEmulators } from "../scripts/local/emulators.ts";
import { CloudWatchTelemetry } from "../worker/telemetry/cloudwatch.ts";
import { Worker } from "../worker/worker.ts";
import { startCallLatencyProxy, type CallLatencyProxy, type ProxiedCall } from "./support/call-latency-proxy.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "7" },
    latency: { type: "string", default: "0,20" },
    files: { type: "string", default: "1" },
    verbose: { type: "boolean", default: false },
  },
});
const ROUNDS = Number(values.rounds);
const LATENCIES = values.latency.split(",").map(Number);
const FILES = Number(values.files);
if (!(ROUNDS >= 1) || LATENCIES.some((l) => !(l >= 0)) || !(FILES >= 1)) throw new Error("--rounds ≥ 1, --latency a list of ms ≥ 0, --files ≥ 1");

/** The stand-in processor: copies the source folder into the target folder and exits. */
const COPY = `const fs=require("fs"),p=require("path");const [s,t]=process.argv.slice(1);fs.mkdirSync(t,{recursive:true});for(const f of fs.readdirSync(s))fs.copyFileSync(p.join(s,f),p.join(t,f));`;

const config = fleetConfig({
  name: "chain",
  queue: { visibilityTimeoutSeconds: 120, receiveWaitSeconds: 20 },
  jobs: { maxAttempts: 2, heartbeatSeconds: 30, timeoutSeconds: 600 },
  processor: { command: process.execPath, args: ["-e", COPY, "{source}", "{target}"] },
  fleet: { idleTimeoutSeconds: 3600, minSize: 0, maxSize: 10 },
});
const names = resourceNames(config.name);
const BUCKET = "spotq-bench";

// ---- the emulators, each behind a latency proxy ----
const emulators = await startEmulators();
const direct = emulators.clients;
const asg = await startAutoScalingServer({ group: { name: names.group, minSize: 0, maxSize: 10, desiredCapacity: 1 } });
const proxies: Record<"sqs" | "s3" | "dynamodb" | "autoscaling", CallLatencyProxy> = {
  sqs: await startCallLatencyProxy({ service: "sqs", target: emulators.settings.endpoints.sqs! }),
  s3: await startCallLatencyProxy({ service: "s3", target: emulators.settings.endpoints.s3! }),
  dynamodb: await startCallLatencyProxy({ service: "dynamodb", target: emulators.settings.endpoints.dynamodb! }),
  autoscaling: await startCallLatencyProxy({ service: "autoscaling", target: asg.endpoint }),
};
/** CloudWatch Logs and PutMetricData: no emulator, so an in-process stand-in with the same delay and the same record. */
const cloudwatchCalls: ProxiedCall[] = [];
const latency = { ms: 0 };
const setLatency = (ms: number) => {
  latency.ms = ms;
  for (const p of Object.values(proxies)) p.delayMs = ms;
};
function cloudWatchStandIn(service: string): unknown {
  return {
    async send(command: { constructor: { name: string } }) {
      const startMs = performance.now();
      if (latency.ms > 0) await new Promise((r) => setTimeout(r, latency.ms));
      cloudwatchCalls.push({ service, op: command.constructor.name.replace(/Command$/, ""), startMs, endMs: performance.now(), status: 200 });
      return {};
    },
  };
}
const allCalls = (): ProxiedCall[] => [...Object.values(proxies).flatMap((p) => p.calls), ...cloudwatchCalls];

// ---- the deployment, provisioned directly (setup is not measured) ----
await direct.s3().send(new CreateBucketCommand({ Bucket: BUCKET })).catch(() => undefined);
await ensureJobTable(direct.dynamo(), names.table);
const { queueUrl, dlqUrl } = await ensureJobQueues(direct.sqs(), {
  name: config.name,
  visibilityTimeoutSeconds: config.queue.visibilityTimeoutSeconds,
  maxReceiveCount: maxReceiveCount(config),
  dlqRetentionDays: 1,
});
const eventsQueueUrl = await ensureEventsQueue(direct.sqs(), config.name);
const instanceId = "i-0bench00000000001";
asg.group.addInstance(instanceId);
asg.group.setLifecycleState(instanceId, "InService");

// ---- the worker, wired as worker/main.ts wires it, through the proxies ----
const clients = new AwsClients({
  region: emulators.settings.region,
  endpoints: { sqs: proxies.sqs.endpoint, s3: proxies.s3.endpoint, dynamodb: proxies.dynamodb.endpoint, autoscaling: proxies.autoscaling.endpoint },
});
const marks = new Map<string, Partial<Record<"received" | "procStart" | "procExit" | "succeeded" | "deleted", number>>>();
const mark = (jobId: string, what: "received" | "procStart" | "procExit" | "succeeded" | "deleted") => {
  const m = marks.get(jobId) ?? {};
  m[what] ??= performance.now();
  marks.set(jobId, m);
};
const deliveryWarnings: string[] = [];
const fleet = new AutoScalingFleetControl(clients.autoscaling(), { groupName: asg.group.name });
const dynamo = new DynamoJobStore(clients.dynamo(), { tableName: names.table });
/** SUCCEEDED as written to the table (below the announcing layer). */
const timedStore: JobStore = {
  create: (r) => dynamo.create(r),
  get: (id) => dynamo.get(id),
  update: (id, e, p) => dynamo.update(id, e, p),
  list: (q) => dynamo.list(q),
  remove: (id) => dynamo.remove(id),
  transition: async (id, e, to, p) => {
    const r = await dynamo.transition(id, e, to, p);
    if (to === "SUCCEEDED") mark(id, "succeeded");
    return r;
  },
};
const store = announcedWorkerStore(timedStore, {
  env: { [EVENTS_ENV.queueUrl]: eventsQueueUrl },
  clients,
  config,
  bucket: BUCKET,
  fleet,
  warn: (m) => deliveryWarnings.push(m),
});
const sqsQueue = new SqsJobQueue(clients.sqs(), { queueUrl, dlqUrl });
const jobOfReceipt = new Map<string, string>();
const queue: JobQueue = {
  send: (m, o) => sqsQueue.send(m, o),
  receive: (o) => sqsQueue.receive(o),
  extend: (r, s) => sqsQueue.extend(r, s),
  release: (r, d) => sqsQueue.release(r, d),
  deadLetter: (r, why) => sqsQueue.deadLetter(r, why),
  depth: () => sqsQueue.depth(),
  delete: async (r) => {
    await sqsQueue.delete(r);
    const jobId = jobOfReceipt.get(r);
    if (jobId) mark(jobId, "deleted");
  },
};
const telemetry = new CloudWatchTelemetry(cloudWatchStandIn("logs") as CloudWatchLogsClient, cloudWatchStandIn("monitoring") as CloudWatchClient, {
  deployment: config.name,
  instanceId,
});
const workRoot = await mkdtemp(path.join(os.tmpdir(), "spotq-chain-"));
const worker = new Worker(
  { queue, store, s3: clients.s3(), telemetry, fleet, preflight: async () => ({ ok: true, checks: [] }) },
  { instanceId, config, workRoot, receiveWaitSeconds: 20, heartbeatSeconds: 30, visibilityTimeoutSeconds: 120 },
);
const warnings: string[] = [];
const succeeded = new Map<string, () => void>();
worker.on("message_received", (e) => {
  jobOfReceipt.set(e.receiptHandle, e.jobId);
  mark(e.jobId, "received");
});
worker.on("processor_started", (e) => mark(e.jobId, "procStart"));
worker.on("processor_exited", (e) => mark(e.jobId, "procExit"));
worker.on("job_succeeded", (e) => succeeded.get(e.jobId)?.());
worker.on("job_failed", (e) => warnings.push(`job ${e.jobId} FAILED: ${e.error.code}: ${e.error.message}`));
worker.on("job_retried", (e) => warnings.push(`job ${e.jobId} retried: ${e.error.code}: ${e.error.message}`));
worker.on("warning", (e) => warnings.push(e.message));
await worker.start();

/** Resolves once the worker has started its next ReceiveMessage after `afterMs` (its bookkeeping is done); returns when. */
async function nextPoll(afterMs: number): Promise<number> {
  for (;;) {
    const poll = proxies.sqs.started.find((c) => c.op === "ReceiveMessage" && c.startMs > afterMs);
    if (poll) return poll.startMs;
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Round {
  latency: number;
  before: number;
  toSucceeded: number;
  toDeleted: number;
  toNextPoll: number;
  callsBefore: number;
  callsAfter: number;
  callsBehind: number;
  serialBefore: number;
  serialAfter: number;
  before_ops: string[];
  after_ops: string[];
  behind_ops: string[];
}

/**
 * Calls in series: the longest chain of calls each of which started after the previous one's answer
 * (at a fixed delay per call, the round trips the chain cannot avoid).
 */
function serialDepth(calls: ProxiedCall[]): number {
  const sorted = [...calls].sort((a, b) => a.startMs - b.startMs);
  const depth: number[] = [];
  sorted.forEach((c, i) => {
    let d = 1;
    for (let j = 0; j < i; j++) if (sorted[j]!.endMs <= c.startMs) d = Math.max(d, depth[j]! + 1);
    depth.push(d);
  });
  return Math.max(0, ...depth);
}

async function runJob(ms: number): Promise<Round> {
  setLatency(ms);
  // Submitted directly (as the API would), while the worker long-polls through the proxy.
  const jobId = newJobId();
  const source = `jobs/${jobId}/in`;
  for (let i = 0; i < FILES; i++)
    await direct.s3().send(new PutObjectCommand({ Bucket: BUCKET, Key: `${source}/scan-${i}.bin`, Body: Buffer.alloc(4096, i) }));
  const request = { "Source Folder Path": `s3://${BUCKET}/${source}`, "Target Folder Path": `s3://${BUCKET}/jobs/${jobId}/out` } as JobRequest;
  const now = new Date().toISOString();
  const dispatchId = newDispatchId();
  await new DynamoJobStore(direct.dynamo(), { tableName: names.table }).create({ jobId, state: "QUEUED", request, submittedAt: now, updatedAt: now, attempts: 0, interruptions: 0, dispatchId });
  const done = new Promise<void>((resolve) => succeeded.set(jobId, resolve));
  await new SqsJobQueue(direct.sqs(), { queueUrl, dlqUrl }).send({ jobId, request, submittedAt: now, dispatchId });
  await Promise.race([
    done,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`job ${jobId} did not succeed within 60 s:\n  ${warnings.join("\n  ")}`)), 60_000)),
  ]);
  const m = marks.get(jobId)!;
  for (const k of ["received", "procStart", "procExit", "succeeded", "deleted"] as const) if (m[k] === undefined) throw new Error(`job ${jobId}: no ${k} mark`);
  const next = await nextPoll(m.deleted!);
  const calls = allCalls();
  const between = (a: number, b: number) => calls.filter((c) => c.startMs >= a && c.startMs < b && c.op !== "ReceiveMessage").sort((x, y) => x.startMs - y.startMs);
  const before = between(m.received!, m.procStart!);
  const after = between(m.procExit!, m.deleted!);
  // The calls on the delete's own chain: those that ended before the delete began count; the rest ran beside it.
  const deleteCall = after.filter((c) => c.op === "DeleteMessage").at(-1);
  const behind = between(m.deleted!, next);
  return {
    latency: ms,
    before: m.procStart! - m.received!,
    toSucceeded: m.succeeded! - m.procExit!,
    toDeleted: m.deleted! - m.procExit!,
    toNextPoll: next - m.procExit!,
    callsBefore: before.length,
    callsAfter: after.length,
    callsBehind: behind.length,
    serialBefore: serialDepth(before),
    serialAfter: serialDepth(after.filter((c) => c === deleteCall || (deleteCall !== undefined && c.endMs <= deleteCall.startMs))),
    before_ops: before.map((c) => `${c.service}:${c.op}`),
    after_ops: after.map((c) => `${c.service}:${c.op}`),
    behind_ops: behind.map((c) => `${c.service}:${c.op}`),
  };
}

const started = performance.now();
const rounds: Round[] = [];
try {
  for (const ms of LATENCIES) await runJob(ms); // warm-up per latency: SDK connections, the log group, first-use imports
  for (let r = 0; r < ROUNDS; r++) {
    const order = LATENCIES.map((_, i) => LATENCIES[(i + r) % LATENCIES.length]!);
    for (const ms of order) {
      const round = await runJob(ms);
      rounds.push(round);
      if (values.verbose)
        console.error(
          `round ${r + 1} @${ms} ms: before ${round.before.toFixed(0)} ms [${round.before_ops.join(" ")}]; after ${round.toDeleted.toFixed(0)} ms [${round.after_ops.join(" ")}]; behind [${round.behind_ops.join(" ")}]`,
        );
    }
  }
} finally {
  await worker.stop();
  await telemetry.close();
  clients.destroy();
  for (const p of Object.values(proxies)) await p.stop();
  await asg.stop();
  await emulators.stop();
  await rm(workRoot, { recursive: true, force: true });
}

// ---- the table ----
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fig = (xs: number[]) => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
const calls = (xs: number[]) => (Math.min(...xs) === Math.max(...xs) ? String(xs[0]) : `${median(xs)} (${Math.min(...xs)}–${Math.max(...xs)})`);
const md = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
console.log(`# bench/worker-chain: the worker's overhead on each side of the processor`);
console.log();
console.log(
  `Link: loopback to fauxqs (SQS, S3), dynalite (DynamoDB) and the local Auto Scaling endpoint, each behind a proxy holding every request the given latency; CloudWatch Logs and metrics an in-process stand-in with the same delay. One worker, ${FILES} input file(s) of 4 KiB, a processor that copies them (node -e). ${ROUNDS} rounds per latency after one warm-up each, latencies rotated per round; median (min–max) in ms. ${(
    (performance.now() - started) /
    1000
  ).toFixed(0)} s.`,
);
console.log();
console.log(
  md(["latency per call", "before: received → processor start", "calls", "in series", "after: exit → SUCCEEDED", "exit → message deleted", "calls", "in series to the delete", "exit → next poll", "calls after the delete"]),
);
console.log(md(["---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]));
for (const ms of LATENCIES) {
  const rs = rounds.filter((r) => r.latency === ms);
  console.log(
    md([
      `${ms} ms`,
      fig(rs.map((r) => r.before)),
      calls(rs.map((r) => r.callsBefore)),
      calls(rs.map((r) => r.serialBefore)),
      fig(rs.map((r) => r.toSucceeded)),
      fig(rs.map((r) => r.toDeleted)),
      calls(rs.map((r) => r.callsAfter)),
      calls(rs.map((r) => r.serialAfter)),
      fig(rs.map((r) => r.toNextPoll)),
      calls(rs.map((r) => r.callsBehind)),
    ]),
  );
}
const last = rounds.filter((r) => r.latency === LATENCIES[LATENCIES.length - 1]).at(-1)!;
console.log();
console.log(`Calls of the last round at ${last.latency} ms, in the order they started:`);
console.log(`- before the processor: ${last.before_ops.join(", ")}`);
console.log(`- processor exit → delete completed: ${last.after_ops.join(", ")}`);
console.log(`- after the delete, before the next poll: ${last.behind_ops.join(", ") || "(none)"}`);
const goal = LATENCIES.filter((ms) => ms > 0).map((ms) => {
  const rs = rounds.filter((r) => r.latency === ms);
  return `${ms} ms: before ${median(rs.map((r) => r.before)) <= 1000 ? "≤ 1 s ✓" : "> 1 s ✗"}, after (to the delete) ${median(rs.map((r) => r.toDeleted)) <= 1000 ? "≤ 1 s ✓" : "> 1 s ✗"}`;
});
if (goal.length) console.log(`\nGoal (issue 12 §4: ≤ 1 s on each side): ${goal.join("; ")}`);
if (deliveryWarnings.length) console.log(`\nDelivery warnings: ${deliveryWarnings.length} (first: ${deliveryWarnings[0]})`);
const other = warnings.filter((w) => !/ReceiveMessage|aborted/i.test(w));
if (other.length) console.log(`\nWorker warnings: ${other.length} (first: ${other[0]})`);
