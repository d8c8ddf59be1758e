import assert from "node:assert/strict";
import { METRICS } from "../../core/names.ts";
import { Monitoring } from "../../infra/constructs/monitoring.ts";
import { decide, ReferenceResolver, type Policy } from "./support/iam.ts";
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

  it("alarms when the DLQ is not empty", () => {
    const a = alarmNamed(synth, "spotq-dlq-not-empty");
    assert.deepEqual([a.namespace, a.metric_name, a.dimensions, a.comparison_operator, a.threshold], [
      "AWS/SQS",
      "ApproximateNumberOfMessagesVisible",
      { QueueName: "spotq-jobs-dlq" },
      "GreaterThanOrEqualToThreshold",
      1,
    ]);
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
    assert.deepEqual([a.namespace, a.metric_name, a.dimensions, a.statistic], ["spotq", METRICS.jobsFailed, { Deployment: "spotq" }, "Sum"]);
  });

  it("notifies the topic when an alarm fires and when it clears", () => {
    const alarms = Object.values(synth.resources("aws_cloudwatch_metric_alarm"));
    assert.equal(alarms.length, 4);
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
    const keyArn = `arn:aws:kms:us-east-1:${ACCOUNT}:key/0b1d2c3e-aaaa-bbbb-cccc-0123456789ab`;
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
      assert.equal(widget(/^Alarms$/).properties.alarms!.length, 4);
    });

    it("has a console URL", () => {
      assert.equal(monitoring.dashboardUrl, "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=spotq");
    });
  });
});
