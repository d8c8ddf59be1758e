import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { SqsQueuePolicy } from "@cdktf/provider-aws/lib/sqs-queue-policy";
import { SqsQueueRedriveAllowPolicy } from "@cdktf/provider-aws/lib/sqs-queue-redrive-allow-policy";
import { Construct } from "constructs";
import { maxReceiveCount, type FleetConfig } from "../../core/fleet-config.ts";
import { resourceNames } from "../../core/names.ts";
import { policyDocument, policyJson } from "./policy-document.ts";
import type { QueueRef, QueuesRef } from "./refs.ts";

const DAY = 86_400;

export interface JobQueueProps {
  config: FleetConfig;
}

/**
 * The jobs queue and its dead-letter queue, as aws/job-queue.ts `ensureJobQueues` makes them
 * locally: SQS-managed encryption, TLS only, a short visibility timeout the worker's heartbeat
 * extends, and a redrive to the DLQ after `maxReceiveCount(config)` receives.
 */
export class JobQueue extends Construct {
  readonly jobs: SqsQueue;
  readonly dlq: SqsQueue;
  readonly refs: QueuesRef;

  constructor(scope: Construct, id: string, props: JobQueueProps) {
    super(scope, id);
    const { config } = props;
    const names = resourceNames(config.name);
    this.dlq = new SqsQueue(this, "dlq", {
      name: names.dlq,
      sqsManagedSseEnabled: true,
      messageRetentionSeconds: config.queue.dlqRetentionDays * DAY,
    });
    this.jobs = new SqsQueue(this, "jobs", {
      name: names.queue,
      sqsManagedSseEnabled: true,
      visibilityTimeoutSeconds: config.queue.visibilityTimeoutSeconds,
      receiveWaitTimeSeconds: config.queue.receiveWaitSeconds,
      messageRetentionSeconds: config.queue.retentionDays * DAY,
      redrivePolicy: JSON.stringify({ deadLetterTargetArn: this.dlq.arn, maxReceiveCount: maxReceiveCount(config) }),
    });
    // Only the jobs queue may dead-letter into the DLQ (a separate resource: the DLQ cannot name
    // the jobs queue in its own arguments without a cycle).
    new SqsQueueRedriveAllowPolicy(this, "dlq-redrive-allow", {
      queueUrl: this.dlq.url,
      redriveAllowPolicy: JSON.stringify({ redrivePermission: "byQueue", sourceQueueArns: [this.jobs.arn] }),
    });
    for (const [key, queue] of [["jobs", this.jobs], ["dlq", this.dlq]] as const)
      new SqsQueuePolicy(this, `${key}-tls-only`, {
        queueUrl: queue.url,
        policy: policyJson(
          policyDocument({
            Sid: "DenyInsecureTransport",
            Effect: "Deny",
            Principal: "*",
            Action: "sqs:*",
            Resource: queue.arn,
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
        ),
      });
    this.refs = { jobs: refOf(this.jobs), dlq: refOf(this.dlq) };
  }
}

function refOf(q: SqsQueue): QueueRef {
  return { name: q.name, arn: q.arn, url: q.url };
}
