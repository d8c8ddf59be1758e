import assert from "node:assert/strict";
import { METRICS } from "../../core/names.ts";
import { Monitoring } from "../../infra/constructs/monitoring.ts";
import { decide, KMS_KEY_ID, ReferenceResolver, type Policy } from "./support/iam.ts";
import { ACCOUNT, synthScope, TEST_ENV, testConfig, type Synth } from "./support/synth.ts";

function monitoringOf(overrides: Parameters<typeof testConfig>[0] = {}): { synth: Synth; monitoring: Monitoring } {
  const config = testConfig(overrides);
  let monitoring: Monitoring | undefined;
  const synth = synthScope((scope) => {
    monitoring = new Monitoring(scope, "monitoring", { config, env: TEST_ENV, api: { functionName: "spotq-api", apiName: "spotq-api", stage: "v1" } });
  });
  return { synth, monitoring: monitoring! };
}

const alarmNamed = (synth: Synth, name: string) => {
  const a = Object.values(synth.resources("aws_cloudwatch_metric_alarm")).find((x) => x.alarm_name === name);
  assert.ok(a, `no alarm ${name}`);
  return a;
};

describe("infra/constructs/monitoring", () => {
  const { synth, monitoring } = monitoringOf({ monitoring: { alarmEmail: "ops@example.com", oldestMessageAlarmSeconds: 1800 } });
  const topicArn = synth.ref("aws_sns_topic", "", "arn");

  /**
   * Every alarm of the construct with its threshold, comparison, statistic and missing-data rule
   * (issue 8 §11): a flipped comparison or a moved threshold fails here, and so does an alarm
   * added without a row.
   */
  const EXPECTED: Record<string, { metric: string; stat?: string; threshold: number; comparison: string; missing: string }> = {
    "spotq-dlq-not-empty": { metric: "visible + inflight", threshold: 1, comparison: "GreaterThanOrEqualToThreshold", missing: "ignore" },
    "spotq-oldest-job-age": { metric: "AWS/SQS ApproximateAgeOfOldestMessage", stat: "Maximum", threshold: 1800, comparison: "GreaterThanThreshold", missing: "notBreaching" },
    "spotq-jobs-failed": { metric: `spotq ${METRICS.jobsFailed}`, stat: "Sum", threshold: 1, comparison: "GreaterThanOrEqualToThreshold", missing: "notBreaching" },
    "spotq-api-errors": { metric: "AWS/Lambda Errors", stat: "Sum", threshold: 1, comparison: "GreaterThanOrEqualToThreshold", missing: "notBreaching" },
    "spotq-api-5xx": { metric: "AWS/ApiGateway 5XXError", stat: "Sum", threshold: 1, comparison: "GreaterThanOrEqualToThreshold", missing: "notBreaching" },
    "spotq-bootstrap-failed": { metric: `spotq ${METRICS.bootstrapFailed}`, stat: "Sum", threshold: 1, comparison: "GreaterThanOrEqualToThreshold", missing: "notBreaching" },
    "spotq-worker-crash-loop": { metric: `spotq ${METRICS.workerCrashLoop}`, stat: "Sum", threshold: 1, comparison: "GreaterThanOrEqualToThreshold", missing: "notBreaching" },
  };

  it("has exactly the expected alarms, each with its threshold, comparison, statistic and missing-data rule", () => {
    const actual = Object.fromEntries(
      Object.values(synth.resources("aws_cloudwatch_metric_alarm")).map((a) => [
        a.alarm_name,
        {
          metric: a.metric_query ? (a.metric_query as { expression?: string }[]).find((q) => q.expression)!.expression! : `${a.namespace} ${a.metric_name}`,
          ...(a.statistic ? { stat: a.statistic } : {}),
          threshold: a.threshold,
          comparison: a.comparison_operator,
          missing: a.treat_missing_data,
        },
      ]),
    );
    assert.deepEqual(actual, EXPECTED);
  });

  it("alarms while the DLQ holds messages, waiting or being read, and keeps alarming through gaps in SQS's metrics", () => {
    const a = alarmNamed(synth, "spotq-dlq-not-empty");
    const queries = Object.fromEntries((a.metric_query as { id: string; metric?: Record<string, unknown>; expression?: string; return_data?: boolean }[]).map((q) => [q.id, q]));
    assert.deepEqual(queries.visible!.metric, { namespace: "AWS/SQS", metric_name: "ApproximateNumberOfMessagesVisible", dimensions: { QueueName: "spotq-jobs-dlq" }, stat: "Maximum", period: 300 });
    assert.equal(queries.inflight!.metric!.metric_name, "ApproximateNumberOfMessagesNotVisible");
    assert.equal(queries.messages!.return_data, true, "only the sum decides");
    assert.equal(a.treat_missing_data, "ignore", "missing data is not an empty DLQ: it returns to OK only on a datapoint of 0");
  });

  it("alarms on 5xx answers of the API stage, which the Lambda's Errors metric does not see (it answers 503)", () => {
    const a = alarmNamed(synth, "spotq-api-5xx");
    assert.deepEqual(a.dimensions, { ApiName: "spotq-api", Stage: "v1" });
  });

  it("alarms on failed boots and crash loops from the instances' own metrics", () => {
    for (const name of ["spotq-bootstrap-failed", "spotq-worker-crash-loop"]) assert.deepEqual(alarmNamed(synth, name).dimensions, { Deployment: "spotq" }, name);
    assert.match(alarmNamed(synth, "spotq-bootstrap-failed").alarm_description, /\/spotq\/spotq\/boot/, "says where the evidence is");
  });

  describe("Auto Scaling's failures of the group (EventBridge)", () => {
    const rule = synth.resource("aws_cloudwatch_event_rule");
    const target = synth.resource("aws_cloudwatch_event_target");

    it("matches failed launches, terminations and instance refreshes of this group only", () => {
      assert.deepEqual(JSON.parse(rule.event_pattern), {
        source: ["aws.autoscaling"],
        "detail-type": ["EC2 Instance Launch Unsuccessful", "EC2 Instance Terminate Unsuccessful", "EC2 Auto Scaling Instance Refresh Failed"],
        detail: { AutoScalingGroupName: ["spotq-workers"] },
      });
    });

    it("sends each to the alarm topic as one readable line", () => {
      assert.equal(target.arn, topicArn);
      assert.equal(target.rule, synth.ref("aws_cloudwatch_event_rule", "", "name"));
      assert.deepEqual(target.input_transformer.input_paths, { type: "$.detail-type", group: "$.detail.AutoScalingGroupName", instance: "$.detail.EC2InstanceId", status: "$.detail.StatusMessage", cause: "$.detail.Cause" });
      assert.equal(target.input_transformer.input_template, '"spotq/spotq: <type> in <group> (instance <instance>): <status> Cause: <cause>"');
    });

    it("may publish to the topic (topic policy) and use its key (key policy); other rules and accounts may not", async () => {
      const resolver = new ReferenceResolver(synth);
      const policy = synth.resource("aws_sns_topic_policy");
      assert.equal(policy.arn, topicArn);
      const topicPolicy = JSON.parse(resolver.resolve(policy.policy)) as Policy;
      const topic = resolver.resolve(topicArn);
      const ruleArn = resolver.resolve(synth.ref("aws_cloudwatch_event_rule", "", "arn"));
      const asEvents = (sourceArn: string) => decide([], { principal: "events.amazonaws.com", action: "sns:Publish", resource: topic, context: { "aws:SourceArn": sourceArn } }, topicPolicy);
      assert.equal(await asEvents(ruleArn), "Allowed");
      assert.notEqual(await asEvents(`arn:aws:events:us-east-1:${ACCOUNT}:rule/someone-else`), "Allowed");
      const asCloudWatch = (account: string) => decide([], { principal: "cloudwatch.amazonaws.com", action: "sns:Publish", resource: topic, context: { "aws:SourceAccount": account } }, topicPolicy);
      assert.equal(await asCloudWatch(ACCOUNT), "Allowed", "the alarms still reach the topic after the default policy is replaced");
      assert.notEqual(await asCloudWatch("999988887777"), "Allowed");
      assert.notEqual(await decide([], { principal: "arn:aws:iam::999988887777:root", action: "sns:Publish", resource: topic }, topicPolicy), "Allowed");
      const keyPolicy = JSON.parse(resolver.resolve(synth.resource("aws_kms_key").policy)) as Policy;
      const key = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${KMS_KEY_ID}`;
      assert.equal(await decide([], { principal: "events.amazonaws.com", action: "kms:GenerateDataKey", resource: key }, keyPolicy), "Allowed");
      assert.notEqual(await decide([], { principal: "events.amazonaws.com", action: "kms:ScheduleKeyDeletion", resource: key }, keyPolicy), "Allowed");
    });
  });

  it("alarms when the oldest waiting job is older than the configured threshold", () => {
    const a = alarmNamed(synth, "spotq-oldest-job-age");
    assert.deepEqual([a.metric_name, a.dimensions, a.comparison_operator, a.threshold], [
      "ApproximateAgeOfOldestMessage",
      { QueueName: "spotq-jobs" },
      "GreaterThanThreshold",
      1800,
    ]);
  });

  it("alarms on failed jobs from the worker's own metric", () => {
    const a = alarmNamed(synth, "spotq-jobs-failed");
    assert.deepEqual([a.namespace, a.metric_name, a.dimensions, a.statistic, a.threshold, a.comparison_operator], ["spotq", METRICS.jobsFailed, { Deployment: "spotq" }, "Sum", 1, "GreaterThanOrEqualToThreshold"]);
  });

  it("notifies the topic when an alarm fires and when it clears", () => {
    const alarms = Object.values(synth.resources("aws_cloudwatch_metric_alarm"));
    assert.equal(alarms.length, Object.keys(EXPECTED).length);
    for (const a of alarms) {
      assert.deepEqual(a.alarm_actions, [topicArn], a.alarm_name);
      assert.deepEqual(a.ok_actions, [topicArn], a.alarm_name);
    }
  });

  it("subscribes the configured email, and nobody without one", () => {
    const sub = synth.resource("aws_sns_topic_subscription");
    assert.deepEqual([sub.protocol, sub.endpoint, sub.topic_arn], ["email", "ops@example.com", topicArn]);
    assert.deepEqual(Object.keys(monitoringOf().synth.resources("aws_sns_topic_subscription")), []);
  });

  it("encrypts the topic with a rotated key that CloudWatch of this account may use", async () => {
    const topic = synth.resource("aws_sns_topic");
    assert.equal(topic.kms_master_key_id, synth.ref("aws_kms_key", "", "arn"));
    const key = synth.resource("aws_kms_key");
    assert.equal(key.enable_key_rotation, true);
    const keyPolicy = JSON.parse(new ReferenceResolver(synth).resolve(key.policy)) as Policy;
    const keyArn = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${KMS_KEY_ID}`;
    const asCloudWatch = (sourceAccount: string) =>
      decide([], { principal: "cloudwatch.amazonaws.com", action: "kms:GenerateDataKey", resource: keyArn, context: { "aws:SourceAccount": sourceAccount } }, keyPolicy);
    assert.equal(await asCloudWatch(ACCOUNT), "Allowed");
    assert.notEqual(await asCloudWatch("999988887777"), "Allowed");
  });

  describe("dashboard", () => {
    const body = JSON.parse(synth.resource("aws_cloudwatch_dashboard").dashboard_body) as { widgets: { type: string; properties: { title: string; metrics?: unknown[][]; alarms?: string[] } }[] };
    const widget = (title: RegExp) => {
      const w = body.widgets.find((x) => title.test(x.properties.title));
      assert.ok(w, `no widget titled ${title}`);
      return w;
    };
    const metricNames = (title: RegExp) => widget(title).properties.metrics!.map((m) => `${m[0]}/${m[1]}`);

    it("shows the backlog, the instances, job durations, failures, interruptions and the API", () => {
      assert.deepEqual(metricNames(/^Backlog/), [
        "AWS/SQS/ApproximateNumberOfMessagesVisible",
        "AWS/SQS/ApproximateNumberOfMessagesNotVisible",
        "AWS/SQS/ApproximateNumberOfMessagesDelayed",
        "AWS/SQS/ApproximateNumberOfMessagesVisible",
      ]);
      assert.ok(metricNames(/^Instances/).includes("AWS/AutoScaling/GroupInServiceInstances"));
      assert.ok(metricNames(/^Job durations/).includes(`spotq/${METRICS.processSeconds}`));
      assert.ok(metricNames(/outcomes and failures/).includes(`spotq/${METRICS.jobsFailed}`));
      assert.deepEqual(metricNames(/interruptions/i), [`spotq/${METRICS.jobsInterrupted}`]);
      assert.ok(metricNames(/^API/).includes("AWS/ApiGateway/5XXError"));
      assert.deepEqual(metricNames(/^Failed boots/), [`spotq/${METRICS.bootstrapFailed}`, `spotq/${METRICS.workerCrashLoop}`]);
    });

    it("reads the deployment's own metrics: its queues, group and Deployment dimension", () => {
      const rows = body.widgets.flatMap((w) => w.properties.metrics ?? []);
      for (const row of rows) {
        const dims = row.filter((x) => typeof x === "string").slice(2) as string[];
        const pairs = Object.fromEntries(dims.flatMap((d, i) => (i % 2 === 0 ? [[d, dims[i + 1]]] : [])));
        if (pairs.QueueName) assert.ok(["spotq-jobs", "spotq-jobs-dlq"].includes(pairs.QueueName));
        if (pairs.AutoScalingGroupName) assert.equal(pairs.AutoScalingGroupName, "spotq-workers");
        if (row[0] === "spotq") assert.equal(pairs.Deployment, "spotq");
      }
    });

    it("shows the state of every notifying alarm", () => {
      assert.equal(widget(/^Alarms$/).properties.alarms!.length, Object.keys(EXPECTED).length);
    });

    it("has a console URL", () => {
      assert.equal(monitoring.dashboardUrl, "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=spotq");
    });
  });
});
