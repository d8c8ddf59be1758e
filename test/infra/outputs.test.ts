import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ANALYTICS_COLUMNS } from "../../core/job-result.ts";
import { ValidationError } from "../../core/errors.ts";
import { analyticsQueries } from "../../infra/constructs/analytics.ts";
import { assertAllowed, assertDenied, decide, GROUP_ID, ReferenceResolver, rolePolicies, type Policy, type Request } from "./support/iam.ts";
import { ACCOUNT, synthStack, testConfig, type Synth } from "./support/synth.ts";

const R = `us-east-1:${ACCOUNT}`;
const DATA = `arn:aws:s3:::spotq-data-${ACCOUNT}`;
const JOBS = `arn:aws:sqs:${R}:spotq-jobs`;
const DLQ = `arn:aws:sqs:${R}:spotq-jobs-dlq`;
const TABLE = `arn:aws:dynamodb:${R}:table/spotq-jobs`;
const DEFAULT_BUS = `arn:aws:events:${R}:event-bus/default`;
const GROUP = `arn:aws:autoscaling:${R}:autoScalingGroup:${GROUP_ID}:autoScalingGroupName/spotq-workers`;
const MSK = `arn:aws:kafka:${R}:cluster/lab/0f1e2d3c-aaaa-bbbb-cccc-111122223333-1`;
const SECRET = `arn:aws:secretsmanager:${R}:secret:AmazonMSK_lab-AbCdEf`;
const fromSpotq = { "events:source": ["spotq"] };
const req = (action: string, resource: string, context?: Request["context"]): Request => ({ action, resource, ...(context ? { context } : {}) });
const today = new Date().toISOString().slice(0, 10);

describe("infra: triggers, job events and analytics (issue 10), synthesized and with IAM evaluated", () => {
  describe("defaults: events on the default bus, analytics on, no trigger", () => {
    const synth = synthStack(testConfig({ storage: { sourcePrefixes: ["inbox/", "scans/"], targetPrefixes: ["results/"] } }));

    it("creates no trigger, no bus and no routing: the processes publish to the account's default bus", () => {
      assert.deepEqual(
        Object.values(synth.resources("aws_lambda_function")).map((f) => f.function_name).sort(),
        ["spotq-api", "spotq-boot-breaker", "spotq-returned-jobs"],
        "only the API's, the boot breaker's and the returned jobs' Lambdas",
      );
      assert.deepEqual(synth.resources("aws_s3_bucket_notification"), {});
      assert.deepEqual(synth.resources("aws_cloudwatch_event_bus"), {});
      // The fleet's launch/terminate alerts (monitoring) and returned jobs' terminations are the only rules: no job events routing.
      assert.deepEqual(Object.keys(synth.resources("aws_cloudwatch_event_rule")).filter((n) => !n.startsWith("monitoring_") && !n.startsWith("returned-jobs_")), []);
    });

    for (const role of ["api_role", "fleet_role"]) {
      it(`${role}: publishes spotq events on the default bus only, and writes analytics lines only`, async () => {
        const p = rolePolicies(synth, role);
        await assertAllowed(p, req("events:PutEvents", DEFAULT_BUS, fromSpotq), req("s3:PutObject", `${DATA}/analytics/jobs/dt=${today}/01J.json`));
        await assertDenied(
          p,
          req("events:PutEvents", DEFAULT_BUS, { "events:source": ["aws.batch"] }),
          req("events:PutEvents", DEFAULT_BUS, { "events:source": ["spotq", "aws.batch"] }),
          req("events:PutEvents", DEFAULT_BUS),
          req("events:PutEvents", `arn:aws:events:${R}:event-bus/billing`, fromSpotq),
          req("s3:PutObject", `${DATA}/analytics-other/x.json`),
          req("s3:GetObject", `${DATA}/analytics/jobs/dt=${today}/01J.json`),
          req("s3:DeleteObject", `${DATA}/analytics/jobs/dt=${today}/01J.json`),
        );
      });
    }

    it("gives the API no write to job folders (the worker writes spotq-result.json)", () =>
      assertDenied(rolePolicies(synth, "api_role"), req("s3:PutObject", `${DATA}/results/case-1/spotq-result.json`)));

    it("catalogues the analytics lines with partition projection by day: no crawler", () => {
      const t = synth.resource("aws_glue_catalog_table");
      assert.equal(t.name, "spotq_jobs");
      assert.equal(t.database_name, synth.ref("aws_glue_catalog_database", "", "name"));
      assert.deepEqual(t.partition_keys, [{ name: "dt", type: "string" }]);
      const loc = "s3://${aws_s3_bucket.storage_data_bucket_" ;
      assert.ok(String(t.storage_descriptor.location).startsWith(loc) && String(t.storage_descriptor.location).endsWith("/analytics/jobs/"), t.storage_descriptor.location);
      assert.deepEqual(
        Object.fromEntries(Object.entries(t.parameters as Record<string, string>).filter(([k]) => k.startsWith("projection."))),
        {
          "projection.enabled": "true",
          "projection.dt.type": "date",
          "projection.dt.format": "yyyy-MM-dd",
          "projection.dt.range": "2025-01-01,NOW",
          "projection.dt.interval": "1",
          "projection.dt.interval.unit": "DAYS",
        },
      );
      assert.ok(String(t.parameters["storage.location.template"]).endsWith("/analytics/jobs/dt=$${dt}/"), "Athena's ${dt}, escaped from Terraform");
      assert.deepEqual(t.storage_descriptor.columns, ANALYTICS_COLUMNS.map((c) => ({ name: c.name, type: c.type })));
      assert.equal(t.storage_descriptor.ser_de_info.serialization_library, "org.openx.data.jsonserde.JsonSerDe");
    });

    it("runs Athena in a workgroup that writes encrypted results into the data bucket, with the README's three queries", () => {
      const wg = synth.resource("aws_athena_workgroup");
      assert.equal(wg.name, "spotq-analytics");
      assert.equal(wg.configuration.enforce_workgroup_configuration, true);
      assert.match(wg.configuration.result_configuration.output_location, /^s3:\/\/\$\{aws_s3_bucket\.storage_data_bucket_[^}]+\.bucket\}\/athena-results\/$/);
      assert.equal(wg.configuration.result_configuration.encryption_configuration.encryption_option, "SSE_S3");
      const queries = Object.values(synth.resources("aws_athena_named_query"));
      assert.deepEqual(queries.map((q) => q.name).sort(), ["spotq-cost-per-job", "spotq-failure-reasons", "spotq-throughput-per-day"]);
      const cost = queries.find((q) => q.name === "spotq-cost-per-job")!;
      assert.match(cost.query, /WHEN 'g4dn\.xlarge' THEN 0\.526/);
      assert.ok(queries.every((q) => q.workgroup === synth.ref("aws_athena_workgroup", "", "name")));
    });

    it("grants the worker the metrics its dashboard widget counts", async () => {
      await assertAllowed(rolePolicies(synth, "fleet_role"), req("cloudwatch:PutMetricData", "*", { "cloudwatch:namespace": "spotq" }));
    });
  });

  describe("S3 trigger: spotq.json under a trigger prefix", () => {
    const synth = synthStack(testConfig({ storage: { sourcePrefixes: ["inbox/", "drop/", "scans/"], targetPrefixes: ["results/"] }, triggers: { s3: { enabled: true, prefixes: ["inbox/", "drop/"] } } }));
    let trigger: Policy[];
    before(() => {
      trigger = rolePolicies(synth, "s3-role");
    });

    it("runs the API's bundle under its own handler, with the API's environment", () => {
      const f = synth.resource("aws_lambda_function", "s3-function");
      const api = synth.resource("aws_lambda_function", "api_function");
      assert.equal(f.function_name, "spotq-s3-trigger");
      assert.equal(f.handler, "index.s3TriggerHandler");
      assert.deepEqual(Object.keys(f.environment.variables).sort(), Object.keys(api.environment.variables).sort());
      assert.equal(f.role, synth.ref("aws_iam_role", "s3-role", "arn"));
    });

    it("lets only the data bucket of this account invoke it, and retries an event twice", () => {
      const p = synth.resource("aws_lambda_permission", "s3-invoke");
      assert.deepEqual([p.principal, p.action, p.source_arn, p.source_account], ["s3.amazonaws.com", "lambda:InvokeFunction", synth.ref("aws_s3_bucket", "storage_data_bucket", "arn"), synth.dataRef("aws_caller_identity", "account_id")]);
      assert.equal(synth.resource("aws_lambda_function_event_invoke_config", "s3-invoke").maximum_retry_attempts, 2);
    });

    it("notifies on objects created under each trigger prefix ending in spotq.json, once the permission exists", () => {
      const n = synth.resource("aws_s3_bucket_notification");
      assert.equal(n.bucket, synth.ref("aws_s3_bucket", "storage_data_bucket", "bucket"));
      assert.deepEqual(
        n.lambda_function.map((l: Record<string, unknown>) => [l.events, l.filter_prefix, l.filter_suffix, l.lambda_function_arn]),
        [
          [["s3:ObjectCreated:*"], "inbox/", "spotq.json", synth.ref("aws_lambda_function", "s3-function", "arn")],
          [["s3:ObjectCreated:*"], "drop/", "spotq.json", synth.ref("aws_lambda_function", "s3-function", "arn")],
        ],
      );
      assert.deepEqual(n.depends_on, [`aws_lambda_permission.${synth.nameOf("aws_lambda_permission", "s3-invoke")}`]);
    });

    it("may only submit: read the marker, list the source, write the record, enqueue, publish, raise capacity", () =>
      assertAllowed(
        trigger,
        req("s3:GetObject", `${DATA}/inbox/case-1/spotq.json`),
        req("s3:GetObject", `${DATA}/drop/lab/case 2/spotq.json`),
        req("s3:ListBucket", DATA, { "s3:prefix": "inbox/case-1/" }),
        ...["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"].map((a) => req(a, TABLE)),
        req("sqs:SendMessage", JOBS),
        req("sqs:GetQueueAttributes", JOBS),
        req("events:PutEvents", DEFAULT_BUS, fromSpotq),
        req("autoscaling:SetDesiredCapacity", GROUP, { "autoscaling:ResourceTag/spotq:group": "spotq-workers" }),
      ));

    it("cannot read scans or results, write anything to S3, list or read jobs in bulk, work the queue, or touch the fleet", () =>
      assertDenied(
        trigger,
        req("s3:GetObject", `${DATA}/inbox/case-1/raw/scan-001.ply`),
        req("s3:GetObject", `${DATA}/results/case-1/spotq-result.json`),
        req("s3:GetObject", `${DATA}/scans/x/spotq.json`),
        req("s3:PutObject", `${DATA}/inbox/case-1/spotq.json`),
        req("s3:PutObject", `${DATA}/analytics/jobs/dt=${today}/x.json`),
        req("s3:ListBucket", DATA, { "s3:prefix": "private/" }),
        req("dynamodb:Query", `${TABLE}/index/byState`),
        req("dynamodb:Scan", TABLE),
        req("sqs:ReceiveMessage", JOBS),
        req("sqs:DeleteMessage", JOBS),
        req("sqs:SendMessage", DLQ),
        req("autoscaling:TerminateInstanceInAutoScalingGroup", GROUP, { "autoscaling:ResourceTag/spotq:group": "spotq-workers" }),
        req("events:PutEvents", DEFAULT_BUS, { "events:source": ["other"] }),
        req("lambda:InvokeFunction", `arn:aws:lambda:${R}:function:spotq-api`),
      ));

    it("may be assumed by Lambda in this account only", () => {
      const trust = JSON.parse(new ReferenceResolver(synth).resolve(synth.resource("aws_iam_role", "s3-role").assume_role_policy));
      assert.deepEqual(trust.Statement.map((s: { Principal: unknown; Condition: unknown }) => [s.Principal, s.Condition]), [
        [{ Service: "lambda.amazonaws.com" }, { StringEquals: { "aws:SourceAccount": ACCOUNT } }],
      ]);
    });

    it("refuses an S3 trigger on a bucket this stack does not own (its notifications would be replaced)", () => {
      assert.throws(
        () => synthStack(testConfig({ storage: { createBucket: false, bucketName: "lab-scans" }, triggers: { s3: { enabled: true } } })),
        (e: unknown) => e instanceof ValidationError && e.problems[0]!.field === "triggers.s3.enabled" && /one notification configuration per bucket/.test(e.problems[0]!.reason),
      );
    });
  });

  describe("Kafka trigger", () => {
    it("Amazon MSK with IAM auth: an event source mapping with partial batch responses, reading only its topic", async () => {
      const synth = synthStack(testConfig({ triggers: { kafka: { mskClusterArn: MSK, topic: "scan-jobs", batchSize: 50 } } }));
      const m = synth.resource("aws_lambda_event_source_mapping");
      assert.equal(m.event_source_arn, MSK);
      assert.deepEqual(m.topics, ["scan-jobs"]);
      assert.deepEqual(m.function_response_types, ["ReportBatchItemFailures"]);
      assert.deepEqual(m.provisioned_poller_config, { minimum_pollers: 1, maximum_pollers: 2 });
      assert.deepEqual(m.amazon_managed_kafka_event_source_config, { consumer_group_id: "spotq-jobs" });
      assert.equal(m.batch_size, 50);
      assert.equal(m.source_access_configuration, undefined, "IAM auth uses the function's role");
      assert.equal(synth.resource("aws_lambda_function", "kafka-function").handler, "index.kafkaTriggerHandler");
      const p = rolePolicies(synth, "kafka-role");
      const topic = `arn:aws:kafka:${R}:topic/lab/0f1e2d3c-aaaa-bbbb-cccc-111122223333-1/scan-jobs`;
      const group = `arn:aws:kafka:${R}:group/lab/0f1e2d3c-aaaa-bbbb-cccc-111122223333-1/spotq-jobs`;
      await assertAllowed(
        p,
        req("kafka:DescribeClusterV2", MSK),
        req("kafka-cluster:Connect", MSK),
        req("kafka-cluster:ReadData", topic),
        req("kafka-cluster:AlterGroup", group),
        req("ec2:CreateNetworkInterface", "*"),
        req("sqs:SendMessage", JOBS),
      );
      await assertDenied(
        p,
        req("kafka-cluster:ReadData", topic.replace(/scan-jobs$/, "payroll")),
        req("kafka-cluster:WriteData", topic),
        req("s3:GetObject", `${DATA}/inbox/case-1/spotq.json`),
        req("secretsmanager:GetSecretValue", SECRET),
      );
    });

    it("self-managed Kafka with SASL/SCRAM in a VPC: brokers, the secret and the subnets", async () => {
      const synth = synthStack(
        testConfig({
          triggers: {
            kafka: {
              bootstrapServers: ["k1.lab.internal:9096", "k2.lab.internal:9096"],
              topic: "scan-jobs",
              auth: "sasl-scram-512",
              secretArn: SECRET,
              vpc: { subnetIds: ["subnet-0123456789abcdef0"], securityGroupIds: ["sg-0123456789abcdef0"] },
            },
          },
        }),
      );
      const m = synth.resource("aws_lambda_event_source_mapping");
      assert.deepEqual(m.self_managed_event_source, { endpoints: { KAFKA_BOOTSTRAP_SERVERS: "k1.lab.internal:9096,k2.lab.internal:9096" } });
      assert.deepEqual(m.source_access_configuration, [
        { type: "SASL_SCRAM_512_AUTH", uri: SECRET },
        { type: "VPC_SUBNET", uri: "subnet:subnet-0123456789abcdef0" },
        { type: "VPC_SECURITY_GROUP", uri: "security_group:sg-0123456789abcdef0" },
      ]);
      const p = rolePolicies(synth, "kafka-role");
      await assertAllowed(p, req("secretsmanager:GetSecretValue", SECRET), req("ec2:DescribeSubnets", "*"));
      await assertDenied(p, req("secretsmanager:GetSecretValue", `${SECRET}-other`), req("kafka:DescribeClusterV2", MSK));
    });
  });

  describe("event destinations: an SNS topic and an output queue, on a bus of its own", () => {
    const synth = synthStack(
      testConfig({ events: { busName: "lab-events", outputQueue: true, snsTopic: { emails: ["lab@example.com"], httpsEndpoints: ["https://hooks.example.com/spotq"] } } }),
    );
    const RULE = `arn:aws:events:${R}:rule/lab-events/spotq-job-events`;

    it("routes this deployment's job state changes from its bus to both", () => {
      assert.equal(synth.resource("aws_cloudwatch_event_bus").name, "lab-events");
      const rule = synth.resource("aws_cloudwatch_event_rule", "events_rule");
      assert.equal(rule.event_bus_name, synth.ref("aws_cloudwatch_event_bus", "", "name"));
      assert.deepEqual(JSON.parse(rule.event_pattern), { source: ["spotq"], "detail-type": ["spotq Job State Change"], detail: { deployment: ["spotq"] } });
      const targets = Object.entries(synth.resources("aws_cloudwatch_event_target"))
        .filter(([n]) => !n.startsWith("monitoring_") && !n.startsWith("returned-jobs_"))
        .map(([, t]) => t);
      assert.deepEqual(targets.map((t) => t.arn).sort(), [synth.ref("aws_sns_topic", "events_topic", "arn"), synth.ref("aws_sqs_queue", "events_queue", "arn")].sort());
      const subs = Object.values(synth.resources("aws_sns_topic_subscription")).map((s) => [s.protocol, s.endpoint]);
      assert.deepEqual(subs, [
        ["email", "lab@example.com"],
        ["https", "https://hooks.example.com/spotq"],
      ]);
      assert.ok(synth.tf.output?.events_queue_url, "the output queue's URL is an output (spotq events --queue)");
    });

    it("lets EventBridge deliver to the topic and the queue for this rule only", async () => {
      const resolver = new ReferenceResolver(synth);
      const topicPolicy = JSON.parse(resolver.resolve(synth.resource("aws_sns_topic_policy", "events").policy)) as Policy;
      const queuePolicy = JSON.parse(resolver.resolve(synth.resource("aws_sqs_queue_policy", "events").policy)) as Policy;
      const TOPIC = `arn:aws:sns:${R}:spotq-job-events`;
      const QUEUE = `arn:aws:sqs:${R}:spotq-job-events`;
      const asEvents = (action: string, resource: string, rule: string) => ({ principal: "events.amazonaws.com", action, resource, context: { "aws:SourceArn": rule } });
      assert.equal(await decide([], asEvents("sns:Publish", TOPIC, RULE), topicPolicy), "Allowed");
      assert.equal(await decide([], asEvents("sqs:SendMessage", QUEUE, RULE), queuePolicy), "Allowed");
      assert.notEqual(await decide([], asEvents("sns:Publish", TOPIC, `arn:aws:events:${R}:rule/lab-events/other`), topicPolicy), "Allowed");
      assert.notEqual(await decide([], asEvents("sqs:SendMessage", QUEUE, `arn:aws:events:${R}:rule/other`), queuePolicy), "Allowed");
    });

    it("lets the processes publish on that bus, not on the default one", async () => {
      const p = rolePolicies(synth, "api_role");
      await assertAllowed(p, req("events:PutEvents", `arn:aws:events:${R}:event-bus/lab-events`, fromSpotq));
      await assertDenied(p, req("events:PutEvents", DEFAULT_BUS, fromSpotq));
    });

    it("saves exactly the queries the README shows (default prices), so the two cannot drift", () => {
      const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
      for (const q of analyticsQueries(testConfig())) assert.ok(readme.includes(`-- ${q.name}\n${q.sql}\n`), `README shows the ${q.name} query as infra saves it`);
    });
  });

  describe("turned off", () => {
    it("grants and creates nothing for events and analytics", async () => {
      const synth: Synth = synthStack(testConfig({ events: { enabled: false }, analytics: { enabled: false } }));
      assert.deepEqual(synth.resources("aws_glue_catalog_table"), {});
      assert.deepEqual(synth.resources("aws_athena_workgroup"), {});
      await assertDenied(rolePolicies(synth, "api_role"), req("events:PutEvents", DEFAULT_BUS, fromSpotq), req("s3:PutObject", `${DATA}/analytics/jobs/dt=${today}/x.json`));
    });
  });
});
