import { PutObjectCommand } from "@aws-sdk/client-s3";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { readFileSync } from "node:fs";
import { createApi, type ApiDeps } from "../../../api/app.ts";
import type { ApiLog, LogFields } from "../../../api/log.ts";
import { DynamoJobStore } from "../../../aws/job-store.ts";
import { queueDepth, SqsJobQueue } from "../../../aws/job-queue.ts";
import { S3ObjectStore } from "../../../aws/object-store.ts";
import type { FleetConfigInput } from "../../../core/fleet-config.ts";
import { JOB_TABLE } from "../../../core/job.ts";
import { useLocalAws, type LocalAws } from "../../support/local-aws.ts";

/** The bucket the test deployment serves. */
export const BUCKET = "spotq-api-test";
/** A source folder the harness uploads: three objects, 600 bytes, plus a console "folder" marker. */
export const SOURCE = { prefix: "scans/case-1", objects: 3, bytes: 600 } as const;

/** The Medit fixture, exactly as a user sends it. */
export const FIXTURE = JSON.parse(readFileSync(new URL("../../fixtures/medit-request.json", import.meta.url), "utf8")) as Record<string, unknown>;

/** The fixture pointed at the uploaded source folder of the test bucket. */
export function fixtureRequest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...FIXTURE,
    "Source Folder Path": `s3://${BUCKET}/${SOURCE.prefix}`,
    "Target Folder Path": `s3://${BUCKET}/results/case-1`,
    ...overrides,
  };
}

/** A log that keeps its lines, to assert what the API reported. */
export interface CapturedLog extends ApiLog {
  lines: ({ level: string; event: string } & LogFields)[];
}

export function captureLog(): CapturedLog {
  const lines: CapturedLog["lines"] = [];
  return {
    lines,
    info: (event, fields) => lines.push({ level: "info", event, ...fields }),
    warn: (event, fields) => lines.push({ level: "warn", event, ...fields }),
    error: (event, fields) => lines.push({ level: "error", event, ...fields }),
  };
}

export interface ApiHarness {
  aws: LocalAws;
  /** The real adapters on the emulators. */
  deps: ApiDeps;
  /** A fresh app on the harness's adapters, with any of them replaced (failing or counting stand-ins). */
  app(overrides?: Partial<ApiDeps>): ReturnType<typeof createApi> & { log: CapturedLog };
  /** Messages on the jobs queue: visible + in flight + delayed. */
  queuedMessages(): Promise<number>;
  /** Job items in the table (idempotency items excluded). */
  jobItems(): Promise<number>;
  /** Uploads objects (key → body) into the test bucket. */
  upload(objects: Record<string, string>): Promise<void>;
}

/**
 * Emulators (fauxqs + dynalite on free ports) for the enclosing suite, the test deployment
 * provisioned from `config`, the source folder uploaded, and the real adapters wired.
 */
export function useApiHarness(config: FleetConfigInput = {}): () => ApiHarness {
  const aws = useLocalAws(config, BUCKET);
  let harness: ApiHarness | undefined;
  before(async () => {
    const env = aws();
    const clients = env.emulators.clients;
    const deps: ApiDeps = {
      store: new DynamoJobStore(clients.dynamo(), { tableName: env.resources.tableName }),
      queue: new SqsJobQueue(clients.sqs(), { queueUrl: env.resources.queueUrl, dlqUrl: env.resources.dlqUrl }),
      ...(env.resources.highQueueUrl ? { highQueue: new SqsJobQueue(clients.sqs(), { queueUrl: env.resources.highQueueUrl, dlqUrl: env.resources.dlqUrl }) } : {}),
      objects: new S3ObjectStore(clients.s3()),
      config: env.config,
      bucket: BUCKET,
    };
    const upload = async (objects: Record<string, string>) => {
      for (const [Key, Body] of Object.entries(objects)) await clients.s3().send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: Buffer.from(Body) }));
    };
    await upload({
      [`${SOURCE.prefix}/`]: "",
      [`${SOURCE.prefix}/scan-001.ply`]: "a".repeat(100),
      [`${SOURCE.prefix}/scan-002.ply`]: "b".repeat(200),
      [`${SOURCE.prefix}/meta/info.json`]: "c".repeat(300),
    });
    harness = {
      aws: env,
      deps,
      app(overrides = {}) {
        const log = captureLog();
        return Object.assign(createApi({ ...deps, log, ...overrides }), { log });
      },
      async queuedMessages() {
        const d = await queueDepth(clients.sqs(), env.resources.queueUrl);
        return d.visible + d.inFlight + d.delayed;
      },
      async jobItems() {
        let count = 0;
        let start: Record<string, unknown> | undefined;
        do {
          const r = await clients.dynamo().send(
            new ScanCommand({
              TableName: env.resources.tableName,
              Select: "COUNT",
              FilterExpression: "attribute_exists(#l)",
              ExpressionAttributeNames: { "#l": JOB_TABLE.listKeyAttribute },
              ExclusiveStartKey: start,
            }),
          );
          count += r.Count ?? 0;
          start = r.LastEvaluatedKey;
        } while (start);
        return count;
      },
      upload,
    };
  });
  return () => {
    if (!harness) throw new Error("the API harness is not started: call useApiHarness() inside a describe()");
    return harness;
  };
}

/** POSTs a JSON body (an object is stringified; a string is sent as is). */
export function postJob(
  app: { request: (path: string, init: RequestInit) => Response | Promise<Response> },
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return Promise.resolve(
    app.request("/jobs", {
      method: "POST",
      body: typeof body === "string" ? body : JSON.stringify(body),
      headers: { "Content-Type": "application/json", ...headers },
    }),
  );
}

/** The `{ error }` body of an error answer. */
export interface ErrorAnswer {
  error: { code: string; message: string; problems?: { field: string; reason: string }[]; [k: string]: unknown };
}

/**
 * The real adapter with some methods replaced: the rest are called on the adapter itself
 * (its private fields need the real `this`).
 */
export function overriding<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, prop) {
      if (prop in overrides) return overrides[prop as keyof T];
      const v = Reflect.get(t, prop, t);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}
