/** The parts of an API Gateway proxy event (payload 1.0 or 2.0) that locate the public URL. */
interface ProxyEventPaths {
  /** 1.0: the path the API routes on (no stage). */
  path?: string;
  /** 2.0: the path the API routes on (its stage segment removed by api/lambda.ts). */
  rawPath?: string;
  requestContext?: {
    /** 1.0: the path the client called, with the stage (and a custom domain's base path). */
    path?: string;
    /** 2.0: the path the client called, with a named stage. */
    http?: { path?: string };
  };
}

/**
 * The path prefix the client's URL carries in front of the API's own routes: the stage (`/prod`)
 * or a custom domain's base path on API Gateway, nothing on the local server or a $default stage.
 * Found by comparing the path the client called with the path the API routes on.
 * @param env Hono's `c.env`: `{ event }` on Lambda, anything else elsewhere.
 */
export function publicBasePath(env: unknown): string {
  const event = (env as { event?: ProxyEventPaths } | undefined)?.event;
  if (!event || typeof event !== "object") return "";
  const routed = event.rawPath ?? event.path;
  const called = event.requestContext?.http?.path ?? event.requestContext?.path;
  if (typeof routed !== "string" || typeof called !== "string" || called === routed || !called.endsWith(routed)) return "";
  return called.slice(0, called.length - routed.length).replace(/\/+$/, "");
}

/** The URL of a job's status, on the origin and under the prefix the client called. */
export function jobStatusUrl(requestUrl: string, env: unknown, jobId: string): string {
  return new URL(`${publicBasePath(env)}/jobs/${encodeURIComponent(jobId)}`, requestUrl).href;
}
