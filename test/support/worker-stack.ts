import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import path from "node:path";
import { rm } from "node:fs/promises";
import { AwsClients } from "../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../aws/fleet-control.ts";
import { Imdsv2Metadata } from "../../aws/instance-metadata.ts";
import { ensureJobQueues, SqsJobQueue } from "../../aws/job-queue.ts";
import { DynamoJobStore } from "../../aws/job-store.ts";
import { fleetConfig, type FleetConfig, type FleetConfigInput } from "../../core/fleet-config.ts";
import { newDispatchId, newJobId, type JobRecord } from "../../core/job.ts";
import type { JobRequest } from "../../core/request.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../scripts/local/autoscaling-server.ts";
import { startImdsServer, type ImdsServer } from "../../scripts/local/imds-server.ts";
import { newInstanceId } from "../../scripts/local/fleet.ts";
import { WORKER_EVENT_NAMES, type WorkerEvents } from "../../worker/events.ts";
import type { WorkerOptions } from "../../worker/options.ts";
import { FileTelemetry } from "../../worker/telemetry/files.ts";
import { Worker, type WorkerDeps } from "../../worker/worker.ts";
import { useLocalAws, type LocalAws } from "./local-aws.ts";
import { fakeMeditProcessor, fakeNvidiaSmi, meditFixture, tempDir } from "./worker-fixtures.ts";

type Name = keyof WorkerEvents;
type Payload<K extends Name> = WorkerEvents[K][0];

/** Every event of a worker, recorded from its construction, so a test can wait for one that may already have happened. */
export class WorkerEventLog {
  readonly entries: { name: Name; payload: unknown }[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(worker: Worker, timeline?: string[], label?: string) {
    const names = WORKER_EVENT_NAMES;
    for (const name of names)
      worker.on(name, ((payload: unknown) => {
        this.entries.push({ name, payload });
        if (timeline && name !== "processor_output") timeline.push(`${label ?? "worker"}:${name}`);
        for (const w of this.#waiters) w();
      }) as never);
  }

  all<K extends Name>(name: K, where: (p: Payload<K>) => boolean = () => true): Payload<K>[] {
    return this.entries.filter((e) => e.name === name && where(e.payload as Payload<K>)).map((e) => e.payload as Payload<K>);
  }

  /** Resolves with the first event `name` matching `where`, past or future. */
  waitFor<K extends Name>(name: K, where: (p: Payload<K>) => boolean = () => true, timeoutMs = 45_000): Promise<Payload<K>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.all(name, where)[0];
        if (found !== undefined) {
          this.#waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        const seen = this.entries
          .filter((e) => e.name !== "processor_output")
          .map((e) => `${e.name} ${JSON.stringify(e.payload, (k, v) => (k === "record" ? "[record]" : v))}`);
        reject(new Error(`no ${name} within ${timeoutMs} ms; events so far:\n  ${seen.join("\n  ")}`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }
}

/** One worker of a test, with its own instance id, IMDS and work folder. */
export interface TestWorker {
  worker: Worker;
  events: WorkerEventLog;
  instanceId: string;
  imds: ImdsServer;
  workRoot: string;
  telemetryDir: string;
}

export interface StartWorkerOptions {
  /** Config of this worker (the test's config with these changes). */
  config?: FleetConfigInput;
  options?: Partial<WorkerOptions>;
  /** Join the Auto Scaling group (InService); @default true */
  inGroup?: boolean;
  /** Runs before the worker starts (post a notice on its IMDS, say). */
  beforeStart?: (w: TestWorker) => void | Promise<void>;
  /** Record events into this shared timeline, prefixed with `label`. */
  timeline?: string[];
  label?: string;
  /** Wraps or replaces the worker's ports (a failing store, a fleet stub that records lifecycle calls ...). */
  deps?: (deps: WorkerDeps, w: { instanceId: string; imds: ImdsServer }) => WorkerDeps;
}

/** What one test works with: its own queue pair and group, the suite's emulators and table. */
export interface WorkerTestBed {
  aws: LocalAws;
  config: FleetConfig;
  store: DynamoJobStore;
  queue: SqsJobQueue;
  bucket: string;
  s3: S3Client;
  asg: AutoScalingServer;
  /** Starts a worker against this bed; stopped after the test. */
  startWorker(o?: StartWorkerOptions): Promise<TestWorker>;
  /** Uploads the inputs, writes a QUEUED record and enqueues it, as the API does. */
  submit(inputs: Record<string, Buffer | string>, request?: Partial<JobRequest>): Promise<{ jobId: string; sourcePrefix: string; targetPrefix: string }>;
  record(jobId: string): Promise<JobRecord>;
  /** Every object under a prefix, by path relative to it. */
  readFolder(prefix: string): Promise<Map<string, Buffer>>;
  /** Messages in the DLQ (received with a short visibility, so they stay). */
  deadLetters(): Promise<{ body: { jobId: string }; reason?: string }[]>;
}

/** Worker settings that keep tests quick; the config keeps the schema's production minimums. */
export const FAST_WORKER: Partial<WorkerOptions> = {
  visibilityTimeoutSeconds: 30,
  heartbeatSeconds: 1,
  receiveWaitSeconds: 1,
  idleTimeoutSeconds: 3600,
  spotPollSeconds: 0.2,
  killGraceSeconds: 0.5,
  errorBackoffSeconds: 0.2,
  transfer: { reserveBytes: 0, partSizeBytes: 5 * 1024 * 1024, rangeSizeBytes: 5 * 1024 * 1024 },
};

/** The suite's deployment config: fake-medit as the processor, quick retries, the behaviour option declared, the preflight with a stand-in nvidia-smi. */
export const TEST_CONFIG: FleetConfigInput = {
  name: "wtest",
  queue: { visibilityTimeoutSeconds: 30, receiveWaitSeconds: 1 },
  jobs: {
    maxAttempts: 2,
    retryBackoffSeconds: 0,
    heartbeatSeconds: 2,
    timeoutSeconds: 120,
    invalidRequestExitCodes: [2],
    extraOptions: ["Fake Medit Behaviour"],
  },
  processor: fakeMeditProcessor(),
  fleet: { idleTimeoutSeconds: 10, minSize: 0, maxSize: 10, preflight: { gpuCheck: fakeNvidiaSmi(), minFreeDiskGiB: 0 } },
};

let queueCounter = 0;

/**
 * Emulators for the suite (fauxqs, dynalite), and per test: a fresh queue pair, a local Auto
 * Scaling group (min 0, desired 0; a test sets its own sizes on `asg.group`) and the workers it
 * starts, all stopped after the test.
 */
export function useWorkerTestBed(
  configInput: FleetConfigInput = TEST_CONFIG,
  bedOptions: { /** The queue's redrive threshold. @default 100 (the worker's own retry rule is under test) */ maxReceiveCount?: number } = {},
): { bed: () => WorkerTestBed } {
  const getAws = useLocalAws(configInput);
  let bed: WorkerTestBed | undefined;
  const workers: TestWorker[] = [];
  let asg: AutoScalingServer | undefined;
  let fleetClients: AwsClients | undefined;

  beforeEach(async function () {
    this.timeout(20_000);
    const aws = getAws();
    const config = aws.config;
    const name = `w${++queueCounter}-${Date.now().toString(36)}`;
    const { queueUrl, dlqUrl } = await ensureJobQueues(aws.emulators.clients.sqs(), {
      name,
      visibilityTimeoutSeconds: config.queue.visibilityTimeoutSeconds,
      maxReceiveCount: bedOptions.maxReceiveCount ?? 100, // the worker's own retry rule is under test, not the redrive safety net
      dlqRetentionDays: 1,
    });
    const store = new DynamoJobStore(aws.emulators.clients.dynamo(), { tableName: aws.resources.tableName });
    const queue = new SqsJobQueue(aws.emulators.clients.sqs(), { queueUrl, dlqUrl });
    asg = await startAutoScalingServer({
      group: { name: `${name}-workers`, minSize: 0, maxSize: 10, desiredCapacity: 0 },
    });
    const s3 = aws.emulators.clients.s3();
    const bucket = aws.resources.bucket;
    const theAsg = asg;
    const autoscaling = (fleetClients = new AwsClients({
      region: aws.emulators.settings.region,
      endpoints: { ...aws.emulators.settings.endpoints, autoscaling: theAsg.endpoint },
    })).autoscaling();

    bed = {
      aws,
      config,
      store,
      queue,
      bucket,
      s3,
      asg: theAsg,
      async startWorker(o: StartWorkerOptions = {}) {
        const instanceId = newInstanceId();
        const imds = await startImdsServer({ instanceId });
        const workRoot = await tempDir("spotq-worker-root-");
        const telemetryDir = path.join(workRoot, "telemetry");
        if (o.inGroup ?? true) {
          theAsg.group.addInstance(instanceId);
          theAsg.group.setLifecycleState(instanceId, "InService");
        }
        const cfg = fleetConfig({
          ...configInput,
          ...o.config,
          jobs: { ...configInput.jobs, ...o.config?.jobs },
          processor: { ...configInput.processor, ...o.config?.processor },
          fleet: { ...configInput.fleet, ...o.config?.fleet },
        });
        const deps: WorkerDeps = {
          queue,
          store,
          s3,
          telemetry: new FileTelemetry({ dir: telemetryDir, deployment: cfg.name, instanceId }),
          fleet: new AutoScalingFleetControl(autoscaling, { groupName: theAsg.group.name }),
          metadata: new Imdsv2Metadata({ endpoint: imds.endpoint }),
        };
        const worker = new Worker(o.deps ? o.deps(deps, { instanceId, imds }) : deps, { instanceId, config: cfg, workRoot, ...FAST_WORKER, ...o.options });
        const events = new WorkerEventLog(worker, o.timeline, o.label);
        const tw = { worker, events, instanceId, imds, workRoot, telemetryDir };
        workers.push(tw);
        await o.beforeStart?.(tw);
        await worker.start();
        return tw;
      },
      async submit(inputs, request = {}) {
        const jobId = newJobId();
        const sourcePrefix = `jobs/${jobId}/in`;
        const targetPrefix = `jobs/${jobId}/out`;
        for (const [rel, body] of Object.entries(inputs))
          await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${sourcePrefix}/${rel}`, Body: typeof body === "string" ? Buffer.from(body) : body }));
        const fixture = await meditFixture();
        const full = {
          ...fixture,
          "Source Folder Path": `s3://${bucket}/${sourcePrefix}`,
          "Target Folder Path": `s3://${bucket}/${targetPrefix}`,
          ...request,
        } as JobRequest;
        const now = new Date().toISOString();
        // As the API does (api/submit-job.ts): the record names the message's dispatch token.
        const dispatchId = newDispatchId();
        await store.create({ jobId, state: "QUEUED", request: full, submittedAt: now, updatedAt: now, attempts: 0, interruptions: 0, dispatchId });
        await queue.send({ jobId, request: full, submittedAt: now, dispatchId });
        return { jobId, sourcePrefix, targetPrefix };
      },
      async record(jobId) {
        const r = await store.get(jobId);
        if (!r) throw new Error(`no record for job ${jobId}`);
        return r;
      },
      async readFolder(prefix) {
        const out = new Map<string, Buffer>();
        let token: string | undefined;
        do {
          const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
          for (const o of r.Contents ?? []) {
            const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
            out.set(o.Key!.slice(prefix.length + 1), Buffer.from(await body.Body!.transformToByteArray()));
          }
          token = r.NextContinuationToken;
        } while (token);
        return out;
      },
      async deadLetters() {
        const r = await aws.emulators.clients.sqs().send(
          new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0, MessageAttributeNames: ["All"], WaitTimeSeconds: 0 }),
        );
        return (r.Messages ?? []).map((m) => ({ body: JSON.parse(m.Body ?? "{}"), reason: m.MessageAttributes?.reason?.StringValue }));
      },
    };
  });

  afterEach(async function () {
    this.timeout(30_000);
    for (const w of workers.splice(0)) {
      await w.worker.stop();
      await w.imds.stop();
      await rm(w.workRoot, { recursive: true, force: true });
    }
    await asg?.stop();
    fleetClients?.destroy();
    bed = undefined;
  });

  return {
    bed: () => {
      if (!bed) throw new Error("the worker test bed exists only inside a test");
      return bed;
    },
  };
}
