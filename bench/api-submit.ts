/**
 * `npm run bench:api`: submissions per second and p50/p95/p99 latency of `POST /jobs` over loopback
 * against the emulators, beside the floor measured in the same run: the same S3 list + DynamoDB
 * put + SQS send done directly with the SDK. A third row adds the fast path (queue depth +
 * Auto Scaling describe/raise against the local Auto Scaling endpoint).
 *
 * Method, so that no path is flattered:
 * - several rounds; the order of the paths rotates every round, so none always runs first (coldest)
 *   or last;
 * - before each timed batch, every path gets the same treatment: the queue is purged and desired
 *   capacity set to 0, the path is warmed with the same number of submissions, then the queue is
 *   purged and desired set to 0 again;
 * - so in every round the fast path really raises capacity from 0 (the queue it reads grows with
 *   its own submissions only); the bench counts the raises and fails if a round raised nothing;
 * - each path's throughput is divided by the floor's in the same round; the table gives the median
 *   of those ratios with their min–max. Beside it, each path's CPU per submission (this process's
 *   user + system CPU over the batch) and the floor's over it: on a shared, loaded machine the
 *   process gets the CPU in bursts and wall-clock throughput swings, while CPU per submission
 *   stays near what the work costs;
 * - the floor writes the item and sends the message the API does (the same attributes: dispatch
 *   token, source bytes, queue, origin), so the rows differ only by what the API does around them;
 * - the HTTP client is in this process too, so its CPU comes off the API rows' throughput (on AWS
 *   it runs elsewhere). By default it is node:http with a keep-alive agent, the leanest client
 *   Node has; `--client fetch` uses the global fetch (undici), which cost this process 1.5–1.8 ms
 *   of CPU a submit more than node:http against the same API (measured side by side, 2 cores):
 *   a table with it shows the client as much as the API;
 * - untimed warm-up rounds of every path come first (--warm-rounds, default 1): without them the
 *   first timed round finds the code cold, and the path that runs first in it (the floor) pays.
 *
 * By default fauxqs and dynalite run in this process, so the services' CPU comes off every row's
 * throughput (the floor's most, in proportion). `--emulators child` runs them in a child process
 * instead, as AWS runs the services outside the Lambda: this process then holds only the client,
 * the API and the SDK, and its CPU per submission is theirs alone (the child's is not counted).
 * The local Auto Scaling endpoint stays in this process either way (one round a second).
 *
 * Options: --rounds R (default 5), --submissions N (per path and round, default 200),
 * --concurrency C (default 16), --warmup W (per path and round, default 30),
 * --warm-rounds K (default 1), --client http|fetch (default http),
 * --emulators in-process|child (default in-process).
 */
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { PurgeQueueCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import http from "node:http";
import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { fastPathFor } from "../api/fast-path.ts";
import { silentLog } from "../api/log.ts";
import { startApiServer, type ApiServer } from "../api/server.ts";
import { AwsClients, type AwsSettings } from "../aws/clients.ts";
import { AutoScalingFleetControl } from "../aws/fleet-control.ts";
import { DynamoJobStore } from "../aws/job-store.ts";
import { SqsJobQueue } from "../aws/job-queue.ts";
import { S3ObjectStore } from "../aws/object-store.ts";
import { defaultFleetConfig } from "../core/fleet-config.ts";
import { JOB_TABLE, jobIndexAttributes, newDispatchId, newJobId, type JobRecord } from "../core/job.ts";
import { FAST_PATH_MIN_INTERVAL_MS } from "../core/scaling/model.ts";
import { provision, startEmulators } from "../scripts/local/emulators.ts";
import { startAutoScalingServer } from "../scripts/local/autoscaling-server.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    submissions: { type: "string", default: "200" },
    concurrency: { type: "string", default: "16" },
    warmup: { type: "string", default: "30" },
    "warm-rounds": { type: "string", default: "1" },
    client: { type: "string", default: "http" },
    emulators: { type: "string", default: "in-process" },
    /** Child mode (`--emulators child`): this file serving the emulators alone. */
    "serve-emulators": { type: "boolean", default: false },
  },
});
const ROUNDS = Number(values.rounds);
const SUBMISSIONS = Number(values.submissions);
const CONCURRENCY = Number(values.concurrency);
const WARMUP = Number(values.warmup);
const CLIENT = values.client;
const WARM_ROUNDS = Number(values["warm-rounds"]);
const EMULATORS = values.emulators;
const problems = [
  Number.isInteger(ROUNDS) && ROUNDS >= 1 ? "" : `--rounds must be a whole number of at least 1, got ${values.rounds}`,
  Number.isInteger(SUBMISSIONS) && SUBMISSIONS >= 10 ? "" : `--submissions must be a whole number of at least 10, got ${values.submissions}`,
  Number.isInteger(CONCURRENCY) && CONCURRENCY >= 1 ? "" : `--concurrency must be a whole number of at least 1, got ${values.concurrency}`,
  Number.isInteger(WARMUP) && WARMUP >= 0 ? "" : `--warmup must be a whole number of 0 or more, got ${values.warmup}`,
  Number.isInteger(WARM_ROUNDS) && WARM_ROUNDS >= 0 ? "" : `--warm-rounds must be a whole number of 0 or more, got ${values["warm-rounds"]}`,
  EMULATORS === "in-process" || EMULATORS === "child" ? "" : `--emulators must be in-process or child, got ${values.emulators}`,
  CLIENT === "http" || CLIENT === "fetch" ? "" : `--client must be http or fetch, got ${values.client}`,
].filter(Boolean);
if (problems.length) throw new Error(problems.join("; "));
const MAX_SIZE = 100_000;
const BUCKET = "spotq-bench";
const SOURCE_PREFIX = "bench/scan-1";

const progress = (line: string) => process.stderr.write(`${line}\n`);

/** One submission; resolves when it is accepted. */
type Submit = () => Promise<void>;

/** One timed batch of one path in one round. */
interface Batch {
  round: number;
  path: string;
  perSecond: number;
  /** This process's CPU (user + system) over the batch, per submission (ms). */
  cpuMs: number;
  p50: number;
  p95: number;
  p99: number;
  /** Fast path only: desired capacity after the batch (it was 0 before), and the raises seen. */
  desiredAfter?: number;
  raises?: number;
}

/** Runs `count` submissions `concurrency` at a time; returns each one's latency (ms) and the wall time. */
async function drive(submit: Submit, count: number, concurrency: number): Promise<{ latencies: number[]; wallMs: number; cpuMs: number }> {
  const latencies: number[] = [];
  let started = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < count) {
        started++;
        const t = performance.now();
        await submit();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { latencies, wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** `123 [110–140]`: the median and the range over the rounds. */
function spreadText(xs: number[], digits: number, unit = ""): string {
  if (xs.length === 1) return `${xs[0]!.toFixed(digits)}${unit}`;
  return `${median(xs).toFixed(digits)}${unit} [${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}]`;
}

async function main(): Promise<void> {
  progress(`starting fauxqs, dynalite and the local Auto Scaling endpoint ...`);
  const emulators = EMULATORS === "child" ? await startEmulatorProcess() : await startEmulators();
  const config = defaultFleetConfig();
  const resources = await provision(emulators.clients, config, BUCKET);
  const autoscaling = await startAutoScalingServer({ group: { name: "spotq-workers", minSize: 0, maxSize: MAX_SIZE, desiredCapacity: 0 } });
  const asClients = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: autoscaling.endpoint } });
  const s3 = emulators.clients.s3();
  const dynamo = emulators.clients.dynamo();
  const sqs = emulators.clients.sqs();
  for (let i = 0; i < 20; i++)
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${SOURCE_PREFIX}/part-${i}.ply`, Body: Buffer.alloc(1024, 0x61) }));

  const deps = {
    store: new DynamoJobStore(dynamo, { tableName: resources.tableName }),
    queue: new SqsJobQueue(sqs, resources),
    objects: new S3ObjectStore(s3),
    config,
    bucket: BUCKET,
    log: silentLog,
  };
  const servers: ApiServer[] = [];
  const plain = await startApiServer({ deps, port: 0 });
  const fastFleet = new AutoScalingFleetControl(asClients.autoscaling(), { groupName: "spotq-workers" });
  const withFastPath = await startApiServer({ deps: { ...deps, fleet: fastFleet }, port: 0 });
  /** The API's fast-path coalescer (one per FleetControl): the bench waits for its last round. */
  const coalescer = fastPathFor(fastFleet, deps.queue);
  servers.push(plain, withFastPath);

  const request = { "Source Folder Path": `s3://${BUCKET}/${SOURCE_PREFIX}`, "Target Folder Path": `s3://${BUCKET}/bench/out-1`, "Use GPU": true, "Complete Type": 1 };
  const body = JSON.stringify(request);

  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const overHttp = (url: string): Submit => {
    if (CLIENT === "fetch")
      return async () => {
        const res = await fetch(`${url}/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
        await res.arrayBuffer();
        if (res.status !== 202) throw new Error(`POST /jobs answered ${res.status}`);
      };
    const { hostname, port } = new URL(url);
    const headers = { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(body)) };
    return () =>
      new Promise<void>((resolve, reject) => {
        const req = http.request({ agent, hostname, port, path: "/jobs", method: "POST", headers }, (res) => {
          res.resume(); // the answer is read to its end (the socket goes back to the agent), not kept
          res.on("end", () => (res.statusCode === 202 ? resolve() : reject(new Error(`POST /jobs answered ${res.statusCode}`))));
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end(body);
      });
  };

  // The floor: the same three calls the API makes for a submit, straight from the SDK, no HTTP in
  // front, writing the same item and message (the API's record fields, its dispatch token).
  const sdkDirect: Submit = async () => {
    const list = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${SOURCE_PREFIX}/`, MaxKeys: 1000 }));
    let sourceBytes = 0;
    for (const o of list.Contents ?? []) sourceBytes += o.Size ?? 0;
    const now = new Date();
    const record: JobRecord = {
      jobId: newJobId(now.getTime()),
      state: "QUEUED",
      request,
      submittedAt: now.toISOString(),
      updatedAt: now.toISOString(),
      attempts: 0,
      interruptions: 0,
      dispatchId: newDispatchId(),
      bytes: { in: sourceBytes },
      queue: "normal",
      origin: { kind: "api" },
    };
    await dynamo.send(
      new PutCommand({
        TableName: resources.tableName,
        Item: { ...record, ...jobIndexAttributes(record) },
        ConditionExpression: "attribute_not_exists(#pk)",
        ExpressionAttributeNames: { "#pk": JOB_TABLE.partitionKey },
      }),
    );
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: resources.queueUrl,
        MessageBody: JSON.stringify({ jobId: record.jobId, request, submittedAt: record.submittedAt, dispatchId: record.dispatchId }),
      }),
    );
  };

  const FLOOR = "SDK direct (floor): S3 list + DynamoDB put + SQS send";
  const FAST = "spotq `POST /jobs` + fast path (depth + Auto Scaling)";
  const paths: [string, Submit][] = [
    [FLOOR, sdkDirect],
    ["spotq `POST /jobs` over HTTP", overHttp(plain.url)],
    [FAST, overHttp(withFastPath.url)],
  ];

  /** Every path starts from the same state: an empty queue and desired capacity 0. */
  const drain = async () => {
    await sqs.send(new PurgeQueueCommand({ QueueUrl: resources.queueUrl }));
    autoscaling.group.setDesiredCapacity(0, "control");
  };
  let raises = 0;
  autoscaling.group.on("desired_changed", (e) => {
    if (e.reason === "api" && e.after > e.before) raises++;
  });

  const batches: Batch[] = [];
  const loadAtStart = os.loadavg()[0]!;
  // Warm-up rounds (untimed) first: the first timed round would otherwise find the process's code
  // cold, and whichever path runs first in it (the floor) would pay for it.
  for (let round = -WARM_ROUNDS; round < ROUNDS; round++) {
    const n = paths.length;
    const order = paths.map((_, i) => paths[(((i + round) % n) + n) % n]!);
    for (const [name, submit] of order) {
      await drain();
      if (WARMUP > 0) await drive(submit, WARMUP, CONCURRENCY);
      await drain();
      // A batch starts at a quiet API: the coalescer no longer trusts the desired capacity it saw
      // during the warmup (the drain, not Auto Scaling, set it back to 0). Every path waits alike,
      // outside the measured time.
      await sleep(FAST_PATH_MIN_INTERVAL_MS);
      raises = 0;
      progress(`${round < 0 ? "warm-up round (untimed)" : `round ${round + 1}/${ROUNDS}`}: ${name}: ${SUBMISSIONS} submissions, ${CONCURRENCY} at a time`);
      const r = await drive(submit, SUBMISSIONS, CONCURRENCY);
      const sorted = [...r.latencies].sort((a, b) => a - b);
      const batch: Batch = {
        round,
        path: name,
        perSecond: (r.latencies.length / r.wallMs) * 1000,
        cpuMs: r.cpuMs / r.latencies.length,
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        p99: percentile(sorted, 99),
      };
      if (name === FAST) {
        // The batch's last round may be a trailing one, up to an interval after the last submit.
        await coalescer.idle();
        batch.desiredAfter = autoscaling.group.desiredCapacity;
        batch.raises = raises;
        if (raises === 0 || batch.desiredAfter === 0)
          throw new Error(`round ${round + 1}: the fast path did not raise desired capacity (desired ${batch.desiredAfter}); the row would not measure it`);
      }
      if (round >= 0) batches.push(batch);
    }
  }
  await drain();

  const of = (name: string) => batches.filter((b) => b.path === name);
  const floorOf = (round: number) => batches.find((b) => b.path === FLOOR && b.round === round)!;
  const lines = [
    `${ROUNDS} rounds × ${SUBMISSIONS} submissions per path, ${CONCURRENCY} concurrent, over loopback (client: ${CLIENT === "fetch" ? "fetch" : "node:http, keep-alive"}, in the same process) against fauxqs + dynalite ${EMULATORS === "child" ? "in a child process (the local Auto Scaling endpoint in this one)" : "in one process"}; after ${WARM_ROUNDS} untimed warm-up round${WARM_ROUNDS === 1 ? "" : "s"} of every path; path order rotated each round, each path warmed with ${WARMUP} submissions from an empty queue and desired 0 before its batch. Figures: median of the rounds [min–max]; the ratio is each round's throughput over the floor's in the same round. CPU ms/submit: this process's user + system CPU over the batch per submission (${EMULATORS === "child" ? "client, API and SDK; the emulators' child is not counted" : "client, API and emulators alike: everything runs here"}); its ratio, the floor's CPU per submission over the path's in the same round, is the throughput ratio a process with the CPU to itself would see, and moves less than throughput on a shared machine. (Node ${process.version}, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPUs, 1-minute load ${loadAtStart.toFixed(1)} at the start and ${os.loadavg()[0]!.toFixed(1)} at the end)`,
    "",
    "| path | submissions/s | p50 ms | p95 ms | p99 ms | throughput vs floor | CPU ms/submit | floor's CPU / path's |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...paths.map(([name]) => {
      const bs = of(name);
      const ratios = bs.map((b) => b.perSecond / floorOf(b.round).perSecond);
      const cpuRatios = bs.map((b) => floorOf(b.round).cpuMs / b.cpuMs);
      return `| ${name} | ${spreadText(bs.map((b) => b.perSecond), 0)} | ${spreadText(bs.map((b) => b.p50), 1)} | ${spreadText(bs.map((b) => b.p95), 1)} | ${spreadText(bs.map((b) => b.p99), 1)} | ${name === FLOOR ? "1.00×" : spreadText(ratios, 2, "×")} | ${spreadText(bs.map((b) => b.cpuMs), 2)} | ${name === FLOOR ? "1.00×" : spreadText(cpuRatios, 2, "×")} |`;
    }),
    "",
    `Fast path, desired capacity from 0 in each round: ${of(FAST)
      .map((b) => `0 → ${b.desiredAfter} (${b.raises} raises)`)
      .join(", ")}; the group's max is ${MAX_SIZE}.`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);

  agent.destroy();
  for (const s of servers) await s.close();
  asClients.destroy();
  await autoscaling.stop();
  await emulators.stop();
}

/** fauxqs + dynalite in a child process (this same file with --serve-emulators); closing its stdin stops it. */
async function startEmulatorProcess(): Promise<{ clients: AwsClients; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--serve-emulators"], { stdio: ["pipe", "pipe", "inherit"] });
  const settings = await new Promise<AwsSettings>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the emulators' process exited with code ${code} before listening`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith("SETTINGS ")) resolve(JSON.parse(line.slice("SETTINGS ".length)) as AwsSettings);
    });
  });
  const clients = new AwsClients(settings);
  return {
    clients,
    async stop() {
      clients.destroy();
      const exited = new Promise((r) => child.once("exit", r));
      child.stdin!.end();
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

if (values["serve-emulators"]) {
  // Child mode: the emulators alone in their own process, until the parent closes stdin.
  const emulators = await startEmulators();
  process.stdout.write(`SETTINGS ${JSON.stringify(emulators.settings)}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => void emulators.stop().then(() => process.exit(0)));
} else {
  await main();
}
