import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { analyticsKey, analyticsLine, jobResultDocument, resultFileKey, type RunFacts } from "../core/job-result.ts";
import type { JobRecord } from "../core/job.ts";
import { isTerminal } from "../core/job-state.ts";
import { PATH_KEYS } from "../core/request.ts";
import { parseS3Uri } from "../core/s3-uri.ts";
import { withContext } from "./clients.ts";

/** Writes what a finished job leaves behind for people and for analytics. */
export interface JobResults {
  /** Rejects when a write failed; callers decide that this never fails a transition. */
  write(record: JobRecord, facts: RunFacts, options?: { signal?: AbortSignal }): Promise<void>;
}

export interface S3JobResultsOptions {
  /** The data bucket: the analytics lines go there. */
  bucket: string;
  /** `analytics.prefix`, e.g. `analytics/jobs/`. */
  prefix: string;
  /** The deployment's name, a column of every line. */
  deployment: string;
  /** Write `spotq-result.json` into the target of a job that ran to SUCCEEDED or FAILED (the worker). */
  resultFile: boolean;
  /** Write the analytics line of every finished job. */
  analytics: boolean;
}

/**
 * The result file (`<target>/spotq-result.json`) and the analytics line
 * (`<prefix>dt=YYYY-MM-DD/<jobId>.json`) of a finished job, on S3. Not finished: nothing.
 * A CANCELLED job gets a line but no result file: its target is left as the user left it.
 */
export class S3JobResults implements JobResults {
  readonly #s3: S3Client;
  readonly #o: S3JobResultsOptions;

  constructor(s3: S3Client, options: S3JobResultsOptions) {
    this.#s3 = s3;
    this.#o = options;
  }

  async write(record: JobRecord, facts: RunFacts, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (!isTerminal(record.state)) return;
    const writes: Promise<void>[] = [];
    const target = parseS3Uri(record.outputs?.target ?? record.request[PATH_KEYS.target]);
    if (this.#o.resultFile && (record.state === "SUCCEEDED" || record.state === "FAILED") && target.ok) {
      writes.push(this.#put(target.value.bucket, resultFileKey(target.value.prefix), `${JSON.stringify(jobResultDocument(record, facts), null, 2)}\n`, options.signal));
    }
    if (this.#o.analytics) {
      const line = analyticsLine(record, this.#o.deployment, facts);
      writes.push(this.#put(this.#o.bucket, analyticsKey(this.#o.prefix, line), `${JSON.stringify(line)}\n`, options.signal));
    }
    const failures = (await Promise.allSettled(writes)).filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failures.length > 0) throw failures[0]!.reason;
  }

  async #put(bucket: string, key: string, body: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.#s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "application/json" }), { abortSignal: signal });
    } catch (err) {
      throw withContext(`S3 put s3://${bucket}/${key}`, err);
    }
  }
}
