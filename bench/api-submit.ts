/**
 * `npm run bench:api`: submissions per second and p50/p99 latency of `POST /jobs` over loopback
 * against the emulators, beside the floor measured in the same run: the same S3 list + DynamoDB
 * put + SQS send done directly with the SDK. A third row adds the fast path (queue depth +
 * Auto Scaling describe/raise against the local Auto Scaling endpoint).
 *
 * Options: --submissions N (default 1000 per row), --concurrency C (default 16).
 */
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { parseArgs } from "node:util";
import { silentLog } from "../api/log.ts";
import { startApiServer, type ApiServer } from "../api/server.ts";
import { AwsClients } from "../aws/clients.ts";
import { AutoScalingFleetControl } from "../aws/fleet-control.ts";
import { DynamoJobStore } from "../aws/job-store.ts";
import { SqsJobQueue } from "../aws/job-queue.ts";
import { S3ObjectStore } from "../aws/object-store.ts";
import { defaultFleetConfig } from "../core/fleet-config.ts";
import { JOB_TABLE, jobIndexAttributes, newJobId, type JobRecord } from "../core/job.ts";
import { provision, startEmulators } from "../scripts/local/emulators.ts";
import { startAutoScalingServer } from "../scripts/local/autoscaling-server.ts";

const { values } = parseArgs({
  options: { submissions: { type: "string", default: "1000" }, concurrency: { type: "string", default: "16" } },
});
const SUBMISSIONS = Number(values.submissions);
const CONCURRENCY = Number(values.concurrency);
if (!(SUBMISSIONS >= 10) || !(CONCURRENCY >= 1)) throw new Error("--submissions must be at least 10 and --concurrency at least 1");
const WARMUP = 50;
const BUCKET = "spotq-bench";
const SOURCE_PREFIX = "bench/scan-1";

const progress = (line: string) => process.stderr.write(`${line}\n`);

/** One submission; resolves when it is accepted. */
type Submit = () => Promise<void>;

interface Row {
  name: string;
  perSecond: number;
  p50: number;
  p99: number;
}

/** Runs `count` submissions `concurrency` at a time; returns each one's latency (ms) and the wall time. */
async function drive(submit: Submit, count: number, concurrency: number): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = [];
  let started = 0;
  const t0 = performance.now();
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
  return { latencies, wallMs: performance.now() - t0 };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  progress(`starting fauxqs, dynalite and the local Auto Scaling endpoint ...`);
  const emulators = await startEmulators();
  const config = defaultFleetConfig();
  const resources = await provision(emulators.clients, config, BUCKET);
  const autoscaling = await startAutoScalingServer({ group: { name: "spotq-workers", minSize: 0, maxSize: 1000, desiredCapacity: 0 } });
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
  const withFastPath = await startApiServer({ deps: { ...deps, fleet: new AutoScalingFleetControl(asClients.autoscaling(), { groupName: "spotq-workers" }) }, port: 0 });
  servers.push(plain, withFastPath);

  const request = { "Source Folder Path": `s3://${BUCKET}/${SOURCE_PREFIX}`, "Target Folder Path": `s3://${BUCKET}/bench/out-1`, "Use GPU": true, "Complete Type": 1 };
  const body = JSON.stringify(request);

  const overHttp =
    (url: string): Submit =>
    async () => {
      const res = await fetch(`${url}/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
      await res.arrayBuffer();
      if (res.status !== 202) throw new Error(`POST /jobs answered ${res.status}`);
    };

  // The floor: the same three calls the API makes for a submit, straight from the SDK, no HTTP in front.
  const sdkDirect: Submit = async () => {
    await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${SOURCE_PREFIX}/`, MaxKeys: 1000 }));
    const now = new Date();
    const record: JobRecord = {
      jobId: newJobId(now.getTime()),
      state: "QUEUED",
      request,
      submittedAt: now.toISOString(),
      updatedAt: now.toISOString(),
      attempts: 0,
      interruptions: 0,
    };
    await dynamo.send(
      new PutCommand({
        TableName: resources.tableName,
        Item: { ...record, ...jobIndexAttributes(record) },
        ConditionExpression: "attribute_not_exists(#pk)",
        ExpressionAttributeNames: { "#pk": JOB_TABLE.partitionKey },
      }),
    );
    await sqs.send(new SendMessageCommand({ QueueUrl: resources.queueUrl, MessageBody: JSON.stringify({ jobId: record.jobId, request, submittedAt: record.submittedAt }) }));
  };

  const paths: [string, Submit][] = [
    ["SDK direct (floor): S3 list + DynamoDB put + SQS send", sdkDirect],
    ["spotq `POST /jobs` over HTTP", overHttp(plain.url)],
    ["spotq `POST /jobs` + fast path (depth + Auto Scaling)", overHttp(withFastPath.url)],
  ];

  for (const [name, submit] of paths) {
    progress(`warming up: ${name} (${WARMUP})`);
    await drive(submit, WARMUP, CONCURRENCY);
  }
  // Two interleaved rounds per path, so a slow moment of the shared machine does not land on one path only.
  const results = new Map<string, { latencies: number[]; wallMs: number }>();
  for (let round = 1; round <= 2; round++) {
    for (const [name, submit] of paths) {
      progress(`round ${round}/2: ${name}: ${SUBMISSIONS / 2} submissions, ${CONCURRENCY} at a time`);
      const r = await drive(submit, SUBMISSIONS / 2, CONCURRENCY);
      const acc = results.get(name) ?? { latencies: [], wallMs: 0 };
      acc.latencies.push(...r.latencies);
      acc.wallMs += r.wallMs;
      results.set(name, acc);
    }
  }

  const rows: Row[] = paths.map(([name]) => {
    const r = results.get(name)!;
    const sorted = [...r.latencies].sort((a, b) => a - b);
    return { name, perSecond: (r.latencies.length / r.wallMs) * 1000, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  });
  const floor = rows[0]!;
  const lines = [
    `${SUBMISSIONS} submissions per row, ${CONCURRENCY} concurrent, loopback, fauxqs + dynalite in one process (Node ${process.version}, ${new Date().toISOString().slice(0, 10)})`,
    "",
    "| path | submissions/s | p50 ms | p99 ms | throughput vs floor |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows.map((r) => `| ${r.name} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${(r.perSecond / floor.perSecond).toFixed(2)}× |`),
    "",
    `Desired capacity of the local group after the fast-path row: ${autoscaling.group.desiredCapacity} (max 1000).`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);

  for (const s of servers) await s.close();
  asClients.destroy();
  await autoscaling.stop();
  await emulators.stop();
}

await main();
