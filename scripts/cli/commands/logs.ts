import { GetLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { AwsClients } from "../../../aws/clients.ts";
import type { LogLocation } from "../../../core/job.ts";
import { JobsApiClient } from "../api-client.ts";
import { CliError } from "../cli-error.ts";
import type { Target } from "../target.ts";

/**
 * Prints the log of one job attempt (the processor's stdout and stderr, marked, and the worker's
 * notes): from CloudWatch Logs for a deployed stack, from the local stack's telemetry files locally.
 */
export async function logs(target: Target, jobId: string, o: { attempt?: number }, out: (s: string) => void): Promise<void> {
  const job = await new JobsApiClient(target.apiUrl, target.apiKey).get(jobId);
  let location: LogLocation | undefined = job.logs;
  if (o.attempt !== undefined) {
    location = job.attemptHistory?.find((a) => a.attempt === o.attempt)?.logs ?? (o.attempt === job.attempts ? job.logs : undefined);
    if (!location) throw new CliError(`job ${jobId} has no log for attempt ${o.attempt}`, `it has ${job.attempts} attempt(s); try --attempt ${job.attempts || 1}`);
  }
  if (!location) throw new CliError(`job ${jobId} has no log yet (it is ${job.state})`, "a log appears once a worker starts the job; `spotq wait` follows it");
  if (target.kind === "local") {
    const file = path.join(location.group, location.stream);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      throw new CliError(`cannot read the local log ${file}: ${(err as Error).message}`, "the local stack keeps logs only while its folder exists");
    }
    for (const line of text.split("\n")) if (line) out(line);
    return;
  }
  const clients = new AwsClients(target.aws);
  try {
    let token: string | undefined;
    for (;;) {
      const r = await clients.logs().send(
        new GetLogEventsCommand({ logGroupName: location.group, logStreamName: location.stream, startFromHead: true, nextToken: token }),
      );
      for (const e of r.events ?? []) out(`${new Date(e.timestamp ?? 0).toISOString()} ${e.message ?? ""}`);
      if (!r.nextForwardToken || r.nextForwardToken === token || (r.events ?? []).length === 0) break;
      token = r.nextForwardToken;
    }
  } catch (err) {
    throw new CliError(
      `cannot read CloudWatch log ${location.group} ${location.stream}: ${(err as Error).message}`,
      "check your AWS credentials and region (--profile, --region); the role needs logs:GetLogEvents",
    );
  } finally {
    clients.destroy();
  }
}
