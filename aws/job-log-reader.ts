import { GetLogEventsCommand, type CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { LogCursorError, type JobLogReader, type LogLine, type LogLineSource, type LogPage } from "../core/console-ports.ts";
import type { LogLocation } from "../core/job.ts";
import { withContext } from "./clients.ts";

/** Empty pages GetLogEvents may return before the events that follow them (its documented quirk). */
const MAX_EMPTY_PAGES = 3;

/**
 * A job attempt's log in CloudWatch Logs (the stream `<jobId>/<attempt>` the worker writes,
 * worker/telemetry/cloudwatch.ts), read forward with `GetLogEvents` (`startFromHead`). The cursor is
 * CloudWatch's `nextForwardToken`; following a stream is asking again with it.
 *
 * Only streams of the deployment's job log group are read (`jobLogGroup`), whatever a record says.
 */
export class CloudWatchJobLogReader implements JobLogReader {
  readonly #logs: CloudWatchLogsClient;
  readonly #group: string;

  constructor(logs: CloudWatchLogsClient, options: { jobLogGroup: string }) {
    this.#logs = logs;
    this.#group = options.jobLogGroup;
  }

  async read(location: LogLocation, options: { after?: string; limit: number }): Promise<LogPage> {
    if (location.group !== this.#group) throw new Error(`job log group ${location.group} is not this deployment's (${this.#group})`);
    if (options.after !== undefined && !/^[fb]\/[0-9A-Za-z/_+=-]{1,1024}$/.test(options.after))
      throw new LogCursorError("is not a cursor from an earlier page of this log");
    let token = options.after;
    for (let page = 0; ; page++) {
      let r;
      try {
        r = await this.#logs.send(
          new GetLogEventsCommand({
            logGroupName: location.group,
            logStreamName: location.stream,
            startFromHead: true,
            limit: options.limit,
            ...(token ? { nextToken: token } : {}),
          }),
        );
      } catch (err) {
        const name = (err as { name?: string }).name;
        // The worker creates the stream when the attempt starts: until then the log is empty.
        if (name === "ResourceNotFoundException") return { lines: [], next: token ?? "", atEnd: true };
        if (name === "InvalidParameterException" && token) throw new LogCursorError("is not a cursor from an earlier page of this log", { cause: err });
        throw withContext(`CloudWatch Logs get events of ${location.group} ${location.stream}`, err);
      }
      const events = r.events ?? [];
      const next = r.nextForwardToken ?? token ?? "";
      const unchanged = next === token;
      if (events.length > 0 || unchanged || page + 1 >= MAX_EMPTY_PAGES)
        return { lines: events.map((e) => toLine(e.timestamp, e.message ?? "")), next, atEnd: events.length === 0 || unchanged };
      token = next;
    }
  }
}

function toLine(timestamp: number | undefined, message: string): LogLine {
  const m = /^\[(stdout|stderr|spotq)\] (.*)$/s.exec(message);
  return {
    ...(timestamp !== undefined ? { at: new Date(timestamp).toISOString() } : {}),
    ...(m ? { source: m[1] as LogLineSource, text: m[2]! } : { text: message }),
  };
}
