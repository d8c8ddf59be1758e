import assert from "node:assert/strict";
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import winston from "winston";
import { batches, CloudWatchLogStream, LOG_LIMITS, truncateUtf8 } from "../../../../worker/telemetry/cloudwatch-logs.ts";
import { CloudWatchTelemetry } from "../../../../worker/telemetry/cloudwatch.ts";

/**
 * No CloudWatch emulator runs here, so the adapters are checked against a recording client that
 * answers like the service: it refuses a stream in a missing group, and a duplicate stream.
 */
class RecordingClient {
  readonly calls: { name: string; input: Record<string, unknown> }[] = [];
  readonly groups = new Set<string>();
  readonly streams = new Set<string>();
  async send(command: { constructor: { name: string }; input: Record<string, unknown> }): Promise<unknown> {
    const name = command.constructor.name.replace(/Command$/, "");
    const input = command.input;
    this.calls.push({ name, input });
    const fail = (n: string) => Object.assign(new Error(n), { name: n });
    if (name === "CreateLogGroup") {
      if (this.groups.has(input.logGroupName as string)) throw fail("ResourceAlreadyExistsException");
      this.groups.add(input.logGroupName as string);
    }
    if (name === "CreateLogStream") {
      if (!this.groups.has(input.logGroupName as string)) throw fail("ResourceNotFoundException");
      const key = `${input.logGroupName}/${input.logStreamName}`;
      if (this.streams.has(key)) throw fail("ResourceAlreadyExistsException");
      this.streams.add(key);
    }
    return {};
  }
  events(): { timestamp: number; message: string }[] {
    return this.calls.filter((c) => c.name === "PutLogEvents").flatMap((c) => c.input.logEvents as { timestamp: number; message: string }[]);
  }
}

describe("worker/telemetry/cloudwatch", () => {
  it("opens a stream per job attempt, creating the group when infra has not, and marks stdout and stderr", async () => {
    const logs = new RecordingClient();
    const t = new CloudWatchTelemetry(logs as unknown as CloudWatchLogsClient, new RecordingClient() as unknown as CloudWatchClient, {
      deployment: "prod",
      instanceId: "i-1",
    });
    const log = await t.openJobLog("01JOB", 2);
    assert.deepEqual(log.location, { group: "/spotq/prod/jobs", stream: "01JOB/2" });
    log.write("stdout", "loading scan");
    log.write("stderr", "GPU warm");
    await log.close();
    assert.deepEqual(
      logs.calls.map((c) => c.name),
      ["CreateLogStream", "CreateLogGroup", "CreateLogStream", "PutLogEvents"],
    );
    assert.deepEqual(logs.events().map((e) => e.message), ["[stdout] loading scan", "[stderr] GPU warm"]);
  });

  it("sends one batch per second of lines, in time order even when the clock steps back", async () => {
    const logs = new RecordingClient();
    logs.groups.add("g");
    const s = new CloudWatchLogStream(logs as unknown as CloudWatchLogsClient, { group: "g", stream: "s", flushIntervalMs: 20 });
    s.put("a", 2_000);
    s.put("b", 1_000);
    s.put("", 3_000);
    await new Promise((r) => setTimeout(r, 80));
    await s.flush();
    const puts = logs.calls.filter((c) => c.name === "PutLogEvents");
    assert.equal(puts.length, 1);
    assert.deepEqual(logs.events(), [
      { timestamp: 2_000, message: "a" },
      { timestamp: 2_000, message: "b" },
      { timestamp: 3_000, message: " " },
    ]);
  });

  it("splits batches at 10,000 events and at 1 MiB counting 26 bytes per event", () => {
    const many = Array.from({ length: 25_000 }, (_, i) => ({ timestamp: i, message: "x" }));
    assert.deepEqual(batches(many).map((b) => b.length), [10_000, 10_000, 5_000]);
    const big = Array.from({ length: 10 }, (_, i) => ({ timestamp: i, message: "y".repeat(200_000) }));
    const sizes = batches(big).map((b) => b.reduce((n, e) => n + (e.message?.length ?? 0) + LOG_LIMITS.eventOverhead, 0));
    assert.ok(sizes.every((n) => n <= LOG_LIMITS.maxBatchBytes), JSON.stringify(sizes));
    assert.equal(sizes.length, 2);
  });

  it("cuts an oversize line at the event limit without splitting a character", () => {
    const s = truncateUtf8("é".repeat(20), 30);
    assert.ok(Buffer.byteLength(s) <= 30, s);
    assert.match(s, /^é+ …\[truncated\]$/);
    assert.equal(truncateUtf8("é".repeat(20), 5), "éé");
    assert.equal(truncateUtf8("short", 100), "short");
  });

  it("puts each job's metrics with the Deployment dimension and the names the dashboard reads", async () => {
    const cw = new RecordingClient();
    const t = new CloudWatchTelemetry(new RecordingClient() as unknown as CloudWatchLogsClient, cw as unknown as CloudWatchClient, {
      deployment: "prod",
      instanceId: "i-1",
    });
    await t.putJobMetrics({ jobId: "J", attempt: 1, outcome: "succeeded", processSeconds: 12.5, bytesIn: 1000, queueWaitSeconds: 3 });
    const input = cw.calls[0]!.input as { Namespace: string; MetricData: { MetricName: string; Value: number; Unit: string; Dimensions: unknown }[] };
    assert.equal(input.Namespace, "spotq");
    assert.deepEqual(
      input.MetricData.map((d) => [d.MetricName, d.Value, d.Unit]),
      [
        ["QueueWaitSeconds", 3, "Seconds"],
        ["ProcessSeconds", 12.5, "Seconds"],
        ["BytesIn", 1000, "Bytes"],
        ["JobsSucceeded", 1, "Count"],
      ],
    );
    for (const d of input.MetricData) assert.deepEqual(d.Dimensions, [{ Name: "Deployment", Value: "prod" }]);
  });

  it("reports a failed call instead of throwing: logging never stops a job", async () => {
    const errors: string[] = [];
    const broken = { send: async () => Promise.reject(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" })) };
    const t = new CloudWatchTelemetry(broken as unknown as CloudWatchLogsClient, broken as unknown as CloudWatchClient, {
      deployment: "prod",
      instanceId: "i-1",
      onError: (e) => errors.push(e.message),
    });
    const log = await t.openJobLog("J", 1);
    log.write("stdout", "x");
    await log.close();
    await t.putJobMetrics({ jobId: "J", attempt: 1, outcome: "failed" });
    assert.ok(errors.some((e) => /create stream \/spotq\/prod\/jobs\/J\/1 failed: ThrottlingException: Rate exceeded/.test(e)), errors.join("\n"));
    assert.ok(errors.some((e) => /CloudWatch put 1 metrics of job J failed/.test(e)), errors.join("\n"));
  });

  it("sends the worker's own log as JSON events to the instance's stream", async () => {
    const logs = new RecordingClient();
    const t = new CloudWatchTelemetry(logs as unknown as CloudWatchLogsClient, new RecordingClient() as unknown as CloudWatchClient, {
      deployment: "prod",
      instanceId: "i-0abc",
      flushIntervalMs: 10,
    });
    const logger = winston.createLogger({ transports: [t.workerTransport()] });
    logger.info("job started", { jobId: "J" });
    await new Promise((r) => setTimeout(r, 50));
    await t.close();
    const put = logs.calls.find((c) => c.name === "PutLogEvents")!;
    assert.equal(put.input.logGroupName, "/spotq/prod/workers");
    assert.equal(put.input.logStreamName, "i-0abc");
    assert.deepEqual(JSON.parse(logs.events()[0]!.message), { level: "info", message: "job started", jobId: "J" });
  });
});
