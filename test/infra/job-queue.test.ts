import assert from "node:assert/strict";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { maxReceiveCount } from "../../core/fleet-config.ts";
import { JobQueue } from "../../infra/constructs/job-queue.ts";
import { useLocalAws } from "../support/local-aws.ts";
import { decide, ReferenceResolver, type Policy } from "./support/iam.ts";
import { ACCOUNT, assertHasResource, synthScope, testConfig } from "./support/synth.ts";

const settings = { queue: { visibilityTimeoutSeconds: 240, receiveWaitSeconds: 15, dlqRetentionDays: 12, retentionDays: 6 }, jobs: { maxAttempts: 4, interruptionAllowance: 2 } };

describe("infra/constructs/job-queue", () => {
  const config = testConfig(settings);
  const synth = synthScope((scope) => new JobQueue(scope, "queue", { config }));
  const jobs = synth.resource("aws_sqs_queue", "jobs");
  const dlq = synth.resource("aws_sqs_queue", "dlq");

  it("names the queues after the deployment, as core/names.ts does", () => {
    assert.equal(jobs.name, "spotq-jobs");
    assert.equal(dlq.name, "spotq-jobs-dlq");
  });

  it("encrypts both queues with SQS-managed keys", () => {
    assert.equal(jobs.sqs_managed_sse_enabled, true);
    assert.equal(dlq.sqs_managed_sse_enabled, true);
  });

  it("keeps the visibility timeout short and the receive wait from the config (the worker heartbeats)", () => {
    assertHasResource(synth, SqsQueue, { name: "spotq-jobs", visibility_timeout_seconds: 240, receive_wait_time_seconds: 15 });
  });

  it("redrives to the DLQ after maxAttempts plus the interruption allowance", () => {
    const redrive = JSON.parse(jobs.redrive_policy as string);
    assert.equal(redrive.maxReceiveCount, maxReceiveCount(config));
    assert.equal(redrive.maxReceiveCount, 6);
    assert.equal(redrive.deadLetterTargetArn, synth.ref("aws_sqs_queue", "dlq", "arn"));
  });

  it("lets only the jobs queue dead-letter into the DLQ", () => {
    const allow = synth.resource("aws_sqs_queue_redrive_allow_policy");
    assert.equal(allow.queue_url, synth.ref("aws_sqs_queue", "dlq", "url"));
    assert.deepEqual(JSON.parse(allow.redrive_allow_policy), { redrivePermission: "byQueue", sourceQueueArns: [synth.ref("aws_sqs_queue", "jobs", "arn")] });
  });

  it("keeps messages for queue.retentionDays, and dead letters longer", () => {
    assert.equal(jobs.message_retention_seconds, 6 * 86_400);
    assert.equal(dlq.message_retention_seconds, 12 * 86_400);
    assert.ok((dlq.message_retention_seconds as number) > (jobs.message_retention_seconds as number));
  });

  it("refuses requests without TLS on both queues", async () => {
    const resolver = new ReferenceResolver(synth);
    const allowAll: Policy = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sqs:*", Resource: "*" }] };
    for (const hint of ["jobs", "dlq"]) {
      const policy = Object.values(synth.resources("aws_sqs_queue_policy")).find((p) => p.queue_url === synth.ref("aws_sqs_queue", hint, "url"));
      assert.ok(policy, `no queue policy on ${hint}`);
      const resourcePolicy = JSON.parse(resolver.resolve(policy.policy)) as Policy;
      const arn = resolver.resolve(synth.ref("aws_sqs_queue", hint, "arn"));
      assert.equal(arn, `arn:aws:sqs:us-east-1:${ACCOUNT}:${hint === "jobs" ? "spotq-jobs" : "spotq-jobs-dlq"}`);
      const send = (secure: string) => ({ action: "sqs:SendMessage", resource: arn, context: { "aws:SecureTransport": secure } });
      assert.equal(await decide([allowAll], send("false"), resourcePolicy), "ExplicitlyDenied");
      assert.equal(await decide([allowAll], send("true"), resourcePolicy), "Allowed");
    }
  });

  describe("matches the queues the local stack provisions from the same config", () => {
    const aws = useLocalAws(settings);

    it("same visibility timeout and redrive threshold as ensureJobQueues", async () => {
      const { emulators, resources } = aws();
      const attrs = await emulators.clients.sqs().send(new GetQueueAttributesCommand({ QueueUrl: resources.queueUrl, AttributeNames: ["All"] }));
      assert.equal(Number(attrs.Attributes?.VisibilityTimeout), jobs.visibility_timeout_seconds);
      assert.equal(JSON.parse(attrs.Attributes?.RedrivePolicy ?? "{}").maxReceiveCount, JSON.parse(jobs.redrive_policy as string).maxReceiveCount);
      const dlqAttrs = await emulators.clients.sqs().send(new GetQueueAttributesCommand({ QueueUrl: resources.dlqUrl, AttributeNames: ["All"] }));
      assert.equal(Number(dlqAttrs.Attributes?.MessageRetentionPeriod), dlq.message_retention_seconds);
      assert.ok(resources.queueUrl.endsWith(`/${jobs.name}`) && resources.dlqUrl.endsWith(`/${dlq.name}`));
    });
  });
});
