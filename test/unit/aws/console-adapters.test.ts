import assert from "node:assert/strict";
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { CloudWatchAlarmStates } from "../../../aws/alarm-states.ts";
import { CloudWatchJobLogReader } from "../../../aws/job-log-reader.ts";
import { CloudWatchQueueDepthHistory, queueNameOf } from "../../../aws/queue-depth-history.ts";
import { LogCursorError } from "../../../core/console-ports.ts";

/** An SDK client that answers each call from a script and records what it was asked. */
function scripted<T>(answers: ((input: Record<string, unknown>) => unknown)[]): { client: T; calls: { command: string; input: Record<string, unknown> }[] } {
  const calls: { command: string; input: Record<string, unknown> }[] = [];
  const client = {
    async send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      calls.push({ command: command.constructor.name, input: command.input });
      const answer = answers.shift();
      if (!answer) throw new Error(`unexpected call ${command.constructor.name}`);
      return answer(command.input);
    },
  };
  return { client: client as T, calls };
}

const sdkError = (name: string, message = name) => Object.assign(new Error(message), { name });
const GROUP = "/spotq/spotq/jobs";
const STREAM = { group: GROUP, stream: "01M8SPQJAG1EJE8TBNVKY2S4XN/1" };

describe("aws: the console's CloudWatch adapters (SDK calls on a scripted client)", () => {
  describe("CloudWatchJobLogReader", () => {
    it("reads a job stream from its head, splitting the worker's [source] mark from the text", async () => {
      const { client, calls } = scripted<CloudWatchLogsClient>([
        () => ({
          events: [
            { timestamp: Date.parse("2026-01-01T10:00:00Z"), message: "[spotq] attempt 1" },
            { timestamp: Date.parse("2026-01-01T10:00:01Z"), message: "[stderr] warn" },
            { timestamp: Date.parse("2026-01-01T10:00:02Z"), message: "no mark" },
          ],
          nextForwardToken: "f/0002",
        }),
      ]);
      const page = await new CloudWatchJobLogReader(client, { jobLogGroup: GROUP }).read(STREAM, { limit: 100 });
      assert.deepEqual(calls, [
        { command: "GetLogEventsCommand", input: { logGroupName: GROUP, logStreamName: STREAM.stream, startFromHead: true, limit: 100 } },
      ]);
      assert.deepEqual(page, {
        lines: [
          { at: "2026-01-01T10:00:00.000Z", source: "spotq", text: "attempt 1" },
          { at: "2026-01-01T10:00:01.000Z", source: "stderr", text: "warn" },
          { at: "2026-01-01T10:00:02.000Z", text: "no mark" },
        ],
        next: "f/0002",
        atEnd: false,
      });
    });

    it("follows with the forward token, reads past empty pages, and is at the end when the token stays", async () => {
      const { client, calls } = scripted<CloudWatchLogsClient>([
        () => ({ events: [], nextForwardToken: "f/0003" }),
        () => ({ events: [{ timestamp: 1, message: "[stdout] later" }], nextForwardToken: "f/0004" }),
        () => ({ events: [], nextForwardToken: "f/0004" }),
      ]);
      const reader = new CloudWatchJobLogReader(client, { jobLogGroup: GROUP });
      const page = await reader.read(STREAM, { after: "f/0002", limit: 10 });
      assert.deepEqual(page.lines.map((l) => l.text), ["later"]);
      assert.deepEqual(calls.map((c) => c.input.nextToken), ["f/0002", "f/0003"]);
      const end = await reader.read(STREAM, { after: page.next, limit: 10 });
      assert.deepEqual(end, { lines: [], next: "f/0004", atEnd: true });
    });

    it("reads a stream not created yet as empty, refuses a token CloudWatch refuses, and any other group", async () => {
      const { client } = scripted<CloudWatchLogsClient>([
        () => Promise.reject(sdkError("ResourceNotFoundException", "The specified log stream does not exist.")),
        () => Promise.reject(sdkError("InvalidParameterException", "The specified nextToken is invalid.")),
      ]);
      const reader = new CloudWatchJobLogReader(client, { jobLogGroup: GROUP });
      assert.deepEqual(await reader.read(STREAM, { limit: 10 }), { lines: [], next: "", atEnd: true });
      await assert.rejects(reader.read(STREAM, { after: "f/123", limit: 10 }), LogCursorError);
      await assert.rejects(reader.read(STREAM, { after: "not a token!", limit: 10 }), LogCursorError);
      await assert.rejects(reader.read({ group: "/aws/lambda/billing", stream: "x" }, { limit: 10 }), /is not this deployment's/);
    });
  });

  describe("CloudWatchAlarmStates", () => {
    it("lists the deployment's metric and composite alarms by name prefix, through every page, sorted", async () => {
      const { client, calls } = scripted<CloudWatchClient>([
        () => ({
          MetricAlarms: [{ AlarmName: "spotq-jobs-failed", StateValue: "OK", StateReason: "ok", StateUpdatedTimestamp: new Date("2026-01-01T10:00:00Z") }],
          NextToken: "t2",
        }),
        () => ({ MetricAlarms: [{ AlarmName: "spotq-backlog-deficit", StateValue: "ALARM" }], CompositeAlarms: [{ AlarmName: "spotq-health", StateValue: "INSUFFICIENT_DATA" }] }),
      ]);
      const alarms = await new CloudWatchAlarmStates(client, { alarmNamePrefix: "spotq-" }).list();
      assert.deepEqual(
        calls.map((c) => [c.command, c.input.AlarmNamePrefix, c.input.NextToken]),
        [
          ["DescribeAlarmsCommand", "spotq-", undefined],
          ["DescribeAlarmsCommand", "spotq-", "t2"],
        ],
      );
      assert.deepEqual(alarms, [
        { name: "spotq-backlog-deficit", state: "ALARM" },
        { name: "spotq-health", state: "INSUFFICIENT_DATA" },
        { name: "spotq-jobs-failed", state: "OK", reason: "ok", updatedAt: "2026-01-01T10:00:00.000Z" },
      ]);
    });

    it("rethrows a failure with what it was doing, keeping the error's kind", async () => {
      const { client } = scripted<CloudWatchClient>([() => Promise.reject(sdkError("AccessDenied"))]);
      await assert.rejects(new CloudWatchAlarmStates(client, { alarmNamePrefix: "spotq-" }).list(), (err: Error) => {
        assert.equal(err.name, "AccessDenied");
        assert.match(err.message, /CloudWatch describe alarms spotq-\* failed/);
        return true;
      });
    });
  });

  describe("CloudWatchQueueDepthHistory", () => {
    it("asks for the queue's visible and in-flight maxima per minute over the last hour, and pairs them by time", async () => {
      const t = (m: number) => new Date(Date.parse("2026-01-01T10:00:00Z") + m * 60_000);
      const { client, calls } = scripted<CloudWatchClient>([
        () => ({
          MetricDataResults: [
            { Id: "visible", Timestamps: [t(1), t(0)], Values: [3, 5] },
            { Id: "inflight", Timestamps: [t(0), t(1)], Values: [0, 2] },
          ],
        }),
      ]);
      const now = Date.parse("2026-01-01T10:59:30Z");
      const history = await new CloudWatchQueueDepthHistory(client, { queueUrl: "https://sqs.us-east-1.amazonaws.com/111122223333/spotq-jobs", now: () => now }).lastHour();
      const input = calls[0]!.input as { StartTime: Date; EndTime: Date; MetricDataQueries: { MetricStat: { Metric: unknown; Period: number; Stat: string } }[] };
      assert.equal(input.EndTime.toISOString(), "2026-01-01T10:59:00.000Z");
      assert.equal(input.StartTime.toISOString(), "2026-01-01T09:59:00.000Z");
      assert.deepEqual(
        input.MetricDataQueries.map((q) => [q.MetricStat.Metric, q.MetricStat.Period, q.MetricStat.Stat]),
        ["ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"].map((name) => [
          { Namespace: "AWS/SQS", MetricName: name, Dimensions: [{ Name: "QueueName", Value: "spotq-jobs" }] },
          60,
          "Maximum",
        ]),
      );
      assert.deepEqual(history, {
        periodSeconds: 60,
        points: [
          { at: t(0).toISOString(), visible: 5, inFlight: 0 },
          { at: t(1).toISOString(), visible: 3, inFlight: 2 },
        ],
      });
    });

    it("takes the queue name from a queue URL, local or AWS", () => {
      assert.equal(queueNameOf("https://sqs.eu-west-1.amazonaws.com/111122223333/spotq-jobs"), "spotq-jobs");
      assert.equal(queueNameOf("http://127.0.0.1:4566/000000000000/spotq-local-jobs"), "spotq-local-jobs");
    });
  });
});
