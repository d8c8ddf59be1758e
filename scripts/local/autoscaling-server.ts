import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { listenLoopback } from "./loopback-server.ts";
import { AutoScalingError, LocalAutoScalingGroup, type GroupInstanceRecord, type LocalGroupOptions, type ScalingActivity } from "./fleet-group.ts";

/** The XML namespace of every Auto Scaling response. */
export const AUTOSCALING_XMLNS = "http://autoscaling.amazonaws.com/doc/2011-01-01/";
export const AUTOSCALING_API_VERSION = "2011-01-01";

export interface AutoScalingServerOptions {
  /** The group this endpoint serves: an existing one (the fleet's) or options to create it. */
  group: LocalAutoScalingGroup | LocalGroupOptions;
  /** @default "127.0.0.1" */
  host?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
}

export interface AutoScalingServer {
  /** Base URL, the value for `SPOTQ_ENDPOINT_AUTOSCALING`. */
  readonly endpoint: string;
  /** The group's state: the in-process API (events, instances, lifecycle). */
  readonly group: LocalAutoScalingGroup;
  /** Requests served per action, for tests and the control surface. */
  readonly calls: ReadonlyMap<string, number>;
  stop(): Promise<void>;
}

type Params = URLSearchParams;
type Handler = (p: Params, group: LocalAutoScalingGroup) => string | undefined;

/**
 * A local Auto Scaling endpoint speaking AWS's Query protocol (form-encoded `Action=...&Version=2011-01-01`,
 * XML answers), so the real `@aws-sdk/client-auto-scaling` talks to it unchanged. It serves the calls the
 * worker and the API make on one group; signatures are not checked.
 */
export async function startAutoScalingServer(options: AutoScalingServerOptions): Promise<AutoScalingServer> {
  const group = options.group instanceof LocalAutoScalingGroup ? options.group : new LocalAutoScalingGroup(options.group);
  const calls = new Map<string, number>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const requestId = randomUUID();
    res.setHeader("x-amzn-RequestId", requestId);
    try {
      const params = await readParams(req);
      const action = params.get("Action");
      if (!action) throw new AutoScalingError("MissingAction", "Could not find operation to perform: no Action parameter");
      const version = params.get("Version");
      if (version !== null && version !== AUTOSCALING_API_VERSION)
        throw new AutoScalingError("InvalidParameterValue", `Version ${version} is not supported; this endpoint speaks ${AUTOSCALING_API_VERSION}`);
      const handler = ACTIONS[action];
      if (!handler) throw new AutoScalingError("InvalidAction", `The action ${action} is not valid for this web service.`);
      calls.set(action, (calls.get(action) ?? 0) + 1);
      sendXml(res, 200, responseXml(action, handler(params, group), requestId));
    } catch (err) {
      const e = err instanceof AutoScalingError ? err : new AutoScalingError("InternalFailure", (err as Error).message, 500);
      sendXml(res, e.status, errorXml(e, requestId));
    }
  };

  const server = await listenLoopback((req, res) => void handle(req, res), options);
  return {
    endpoint: server.endpoint,
    group,
    calls,
    async stop() {
      await server.stop();
    },
  };
}

/** The actions served, each returning the inner XML of its `<Action>Result>` (undefined: no result element). */
const ACTIONS: Record<string, Handler> = {
  SetInstanceProtection(p, group) {
    requireGroup(p, group);
    const ids = list(p, "InstanceIds");
    if (ids.length === 0) throw missing("instanceIds");
    group.setInstanceProtection(ids, bool(p, "ProtectedFromScaleIn", true)!);
    return "";
  },

  TerminateInstanceInAutoScalingGroup(p, group) {
    const decrement = bool(p, "ShouldDecrementDesiredCapacity", true)!;
    const ids = [...new Set([p.get("InstanceId"), ...list(p, "InstanceIds")].filter((v): v is string => !!v))];
    if (ids.length === 0) throw missing("instanceId");
    const groupName = p.get("AutoScalingGroupName");
    if (groupName !== null && groupName !== group.name) throw groupNotFound(groupName);
    const activities = ids.map((id) => group.terminateInstance(id, decrement));
    return nest("Activity", activityXml(activities[0])) + nest("Activities", activities.map((a) => nest("member", activityXml(a))).join(""));
  },

  DescribeAutoScalingGroups(p, group) {
    const names = list(p, "AutoScalingGroupNames");
    // AWS answers an unknown name with an empty list, not an error.
    const groups = names.length === 0 || names.includes(group.name) ? [group] : [];
    return nest("AutoScalingGroups", groups.map((g) => nest("member", groupXml(g))).join(""));
  },

  DescribeAutoScalingInstances(p, group) {
    const ids = list(p, "InstanceIds");
    const found = group.instances().filter((i) => ids.length === 0 || ids.includes(i.instanceId));
    return nest("AutoScalingInstances", found.map((i) => nest("member", instanceDetailsXml(i, group.name))).join(""));
  },

  SetDesiredCapacity(p, group) {
    requireGroup(p, group);
    const raw = p.get("DesiredCapacity");
    if (raw === null) throw missing("desiredCapacity");
    // HonorCooldown is accepted and ignored: the local group has no cooldown.
    group.setDesiredCapacity(Number(raw), "api");
    return undefined;
  },
};

function requireGroup(p: Params, group: LocalAutoScalingGroup): void {
  const name = p.get("AutoScalingGroupName");
  if (name === null) throw missing("autoScalingGroupName");
  if (name !== group.name) throw groupNotFound(name);
}

function groupNotFound(name: string): AutoScalingError {
  return new AutoScalingError("ValidationError", `AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);
}

function missing(member: string): AutoScalingError {
  return new AutoScalingError(
    "ValidationError",
    `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`,
  );
}

/** A Query-protocol list: `Name.member.1`, `Name.member.2`, ... */
function list(p: Params, name: string): string[] {
  const out: string[] = [];
  for (let i = 1; p.has(`${name}.member.${i}`); i++) out.push(p.get(`${name}.member.${i}`)!);
  return out;
}

function bool(p: Params, name: string, required: boolean): boolean | undefined {
  const raw = p.get(name);
  if (raw === null) {
    if (required) throw missing(name[0].toLowerCase() + name.slice(1));
    return undefined;
  }
  if (raw !== "true" && raw !== "false")
    throw new AutoScalingError("ValidationError", `Value ${raw} for parameter ${name} is invalid: must be true or false`);
  return raw === "true";
}

async function readParams(req: IncomingMessage): Promise<Params> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const params = new URLSearchParams(new URL(req.url ?? "/", "http://local").search);
  // The SDK POSTs a form body; a GET with a query string is valid Query protocol too.
  for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString("utf8"))) params.set(k, v);
  return params;
}

function groupXml(g: LocalAutoScalingGroup): string {
  return [
    tag("AutoScalingGroupName", g.name),
    tag("AutoScalingGroupARN", g.arn),
    tag("MinSize", g.minSize),
    tag("MaxSize", g.maxSize),
    tag("DesiredCapacity", g.desiredCapacity),
    tag("DefaultCooldown", 300),
    nest("AvailabilityZones", g.availabilityZones.map((z) => tag("member", z)).join("")),
    nest("LoadBalancerNames", ""),
    nest("TargetGroupARNs", ""),
    tag("HealthCheckType", "EC2"),
    tag("HealthCheckGracePeriod", 0),
    nest("Instances", g.instances().map((i) => nest("member", instanceXml(i))).join("")),
    tag("CreatedTime", g.createdTime.toISOString()),
    nest("SuspendedProcesses", ""),
    nest("EnabledMetrics", ""),
    nest("Tags", ""),
    nest("TerminationPolicies", tag("member", "Default")),
    tag("NewInstancesProtectedFromScaleIn", g.newInstancesProtectedFromScaleIn),
    tag("CapacityRebalance", true),
    g.defaultInstanceWarmup !== undefined ? tag("DefaultInstanceWarmup", g.defaultInstanceWarmup) : "",
  ].join("");
}

function instanceXml(i: GroupInstanceRecord): string {
  return [
    tag("InstanceId", i.instanceId),
    tag("InstanceType", i.instanceType),
    tag("AvailabilityZone", i.availabilityZone),
    tag("LifecycleState", i.lifecycleState),
    tag("HealthStatus", "Healthy"),
    tag("ProtectedFromScaleIn", i.protectedFromScaleIn),
  ].join("");
}

function instanceDetailsXml(i: GroupInstanceRecord, groupName: string): string {
  return [
    tag("InstanceId", i.instanceId),
    tag("InstanceType", i.instanceType),
    tag("AutoScalingGroupName", groupName),
    tag("AvailabilityZone", i.availabilityZone),
    tag("LifecycleState", i.lifecycleState),
    tag("HealthStatus", "HEALTHY"),
    tag("ProtectedFromScaleIn", i.protectedFromScaleIn),
  ].join("");
}

function activityXml(a: ScalingActivity): string {
  return [
    tag("ActivityId", a.activityId),
    tag("AutoScalingGroupName", a.groupName),
    tag("Description", a.description),
    tag("Cause", a.cause),
    tag("StartTime", a.startTime.toISOString()),
    tag("StatusCode", a.statusCode),
    tag("Progress", a.progress),
    tag("Details", a.details),
  ].join("");
}

function responseXml(action: string, result: string | undefined, requestId: string): string {
  return (
    `<${action}Response xmlns="${AUTOSCALING_XMLNS}">` +
    (result === undefined ? "" : nest(`${action}Result`, result)) +
    nest("ResponseMetadata", tag("RequestId", requestId)) +
    `</${action}Response>`
  );
}

function errorXml(e: AutoScalingError, requestId: string): string {
  const type = e.status >= 500 ? "Receiver" : "Sender";
  return (
    `<ErrorResponse xmlns="${AUTOSCALING_XMLNS}">` +
    nest("Error", tag("Type", type) + tag("Code", e.code) + tag("Message", e.message)) +
    tag("RequestId", requestId) +
    `</ErrorResponse>`
  );
}

/** An element holding a value (escaped). */
function tag(name: string, value: string | number | boolean): string {
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** An element holding XML built by `tag`/`nest` (not escaped again). */
function nest(name: string, xml: string): string {
  return `<${name}>${xml}</${name}>`;
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);
}

function sendXml(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader("Content-Type", "text/xml");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
}
