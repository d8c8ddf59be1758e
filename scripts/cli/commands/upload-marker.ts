import { PutObjectCommand } from "@aws-sdk/client-s3";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { AwsClients } from "../../../aws/clients.ts";
import { MARKER_FILE } from "../../../core/intake.ts";
import type { JobRecord } from "../../../core/job.ts";
import { JobsApiClient } from "../api-client.ts";
import { CliError } from "../cli-error.ts";
import type { Target } from "../target.ts";

/** The marker `spotq upload` wrote, and the job the trigger made of it when it showed up in time. */
export interface MarkerWritten {
  key: string;
  etag: string;
  job?: Pick<JobRecord, "jobId" | "state" | "error">;
}

/**
 * The `spotq.json` to write after the folder (issue 10): the `--submit` request file, else a
 * `spotq.json` at the folder's top. Undefined when there is none. A request that is not a JSON
 * object is refused here, before anything is uploaded.
 */
export async function markerToWrite(dir: string, submit: string | undefined): Promise<Buffer | undefined> {
  const file = submit ?? path.join(dir, MARKER_FILE);
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch (err) {
    if (!submit && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CliError(`cannot read the request ${file}: ${(err as Error).message}`, "pass a JSON file with the Medit request keys (the two paths may be left out)");
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new CliError(`${file} is not valid JSON: ${(err as Error).message}`, "fix the request file; nothing was uploaded");
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new CliError(`${file} must hold a JSON object (the Medit request)`, "fix the request file; nothing was uploaded");
  return body;
}

/**
 * Writes the marker after the folder, then looks for the job the trigger makes of it (by the
 * marker's key and ETag) for up to `findJobMs`, and says what became of it.
 */
export async function writeMarker(
  target: Target,
  clients: AwsClients,
  bucket: string,
  prefix: string,
  body: Buffer,
  write: (s: string) => void,
  findJobMs: number,
): Promise<MarkerWritten> {
  const key = `${prefix}/${MARKER_FILE}`;
  let etag: string;
  try {
    const r = await clients.s3().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "application/json" }));
    etag = (r.ETag ?? "").replace(/"/g, "");
  } catch (err) {
    throw new CliError(`the folder is uploaded, but writing s3://${bucket}/${key} failed: ${(err as Error).message}`, "run the same upload again: it sends only the marker");
  }
  write(`wrote s3://${bucket}/${key} last: where a trigger watches, it submits the folder\n`);
  const job = await findMarkerJob(new JobsApiClient(target.apiUrl, target.apiKey), key, etag, findJobMs).catch(() => undefined);
  if (!job) write(`no job for it yet; follow with \`spotq list\` or \`spotq events --follow\` (is triggers.s3 on for this prefix?)\n`);
  else if (job.state === "FAILED") write(`job ${job.jobId} FAILED: ${job.error?.message ?? "?"}\n`);
  else write(`job ${job.jobId} ${job.state}: spotq wait ${job.jobId}\n`);
  return { key, etag, ...(job ? { job } : {}) };
}

/** The newest job made of this marker upload (origin key and ETag), polling `GET /jobs` until `timeoutMs`. */
async function findMarkerJob(api: JobsApiClient, key: string, etag: string, timeoutMs: number): Promise<JobRecord | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const page = await api.list({ limit: 50 });
    const job = page.jobs.find((j) => j.origin?.kind === "s3" && j.origin.key === key && j.origin.etag === etag);
    if (job || Date.now() > deadline) return job;
    await new Promise((r) => setTimeout(r, 500));
  }
}
