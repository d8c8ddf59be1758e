import { CloudwatchEventBus } from "@cdktf/provider-aws/lib/cloudwatch-event-bus";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { SqsQueuePolicy } from "@cdktf/provider-aws/lib/sqs-queue-policy";
import { Construct } from "constructs";
import type { FleetConfig } from "../../core/fleet-config.ts";
import { JOB_EVENT } from "../../core/job-events.ts";
import { policyDocument, policyJson, type PolicyStatement } from "./policy-document.ts";
import type { AwsEnv, QueueRef } from "./refs.ts";

/** The ARN of an event bus by its name (the account's `default` bus too): policies can name it before it exists. */
export function eventBusArn(env: AwsEnv, busName: string): string {
  return `arn:${env.partition}:events:${env.region}:${env.accountId}:event-bus/${busName}`;
}

/** The ARN of a rule on a bus, by names. */
export function eventRuleArn(env: AwsEnv, busName: string, ruleName: string): string {
  return `arn:${env.partition}:events:${env.region}:${env.accountId}:rule/${busName === "default" ? "" : `${busName}/`}${ruleName}`;
}

/** The statement that lets a process publish job events on the deployment's bus, and nowhere else. */
export function publishJobEventsStatement(busArn: string): PolicyStatement {
  return {
    Sid: "PublishJobEvents",
    Effect: "Allow",
    Action: "events:PutEvents",
    Resource: busArn,
    // Only spotq's own events: every entry of a PutEvents call must carry the source spotq sets
    // (`events:source` is multivalued, one value per entry; Null=false refuses a call without it).
    Condition: { "ForAllValues:StringEquals": { "events:source": JOB_EVENT.source }, Null: { "events:source": "false" } },
  };
}

/** The rule's event pattern: every `spotq Job State Change` of this deployment. */
export function jobEventPattern(deployment: string): Record<string, unknown> {
  return { source: [JOB_EVENT.source], "detail-type": [JOB_EVENT.detailType], detail: { deployment: [deployment] } };
}

export interface JobEventsProps {
  config: FleetConfig;
  env: AwsEnv;
}

/**
 * Where job events go (issue 10): the processes publish to an EventBridge bus (the account's
 * default one, or `events.busName`, created here); a rule routes this deployment's events to an
 * SNS topic (email and HTTPS subscriptions) and/or an output SQS queue when the config asks.
 */
export class JobEventsRouting extends Construct {
  readonly busName: string;
  readonly busArn: string;
  readonly bus?: CloudwatchEventBus;
  readonly rule?: CloudwatchEventRule;
  readonly topic?: SnsTopic;
  readonly outputQueue?: QueueRef;

  constructor(scope: Construct, id: string, props: JobEventsProps) {
    super(scope, id);
    const { config, env } = props;
    const e = config.events;
    this.busName = e.busName;
    this.busArn = eventBusArn(env, e.busName);
    if (e.busName !== "default") this.bus = new CloudwatchEventBus(this, "bus", { name: e.busName });
    if (!e.snsTopic && !e.outputQueue) return;

    const ruleName = `${config.name}-job-events`;
    const ruleArn = eventRuleArn(env, e.busName, ruleName);
    this.rule = new CloudwatchEventRule(this, "rule", {
      name: ruleName,
      description: `spotq/${config.name}: every job state change`,
      eventBusName: this.bus ? this.bus.name : e.busName,
      eventPattern: JSON.stringify(jobEventPattern(config.name)),
    });
    // EventBridge may deliver to a target only for this rule (confused-deputy guard).
    const fromRule = { ArnEquals: { "aws:SourceArn": ruleArn } };

    if (e.snsTopic) {
      // No KMS key: EventBridge cannot publish to a topic encrypted with the AWS-managed SNS key.
      this.topic = new SnsTopic(this, "topic", { name: `${config.name}-job-events` });
      new SnsTopicPolicy(this, "topic-policy", {
        arn: this.topic.arn,
        policy: policyJson(
          policyDocument({
            Sid: "JobEventsFromEventBridge",
            Effect: "Allow",
            Principal: { Service: "events.amazonaws.com" },
            Action: "sns:Publish",
            Resource: this.topic.arn,
            Condition: fromRule,
          }),
        ),
      });
      new CloudwatchEventTarget(this, "topic-target", { rule: this.rule.name, eventBusName: this.rule.eventBusName, targetId: "sns", arn: this.topic.arn });
      e.snsTopic.emails.forEach((email, i) => new SnsTopicSubscription(this, `email-${i + 1}`, { topicArn: this.topic!.arn, protocol: "email", endpoint: email }));
      e.snsTopic.httpsEndpoints.forEach((url, i) => new SnsTopicSubscription(this, `https-${i + 1}`, { topicArn: this.topic!.arn, protocol: "https", endpoint: url }));
    }
    if (e.outputQueue) {
      const name = `${config.name}-job-events`;
      const queue = new SqsQueue(this, "queue", { name, sqsManagedSseEnabled: true, messageRetentionSeconds: 4 * 86_400 });
      this.outputQueue = { name, arn: queue.arn, url: queue.url };
      new SqsQueuePolicy(this, "queue-policy", {
        queueUrl: queue.url,
        policy: policyJson(
          policyDocument({
            Sid: "JobEventsFromEventBridge",
            Effect: "Allow",
            Principal: { Service: "events.amazonaws.com" },
            Action: "sqs:SendMessage",
            Resource: queue.arn,
            Condition: fromRule,
          }),
        ),
      });
      new CloudwatchEventTarget(this, "queue-target", { rule: this.rule.name, eventBusName: this.rule.eventBusName, targetId: "sqs", arn: queue.arn });
    }
  }
}
