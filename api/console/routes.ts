import type { Context, Hono } from "hono";
import type { ApiEnv } from "../app.ts";
import type { ApiDeps } from "../deps.ts";
import { fleetView } from "../fleet-view.ts";
import { ApiError, ApiErrorCode } from "../http-errors.ts";
import { readJobLog } from "../job-logs.ts";
import type { ApiLog } from "../log.ts";
import { jobStatusUrl, publicBasePath } from "../public-url.ts";
import { redriveJob } from "../redrive-job.ts";
import { callerOf, readJobFor } from "../tenancy.ts";
import { loadConsoleAssets, renderConsolePage, type ConsoleAssets } from "./assets.ts";

/** The routes this module adds, for the 404 answer's list. */
export const CONSOLE_ROUTES = "GET /jobs/{id}/logs, POST /jobs/{id}/redrive, GET /fleet, GET /console";

/**
 * Headers of the console's page: its scripts and styles come from this origin only, it talks only
 * to this origin, and it cannot be framed.
 */
const PAGE_HEADERS = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cache-Control": "no-store",
} as const;

export type MethodNotAllowed = (c: Context<ApiEnv>, allowed: string[]) => Response;

/**
 * The web console and the read routes it needs, on the jobs API's app (so it is served by the
 * Lambda and the local server alike):
 *
 * - `GET /console` → the page (HTML, with the stage's base path filled in); `GET /console/assets/{file}` → its
 *   scripts and styles (ETag, `Cache-Control: no-cache`). The page holds no data: every call it makes
 *   goes to the API with the caller's key.
 * - `GET /jobs/{id}/logs?attempt=&after=&limit=` → one page of an attempt's log ({@link readJobLog})
 * - `POST /jobs/{id}/redrive` → 202 FAILED → QUEUED with a fresh attempt budget ({@link redriveJob})
 * - `GET /fleet` → the group, its instances and their jobs, the breaker, alarms and queue depth ({@link fleetView})
 */
export function registerConsoleRoutes(app: Hono<ApiEnv>, deps: ApiDeps, log: ApiLog, methodNotAllowed: MethodNotAllowed, files?: ConsoleAssets): void {
  let loaded: ConsoleAssets | undefined = files;
  const consoleFiles = (): ConsoleAssets => {
    try {
      loaded ??= loadConsoleAssets();
      return loaded;
    } catch (err) {
      throw new ApiError(503, ApiErrorCode.unavailable, "the console's files are missing from this deployment", { cause: err });
    }
  };

  app.get("/console", (c) => c.html(renderConsolePage(consoleFiles().page, publicBasePath(c.env)), 200, PAGE_HEADERS));

  app.get("/console/assets/:name", (c) => {
    const asset = consoleFiles().assets.get(c.req.param("name"));
    if (!asset)
      return c.json({ error: { code: ApiErrorCode.notFound, message: `the console has no file ${JSON.stringify(c.req.param("name").slice(0, 80))}` } }, 404);
    const headers = { ETag: asset.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff" };
    if (c.req.header("If-None-Match") === asset.etag) return c.body(null, 304, headers);
    return c.body(asset.body, 200, { ...headers, "Content-Type": asset.contentType });
  });

  app.get("/fleet", async (c) => c.json(await fleetView(deps, log, callerOf(c)), 200));

  app.get("/jobs/:id/logs", async (c) => {
    // Another tenant's job answers the 404 of an unknown id (api/tenancy.ts).
    await readJobFor(deps, log, callerOf(c), c.req.param("id"));
    const answer = await readJobLog(deps.store, deps.console?.logs, c.req.param("id"), new URL(c.req.url).searchParams);
    c.set("jobId", answer.jobId);
    return c.json(answer, 200);
  });

  app.post("/jobs/:id/redrive", async (c) => {
    await readJobFor(deps, log, callerOf(c), c.req.param("id"));
    const job = await redriveJob(deps, log, c.req.param("id"));
    c.set("jobId", job.jobId);
    return c.json({ jobId: job.jobId, state: job.state, statusUrl: jobStatusUrl(c.req.url, c.env, job.jobId) }, 202);
  });

  app.all("/console", (c) => methodNotAllowed(c, ["GET"]));
  app.all("/console/assets/:name", (c) => methodNotAllowed(c, ["GET"]));
  app.all("/fleet", (c) => methodNotAllowed(c, ["GET"]));
  app.all("/jobs/:id/logs", (c) => methodNotAllowed(c, ["GET"]));
  app.all("/jobs/:id/redrive", (c) => methodNotAllowed(c, ["POST"]));
}
