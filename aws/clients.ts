import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";

/** Per-service endpoint overrides: the only thing local mode changes. */
export interface AwsEndpoints {
  sqs?: string;
  s3?: string;
  dynamodb?: string;
  autoscaling?: string;
  cloudwatch?: string;
  logs?: string;
}

export interface AwsSettings {
  region: string;
  endpoints: AwsEndpoints;
}

const ENDPOINT_VARS: Record<keyof AwsEndpoints, string> = {
  sqs: "SPOTQ_ENDPOINT_SQS",
  s3: "SPOTQ_ENDPOINT_S3",
  dynamodb: "SPOTQ_ENDPOINT_DYNAMODB",
  autoscaling: "SPOTQ_ENDPOINT_AUTOSCALING",
  cloudwatch: "SPOTQ_ENDPOINT_CLOUDWATCH",
  logs: "SPOTQ_ENDPOINT_LOGS",
};

/** Reads the region and any `SPOTQ_ENDPOINT_<SERVICE>` overrides from the environment. */
export function awsSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): AwsSettings {
  const endpoints: AwsEndpoints = {};
  for (const [service, name] of Object.entries(ENDPOINT_VARS) as [keyof AwsEndpoints, string][]) {
    if (env[name]) endpoints[service] = env[name];
  }
  return { region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1", endpoints };
}

/** The environment variables that carry these settings to a child process. */
export function awsSettingsToEnv(settings: AwsSettings): Record<string, string> {
  const env: Record<string, string> = { AWS_REGION: settings.region };
  for (const [service, url] of Object.entries(settings.endpoints) as [keyof AwsEndpoints, string | undefined][]) {
    if (url) env[ENDPOINT_VARS[service]] = url;
  }
  return env;
}

/**
 * The SDK v3 clients of one process, created on first use and shared.
 * A local endpoint gets static dummy credentials (emulators do not check them), unless real ones are set.
 */
export class AwsClients {
  readonly settings: AwsSettings;
  #cache = new Map<string, unknown>();

  constructor(settings: AwsSettings = awsSettingsFromEnv()) {
    this.settings = settings;
  }

  sqs(): SQSClient {
    return this.#get("sqs", () => new SQSClient(this.config("sqs")));
  }
  s3(): S3Client {
    return this.#get("s3", () => new S3Client({ ...this.config("s3"), forcePathStyle: Boolean(this.settings.endpoints.s3) }));
  }
  dynamo(): DynamoDBDocumentClient {
    return this.#get("dynamodb", () =>
      DynamoDBDocumentClient.from(new DynamoDBClient(this.config("dynamodb")), {
        marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
      }),
    );
  }
  autoscaling(): AutoScalingClient {
    return this.#get("autoscaling", () => new AutoScalingClient(this.config("autoscaling")));
  }
  cloudwatch(): CloudWatchClient {
    return this.#get("cloudwatch", () => new CloudWatchClient(this.config("cloudwatch")));
  }
  logs(): CloudWatchLogsClient {
    return this.#get("logs", () => new CloudWatchLogsClient(this.config("logs")));
  }

  /** Client options for one service: region, endpoint override, credentials for emulators, a keep-alive pool. */
  config(service: keyof AwsEndpoints) {
    const endpoint = this.settings.endpoints[service];
    const local = Boolean(endpoint);
    return {
      region: this.settings.region,
      ...(endpoint ? { endpoint } : {}),
      ...(local && !process.env.AWS_ACCESS_KEY_ID ? { credentials: { accessKeyId: "local", secretAccessKey: "local" } } : {}),
      requestHandler: new NodeHttpHandler({
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64 }),
        connectionTimeout: 5_000,
        requestTimeout: service === "s3" ? 300_000 : 30_000,
      }),
      maxAttempts: 4,
    };
  }

  /** Closes every client's sockets, so a process or a test can exit. */
  destroy(): void {
    for (const c of this.#cache.values()) (c as { destroy(): void }).destroy();
    this.#cache.clear();
  }

  #get<T>(key: string, make: () => T): T {
    let c = this.#cache.get(key) as T | undefined;
    if (!c) {
      c = make();
      this.#cache.set(key, c);
    }
    return c;
  }
}

/** Rethrows an SDK failure with what spotq was doing, keeping the original as `cause`. */
export function withContext(what: string, err: unknown): Error {
  const e = err as { name?: string; message?: string };
  const wrapped = new Error(`${what} failed: ${e?.name && e.name !== "Error" ? `${e.name}: ` : ""}${e?.message ?? String(err)}`, {
    cause: err,
  });
  wrapped.name = e?.name ?? "Error";
  return wrapped;
}
