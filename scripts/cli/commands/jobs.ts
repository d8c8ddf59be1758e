import { readFileSync } from "node:fs";
import { isJobState } from "../../../core/job-state.ts";
import { parseTags } from "../../../api/job-labels.ts";
import { JobsApiClient } from "../api-client.ts";
import { CliError } from "../cli-error.ts";
import { cliName } from "../cli-name.ts";
import { formatDuration, jobDetails, jobLine } from "../format.ts";
import type { Target } from "../target.ts";

export interface SubmitOptions {
  file?: string;
  source?: string;
  target?: string;
  /** `Key=value` pairs; values are parsed as JSON when they parse (true, 3), else kept as strings. */
  set?: string[];
  idempotencyKey?: string;
  /** The job's name (`Spotq-Job-Name`). */
  name?: string;
  /** `key=value` tags (`Spotq-Job-Tags`), each flag one or more comma-separated pairs. */
  tag?: string[];
}

/** The tags of `--tag k=v` flags, checked here with the API's own rules so a typo fails before the call. */
export function tagsOf(flags: readonly string[] | undefined): Record<string, string> | undefined {
  if (!flags?.length) return undefined;
  const r = parseTags(flags.join(","), "--tag");
  if (!r.ok) throw new CliError(`--tag: ${r.problems.map((p) => p.reason).join("; ")}`, 'for example --tag clinic=north --tag urgent=yes', 2);
  return r.value;
}

/** Builds a request from a file and/or flags; flags win. */
export function buildRequest(o: SubmitOptions): Record<string, unknown> {
  let body: Record<string, unknown> = {};
  if (o.file) {
    try {
      body = JSON.parse(readFileSync(o.file, "utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new CliError(`cannot read request file ${o.file}: ${(err as Error).message}`, "pass a JSON file with the Medit request keys");
    }
  }
  if (o.source) body["Source Folder Path"] = o.source;
  if (o.target) body["Target Folder Path"] = o.target;
  for (const pair of o.set ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new CliError(`--set ${pair}: expected "Key=value"`, `for example --set "Use GPU=true"`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // keep as a string
    }
    body[key] = value;
  }
  if (Object.keys(body).length === 0)
    throw new CliError("nothing to submit", "pass a request file (spotq submit request.json) or --source s3://… --target s3://…");
  return body;
}

export async function submit(target: Target, o: SubmitOptions, out: (s: string) => void): Promise<string> {
  const api = new JobsApiClient(target.apiUrl, target.apiKey);
  const tags = tagsOf(o.tag);
  const r = await api.submit(buildRequest(o), o.idempotencyKey, { ...(o.name !== undefined ? { name: o.name } : {}), ...(tags ? { tags } : {}) });
  out(`submitted ${r.jobId} (${r.state})`);
  out(`  status: ${cliName()} status ${r.jobId}   or   curl ${new URL(r.statusUrl, `${target.apiUrl}/`).href}`);
  return r.jobId;
}

export async function status(target: Target, jobId: string, json: boolean, out: (s: string) => void): Promise<void> {
  const job = await new JobsApiClient(target.apiUrl, target.apiKey).get(jobId);
  out(json ? JSON.stringify(job, null, 2) : jobDetails(job));
}

export async function list(target: Target, o: { state?: string; limit?: number; next?: string; name?: string; tag?: string[] }, out: (s: string) => void): Promise<void> {
  if (o.state !== undefined && !isJobState(o.state))
    throw new CliError(`--state ${o.state}: not a job state`, "use one of QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLING, CANCELLED");
  const { tag, ...rest } = o;
  const page = await new JobsApiClient(target.apiUrl, target.apiKey).list({ ...rest, ...(tag?.length ? { tags: tag } : {}) });
  if (page.jobs.length === 0) out(page.next ? "no matching jobs in this stretch; more may follow" : "no jobs");
  for (const j of page.jobs) out(jobLine(j));
  if (page.next) {
    const q = (v: string) => (/^[A-Za-z0-9._:/=@+-]+$/.test(v) ? v : `'${v.replace(/'/g, "'\\''")}'`);
    const flags = [
      ...(o.state ? [`--state ${o.state}`] : []),
      ...(o.name !== undefined ? [`--name ${q(o.name)}`] : []),
      ...(tag ?? []).map((t) => `--tag ${q(t)}`),
      ...(o.limit !== undefined ? [`--limit ${o.limit}`] : []),
    ];
    out(`more: ${cliName()} list${flags.map((f) => ` ${f}`).join("")} --next ${page.next}`);
  }
}

export async function cancel(target: Target, jobId: string, out: (s: string) => void): Promise<void> {
  const job = await new JobsApiClient(target.apiUrl, target.apiKey).cancel(jobId);
  out(job.state === "CANCELLING" ? `${jobId} is CANCELLING: its worker is stopping the processor` : `${jobId} is ${job.state}`);
}

/** Exit codes of `spotq wait`. */
export const WAIT_EXIT = { SUCCEEDED: 0, FAILED: 1, CANCELLED: 3, TIMEOUT: 4 } as const;

/**
 * Polls a job until it finishes, redrawing one live line (state, instance, elapsed, phase) on a
 * terminal, or printing a line at each change otherwise (not for the clock alone). At the end it
 * prints the job's details once: the final state line, then the rest. Returns the exit code.
 */
export async function wait(
  target: Target,
  jobId: string,
  o: { timeoutSeconds?: number; intervalMs?: number; tty?: boolean; write?: (s: string) => void },
  out: (s: string) => void,
): Promise<number> {
  const api = new JobsApiClient(target.apiUrl, target.apiKey);
  const start = Date.now();
  const tty = o.tty ?? Boolean(process.stdout.isTTY);
  const write = o.write ?? ((s: string) => process.stdout.write(s));
  // What a change is: the line without its clock.
  const withoutClock = (line: string) => line.replace(/ {2}(elapsed|took) [^ ]+( [0-9]+[ms])?/, "");
  let last: string | undefined;
  for (;;) {
    const job = await api.get(jobId);
    const line = jobLine(job);
    const state = job.state;
    const finished = state === "SUCCEEDED" || state === "FAILED" || state === "CANCELLED";
    if (tty) write(`\r\x1b[2K${line}${finished ? "\n" : ""}`);
    else if (withoutClock(line) !== last) out(line);
    last = withoutClock(line);
    if (finished) {
      const rest = jobDetails(job, { headline: false });
      if (rest) out(rest);
      return WAIT_EXIT[state as "SUCCEEDED" | "FAILED" | "CANCELLED"];
    }
    if (o.timeoutSeconds !== undefined && Date.now() - start > o.timeoutSeconds * 1000) {
      if (tty) write("\n");
      out(`gave up waiting after ${formatDuration(Date.now() - start)}; the job is still ${job.state} (${cliName()} wait ${jobId} goes on waiting)`);
      return WAIT_EXIT.TIMEOUT;
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 1000));
  }
}
