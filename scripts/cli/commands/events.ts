import { GetQueueUrlCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { AwsClients } from "../../../aws/clients.ts";
import { eventsQueueName, EVENTS_ENV } from "../../../aws/job-events.ts";
import { formatJobEvent, parseJobEvent, type JobEventEnvelope } from "../../../core/job-events.ts";
import { CliError } from "../cli-error.ts";
import type { Target } from "../target.ts";

export interface EventsOptions {
  /** Keep reading until interrupted. */
  follow?: boolean;
  /** Only this job's events. */
  jobId?: string;
  /** The events queue; default: the local stack's `<name>-events`, else SPOTQ_EVENTS_QUEUE_URL. */
  queueUrl?: string;
  /** One raw event (EventBridge envelope) per line. */
  json?: boolean;
  /** Ends a `--follow` (Ctrl-C, a test). */
  signal?: AbortSignal;
  /** How long one receive waits while following. @default 10 */
  waitSeconds?: number;
}

/** How long a read message stays hidden from the queue's consumer: long enough for one pass to see each once. */
const PEEK_SECONDS = 30;

/**
 * `spotq events [--follow] [--job ID]`: the job state changes on the events queue (the local
 * stack's `<name>-events`, or a deployment's `events.outputQueue`), one line each, oldest first
 * within what each receive returns. It peeks: messages are not deleted, only hidden for 30 s, so
 * the queue's real consumer still gets them. Without `--follow` it stops when the queue has no
 * more to show. Returns how many events it printed.
 */
export async function events(target: Target, o: EventsOptions, out: (s: string) => void): Promise<number> {
  const clients = new AwsClients(target.aws);
  try {
    const sqs = clients.sqs();
    const queueUrl = o.queueUrl ?? (await defaultQueueUrl(target, clients));
    const seen = new Set<string>();
    let printed = 0;
    for (;;) {
      if (o.signal?.aborted) return printed;
      let r;
      try {
        r = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: PEEK_SECONDS, WaitTimeSeconds: o.follow ? (o.waitSeconds ?? 10) : 0 }),
          { abortSignal: o.signal },
        );
      } catch (err) {
        if (o.signal?.aborted) return printed;
        throw new CliError(`cannot read the events queue ${queueUrl}: ${(err as Error).message}`, "check --queue and your AWS credentials (--profile, --region)");
      }
      const batch: JobEventEnvelope[] = [];
      for (const m of r.Messages ?? []) {
        const e = parseJobEvent(m.Body);
        if (!e || seen.has(e.id)) continue;
        seen.add(e.id);
        if (!o.jobId || e.detail.jobId === o.jobId.toUpperCase()) batch.push(e);
      }
      batch.sort((a, b) => a.time.localeCompare(b.time));
      for (const e of batch) out(o.json ? JSON.stringify(e) : formatJobEvent(e));
      printed += batch.length;
      if (!o.follow && (r.Messages ?? []).length === 0) return printed;
    }
  } finally {
    clients.destroy();
  }
}

async function defaultQueueUrl(target: Target, clients: AwsClients): Promise<string> {
  const fromEnv = process.env[EVENTS_ENV.queueUrl];
  if (fromEnv) return fromEnv;
  const table = target.deployment?.tableName;
  if (target.kind === "local" && table) {
    // The local stack names its resources after the deployment: `<name>-jobs` → `<name>-events`.
    const name = eventsQueueName(table.replace(/-jobs$/, ""));
    try {
      const r = await clients.sqs().send(new GetQueueUrlCommand({ QueueName: name }));
      if (r.QueueUrl) return r.QueueUrl;
    } catch {
      // answered below
    }
    throw new CliError(`the local stack has no events queue ${name}`, "events.enabled is off in its config; turn it on and restart `npm start`");
  }
  throw new CliError(
    "spotq events needs the deployment's events queue",
    `set events.outputQueue in the config and deploy, then pass --queue <the events_queue_url output> (or set ${EVENTS_ENV.queueUrl})`,
  );
}
