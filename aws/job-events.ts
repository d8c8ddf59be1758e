import type { EventBridgeClient, EventBridgeClientConfig } from "@aws-sdk/client-eventbridge";
import { CreateQueueCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { randomUUID } from "node:crypto";
import { JOB_EVENT, type JobEventEnvelope, type JobEvents, type JobStateChange } from "../core/job-events.ts";
import type { AwsClients } from "./clients.ts";
import { withContext } from "./clients.ts";

/** Environment of the job events, read by every process that changes job states (API, trigger, worker). */
export const EVENTS_ENV = {
  /** Send events to this SQS queue as EventBridge would deliver them (the local stack's `<name>-events`). */
  queueUrl: "SPOTQ_EVENTS_QUEUE_URL",
  /** An EventBridge endpoint (an emulator); without it, a process on local endpoints publishes no EventBridge events. */
  endpoint: "SPOTQ_ENDPOINT_EVENTS",
} as const;

/** The local stack's events queue: `<name>-events`. */
export function eventsQueueName(deployment: string): string {
  return `${deployment}-events`;
}

export interface PublishOptions {
  /** Aborts the call (a publish never holds up a transition for long). */
  signal?: AbortSignal;
}

/** The EventBridge SDK, loaded on first use: a process that publishes nothing (or not yet) does not pay its start-up. */
const eventBridgeSdk = () => import("@aws-sdk/client-eventbridge");

/** Job events on an EventBridge bus (source `spotq`, detail-type `spotq Job State Change`). */
export class EventBridgeJobEvents implements JobEvents {
  readonly #client: EventBridgeClient | (() => Promise<EventBridgeClient>);
  #made: Promise<EventBridgeClient> | undefined;
  readonly busName: string;

  /** `client` may be a factory, called on the first publish. */
  constructor(client: EventBridgeClient | (() => Promise<EventBridgeClient>), options: { busName: string }) {
    this.#client = client;
    this.busName = options.busName;
  }

  async publish(change: JobStateChange, options: PublishOptions = {}): Promise<void> {
    const c = this.#client;
    const client = typeof c === "function" ? await (this.#made ??= c()) : c;
    const { PutEventsCommand } = await eventBridgeSdk();
    let r;
    try {
      r = await client.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: this.busName,
              Source: JOB_EVENT.source,
              DetailType: JOB_EVENT.detailType,
              Detail: JSON.stringify(change),
              Time: new Date(change.time),
            },
          ],
        }),
        { abortSignal: options.signal },
      );
    } catch (err) {
      throw withContext(`EventBridge put ${change.state} event of job ${change.jobId}`, err);
    }
    // PutEvents answers 200 with per-entry failures (throttling, an internal error): not accepted.
    if ((r.FailedEntryCount ?? 0) > 0) {
      const e = r.Entries?.[0];
      throw new Error(`EventBridge refused the ${change.state} event of job ${change.jobId}: ${e?.ErrorCode ?? "?"}: ${e?.ErrorMessage ?? "no message"}`);
    }
  }
}

/**
 * Job events sent to an SQS queue in the envelope EventBridge gives a queue target, so a
 * consumer reads the same JSON locally as from the deployment's output queue.
 */
export class SqsJobEvents implements JobEvents {
  readonly #sqs: SQSClient;
  readonly queueUrl: string;
  readonly #region: string;
  readonly #account: string;

  constructor(sqs: SQSClient, options: { queueUrl: string; region: string; account?: string }) {
    this.#sqs = sqs;
    this.queueUrl = options.queueUrl;
    this.#region = options.region;
    this.#account = options.account ?? "000000000000";
  }

  async publish(change: JobStateChange, options: PublishOptions = {}): Promise<void> {
    const envelope: JobEventEnvelope = {
      version: "0",
      id: randomUUID(),
      "detail-type": JOB_EVENT.detailType,
      source: JOB_EVENT.source,
      account: this.#account,
      time: change.time,
      region: this.#region,
      resources: [],
      detail: change,
    };
    try {
      await this.#sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(envelope) }), { abortSignal: options.signal });
    } catch (err) {
      throw withContext(`SQS send ${change.state} event of job ${change.jobId}`, err);
    }
  }
}

/** Creates the local events queue (retention one day: `spotq events` reads without deleting). Returns its URL. */
export async function ensureEventsQueue(sqs: SQSClient, deployment: string): Promise<string> {
  const r = await sqs.send(new CreateQueueCommand({ QueueName: eventsQueueName(deployment), Attributes: { MessageRetentionPeriod: String(86_400) } }));
  if (!r.QueueUrl) throw new Error(`SQS create queue ${eventsQueueName(deployment)} returned no URL`);
  return r.QueueUrl;
}

/**
 * Where this process publishes job events, from its environment and config:
 * `SPOTQ_EVENTS_QUEUE_URL` → that queue; else, when `events.enabled`, the EventBridge bus
 * `events.busName` (in AWS, or on `SPOTQ_ENDPOINT_EVENTS`). A process on local endpoints
 * without either publishes nothing: no local run sends events to a real AWS account.
 * Undefined means no events.
 */
export function jobEventsFromEnv(env: NodeJS.ProcessEnv, clients: AwsClients, events: { enabled: boolean; busName: string }): JobEvents | undefined {
  const queueUrl = env[EVENTS_ENV.queueUrl];
  if (queueUrl) return new SqsJobEvents(clients.sqs(), { queueUrl, region: clients.settings.region });
  if (!events.enabled) return undefined;
  const endpoint = env[EVENTS_ENV.endpoint];
  const local = Object.values(clients.settings.endpoints).some(Boolean);
  if (local && !endpoint) return undefined;
  const config: EventBridgeClientConfig = {
    region: clients.settings.region,
    maxAttempts: 3,
    // An emulator does not check credentials; give it dummy ones unless real ones are set.
    ...(endpoint ? { endpoint, ...(env.AWS_ACCESS_KEY_ID ? {} : { credentials: { accessKeyId: "local", secretAccessKey: "local" } }) } : {}),
  };
  const client = async () => new (await eventBridgeSdk()).EventBridgeClient(config);
  return new EventBridgeJobEvents(client, { busName: events.busName });
}
