import { Hono, type Context } from "hono";
import type { JobRecord } from "../core/job.ts";
import type { JobView } from "../core/status-reason.ts";
import { cancelJob } from "./cancel-job.ts";
import type { ApiDeps } from "./deps.ts";
import { ApiError, ApiErrorCode, dependencyFailed, invalidRequest, type ErrorBody } from "./http-errors.ts";
import { IDEMPOTENCY_HEADER, REPLAYED_HEADER } from "./idempotency.ts";
import { JOB_NAME_HEADER, JOB_PRIORITY_HEADER, JOB_TAGS_HEADER } from "./job-labels.ts";
import { readJsonBody } from "./json-body.ts";
import { encodeListCursor, parseListQuery } from "./list-query.ts";
import { fleetSnapshotReader } from "./fleet-snapshot.ts";
import { jsonLineLog, type ApiLog } from "./log.ts";
import { jobStatusUrl } from "./public-url.ts";
import { withStatusReasons } from "./read-job.ts";
import { submitJob } from "./submit-job.ts";
import { CONSOLE_ROUTES, registerConsoleRoutes } from "./console/routes.ts";
import { authenticate, callerOf, listScope, readJobFor, type TenancyVariables } from "./tenancy.ts";

export type { ApiDeps } from "./deps.ts";

/** The answer to a submit or a cancel: where the job stands and where to follow it. */
export interface JobAccepted {
  jobId: string;
  state: JobRecord["state"];
  statusUrl: string;
}

/** The answer to `GET /jobs`: newest first, each with its status reason; `next` is present when more pages follow. */
export interface JobList {
  jobs: JobView[];
  next?: string;
}

/**
 * Hono's typing of this app: the job a request concerns (for the request log line) and who the
 * request acts for (api/tenancy.ts: set by `authenticate` before every route).
 */
export type ApiEnv = { Variables: { jobId?: string } & TenancyVariables };

const ROUTES = `POST /jobs, GET /jobs, GET /jobs/{id}, DELETE /jobs/{id}, ${CONSOLE_ROUTES}`;

/**
 * The jobs API as one Hono app, served by api/lambda.ts (API Gateway proxy events) and
 * api/server.ts (a local HTTP server) alike.
 *
 * - `POST /jobs` → 202 {@link JobAccepted}
 * - `GET /jobs/{id}` → 200 the job record, with its `statusReason` when it waits or runs
 * - `GET /jobs?state=&name=&tag=&limit=&next=` → 200 {@link JobList}
 * - `DELETE /jobs/{id}` → 200 (QUEUED → CANCELLED) or 202 (RUNNING → CANCELLING) {@link JobAccepted}
 * - the web console (`GET /console`) and its routes: `GET /jobs/{id}/logs`, `POST /jobs/{id}/redrive`, `GET /fleet`
 *
 * With tenants (`api.tenants`), every route but the public ones acts for one tenant
 * (api/tenancy.ts): its own jobs only, another tenant's job answers 404 as an unknown one.
 *
 * Every error is JSON ({@link ErrorBody}). No input yields a 5xx: 503 (retryable, with Retry-After)
 * only when a dependency fails, 500 only for a bug. One log line per request.
 */
export function createApi(deps: ApiDeps): Hono<ApiEnv> {
  const log = deps.log ?? jsonLineLog();
  const app = new Hono<ApiEnv>({ strict: false });
  // Status reasons (core/status-reason.ts): one read of the group per 5 s per process, shared by every job read.
  const fleetSnapshot = fleetSnapshotReader(deps.console?.group ?? deps.fleet, { log });

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const requestId = (c.env as { lambdaContext?: { awsRequestId?: string } } | undefined)?.lambdaContext?.awsRequestId;
    const jobId = c.get("jobId");
    const tenant = c.get("caller")?.tenant?.name;
    const fields = {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      ...(tenant ? { tenant } : {}),
      ...(jobId ? { jobId } : {}),
      ...(requestId ? { requestId } : {}),
    };
    if (c.res.status >= 500) log.error("request", fields);
    else log.info("request", fields);
  });

  // Before every route: who the request acts for, or 403 (api/tenancy.ts).
  app.use(authenticate(deps, log));

  app.post("/jobs", async (c) => {
    const body = await readJsonBody(c.req.raw, deps.config.api.maxBodyBytes);
    const headers = { idempotencyKey: c.req.header(IDEMPOTENCY_HEADER), name: c.req.header(JOB_NAME_HEADER), tags: c.req.header(JOB_TAGS_HEADER), priority: c.req.header(JOB_PRIORITY_HEADER) };
    const { record, replayed } = await submitJob(deps, log, body, headers, callerOf(c).tenant);
    c.set("jobId", record.jobId);
    const statusUrl = jobStatusUrl(c.req.url, c.env, record.jobId);
    // The answer with its headers as a plain object: c.header + c.json would build a Headers for
    // it, which @hono/node-server then copies back into a plain object, on every submit.
    const answerHeaders: Record<string, string> = { "Content-Type": "application/json", Location: statusUrl, ...(replayed ? { [REPLAYED_HEADER]: "true" } : {}) };
    return new Response(JSON.stringify({ jobId: record.jobId, state: record.state, statusUrl } satisfies JobAccepted), { status: 202, headers: answerHeaders });
  });

  app.get("/jobs", async (c) => {
    const scope = listScope(callerOf(c));
    const query = parseListQuery(new URL(c.req.url).searchParams, scope);
    if (!query.ok) throw invalidRequest(query.problems);
    const { next, limit: _limit, ...filters } = query.value;
    let page;
    try {
      page = await deps.store.list({ ...query.value, ...scope });
    } catch (err) {
      // A forged inner cursor reaches the store: the adapter refuses it (RangeError) or DynamoDB does.
      if (next && (err instanceof RangeError || (err as { name?: string }).name === "ValidationException"))
        throw invalidRequest([{ field: "next", reason: "is not a cursor from a previous page of GET /jobs" }]);
      throw dependencyFailed("the jobs table", err);
    }
    const jobs = await withStatusReasons(page.items, fleetSnapshot, deps.config);
    const body: JobList = { jobs, ...(page.next ? { next: encodeListCursor(filters, scope.tenant, page.next) } : {}) };
    return c.json(body, 200);
  });

  app.get("/jobs/:id", async (c) => {
    const job = await readJobFor(deps, log, callerOf(c), c.req.param("id"));
    c.set("jobId", job.jobId);
    const [view] = await withStatusReasons([job], fleetSnapshot, deps.config);
    return c.json(view, 200);
  });

  app.delete("/jobs/:id", async (c) => {
    const job = await cancelJob(deps.store, log, callerOf(c), c.req.param("id"));
    c.set("jobId", job.jobId);
    const body: JobAccepted = { jobId: job.jobId, state: job.state, statusUrl: jobStatusUrl(c.req.url, c.env, job.jobId) };
    return c.json(body, job.state === "CANCELLED" ? 200 : 202);
  });

  // The web console and its routes: logs, redrive, fleet (api/console/routes.ts).
  registerConsoleRoutes(app, deps, log, methodNotAllowed);

  app.all("/jobs", (c) => methodNotAllowed(c, ["GET", "POST"]));
  app.all("/jobs/:id", (c) => methodNotAllowed(c, ["GET", "DELETE"]));

  app.notFound((c) =>
    c.json({ error: { code: ApiErrorCode.notFound, message: `no route ${c.req.method} ${c.req.path}; routes: ${ROUTES}` } } satisfies ErrorBody, 404),
  );

  app.onError((err, c) => {
    if (err instanceof ApiError) {
      if (err.status >= 500) log.error("dependency failed", { path: c.req.path, code: err.code, error: err.cause ?? err });
      return c.json(err.body, err.status, err.headers);
    }
    log.error("unhandled error", { method: c.req.method, path: c.req.path, error: err });
    const body: ErrorBody = { error: { code: ApiErrorCode.internal, message: "internal error; it was logged", retryable: false } };
    return c.json(body, 500);
  });

  return app;
}

export function methodNotAllowed(c: Context<ApiEnv>, allowed: string[]): Response {
  const allow = allowed.includes("GET") ? [...allowed, "HEAD"] : allowed;
  const body: ErrorBody = {
    error: { code: ApiErrorCode.methodNotAllowed, message: `${c.req.method} is not allowed on ${c.req.path}; allowed: ${allow.join(", ")}` },
  };
  return c.json(body, 405, { Allow: allow.join(", ") });
}
