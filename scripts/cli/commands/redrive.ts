import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { AwsClients } from "../../../aws/clients.ts";
import { parseQueueMessage } from "../../../aws/job-queue.ts";
import { DynamoJobStore } from "../../../aws/job-store.ts";
import { StaleTransitionError } from "../../../core/errors.ts";
import { LEGACY_DISPATCH_ID, matchDispatch, newDispatchId, type JobRecord, type QueueMessage } from "../../../core/job.ts";
import { need, type Target } from "../target.ts";

export interface RedriveResult {
  redriven: string[];
  /** Messages left in the DLQ, with why. */
  skipped: { id: string; reason: string }[];
  /** Messages of jobs already finished otherwise (SUCCEEDED, CANCELLED): removed from the DLQ. */
  discarded: string[];
}

/**
 * Moves the DLQ's messages back to the jobs queue (a high-priority job to the high-priority queue,
 * when the deployment has one) and makes each job's record consistent first:
 * a FAILED job goes back to QUEUED with a fresh attempt budget (its earlier attempts stay in
 * attemptHistory); a record the queue's redrive policy parked while it still said QUEUED or
 * RUNNING is set to QUEUED. A message whose job finished otherwise is dropped; so is a stale copy
 * of a RUNNING job (its dispatch token is not the record's: the running attempt holds the live
 * message). One that is not a job stays in the DLQ for a human.
 *
 * Each redriven job gets a fresh dispatch token (CONTRACTS §5), in the order the worker's hand-back
 * uses: the record first (conditional; the DLQ copy's token kept as `previousDispatchId`), then the
 * new message, then the DLQ copy is deleted. A crash after the record write leaves the DLQ copy,
 * which the next redrive adopts; a failed delete leaves a copy whose token no longer matches.
 */
export async function redrive(target: Target, o: { max?: number }, out: (s: string) => void): Promise<RedriveResult> {
  const queueUrl = need(target, "queueUrl", "redrive");
  const dlqUrl = need(target, "dlqUrl", "redrive");
  const tableName = need(target, "tableName", "redrive");
  const highQueueUrl = target.deployment?.highQueueUrl;
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
      if (job.state === "RUNNING" && matchDispatch(msg.dispatchId, job) === "stale") {
        await sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: m.ReceiptHandle }));
        result.discarded.push(msg.jobId);
        out(`${msg.jobId}: a stale copy (the job runs with another message), dropped from the DLQ`);
        continue;
      }
      const dispatchId = newDispatchId();
      // The queue of its priority, as `POST /jobs/{id}/redrive` picks it (a job the On-Demand
      // fallback had taken starts over on Spot; a high job goes to the jobs queue when the
      // deployment has no high queue).
      const lane = job.priority === "high" && highQueueUrl ? { kind: "high" as const, url: highQueueUrl } : { kind: "normal" as const, url: queueUrl };
      try {
        await requeue(store, job, msg, dispatchId, lane.kind);
      } catch (err) {
        if (!(err instanceof StaleTransitionError)) throw err;
        result.skipped.push({ id: msg.jobId, reason: err.message });
        continue;
      }
      // The record names the new token first; then the message carrying it; then the DLQ copy goes.
      const fresh: QueueMessage = { jobId: msg.jobId, request: msg.request, submittedAt: msg.submittedAt, dispatchId };
      await sqs.send(new SendMessageCommand({ QueueUrl: lane.url, MessageBody: JSON.stringify(fresh) }));
      await sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: m.ReceiptHandle }));
      result.redriven.push(msg.jobId);
      out(`${msg.jobId}: ${job.state} -> QUEUED, back on the ${lane.kind === "high" ? "high-priority" : "jobs"} queue`);
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

/** Makes the record QUEUED under the new token `dispatchId`, before the message carrying it is sent. */
async function requeue(store: DynamoJobStore, job: JobRecord, msg: QueueMessage, dispatchId: string, queue: "normal" | "high"): Promise<void> {
  const expected = { state: job.state, attempts: job.attempts, ...(job.dispatchId !== undefined ? { dispatchId: job.dispatchId } : {}) };
  if (job.state === "QUEUED") {
    // Parked by the queue's redrive policy before any worker moved it (or left by a crashed redrive):
    // a main-queue message with the current token may still exist, so it stays adoptable.
    await store.update(job.jobId, expected, { dispatchId, previousDispatchId: job.dispatchId ?? LEGACY_DISPATCH_ID, queue });
    return;
  }
  // A fresh attempt budget: earlier attempts stay in attemptHistory, marked redriven, so the worker no
  // longer counts them. `attempts` keeps counting up: it guards the conditional writes and names log streams.
  await store.transition(job.jobId, expected, "QUEUED", {
    attemptHistory: (job.attemptHistory ?? []).map((a) => ({ ...a, redriven: true })),
    finishedAt: undefined,
    instanceId: undefined,
    progress: undefined,
    dispatchId,
    previousDispatchId: msg.dispatchId ?? LEGACY_DISPATCH_ID,
    queue,
  });
}
