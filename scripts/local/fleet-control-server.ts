import type { IncomingMessage, ServerResponse } from "node:http";
import { listenLoopback } from "./loopback-server.ts";
import { SpotqError } from "../../core/errors.ts";
import { AutoScalingError } from "./fleet-group.ts";
import type { LocalFleet } from "./fleet.ts";

export interface FleetControlServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

const SPOT_ACTIONS = ["terminate", "stop", "hibernate"] as const;
const MAX_BODY = 16_384;

/**
 * The fleet's control surface: a small JSON API on loopback for the CLI and for people.
 *
 * GET  /instances                       every instance: id, state, protection, pid, restarts, folder, IMDS
 * GET  /instances/{id}                  one instance
 * GET  /group                           name, sizes, endpoint, alarm state
 * POST /desired {"desired": n}          sets desired capacity (AWS's rules: within [min, max])
 * POST /instances/{id}/interrupt        posts a Spot notice, then terminates; body {"action"?, "noticeSeconds"?}
 * POST /instances/{id}/rebalance        posts a rebalance recommendation
 * POST /instances/{id}/kill             SIGKILLs the worker process (the service manager restarts it)
 * POST /instances/{id}/kill-instance    kills the instance outright (the group replaces it)
 *
 * Errors are `{ error: { code, message, problems? } }` with 400, 404 or 409.
 */
export async function startFleetControlServer(fleet: LocalFleet, options: { host?: string; port?: number } = {}): Promise<FleetControlServer> {
  const server = await listenLoopback((req, res) => void route(fleet, req, res), options);
  return {
    endpoint: server.endpoint,
    async stop() {
      await server.stop();
    },
  };
}

async function route(fleet: LocalFleet, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const path = new URL(req.url ?? "/", "http://fleet").pathname.replace(/\/+$/, "") || "/";
    const method = req.method ?? "GET";
    if (path === "/instances" && method === "GET") return json(res, 200, { instances: fleet.instances() });
    if (path === "/group" && method === "GET") return json(res, 200, groupView(fleet));
    if (path === "/desired" && method === "POST") {
      const body = await readJson(req);
      const raw = body.desired ?? body.n;
      if (typeof raw !== "number" || !Number.isInteger(raw))
        throw badRequest("desired", `must be a whole number, got ${JSON.stringify(raw)}`);
      return json(res, 200, fleet.setDesired(raw));
    }
    const m = /^\/instances\/([^/]+)(?:\/([a-z-]+))?$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1]);
      const verb = m[2];
      if (!fleet.instance(id)) return error(res, 404, "UNKNOWN_INSTANCE", `instance ${id} is not in group ${fleet.groupName}`);
      if (!verb && method === "GET") return json(res, 200, fleet.instance(id));
      if (method === "POST" && verb === "interrupt") {
        const body = await readJson(req);
        if (body.action !== undefined && !SPOT_ACTIONS.includes(body.action as never))
          throw badRequest("action", `must be one of ${SPOT_ACTIONS.join(", ")}`);
        if (body.noticeSeconds !== undefined && !(typeof body.noticeSeconds === "number" && body.noticeSeconds >= 0))
          throw badRequest("noticeSeconds", "must be a number of seconds >= 0");
        const notice = await fleet.interrupt(id, {
          ...(body.action !== undefined ? { action: body.action as (typeof SPOT_ACTIONS)[number] } : {}),
          ...(body.noticeSeconds !== undefined ? { noticeSeconds: body.noticeSeconds as number } : {}),
        });
        return json(res, 202, { instanceId: id, ...notice });
      }
      if (method === "POST" && verb === "rebalance") return json(res, 202, { instanceId: id, ...(await fleet.recommendRebalance(id)) });
      if (method === "POST" && verb === "kill") {
        const pid = fleet.killProcess(id);
        if (pid === undefined) return error(res, 409, "NO_PROCESS", `instance ${id} has no running worker process`);
        return json(res, 202, { instanceId: id, killedPid: pid });
      }
      if (method === "POST" && verb === "kill-instance") {
        void fleet.killInstance(id);
        return json(res, 202, { instanceId: id });
      }
    }
    return error(res, 404, "NOT_FOUND", `no route ${method} ${path}`);
  } catch (err) {
    if (err instanceof BadRequest) return error(res, 400, "VALIDATION", err.message, [{ field: err.field, reason: err.reason }]);
    if (err instanceof AutoScalingError) return error(res, 400, err.code, err.message);
    if (err instanceof SpotqError) return error(res, 409, err.code, err.message);
    return error(res, 500, "INTERNAL", (err as Error).message);
  }
}

function groupView(fleet: LocalFleet) {
  const g = fleet.group;
  const alarm = fleet.alarmState();
  return {
    name: g.name,
    minSize: g.minSize,
    maxSize: g.maxSize,
    desiredCapacity: g.desiredCapacity,
    instances: g.activeInstances().length,
    newInstancesProtectedFromScaleIn: g.newInstancesProtectedFromScaleIn,
    autoscalingEndpoint: fleet.autoscalingEndpoint,
    ...(alarm ? { alarm: { state: alarm.state, datapoints: alarm.datapoints, at: new Date(alarm.at).toISOString(), step: alarm.step?.name } } : {}),
  };
}

class BadRequest extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

function badRequest(field: string, reason: string): BadRequest {
  return new BadRequest(field, reason);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw badRequest("body", `is larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (!text) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw badRequest("body", "is not valid JSON");
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw badRequest("body", "must be a JSON object");
  return v as Record<string, unknown>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json");
  res.setHeader("Content-Length", Buffer.byteLength(text));
  res.end(text);
}

function error(res: ServerResponse, status: number, code: string, message: string, problems?: { field: string; reason: string }[]): void {
  json(res, status, { error: { code, message, ...(problems ? { problems } : {}) } });
}
