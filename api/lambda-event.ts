import type { LambdaEvent } from "hono/aws-lambda";

/**
 * An API Gateway event routed on its path without a named stage's segment. An HTTP API (payload
 * 2.0) puts a named stage in front of `rawPath` (`/v1/jobs`); the app routes on `/jobs`, and
 * `requestContext.http.path` keeps the stage for the status URLs. A REST API (payload 1.0) already
 * routes on `path` without the stage; it and `$default`-stage events pass unchanged.
 */
export function withoutStageSegment<E extends LambdaEvent>(event: E): E {
  const e = event as { rawPath?: string; requestContext?: { stage?: string; http?: unknown } };
  const stage = e.requestContext?.stage;
  if (typeof e.rawPath !== "string" || !e.requestContext?.http || !stage || stage === "$default") return event;
  const prefix = `/${stage}`;
  if (e.rawPath !== prefix && !e.rawPath.startsWith(`${prefix}/`)) return event;
  return { ...event, rawPath: e.rawPath.slice(prefix.length) || "/" };
}
