import {
  DeleteTagsCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeInstanceRefreshesCommand,
  DescribeScalingActivitiesCommand,
  ResumeProcessesCommand,
  type Activity,
  type AutoScalingGroup,
  type InstanceRefresh,
} from "@aws-sdk/client-auto-scaling";
import { AwsClients } from "../../../aws/clients.ts";
import { parseBreakerTag, type BreakerTrip } from "../../../core/boot-breaker.ts";
import { BREAKER_TAG } from "../../../core/names.ts";
import { CliError } from "../cli-error.ts";
import { need, type Target } from "../target.ts";

/**
 * `spotq fleet`: the Auto Scaling group as the Auto Scaling API describes it (the same calls against
 * AWS and the local fleet): sizes, instances (state, health, protection, zone, type, template version),
 * suspended processes, the boot breaker, the instance refresh and the last failed launch.
 * `spotq fleet resume`: resumes Launch and clears the breaker's tag.
 */
export async function fleetCommand(target: Target, args: string[], options: { json?: boolean }, out: (s: string) => void): Promise<number> {
  const sub = args[0] ?? "show";
  if (sub === "show") return show(target, options, out);
  if (sub === "resume") return resume(target, out);
  throw new CliError(`unknown fleet command "${sub}"`, "use `spotq fleet` or `spotq fleet resume`", 2);
}

/** The group, read through the Auto Scaling API. */
export interface FleetReport {
  group: AutoScalingGroup;
  breaker?: BreakerTrip;
  refresh?: InstanceRefresh;
  lastFailedLaunch?: Activity;
}

export async function readFleet(target: Target): Promise<FleetReport> {
  const groupName = need(target, "groupName", "spotq fleet");
  return withClients(target, async (clients) => {
    const sdk = clients.autoscaling();
    const r = await call(`describe group ${groupName}`, () => sdk.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] })));
    const group = r.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === groupName);
    if (!group) throw new CliError(`Auto Scaling group ${groupName} does not exist`, "check the deployment's outputs (groupName), the region and the profile");
    const tags = Object.fromEntries((group.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));
    const refreshes = await call("describe instance refreshes", () => sdk.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: groupName, MaxRecords: 1 })));
    const activities = await call("describe scaling activities", () => sdk.send(new DescribeScalingActivitiesCommand({ AutoScalingGroupName: groupName, MaxRecords: 20 })));
    const breaker = parseBreakerTag(tags[BREAKER_TAG]);
    const refresh = refreshes.InstanceRefreshes?.[0];
    const lastFailedLaunch = activities.Activities?.find((a) => a.StatusCode === "Failed");
    return { group, ...(breaker ? { breaker } : {}), ...(refresh ? { refresh } : {}), ...(lastFailedLaunch ? { lastFailedLaunch } : {}) };
  });
}

async function show(target: Target, options: { json?: boolean }, out: (s: string) => void): Promise<number> {
  const report = await readFleet(target);
  if (options.json) {
    out(JSON.stringify(report, null, 2));
    return 0;
  }
  const g = report.group;
  const version = g.MixedInstancesPolicy?.LaunchTemplate?.LaunchTemplateSpecification?.Version ?? g.LaunchTemplate?.Version ?? "?";
  out(`group ${g.AutoScalingGroupName}: desired ${g.DesiredCapacity} (min ${g.MinSize}, max ${g.MaxSize}), launch template version ${version}`);
  const suspended = g.SuspendedProcesses ?? [];
  out(`suspended processes: ${suspended.length ? suspended.map((p) => `${p.ProcessName} (${p.SuspensionReason})`).join(", ") : "none"}`);
  const launchSuspended = suspended.some((p) => p.ProcessName === "Launch");
  if (report.breaker)
    out(`boot breaker: ${launchSuspended ? "OPEN" : "tagged but Launch is not suspended"} since ${report.breaker.trippedAt}: ${report.breaker.reason}`);
  else out("boot breaker: closed");
  const r = report.refresh;
  if (r)
    out(
      `instance refresh ${r.InstanceRefreshId}: ${r.Status} ${r.PercentageComplete ?? 0}%, ${r.InstancesToUpdate ?? 0} to update` +
        (r.StatusReason ? ` (${r.StatusReason})` : ""),
    );
  const failed = report.lastFailedLaunch;
  if (failed) out(`last failed activity ${failed.StartTime?.toISOString() ?? ""}: ${failed.StatusMessage ?? failed.Description ?? ""}`);
  const instances = g.Instances ?? [];
  out(`instances (${instances.length}):`);
  for (const i of instances)
    out(
      `  ${i.InstanceId}  ${(i.LifecycleState ?? "?").padEnd(20)} ${(i.HealthStatus ?? "?").padEnd(9)} ${i.ProtectedFromScaleIn ? "protected  " : "unprotected"}  ` +
        `${(i.AvailabilityZone ?? "?").padEnd(11)} ${(i.InstanceType ?? "?").padEnd(13)} v${i.LaunchTemplate?.Version ?? "?"}`,
    );
  if (launchSuspended && report.breaker) out("fix the cause of the failed boots, then: spotq fleet resume");
  return 0;
}

async function resume(target: Target, out: (s: string) => void): Promise<number> {
  const report = await readFleet(target);
  const groupName = report.group.AutoScalingGroupName!;
  const launchSuspended = (report.group.SuspendedProcesses ?? []).some((p) => p.ProcessName === "Launch");
  if (!launchSuspended && !report.breaker) {
    out(`group ${groupName}: Launch is not suspended and the breaker is closed; nothing to resume`);
    return 0;
  }
  await withClients(target, async (clients) => {
    const sdk = clients.autoscaling();
    if (launchSuspended)
      await call("resume Launch", () => sdk.send(new ResumeProcessesCommand({ AutoScalingGroupName: groupName, ScalingProcesses: ["Launch"] })));
    if (report.breaker)
      await call("clear the breaker tag", () =>
        sdk.send(new DeleteTagsCommand({ Tags: [{ ResourceId: groupName, ResourceType: "auto-scaling-group", Key: BREAKER_TAG }] })),
      );
  });
  out(`group ${groupName}: ${launchSuspended ? "Launch resumed" : "Launch was not suspended"}${report.breaker ? `; breaker cleared (it said: ${report.breaker.reason})` : ""}`);
  return 0;
}

/** The Auto Scaling endpoint: the target's (AWS, or set for the local stack), else the local fleet's, asked from its control surface. */
async function withClients<T>(target: Target, f: (clients: AwsClients) => Promise<T>): Promise<T> {
  const aws = { ...target.aws, endpoints: { ...target.aws.endpoints } };
  if (target.kind === "local" && !aws.endpoints.autoscaling) aws.endpoints.autoscaling = await localAutoScalingEndpoint(target);
  const clients = new AwsClients(aws);
  try {
    return await f(clients);
  } finally {
    clients.destroy();
  }
}

async function localAutoScalingEndpoint(target: Target): Promise<string> {
  const url = `${target.controlUrl}/group`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { autoscalingEndpoint?: string };
    if (!body.autoscalingEndpoint) throw new Error("no autoscalingEndpoint in its answer");
    return body.autoscalingEndpoint;
  } catch (err) {
    throw new CliError(`cannot reach the local fleet at ${url}: ${(err as Error).message}`, "is `npm start` still running?");
  }
}

async function call<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof CliError) throw err;
    const e = err as Error;
    throw new CliError(`Auto Scaling ${what} failed: ${e.name}: ${e.message}`, "check the region, the profile and that your credentials may call autoscaling:Describe*");
  }
}
