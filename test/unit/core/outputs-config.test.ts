import assert from "node:assert/strict";
import { defaultFleetConfig, parseFleetConfig } from "../../../core/fleet-config.ts";

function problemsOf(input: unknown): { field: string; reason: string }[] {
  const r = parseFleetConfig(input);
  assert.equal(r.ok, false, "expected the config to be refused");
  return r.ok ? [] : r.problems;
}

const MSK = "arn:aws:kafka:us-east-1:123456789012:cluster/lab/0f1e2d3c-aaaa-bbbb-cccc-111122223333-1";
const SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_lab-AbCdEf";

describe("core/fleet-config: the triggers, events and analytics block", () => {
  it("defaults: no trigger in a deployment, events and analytics on", () => {
    const c = defaultFleetConfig();
    assert.deepEqual(c.triggers.s3, { enabled: false, prefixes: ["inbox/"], targetPrefix: "results/" });
    assert.equal(c.triggers.kafka, undefined);
    assert.deepEqual([c.events.enabled, c.events.busName, c.events.outputQueue], [true, "default", false]);
    assert.deepEqual([c.analytics.enabled, c.analytics.resultFile, c.analytics.prefix], [true, true, "analytics/jobs/"]);
  });

  it("refuses a target prefix inside the watched prefix (a result spotq.json would start a job)", () => {
    const [p] = problemsOf({ triggers: { s3: { enabled: true, prefixes: ["inbox/"], targetPrefix: "inbox/results/" } } });
    assert.equal(p!.field, "triggers.s3.targetPrefix");
    assert.match(p!.reason, /must not overlap the trigger prefix "inbox\/"/);
  });

  it("keeps the trigger inside the folders the worker may read and write", () => {
    const fields = problemsOf({
      storage: { sourcePrefixes: ["scans/"], targetPrefixes: ["out/"] },
      triggers: { s3: { enabled: true, prefixes: ["inbox/"], targetPrefix: "results/" } },
    }).map((p) => p.field);
    assert.deepEqual(fields.sort(), ["triggers.s3.prefixes.0", "triggers.s3.targetPrefix"]);
  });

  it("needs one Kafka cluster, and auth that fits it", () => {
    assert.deepEqual(problemsOf({ triggers: { kafka: { topic: "jobs" } } }).map((p) => p.field), ["triggers.kafka"]);
    assert.deepEqual(problemsOf({ triggers: { kafka: { topic: "jobs", mskClusterArn: MSK, bootstrapServers: ["b:9092"] } } }).map((p) => p.field), ["triggers.kafka"]);
    assert.deepEqual(problemsOf({ triggers: { kafka: { topic: "jobs", bootstrapServers: ["b:9092"] } } }).map((p) => p.field), ["triggers.kafka.auth"], "iam is MSK only");
    assert.deepEqual(problemsOf({ triggers: { kafka: { topic: "jobs", mskClusterArn: MSK, auth: "sasl-scram-512" } } }).map((p) => p.field), ["triggers.kafka.secretArn"]);
    assert.deepEqual(problemsOf({ triggers: { kafka: { topic: "a b", mskClusterArn: "arn:nope" } } }).map((p) => p.field).sort(), ["triggers.kafka.mskClusterArn", "triggers.kafka.topic"]);
    assert.ok(parseFleetConfig({ triggers: { kafka: { topic: "jobs", mskClusterArn: MSK, auth: "sasl-scram-512", secretArn: SECRET } } }).ok);
    assert.ok(parseFleetConfig({ triggers: { kafka: { topic: "jobs", bootstrapServers: ["k1:9092"], auth: "none" } } }).ok);
  });

  it("refuses an event webhook that is not https, and an unknown key with the accepted ones", () => {
    const ps = problemsOf({ events: { snsTopic: { httpsEndpoints: ["http://hooks.example.com/x"] }, bus: "x" } });
    assert.deepEqual(ps.map((p) => p.field).sort(), ["events.bus", "events.snsTopic.httpsEndpoints.0"]);
    assert.match(ps.find((p) => p.field === "events.bus")!.reason, /accepted keys here: enabled, busName, snsTopic, outputQueue/);
  });
});
