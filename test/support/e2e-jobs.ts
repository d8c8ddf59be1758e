import type { JobRecord } from "../../core/job.ts";
import { sleep } from "./e2e-wait.ts";

/** An HTTP answer: status and parsed JSON body. */
export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
}

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

/** True for SUCCEEDED, FAILED and CANCELLED. */
export function isFinished(job: Pick<JobRecord, "state">): boolean {
  return TERMINAL.has(job.state);
}

/**
 * The jobs API as a user calls it: plain HTTP (fetch) against the stack's API server. Waiting is
 * polling, as `spotq wait` does, bounded by a generous deadline that only fails a hung run.
 */
export class JobsClient {
  readonly #url: string;

  constructor(apiUrl: string) {
    this.#url = apiUrl;
  }

  /** `POST /jobs`; expects 202 and returns the job id. */
  async submit(request: Record<string, unknown>): Promise<string> {
    const a = await this.#call<{ jobId?: string }>("POST", "/jobs", request);
    if (a.status !== 202 || !a.body.jobId) throw new Error(`POST /jobs answered ${a.status}: ${JSON.stringify(a.body)}`);
    return a.body.jobId;
  }

  /** `GET /jobs/{id}`; expects 200. */
  async get(jobId: string): Promise<JobRecord> {
    const a = await this.#call<JobRecord>("GET", `/jobs/${jobId}`);
    if (a.status !== 200) throw new Error(`GET /jobs/${jobId} answered ${a.status}: ${JSON.stringify(a.body)}`);
    return a.body;
  }

  /** `DELETE /jobs/{id}`, whatever it answers. */
  cancel(jobId: string): Promise<ApiAnswer<{ jobId?: string; state?: string; error?: { code: string; message: string } }>> {
    return this.#call("DELETE", `/jobs/${jobId}`);
  }

  /** Every job of the deployment (`GET /jobs`, all pages), optionally of one state. */
  async list(state?: string): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    let next: string | undefined;
    do {
      const q = new URLSearchParams({ limit: "100", ...(state ? { state } : {}), ...(next ? { next } : {}) });
      const a = await this.#call<{ jobs: JobRecord[]; next?: string }>("GET", `/jobs?${q}`);
      if (a.status !== 200) throw new Error(`GET /jobs answered ${a.status}: ${JSON.stringify(a.body)}`);
      out.push(...a.body.jobs);
      next = a.body.next;
    } while (next);
    return out;
  }

  /** Polls the job until `done(job)` holds; fails after `timeoutMs` with the job's last record. */
  async waitFor(jobId: string, what: string, done: (job: JobRecord) => boolean, timeoutMs: number, pollMs = 250): Promise<JobRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.get(jobId);
      if (done(job)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId}: ${what} not reached within ${timeoutMs / 1000} s; last record: ${JSON.stringify(job)}`);
      await sleep(pollMs);
    }
  }

  /** Polls until the job is SUCCEEDED, FAILED or CANCELLED. */
  finished(jobId: string, timeoutMs: number): Promise<JobRecord> {
    return this.waitFor(jobId, "a final state", isFinished, timeoutMs);
  }

  async #call<T>(method: string, route: string, body?: unknown): Promise<ApiAnswer<T>> {
    const res = await fetch(`${this.#url}${route}`, {
      method,
      ...(body !== undefined ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as T };
  }
}
