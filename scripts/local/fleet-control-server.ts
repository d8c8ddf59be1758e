import type { IncomingMessage, ServerResponse } from "node:http";
import { listenLoopback } from "./loopback-server.ts";
import { SpotqError } from "../../core/errors.ts";
import { ValidationError } from "../../core/errors.ts";
import { AutoScalingError, type RefreshPreferences } from "./fleet-group.ts";
import { BOOT_FAILURE_MODES, LAUNCH_ERROR_CODES, type BootFailureMode, type LaunchErrorCode } from "./fleet-launch.ts";
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
 * GET    /instances                     every instance: id, state, health, protection, zone, type, template version, pid, ...
 * GET    /instances/{id}                one instance
 * GET    /group                         name, sizes, endpoint, template version, suspended processes, tags, breaker, alarm
 * POST   /desired {"desired": n}        sets desired capacity (AWS's rules: within [min, max])
 * POST   /instances/{id}/interrupt      posts a Spot notice, then terminates; body {"action"?, "noticeSeconds"?}
 * POST   /instances/{id}/rebalance      posts a rebalance recommendation (Capacity Rebalancing replaces the instance)
 * POST   /instances/{id}/health         {"status": "Unhealthy"|"Healthy"}: SetInstanceHealth (Unhealthy: replaced)
 * POST   /instances/{id}/kill           SIGKILLs the worker process (the service manager restarts it)
 * POST   /instances/{id}/kill-instance  kills the instance outright (the group replaces it)
 * GET    /launch-failures               the injected launch failures
 * POST   /launch-failures               {"code": "InsufficientInstanceCapacity"|"VcpuLimitExceeded", "instanceType"?, "availabilityZone"?, "count"?}
 * DELETE /launch-failures               clears them; the next retry launches
 * GET    /boot-failures                 the injected boot failures still to come
 * POST   /boot-failures                 {"count": n, "mode"?: "user-data"|"hang"}: the next n launches fail to boot
 * DELETE /boot-failures                 clears them
 * GET    /breaker                       the boot breaker: open, trip, failed boots in the window
 * POST   /launch-template               a new launch template version for new instances
 * GET    /instance-refresh              DescribeInstanceRefreshes, newest first
 * POST   /instance-refresh              StartInstanceRefresh {"minHealthyPercentage"?, "instanceWarmup"?, "skipMatching"?, "scaleInProtectedInstances"?, "launchTemplateVersion"?}
 * DELETE /instance-refresh              CancelInstanceRefresh
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
    if (path === "/breaker" && method === "GET") return json(res, 200, fleet.breaker());
    if (path === "/launch-failures") {
      if (method === "GET") return json(res, 200, { rules: fleet.group.launchFailureRules() });
      if (method === "DELETE") {
        fleet.clearLaunchFailures();
        return json(res, 200, { rules: [] });
      }
      if (method === "POST") {
        const body = await readJson(req);
        const code = body.code ?? "InsufficientInstanceCapacity";
        if (!LAUNCH_ERROR_CODES.includes(code as never)) throw badRequest("code", `must be one of ${LAUNCH_ERROR_CODES.join(", ")}`);
        const rule = {
          code: code as LaunchErrorCode,
          ...(optionalString(body, "instanceType") !== undefined ? { instanceType: optionalString(body, "instanceType")! } : {}),
          ...(optionalString(body, "availabilityZone") !== undefined ? { availabilityZone: optionalString(body, "availabilityZone")! } : {}),
          ...(optionalCount(body, "count") !== undefined ? { count: optionalCount(body, "count")! } : {}),
        };
        return json(res, 201, { rules: fleet.injectLaunchFailure(rule) });
      }
    }
    if (path === "/boot-failures") {
      if (method === "GET") return json(res, 200, { pending: fleet.bootFailures() });
      if (method === "DELETE") {
        fleet.clearBootFailures();
        return json(res, 200, { pending: [] });
      }
      if (method === "POST") {
        const body = await readJson(req);
        const count = optionalCount(body, "count") ?? 1;
        const mode = body.mode ?? "user-data";
        if (!BOOT_FAILURE_MODES.includes(mode as never)) throw badRequest("mode", `must be one of ${BOOT_FAILURE_MODES.join(", ")}`);
        return json(res, 201, { pending: fleet.injectBootFailures(count, mode as BootFailureMode) });
      }
    }
    if (path === "/launch-template" && method === "POST") return json(res, 200, fleet.bumpLaunchTemplate());
    if (path === "/instance-refresh") {
      if (method === "GET") return json(res, 200, { instanceRefreshes: fleet.instanceRefreshes() });
      if (method === "DELETE") return json(res, 200, { instanceRefreshId: fleet.cancelInstanceRefresh() });
      if (method === "POST") {
        const body = await readJson(req);
        const preferences: RefreshPreferences = {};
        const minHealthy = optionalNumber(body, "minHealthyPercentage");
        if (minHealthy !== undefined) preferences.minHealthyPercentage = minHealthy;
        const warmup = optionalNumber(body, "instanceWarmup");
        if (warmup !== undefined) preferences.instanceWarmup = warmup;
        if (body.skipMatching !== undefined) {
          if (typeof body.skipMatching !== "boolean") throw badRequest("skipMatching", "must be true or false");
          preferences.skipMatching = body.skipMatching;
        }
        if (body.scaleInProtectedInstances !== undefined) {
          if (!["Refresh", "Ignore", "Wait"].includes(body.scaleInProtectedInstances as string))
            throw badRequest("scaleInProtectedInstances", "must be one of Refresh, Ignore, Wait");
          preferences.scaleInProtectedInstances = body.scaleInProtectedInstances as RefreshPreferences["scaleInProtectedInstances"];
        }
        const version = body.launchTemplateVersion;
        if (version !== undefined && !(typeof version === "string" || typeof version === "number"))
          throw badRequest("launchTemplateVersion", "must be a version number");
        const id = fleet.startInstanceRefresh({ preferences, ...(version !== undefined ? { launchTemplateVersion: String(version) } : {}) });
        return json(res, 201, { instanceRefreshId: id });
      }
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
      if (method === "POST" && verb === "health") {
        const body = await readJson(req);
        const status = body.status ?? "Unhealthy";
        if (status !== "Healthy" && status !== "Unhealthy") throw badRequest("status", "must be Healthy or Unhealthy");
        fleet.setHealth(id, status);
        return json(res, 202, { instanceId: id, healthStatus: status });
      }
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
    if (err instanceof ValidationError) return error(res, 400, err.code, err.message, err.problems);
    if (err instanceof AutoScalingError) return error(res, 400, err.code, err.message);
    if (err instanceof SpotqError) return error(res, 409, err.code, err.message);
    return error(res, 500, "INTERNAL", (err as Error).message);
  }
}

function groupView(fleet: LocalFleet) {
  const g = fleet.group;
  const alarm = fleet.alarmState();
  const refresh = fleet.instanceRefreshes()[0];
  return {
    name: g.name,
    minSize: g.minSize,
    maxSize: g.maxSize,
    desiredCapacity: g.desiredCapacity,
    instances: g.activeInstances().length,
    newInstancesProtectedFromScaleIn: g.newInstancesProtectedFromScaleIn,
    autoscalingEndpoint: fleet.autoscalingEndpoint,
    availabilityZones: g.availabilityZones,
    instanceTypes: g.instanceTypes,
    launchTemplateVersion: g.launchTemplateVersion,
    capacityRebalance: g.capacityRebalance,
    lifecycleHooks: Object.values(g.hooks).map((h) => ({ name: h.name, heartbeatTimeoutSeconds: h.heartbeatTimeoutSeconds, defaultResult: h.defaultResult })),
    suspendedProcesses: g.suspendedProcesses(),
    tags: g.tags(),
    breaker: fleet.breaker(),
    ...(refresh ? { instanceRefresh: refresh } : {}),
    ...(alarm ? { alarm: { policy: alarm.policy, period: alarm.period, state: alarm.state, datapoints: alarm.datapoints, at: new Date(alarm.at).toISOString(), step: alarm.step?.name } } : {}),
  };
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !v) throw badRequest(field, "must be a non-empty string");
  return v;
}

function optionalNumber(body: Record<string, unknown>, field: string): number | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw badRequest(field, `must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function optionalCount(body: Record<string, unknown>, field: string): number | undefined {
  const v = optionalNumber(body, field);
  if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw badRequest(field, `must be a whole number >= 1, got ${v}`);
  return v;
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
