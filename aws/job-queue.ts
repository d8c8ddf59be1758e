import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { QueueMessage } from "../core/job.ts";
import { isJobId } from "../core/job.ts";
import type { JobQueue, QueueDepth, ReceivedJob } from "../core/ports.ts";
import { withContext } from "./clients.ts";

export interface SqsJobQueueOptions {
  queueUrl: string;
  dlqUrl: string;
  /** Told about a message that is not a job (it goes straight to the DLQ). */
  onMalformed?: (messageId: string, reason: string) => void;
}

/** The jobs queue on SQS. */
export class SqsJobQueue implements JobQueue {
  readonly #sqs: SQSClient;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  readonly #onMalformed: (messageId: string, reason: string) => void;

  constructor(sqs: SQSClient, options: SqsJobQueueOptions) {
    this.#sqs = sqs;
    this.queueUrl = options.queueUrl;
    this.dlqUrl = options.dlqUrl;
    this.#onMalformed = options.onMalformed ?? (() => undefined);
  }

  /** Sends the message as it is: a writer stamps `dispatchId` (core/job.ts newDispatchId) and records the same token. */
  async send(message: QueueMessage, options: { delaySeconds?: number } = {}): Promise<string> {
    try {
      const r = await this.#sqs.send(
        new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(message), DelaySeconds: options.delaySeconds }),
      );
      return r.MessageId ?? "";
    } catch (err) {
      throw withContext(`SQS send message for job ${message.jobId}`, err);
    }
  }

  async receive(options: { waitSeconds: number; visibilitySeconds?: number; signal?: AbortSignal }): Promise<ReceivedJob | undefined> {
    let r;
    try {
      r = await this.#sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: options.waitSeconds,
          VisibilityTimeout: options.visibilitySeconds,
          MessageSystemAttributeNames: ["ApproximateReceiveCount", "SentTimestamp"],
        }),
        { abortSignal: options.signal },
      );
    } catch (err) {
      throw withContext("SQS receive message", err);
    }
    const m = r.Messages?.[0];
    if (!m?.ReceiptHandle) return undefined;
    const received = {
      messageId: m.MessageId ?? "",
      receiptHandle: m.ReceiptHandle,
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
      sentAt: Number(m.Attributes?.SentTimestamp ?? Date.now()),
    };
    const parsed = parseQueueMessage(m.Body);
    if (typeof parsed === "string") {
      // A body that is not a job can never be processed: park it in the DLQ for a human.
      this.#onMalformed(received.messageId, parsed);
      await this.deadLetter({ ...received, message: { jobId: "", request: {} as QueueMessage["request"], submittedAt: "" } }, parsed, m.Body);
      return undefined;
    }
    return { ...received, message: parsed };
  }

  async extend(receiptHandle: string, seconds: number): Promise<void> {
    await this.#visibility(receiptHandle, seconds, "extend visibility");
  }

  async release(receiptHandle: string, delaySeconds = 0): Promise<void> {
    await this.#visibility(receiptHandle, delaySeconds, "release message");
  }

  async delete(receiptHandle: string): Promise<void> {
    try {
      await this.#sqs.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receiptHandle }));
    } catch (err) {
      throw withContext("SQS delete message", err);
    }
  }

  async deadLetter(received: ReceivedJob, reason: string, rawBody?: string): Promise<void> {
    try {
      await this.#sqs.send(
        new SendMessageCommand({
          QueueUrl: this.dlqUrl,
          MessageBody: rawBody ?? JSON.stringify(received.message),
          MessageAttributes: {
            reason: { DataType: "String", StringValue: reason.slice(0, 1000) || "unknown" },
            receiveCount: { DataType: "Number", StringValue: String(received.receiveCount) },
          },
        }),
      );
    } catch (err) {
      throw withContext(`SQS send job ${received.message.jobId || received.messageId} to the DLQ`, err);
    }
    await this.delete(received.receiptHandle);
  }

  async depth(): Promise<QueueDepth> {
    return queueDepth(this.#sqs, this.queueUrl);
  }

  async #visibility(receiptHandle: string, seconds: number, what: string): Promise<void> {
    try {
      await this.#sqs.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }),
      );
    } catch (err) {
      throw withContext(`SQS ${what}`, err);
    }
  }
}

/** Visible, in-flight and delayed message counts of a queue. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<QueueDepth> {
  try {
    const r = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
      }),
    );
    const a = r.Attributes ?? {};
    return {
      visible: Number(a.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  } catch (err) {
    throw withContext("SQS get queue attributes", err);
  }
}

/** The body as a job message, or the reason it is not one. */
export function parseQueueMessage(body: string | undefined): QueueMessage | string {
  let v: unknown;
  try {
    v = JSON.parse(body ?? "");
  } catch {
    return "message body is not JSON";
  }
  const m = v as Partial<QueueMessage>;
  if (!m || typeof m !== "object") return "message body is not an object";
  if (!isJobId(m.jobId)) return "message has no valid jobId";
  if (!m.request || typeof m.request !== "object") return "message has no request";
  if (typeof m.submittedAt !== "string") return "message has no submittedAt";
  if (m.dispatchId !== undefined && (typeof m.dispatchId !== "string" || m.dispatchId === "")) return "message has a dispatchId that is not a non-empty string";
  return m as QueueMessage;
}

/**
 * Creates the jobs queue and its DLQ as infra does (redrive after `maxReceiveCount` receives),
 * for the local stack and tests. Returns their URLs.
 */
export async function ensureJobQueues(
  sqs: SQSClient,
  options: { name: string; visibilityTimeoutSeconds: number; maxReceiveCount: number; dlqRetentionDays: number },
): Promise<{ queueUrl: string; dlqUrl: string }> {
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${options.name}-jobs-dlq`,
      Attributes: { MessageRetentionPeriod: String(options.dlqRetentionDays * 86_400) },
    }),
  );
  const dlqUrl = dlq.QueueUrl!;
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] }));
  const q = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${options.name}-jobs`,
      Attributes: {
        VisibilityTimeout: String(options.visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: attrs.Attributes?.QueueArn, maxReceiveCount: options.maxReceiveCount }),
      },
    }),
  );
  return { queueUrl: q.QueueUrl!, dlqUrl };
}
