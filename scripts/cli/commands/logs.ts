import { GetLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { open } from "node:fs/promises";
import path from "node:path";
import { AwsClients } from "../../../aws/clients.ts";
import type { JobRecord, LogLocation } from "../../../core/job.ts";
import { TERMINAL_STATES } from "../../../core/job-state.ts";
import { JobsApiClient } from "../api-client.ts";
import { cliName } from "../cli-name.ts";
import { CliError } from "../cli-error.ts";
import type { Target } from "../target.ts";

export interface LogsOptions {
  /** One attempt's log; default the latest attempt (and, when following, each new attempt in turn). */
  attempt?: number;
  /** Keep printing new lines until the job finishes, following the job into its next attempt. */
  follow?: boolean;
  /** How often a follow looks for new lines and for the job's state. @default 1000 */
  intervalMs?: number;
}

/** Reads one log from where it left off: lines that are complete since the last read. */
interface LogReader {
  /** New complete lines; with `final`, also a last line without its newline. */
  read(final?: boolean): Promise<string[]>;
  close(): void;
}

/** A local log file (the local stack's telemetry), read from a byte offset. */
function fileReader(file: string): LogReader {
  let offset = 0;
  let partial = "";
  return {
    async read(final = false) {
      let handle;
      try {
        handle = await open(file, "r");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return []; // not written yet
        throw new CliError(`cannot read the local log ${file}: ${(err as Error).message}`, "the local stack keeps logs in its folder; `npm start -- --fresh` removes them");
      }
      try {
        const { size } = await handle.stat();
        if (size < offset) offset = 0; // replaced: start over
        const buf = Buffer.alloc(size - offset);
        if (buf.length > 0) await handle.read(buf, 0, buf.length, offset);
        offset = size;
        const text = partial + buf.toString("utf8");
        const lines = text.split("\n");
        partial = lines.pop() ?? "";
        if (final && partial) {
          lines.push(partial);
          partial = "";
        }
        return lines;
      } finally {
        await handle.close();
      }
    },
    close() {},
  };
}

/** A CloudWatch Logs stream, read with GetLogEvents from the last forward token. */
function cloudWatchReader(target: Target, location: LogLocation): LogReader {
  const clients = new AwsClients(target.aws);
  let token: string | undefined;
  return {
    async read() {
      const lines: string[] = [];
      try {
        for (;;) {
          const r = await clients.logs().send(
            new GetLogEventsCommand({ logGroupName: location.group, logStreamName: location.stream, startFromHead: true, ...(token ? { nextToken: token } : {}) }),
          );
          for (const e of r.events ?? []) lines.push(`${new Date(e.timestamp ?? 0).toISOString()} ${e.message ?? ""}`);
          const moved = r.nextForwardToken !== undefined && r.nextForwardToken !== token;
          if (r.nextForwardToken) token = r.nextForwardToken;
          if (!moved || (r.events ?? []).length === 0) break;
        }
      } catch (err) {
        if ((err as Error).name === "ResourceNotFoundException") return lines; // the stream is not created yet
        throw new CliError(
          `cannot read CloudWatch log ${location.group} ${location.stream}: ${(err as Error).message}`,
          "check your AWS credentials and region (--profile, --region); the role needs logs:GetLogEvents",
        );
      }
      return lines;
    },
    close() {
      clients.destroy();
    },
  };
}

function readerFor(target: Target, location: LogLocation): LogReader {
  return target.kind === "local" ? fileReader(path.join(location.group, location.stream)) : cloudWatchReader(target, location);
}

/** The log location of an attempt of a job, if the job has one. */
function locationOf(job: JobRecord, attempt: number | undefined): LogLocation | undefined {
  if (attempt === undefined || attempt === job.attempts) return job.logs ?? job.attemptHistory?.find((a) => a.attempt === job.attempts)?.logs;
  return job.attemptHistory?.find((a) => a.attempt === attempt)?.logs;
}

/**
 * Prints the log of one job attempt (the processor's stdout and stderr, marked, and the worker's
 * notes): from CloudWatch Logs for a deployed stack, from the local stack's telemetry files locally.
 * With `follow`, keeps printing new lines as they are written, moves on to the next attempt when
 * the job is retried or handed back (unless an attempt was named), and returns once the job is
 * finished and its log read to the end.
 */
export async function logs(target: Target, jobId: string, o: LogsOptions, out: (s: string) => void): Promise<void> {
  const api = new JobsApiClient(target.apiUrl, target.apiKey);
  let job = await api.get(jobId);
  const interval = o.intervalMs ?? 1000;
  const sleep = () => new Promise((r) => setTimeout(r, interval));
  if (o.attempt !== undefined && o.attempt > Math.max(job.attempts, 0) && !o.follow)
    throw new CliError(`job ${jobId} has no attempt ${o.attempt}`, `it has ${job.attempts} attempt(s); try --attempt ${job.attempts || 1}`);

  if (!o.follow) {
    const location = locationOf(job, o.attempt);
    if (!location) {
      if (o.attempt !== undefined) throw new CliError(`job ${jobId} has no log for attempt ${o.attempt}`, `it has ${job.attempts} attempt(s); try --attempt ${job.attempts || 1}`);
      throw new CliError(`job ${jobId} has no log yet (it is ${job.state})`, `a log appears once a worker starts the job; \`${cliName()} logs ${jobId} --follow\` waits for it`);
    }
    const reader = readerFor(target, location);
    try {
      const lines = await reader.read(true);
      if (lines.length === 0 && target.kind === "local") {
        // A file that is not there at all (rather than empty) is worth saying.
        await open(path.join(location.group, location.stream), "r").then(
          (h) => h.close(),
          (err: Error) => {
            throw new CliError(`cannot read the local log ${path.join(location.group, location.stream)}: ${err.message}`, "the local stack keeps logs in its folder; `npm start -- --fresh` removes them");
          },
        );
      }
      for (const line of lines) out(line);
    } finally {
      reader.close();
    }
    return;
  }

  // Follow: the pinned attempt, else whichever attempt is the latest, in turn.
  let attempt = o.attempt;
  let following: { attempt: number; location: LogLocation; reader: LogReader } | undefined;
  let waitingSaid = false;
  try {
    for (;;) {
      const finished = TERMINAL_STATES.includes(job.state);
      const wanted = attempt ?? job.attempts;
      const location = wanted > 0 ? locationOf(job, wanted) : undefined;
      if (following && (following.attempt !== wanted || (location && location.stream !== following.location.stream))) {
        for (const line of await following.reader.read(true)) out(line); // the rest of the attempt we leave
        following.reader.close();
        following = undefined;
      }
      if (!following && location) {
        following = { attempt: wanted, location, reader: readerFor(target, location) };
        if (waitingSaid || wanted > 1) out(`--- attempt ${wanted}${job.instanceId && wanted === job.attempts ? ` on ${job.instanceId}` : ""} ---`);
      }
      if (following) for (const line of await following.reader.read(finished)) out(line);
      else if (!waitingSaid && !finished) {
        out(`--- waiting for ${attempt !== undefined ? `attempt ${attempt}` : "a worker to start the job"} (it is ${job.state}) ---`);
        waitingSaid = true;
      }
      if (finished) {
        if (!following && o.attempt !== undefined) throw new CliError(`job ${jobId} ended ${job.state} without an attempt ${o.attempt}`, `it had ${job.attempts} attempt(s)`);
        out(`--- job ${job.state} ---`);
        return;
      }
      // Past the pinned attempt: its log is complete.
      if (attempt !== undefined && following && job.attempts > attempt) {
        for (const line of await following.reader.read(true)) out(line);
        return;
      }
      await sleep();
      job = await api.get(jobId);
    }
  } finally {
    following?.reader.close();
  }
}
