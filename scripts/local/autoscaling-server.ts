import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { listenLoopback } from "./loopback-server.ts";
import {
  AutoScalingError,
  LocalAutoScalingGroup,
  type GroupInstanceRecord,
  type InstanceRefreshView,
  type LocalGroupOptions,
  type RefreshPreferences,
  type ScalingActivity,
} from "./fleet-group.ts";

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
    return nest("AutoScalingInstances", found.map((i) => nest("member", instanceDetailsXml(i, group))).join(""));
  },

  SetDesiredCapacity(p, group) {
    requireGroup(p, group);
    const raw = p.get("DesiredCapacity");
    if (raw === null) throw missing("desiredCapacity");
    // HonorCooldown is accepted and ignored: the local group has no cooldown.
    group.setDesiredCapacity(Number(raw), "api");
    return undefined;
  },

  SetInstanceHealth(p, group) {
    const id = p.get("InstanceId");
    if (id === null) throw missing("instanceId");
    const status = p.get("HealthStatus");
    if (status === null) throw missing("healthStatus");
    // ShouldRespectGracePeriod is accepted: the local group's HealthCheckGracePeriod is 0.
    bool(p, "ShouldRespectGracePeriod", false);
    group.setInstanceHealth(id, status as "Healthy" | "Unhealthy");
    return "";
  },

  CompleteLifecycleAction(p, group) {
    requireGroup(p, group);
    const hookName = p.get("LifecycleHookName");
    if (hookName === null) throw missing("lifecycleHookName");
    const result = p.get("LifecycleActionResult");
    if (result === null) throw missing("lifecycleActionResult");
    group.completeLifecycleAction({ hookName, result, ...lifecycleTarget(p) });
    return "";
  },

  RecordLifecycleActionHeartbeat(p, group) {
    requireGroup(p, group);
    const hookName = p.get("LifecycleHookName");
    if (hookName === null) throw missing("lifecycleHookName");
    group.recordLifecycleActionHeartbeat({ hookName, ...lifecycleTarget(p) });
    return "";
  },

  DescribeLifecycleHooks(p, group) {
    requireGroup(p, group);
    const names = list(p, "LifecycleHookNames");
    const hooks = [
      group.hooks.launch && { ...group.hooks.launch, transition: "autoscaling:EC2_INSTANCE_LAUNCHING" },
      group.hooks.terminate && { ...group.hooks.terminate, transition: "autoscaling:EC2_INSTANCE_TERMINATING" },
    ].filter((h): h is NonNullable<typeof h> => !!h && (names.length === 0 || names.includes(h.name)));
    return nest(
      "LifecycleHooks",
      hooks
        .map((h) =>
          nest(
            "member",
            tag("LifecycleHookName", h.name) +
              tag("AutoScalingGroupName", group.name) +
              tag("LifecycleTransition", h.transition) +
              tag("HeartbeatTimeout", h.heartbeatTimeoutSeconds) +
              tag("GlobalTimeout", Math.min(172_800, 100 * h.heartbeatTimeoutSeconds)) +
              tag("DefaultResult", h.defaultResult),
          ),
        )
        .join(""),
    );
  },

  SuspendProcesses(p, group) {
    requireGroup(p, group);
    group.suspendProcesses(list(p, "ScalingProcesses"));
    return undefined;
  },

  ResumeProcesses(p, group) {
    requireGroup(p, group);
    group.resumeProcesses(list(p, "ScalingProcesses"));
    return undefined;
  },

  CreateOrUpdateTags(p, group) {
    const tags = tagList(p, group);
    if (tags.length === 0) throw missing("tags");
    group.setTags(tags.map((t) => ({ key: t.key, value: t.value ?? "", propagateAtLaunch: t.propagateAtLaunch })));
    return undefined;
  },

  DeleteTags(p, group) {
    const tags = tagList(p, group);
    if (tags.length === 0) throw missing("tags");
    group.deleteTags(tags.map((t) => t.key));
    return undefined;
  },

  DescribeScalingActivities(p, group) {
    const name = p.get("AutoScalingGroupName");
    if (name !== null && name !== group.name) return nest("Activities", "");
    const ids = list(p, "ActivityIds");
    const max = Number(p.get("MaxRecords") ?? 100);
    const found = group.activities().filter((a) => ids.length === 0 || ids.includes(a.activityId));
    return nest("Activities", found.slice(0, max).map((a) => nest("member", activityXml(a))).join(""));
  },

  StartInstanceRefresh(p, group) {
    requireGroup(p, group);
    const strategy = p.get("Strategy");
    if (strategy !== null && strategy !== "Rolling")
      throw new AutoScalingError("ValidationError", `The local group plays the Rolling strategy only, got ${strategy}`);
    const preferences: RefreshPreferences = {};
    const num = (k: string) => {
      const raw = p.get(`Preferences.${k}`);
      if (raw === null) return undefined;
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new AutoScalingError("ValidationError", `Value ${raw} for parameter Preferences.${k} is invalid: must be a number`);
      return n;
    };
    const minHealthy = num("MinHealthyPercentage");
    if (minHealthy !== undefined) preferences.minHealthyPercentage = minHealthy;
    const warmup = num("InstanceWarmup");
    if (warmup !== undefined) preferences.instanceWarmup = warmup;
    const skip = bool(p, "Preferences.SkipMatching", false);
    if (skip !== undefined) preferences.skipMatching = skip;
    const protectedInstances = p.get("Preferences.ScaleInProtectedInstances");
    if (protectedInstances !== null) preferences.scaleInProtectedInstances = protectedInstances as RefreshPreferences["scaleInProtectedInstances"];
    const version =
      p.get("DesiredConfiguration.LaunchTemplate.Version") ??
      p.get("DesiredConfiguration.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.Version") ??
      undefined;
    const id = group.startInstanceRefresh({ preferences, ...(version ? { launchTemplateVersion: version } : {}) });
    return tag("InstanceRefreshId", id);
  },

  DescribeInstanceRefreshes(p, group) {
    requireGroup(p, group);
    const ids = list(p, "InstanceRefreshIds");
    return nest("InstanceRefreshes", group.instanceRefreshes(ids).map((r) => nest("member", refreshXml(r))).join(""));
  },

  CancelInstanceRefresh(p, group) {
    requireGroup(p, group);
    return tag("InstanceRefreshId", group.cancelInstanceRefresh());
  },
};

function requireGroup(p: Params, group: LocalAutoScalingGroup): void {
  const name = p.get("AutoScalingGroupName");
  if (name === null) throw missing("autoScalingGroupName");
  if (name !== group.name) throw groupNotFound(name);
}

/** CompleteLifecycleAction and RecordLifecycleActionHeartbeat name the instance or the action's token. */
function lifecycleTarget(p: Params): { instanceId?: string; token?: string } {
  const instanceId = p.get("InstanceId");
  const token = p.get("LifecycleActionToken");
  return { ...(instanceId ? { instanceId } : {}), ...(token ? { token } : {}) };
}

/** `Tags.member.N.{ResourceId, ResourceType, Key, Value, PropagateAtLaunch}`: only tags of this group. */
function tagList(p: Params, group: LocalAutoScalingGroup): { key: string; value?: string; propagateAtLaunch: boolean }[] {
  const out: { key: string; value?: string; propagateAtLaunch: boolean }[] = [];
  for (let i = 1; p.has(`Tags.member.${i}.Key`) || p.has(`Tags.member.${i}.ResourceId`); i++) {
    const f = (k: string) => p.get(`Tags.member.${i}.${k}`);
    const resourceId = f("ResourceId");
    const type = f("ResourceType");
    if (type !== null && type !== "auto-scaling-group")
      throw new AutoScalingError("ValidationError", `Value ${type} at 'tags.${i}.member.resourceType' failed to satisfy constraint: Member must be auto-scaling-group`);
    if (resourceId !== null && resourceId !== group.name) throw groupNotFound(resourceId);
    const key = f("Key");
    if (!key) throw missing(`tags.${i}.member.key`);
    const value = f("Value");
    out.push({ key, ...(value !== null ? { value } : {}), propagateAtLaunch: f("PropagateAtLaunch") === "true" });
  }
  return out;
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
    nest(
      "MixedInstancesPolicy",
      nest(
        "LaunchTemplate",
        nest("LaunchTemplateSpecification", templateXml(g, g.launchTemplateVersion)) +
          nest("Overrides", g.instanceTypes.map((t) => nest("member", tag("InstanceType", t))).join("")),
      ) +
        nest(
          "InstancesDistribution",
          tag("OnDemandBaseCapacity", 0) + tag("OnDemandPercentageAboveBaseCapacity", 0) + tag("SpotAllocationStrategy", "price-capacity-optimized"),
        ),
    ),
    tag("MinSize", g.minSize),
    tag("MaxSize", g.maxSize),
    tag("DesiredCapacity", g.desiredCapacity),
    tag("DefaultCooldown", 300),
    nest("AvailabilityZones", g.availabilityZones.map((z) => tag("member", z)).join("")),
    nest("LoadBalancerNames", ""),
    nest("TargetGroupARNs", ""),
    tag("HealthCheckType", "EC2"),
    tag("HealthCheckGracePeriod", 0),
    nest("Instances", g.instances().map((i) => nest("member", instanceXml(i, g))).join("")),
    tag("CreatedTime", g.createdTime.toISOString()),
    nest(
      "SuspendedProcesses",
      g
        .suspendedProcesses()
        .map((sp) => nest("member", tag("ProcessName", sp.processName) + tag("SuspensionReason", sp.suspensionReason)))
        .join(""),
    ),
    nest("EnabledMetrics", ""),
    nest(
      "Tags",
      g
        .tagDescriptions()
        .map((t) =>
          nest(
            "member",
            tag("ResourceId", g.name) + tag("ResourceType", "auto-scaling-group") + tag("Key", t.key) + tag("Value", t.value) + tag("PropagateAtLaunch", t.propagateAtLaunch),
          ),
        )
        .join(""),
    ),
    nest("TerminationPolicies", tag("member", "Default")),
    tag("NewInstancesProtectedFromScaleIn", g.newInstancesProtectedFromScaleIn),
    tag("CapacityRebalance", g.capacityRebalance),
    g.defaultInstanceWarmup !== undefined ? tag("DefaultInstanceWarmup", g.defaultInstanceWarmup) : "",
  ].join("");
}

function templateXml(g: LocalAutoScalingGroup, version: string): string {
  return tag("LaunchTemplateId", g.launchTemplate.id) + tag("LaunchTemplateName", g.launchTemplate.name) + tag("Version", version);
}

function instanceXml(i: GroupInstanceRecord, g: LocalAutoScalingGroup): string {
  return [
    tag("InstanceId", i.instanceId),
    tag("InstanceType", i.instanceType),
    tag("AvailabilityZone", i.availabilityZone),
    tag("LifecycleState", i.lifecycleState),
    tag("HealthStatus", i.healthStatus),
    nest("LaunchTemplate", templateXml(g, i.launchTemplateVersion)),
    tag("ProtectedFromScaleIn", i.protectedFromScaleIn),
  ].join("");
}

/** DescribeAutoScalingInstances writes health in capitals (HEALTHY, UNHEALTHY), unlike DescribeAutoScalingGroups. */
function instanceDetailsXml(i: GroupInstanceRecord, g: LocalAutoScalingGroup): string {
  return [
    tag("InstanceId", i.instanceId),
    tag("InstanceType", i.instanceType),
    tag("AutoScalingGroupName", g.name),
    tag("AvailabilityZone", i.availabilityZone),
    tag("LifecycleState", i.lifecycleState),
    tag("HealthStatus", i.healthStatus.toUpperCase()),
    nest("LaunchTemplate", templateXml(g, i.launchTemplateVersion)),
    tag("ProtectedFromScaleIn", i.protectedFromScaleIn),
  ].join("");
}

function refreshXml(r: InstanceRefreshView): string {
  return [
    tag("InstanceRefreshId", r.instanceRefreshId),
    tag("AutoScalingGroupName", r.groupName),
    tag("Status", r.status),
    r.statusReason ? tag("StatusReason", r.statusReason) : "",
    tag("StartTime", r.startTime.toISOString()),
    r.endTime ? tag("EndTime", r.endTime.toISOString()) : "",
    tag("PercentageComplete", r.percentageComplete),
    tag("InstancesToUpdate", r.instancesToUpdate),
    nest(
      "Preferences",
      tag("MinHealthyPercentage", r.preferences.minHealthyPercentage) +
        tag("InstanceWarmup", r.preferences.instanceWarmup) +
        tag("SkipMatching", r.preferences.skipMatching) +
        tag("ScaleInProtectedInstances", r.preferences.scaleInProtectedInstances),
    ),
    nest("DesiredConfiguration", nest("LaunchTemplate", tag("Version", r.launchTemplateVersion))),
    tag("Strategy", "Rolling"),
  ].join("");
}

function activityXml(a: ScalingActivity): string {
  return [
    tag("ActivityId", a.activityId),
    tag("AutoScalingGroupName", a.groupName),
    tag("Description", a.description),
    tag("Cause", a.cause),
    tag("StartTime", a.startTime.toISOString()),
    a.endTime ? tag("EndTime", a.endTime.toISOString()) : "",
    tag("StatusCode", a.statusCode),
    a.statusMessage ? tag("StatusMessage", a.statusMessage) : "",
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
