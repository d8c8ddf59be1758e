import type { Context as LambdaContext } from "aws-lambda";
import { handle, type LambdaEvent } from "hono/aws-lambda";
import { AwsClients } from "../aws/clients.ts";
import { createApi } from "./app.ts";
import { apiDepsFromEnv } from "./compose.ts";

// Built once per container, outside the handler: warm invocations reuse the clients' sockets.
const clients = new AwsClients();
const app = createApi(apiDepsFromEnv(process.env, clients));
const honoHandler = handle(app);

/**
 * The API Gateway proxy entry of the jobs API (payload 1.0 from a REST API, 2.0 from an HTTP API).
 * An HTTP API's named stage arrives as the first segment of `rawPath`: it is taken off so the app
 * routes on `/jobs`, while `requestContext.http.path` keeps it for the status URLs.
 */
export async function handler(event: LambdaEvent, context: LambdaContext) {
  return honoHandler(withoutStageSegment(event), context);
}

/** A 2.0 event routed on its path without the named stage's segment; other events unchanged. */
export function withoutStageSegment<E extends LambdaEvent>(event: E): E {
  const e = event as { rawPath?: string; requestContext?: { stage?: string; http?: unknown } };
  const stage = e.requestContext?.stage;
  if (typeof e.rawPath !== "string" || !e.requestContext?.http || !stage || stage === "$default") return event;
  const prefix = `/${stage}`;
  if (e.rawPath !== prefix && !e.rawPath.startsWith(`${prefix}/`)) return event;
  return { ...event, rawPath: e.rawPath.slice(prefix.length) || "/" };
}
