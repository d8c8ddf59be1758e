import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { AwsClients } from "../../../aws/clients.ts";
import { parseQueueMessage } from "../../../aws/job-queue.ts";
import { DynamoJobStore } from "../../../aws/job-store.ts";
import { StaleTransitionError } from "../../../core/errors.ts";
import type { JobRecord } from "../../../core/job.ts";
import { need, type Target } from "../target.ts";

export interface RedriveResult {
  redriven: string[];
  /** Messages left in the DLQ, with why. */
  skipped: { id: string; reason: string }[];
  /** Messages of jobs already finished otherwise (SUCCEEDED, CANCELLED): removed from the DLQ. */
  discarded: string[];
}

/**
 * Moves the DLQ's messages back to the jobs queue and makes each job's record consistent first:
 * a FAILED job goes back to QUEUED with a fresh attempt budget (its earlier attempts stay in
 * attemptHistory); a record the queue's redrive policy parked while it still said QUEUED or
 * RUNNING is set to QUEUED. A message whose job finished otherwise is dropped; one that is not a
 * job stays in the DLQ for a human.
 */
export async function redrive(target: Target, o: { max?: number }, out: (s: string) => void): Promise<RedriveResult> {
  const queueUrl = need(target, "queueUrl", "redrive");
  const dlqUrl = need(target, "dlqUrl", "redrive");
  const tableName = need(target, "tableName", "redrive");
  const clients = new AwsClients(target.aws);
  const sqs = clients.sqs();
  const store = new DynamoJobStore(clients.dynamo(), { tableName });
  const result: RedriveResult = { redriven: [], skipped: [], discarded: [] };
  const max = o.max ?? Infinity;
  try {
    while (result.redriven.length + result.discarded.length < max) {
      const r = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1, VisibilityTimeout: 60 }),
      );
      const m = r.Messages?.[0];
      if (!m?.ReceiptHandle) break;
      const msg = parseQueueMessage(m.Body);
      if (typeof msg === "string") {
        result.skipped.push({ id: m.MessageId ?? "?", reason: msg });
        continue; // stays in the DLQ (becomes visible again after 60 s)
      }
      const job = await store.get(msg.jobId);
      if (!job) {
        result.skipped.push({ id: msg.jobId, reason: "no job record (expired or removed)" });
        continue;
      }
      if (job.state === "SUCCEEDED" || job.state === "CANCELLED" || job.state === "CANCELLING") {
        await sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: m.ReceiptHandle }));
        result.discarded.push(msg.jobId);
        out(`${msg.jobId}: already ${job.state}, dropped from the DLQ`);
        continue;
      }
      try {
        await requeue(store, job);
      } catch (err) {
        if (!(err instanceof StaleTransitionError)) throw err;
        result.skipped.push({ id: msg.jobId, reason: err.message });
        continue;
      }
      // Send before delete: a crash in between leaves a duplicate, which the worker's conditional writes absorb.
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(msg) }));
      await sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: m.ReceiptHandle }));
      result.redriven.push(msg.jobId);
      out(`${msg.jobId}: ${job.state} -> QUEUED, back on the jobs queue`);
    }
  } finally {
    clients.destroy();
  }
  out(
    `redrove ${result.redriven.length} job(s)` +
      (result.discarded.length ? `, dropped ${result.discarded.length} finished` : "") +
      (result.skipped.length ? `, left ${result.skipped.length} in the DLQ: ${result.skipped.map((s) => `${s.id} (${s.reason})`).join("; ")}` : ""),
  );
  return result;
}

async function requeue(store: DynamoJobStore, job: JobRecord): Promise<void> {
  if (job.state === "QUEUED") return; // parked by the redrive policy before any worker moved it
  // A fresh attempt budget: earlier attempts stay in attemptHistory, marked redriven, so the worker no
  // longer counts them. `attempts` keeps counting up: it guards the conditional writes and names log streams.
  await store.transition(job.jobId, { state: job.state, attempts: job.attempts }, "QUEUED", {
    attemptHistory: (job.attemptHistory ?? []).map((a) => ({ ...a, redriven: true })),
    finishedAt: undefined,
    instanceId: undefined,
    progress: undefined,
  });
}
