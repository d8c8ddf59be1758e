import { ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { queueDepth } from "../../aws/job-queue.ts";
import type { QueueDepth } from "../../core/ports.ts";

/** One metrics line of worker/telemetry/files.ts (what CloudWatch would get for an attempt). */
export interface MetricLine {
  time: string;
  jobId: string;
  attempt: number;
  outcome: "succeeded" | "failed" | "retried" | "interrupted" | "cancelled";
  instanceId: string;
}

/** One line of a worker's own log (JSON, one per worker event; worker/event-log.ts). */
export interface WorkerLogLine {
  event?: string;
  message: string;
  jobId?: string;
  pid?: number;
  instanceId: string;
  [key: string]: unknown;
}

/** The metrics lines of every instance the stack ever ran (`instances/<id>/telemetry/metrics/<id>.jsonl`). */
export function metricLines(stackDir: string): MetricLine[] {
  return perInstance(stackDir, "metrics", (instanceId, text) =>
    lines(text).map((l) => ({ ...(JSON.parse(l) as Omit<MetricLine, "instanceId">), instanceId })),
  );
}

/** The worker log lines of every instance (`instances/<id>/telemetry/workers/<id>.log`). */
export function workerLogLines(stackDir: string): WorkerLogLine[] {
  return perInstance(stackDir, "workers", (instanceId, text) =>
    lines(text).flatMap((l) => {
      try {
        return [{ ...(JSON.parse(l) as WorkerLogLine), instanceId }];
      } catch {
        return []; // a line cut short by a SIGKILL
      }
    }),
  );
}

/** One attempt's job log (`instances/<id>/telemetry/jobs/<jobId>/<attempt>.log`): what the worker and the processor said. */
export interface AttemptLog {
  instanceId: string;
  jobId: string;
  attempt: number;
  text: string;
}

/** Every job attempt's log on every instance the stack ever ran. */
export function attemptLogs(stackDir: string): AttemptLog[] {
  const root = path.join(stackDir, "instances");
  if (!existsSync(root)) return [];
  const out: AttemptLog[] = [];
  for (const instanceId of readdirSync(root)) {
    const jobs = path.join(root, instanceId, "telemetry", "jobs");
    if (!existsSync(jobs)) continue;
    for (const jobId of readdirSync(jobs))
      for (const f of readdirSync(path.join(jobs, jobId)))
        if (/^\d+\.log$/.test(f)) out.push({ instanceId, jobId, attempt: Number(f.slice(0, -4)), text: readFileSync(path.join(jobs, jobId, f), "utf8") });
  }
  return out;
}

/** The main queue's visible, in-flight and delayed messages. */
export function queueState(sqs: SQSClient, queueUrl: string): Promise<QueueDepth> {
  return queueDepth(sqs, queueUrl);
}

/** True when the queue holds nothing: no visible, in-flight or delayed message. */
export function isEmpty(d: QueueDepth): boolean {
  return d.visible === 0 && d.inFlight === 0 && d.delayed === 0;
}

/** Every message now in the DLQ, as job id and the reason attribute the worker gave (received once, kept invisible). */
export async function deadLetters(sqs: SQSClient, dlqUrl: string): Promise<{ jobId: string; reason: string }[]> {
  const out: { jobId: string; reason: string }[] = [];
  for (;;) {
    const r = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 600, MessageAttributeNames: ["All"] }),
    );
    const messages = r.Messages ?? [];
    if (messages.length === 0) return out;
    for (const m of messages) {
      const body = JSON.parse(m.Body ?? "{}") as { jobId?: string };
      out.push({ jobId: body.jobId ?? "", reason: m.MessageAttributes?.reason?.StringValue ?? "" });
    }
  }
}

function perInstance<T>(stackDir: string, kind: "metrics" | "workers", parse: (instanceId: string, text: string) => T[]): T[] {
  const root = path.join(stackDir, "instances");
  if (!existsSync(root)) return [];
  const out: T[] = [];
  for (const instanceId of readdirSync(root)) {
    const folder = path.join(root, instanceId, "telemetry", kind);
    if (!existsSync(folder)) continue;
    for (const f of readdirSync(folder)) out.push(...parse(instanceId, readFileSync(path.join(folder, f), "utf8")));
  }
  return out;
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}
