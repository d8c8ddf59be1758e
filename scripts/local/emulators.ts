import { CreateBucketCommand, HeadBucketCommand } from "@aws-sdk/client-s3";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import dynalite from "dynalite";
import { buildApp } from "fauxqs";
import { AwsClients, type AwsSettings } from "../../aws/clients.ts";
import { ensureJobQueues } from "../../aws/job-queue.ts";
import { ensureJobTable } from "../../aws/job-store.ts";
import { maxReceiveCount, type FleetConfig } from "../../core/fleet-config.ts";
import { resourceNames } from "../../core/names.ts";

/** The local stand-ins for AWS: fauxqs (SQS + S3) and dynalite (DynamoDB), in this process. */
export interface LocalEmulators {
  settings: AwsSettings;
  clients: AwsClients;
  /** Calls `listener` for every object put into the emulated S3 (PutObject, multipart, copy); returns the unsubscribe. */
  onS3Upload(listener: S3UploadListener): () => void;
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  host?: string;
  /** 0 picks a free port. @default 0 */
  fauxqsPort?: number;
  /** 0 picks a free port. @default 0 */
  dynamoPort?: number;
  /** Keep S3 objects as files here instead of in memory. */
  s3StorageDir?: string;
  /**
   * Keep everything on disk under this folder, so a restart on the same folder finds it again:
   * SQS queues and messages in `sqs/` (fauxqs's SQLite store), S3 buckets and objects as files in
   * `s3/`, DynamoDB tables and items in `dynamodb/` (dynalite's LevelDB). @default in memory
   */
  dataDir?: string;
  region?: string;
}

/** The folders of {@link EmulatorOptions.dataDir}. */
export function emulatorDataDirs(dataDir: string): { sqs: string; s3: string; dynamodb: string } {
  return { sqs: path.join(dataDir, "sqs"), s3: path.join(dataDir, "s3"), dynamodb: path.join(dataDir, "dynamodb") };
}

/**
 * fauxqs (2.4.1) moves an in-flight message whose visibility timeout ran out back to the queue only
 * when something receives, so GetQueueAttributes keeps counting it in flight. SQS makes it visible
 * as soon as its timeout runs out, and the local queue-depth alarm depends on that (a job whose
 * worker died must bring an instance back even when no worker is polling). Reading a queue's
 * attributes therefore runs the queue's timers first. Patched once, on fauxqs's own module.
 */
async function makeExpiredMessagesVisible(): Promise<void> {
  const storeFile = path.join(path.dirname(fileURLToPath(import.meta.resolve("fauxqs"))), "sqs", "sqsStore.js");
  const { SqsQueue } = (await import(pathToFileURL(storeFile).href)) as {
    SqsQueue: { prototype: { getAttribute(name: string): unknown; processTimers(): void; __spotqPatched?: boolean } };
  };
  const proto = SqsQueue.prototype;
  if (proto.__spotqPatched) return;
  const getAttribute = proto.getAttribute;
  proto.getAttribute = function (this: typeof proto, name: string) {
    if (name.startsWith("ApproximateNumberOfMessages")) this.processTimers();
    return getAttribute.call(this, name);
  };
  proto.__spotqPatched = true;
}

/**
 * fauxqs (2.4.1) with its SQLite store loses a message released with ChangeMessageVisibility 0:
 * `changeVisibility` drops the message from the in-flight map, then `updateMessageReady` writes
 * NULL into `approximate_receive_count`, a NOT NULL column. The write throws before the message
 * is put back among the visible ones, the call answers 500, and the SDK's retry gets
 * MessageNotInflight: the message is in no list any more and never comes back (found by the fleet
 * chaos run, seed 383887745: a draining worker's release). SQS keeps a message's receive count and
 * first receive time when it becomes visible again, so the patched write clears only the receipt
 * handle and the deadline. Patched once, on fauxqs's own module.
 */
async function keepReleasedMessages(): Promise<void> {
  const { PersistenceManager } = await fauxqsModule<{
    PersistenceManager: {
      prototype: { updateMessageReady(messageId: string): void; __spotqPatched?: boolean; db: { prepare(sql: string): { run(...a: unknown[]): unknown } } };
    };
  }>("persistence.js");
  const proto = PersistenceManager.prototype;
  if (proto.__spotqPatched) return;
  const statements = new WeakMap<object, { run(...a: unknown[]): unknown }>();
  proto.updateMessageReady = function (this: typeof proto, messageId: string) {
    let ready = statements.get(this);
    if (!ready) {
      ready = this.db.prepare("UPDATE sqs_messages SET receipt_handle = NULL, visibility_deadline = NULL WHERE message_id = ?");
      statements.set(this, ready);
    }
    ready.run(messageId);
  };
  proto.__spotqPatched = true;
}

/** A fauxqs module of its own dist folder (the package exports only its entry). */
async function fauxqsModule<T>(relative: string): Promise<T> {
  const dist = path.dirname(fileURLToPath(import.meta.resolve("fauxqs")));
  return (await import(pathToFileURL(path.join(dist, ...relative.split("/"))).href)) as T;
}

interface FauxqsStores {
  sqsStore: { persistence?: unknown; allQueues(): { persistence?: unknown }[] };
  snsStore: { persistence?: unknown };
  s3Store: { persistence?: unknown };
}
interface FauxqsPersistence {
  load?(sqs: unknown, sns: unknown, s3: unknown): void;
  loadSqsAndSns?(sqs: unknown, sns: unknown): void;
  loadS3?(s3: unknown): void;
  close(): void;
}

/**
 * Starts fauxqs (SQS + S3) listening on `host` only. fauxqs's own `startFauxqs` (2.4.1) always
 * listens on 0.0.0.0, which would put an unauthenticated S3 and SQS on every interface of the
 * machine; this does what `startFauxqs` does (stores, optional persistence loaded before use,
 * the app) and listens on the given address.
 */
async function startFauxqsServer(o: { host: string; port: number; region: string; sqsDataDir?: string; s3StorageDir?: string }): Promise<{
  port: number;
  /** fauxqs's message spy: every SQS, SNS and S3 event (the local S3 notifications listen to it). */
  spy: Spy;
  stop(): Promise<void>;
}> {
  const [{ SqsStore }, { SnsStore }, { S3Store }] = await Promise.all([
    fauxqsModule<{ SqsStore: new () => FauxqsStores["sqsStore"] }>("sqs/sqsStore.js"),
    fauxqsModule<{ SnsStore: new () => FauxqsStores["snsStore"] }>("sns/snsStore.js"),
    fauxqsModule<{ S3Store: new () => FauxqsStores["s3Store"] }>("s3/s3Store.js"),
  ]);
  const stores = { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store: new S3Store() };
  const persistence: FauxqsPersistence[] = [];
  if (o.sqsDataDir) {
    // SQLite (node:sqlite) for queues and messages: ready, delayed and in flight with their deadlines.
    const { PersistenceManager } = await fauxqsModule<{ PersistenceManager: new (dir: string) => FauxqsPersistence }>("persistence.js");
    const sqs = new PersistenceManager(o.sqsDataDir);
    sqs.loadSqsAndSns!(stores.sqsStore, stores.snsStore);
    stores.sqsStore.persistence = sqs;
    stores.snsStore.persistence = sqs;
    for (const q of stores.sqsStore.allQueues()) q.persistence = sqs;
    persistence.push(sqs);
  }
  if (o.s3StorageDir) {
    // Objects as plain files (with their metadata, ETag and parts beside them), read back on start.
    const { FileS3Persistence } = await fauxqsModule<{ FileS3Persistence: new (dir: string) => FauxqsPersistence }>("s3/fileS3Persistence.js");
    const s3 = new FileS3Persistence(o.s3StorageDir);
    s3.loadS3!(stores.s3Store);
    stores.s3Store.persistence = s3;
    persistence.push(s3);
  }
  // The message spy, as startFauxqs({ messageSpies: true }) wires it: S3 uploads feed the local
  // stand-in of S3 event notifications (scripts/local/s3-trigger.ts).
  const { MessageSpy } = await fauxqsModule<{ MessageSpy: new () => Spy }>("spy.js");
  const spy = new MessageSpy();
  for (const store of Object.values(stores)) (store as { spy?: Spy }).spy = spy;
  const app = buildApp({ logger: false, host: o.host, defaultRegion: o.region, stores: stores as never });
  app.addHook("onClose", async () => {
    for (const p of persistence) p.close();
  });
  try {
    await app.listen({ port: o.port, host: o.host });
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : o.port;
  return { port, spy, stop: () => app.close() };
}

/** Starts fauxqs and dynalite on loopback and returns SDK clients pointed at them. */
export async function startEmulators(options: EmulatorOptions = {}): Promise<LocalEmulators> {
  const host = options.host ?? "127.0.0.1";
  const region = options.region ?? "us-east-1";
  const dirs = options.dataDir ? emulatorDataDirs(options.dataDir) : undefined;
  await makeExpiredMessagesVisible();
  await keepReleasedMessages();
  const s3StorageDir = dirs?.s3 ?? options.s3StorageDir;
  const fauxqs = await startFauxqsServer({
    host,
    port: options.fauxqsPort ?? 0,
    region,
    ...(dirs ? { sqsDataDir: dirs.sqs } : {}),
    ...(s3StorageDir ? { s3StorageDir } : {}),
  });
  if (dirs) mkdirSync(dirs.dynamodb, { recursive: true });
  const dyn = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(dirs ? { path: dirs.dynamodb } : {}) });
  try {
    await new Promise<void>((resolve, reject) => {
      dyn.once("error", reject);
      dyn.listen(options.dynamoPort ?? 0, host, () => resolve());
    });
  } catch (err) {
    await new Promise<void>((resolve) => dyn.close(() => resolve()));
    await fauxqs.stop();
    throw err;
  }
  const port = (dyn.address() as { port: number }).port;
  const fauxqsUrl = `http://${host}:${fauxqs.port}`;
  const settings: AwsSettings = {
    region,
    endpoints: { sqs: fauxqsUrl, s3: fauxqsUrl, dynamodb: `http://${host}:${port}` },
  };
  const clients = new AwsClients(settings);
  return {
    settings,
    clients,
    onS3Upload: s3UploadsOf(fauxqs.spy),
    async stop() {
      clients.destroy();
      await fauxqs.stop();
      await new Promise<void>((resolve) => dyn.close(() => resolve()));
    },
  };
}

/** Names of a deployment's resources. */
export interface Resources {
  bucket: string;
  tableName: string;
  queueUrl: string;
  dlqUrl: string;
  /** `<name>-jobs-high`, with `queue.highPriority.enabled`. */
  highQueueUrl?: string;
  /** `<name>-jobs-ondemand`, with `scaling.onDemandFallback`. */
  onDemandQueueUrl?: string;
}

/** Creates the bucket, the queue with its DLQ and the jobs table, as infra would, from the fleet config. */
export async function provision(clients: AwsClients, config: FleetConfig, bucket = "spotq-local"): Promise<Resources> {
  const s3 = clients.s3();
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
  const tableName = resourceNames(config.name).table;
  await ensureJobTable(clients.dynamo(), tableName);
  const queues = await ensureJobQueues(clients.sqs(), {
    name: config.name,
    visibilityTimeoutSeconds: config.queue.visibilityTimeoutSeconds,
    maxReceiveCount: maxReceiveCount(config),
    dlqRetentionDays: config.queue.dlqRetentionDays,
    high: config.queue.highPriority.enabled,
    onDemand: config.scaling.onDemandFallback !== undefined,
  });
  return { bucket, tableName, ...queues };
}

// ---- S3 uploads, for the local S3 event notifications (issue 10) ----

/** Told of one object put into the emulated S3. Called synchronously inside fauxqs: defer any work. */
export type S3UploadListener = (bucket: string, key: string) => void;

type SpyEvent = { service: string; status: string; bucket?: string; key?: string };
type Spy = { waitForMessage(filter: (m: SpyEvent) => boolean): Promise<unknown> };

/**
 * fauxqs (2.4.1) has no bucket notifications, but its message spy sees every upload. A waiter
 * whose filter never matches is offered each new spy event as it happens, and never resolves:
 * a push subscription through fauxqs's public spy API, with no polling. Uploads made before the
 * subscription (the spy's buffer, scanned at registration) are not reported.
 */
function s3UploadsOf(spy: Spy): (listener: S3UploadListener) => () => void {
  return (listener) => {
    let active = true;
    const subscribe = () => {
      let registering = true;
      spy
        .waitForMessage((m) => {
          if (active && !registering && m.service === "s3" && m.status === "uploaded" && m.bucket && m.key) listener(m.bucket, m.key);
          return false;
        })
        .catch(() => {
          if (active) subscribe(); // the spy's buffer was cleared: subscribe again
        });
      registering = false;
    };
    subscribe();
    return () => {
      active = false;
    };
  };
}
