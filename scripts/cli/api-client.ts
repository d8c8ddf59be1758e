import type { JobRecord } from "../../core/job.ts";
import type { Problem } from "../../core/errors.ts";
import { CliError } from "./cli-error.ts";

/** An error answer of the jobs API. */
export class ApiError extends CliError {
  readonly status: number;
  readonly problems: Problem[];
  constructor(status: number, message: string, problems: Problem[], fix?: string) {
    super(message, fix);
    this.name = "ApiError";
    this.status = status;
    this.problems = problems;
  }
}

export interface SubmitAnswer {
  jobId: string;
  state: string;
  statusUrl: string;
}

/** The name and tags a job is submitted with (sent as `Spotq-Job-Name` / `Spotq-Job-Tags`). */
export interface JobLabelsInput {
  name?: string;
  /** `key=value` pairs. */
  tags?: Record<string, string>;
}

/** A `GET /jobs` query. */
export interface ListQueryInput {
  state?: string;
  limit?: number;
  next?: string;
  /** A name, or a prefix ending in `*`. */
  name?: string;
  /** `key=value` or `key`, each must match. */
  tags?: string[];
}

/**
 * A small typed client of the jobs API (POST/GET /jobs, GET/DELETE /jobs/{id}). It sends the API
 * key as `x-api-key` (API Gateway's header, and the local server's with tenants).
 */
export class JobsApiClient {
  readonly #base: string;
  readonly #apiKey: string | undefined;

  constructor(baseUrl: string, apiKey?: string) {
    this.#base = baseUrl.replace(/\/+$/, "");
    this.#apiKey = apiKey;
  }

  submit(body: unknown, idempotencyKey?: string, labels: JobLabelsInput = {}): Promise<SubmitAnswer> {
    const tags = Object.entries(labels.tags ?? {});
    return this.#call("POST", "/jobs", body, {
      ...(idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {}),
      ...(labels.name !== undefined ? { "Spotq-Job-Name": labels.name } : {}),
      ...(tags.length ? { "Spotq-Job-Tags": tags.map(([k, v]) => `${k}=${v}`).join(",") } : {}),
    });
  }

  get(jobId: string): Promise<JobRecord> {
    return this.#call("GET", `/jobs/${encodeURIComponent(jobId)}`);
  }

  list(query: ListQueryInput = {}): Promise<{ jobs: JobRecord[]; next?: string }> {
    const qs = new URLSearchParams();
    for (const k of ["state", "limit", "next", "name"] as const) if (query[k] !== undefined) qs.set(k, String(query[k]));
    for (const t of query.tags ?? []) qs.append("tag", t);
    return this.#call("GET", `/jobs${qs.size ? `?${qs}` : ""}`);
  }

  cancel(jobId: string): Promise<JobRecord> {
    return this.#call("DELETE", `/jobs/${encodeURIComponent(jobId)}`);
  }

  async #call<T>(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const url = `${this.#base}${route}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...(this.#apiKey ? { "x-api-key": this.#apiKey } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new CliError(
        `cannot reach the jobs API at ${this.#base}: ${(err as Error).cause ? String((err as { cause: unknown }).cause) : (err as Error).message}`,
        "is the stack up? `npm start` for the local one; check --api for a deployed one",
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { error: { message: text.slice(0, 200) } };
    }
    if (res.ok) return json as T;
    const e = (json as { error?: { message?: string; problems?: Problem[] }; message?: string }) ?? {};
    const problems = e.error?.problems ?? [];
    const detail = problems.length ? problems.map((p) => `${p.field}: ${p.reason}`).join("; ") : (e.error?.message ?? e.message ?? res.statusText);
    throw new ApiError(res.status, `${method} ${route} answered ${res.status}: ${detail}`, problems, fixFor(res.status));
  }
}

function fixFor(status: number): string | undefined {
  if (status === 403 || status === 401) return "pass your tenant's API key with --api-key or SPOTQ_API_KEY (see the deploy guide for how to read it)";
  if (status === 404) return "check the job id (`spotq list` shows recent jobs)";
  if (status === 400 || status === 413 || status === 422) return "fix the fields named above and submit again";
  if (status === 409) return undefined;
  if (status >= 500) return "the service had a transient failure: retry the same command (submits with --idempotency-key are safe to retry)";
  return undefined;
}
