import { AwsClients, awsSettingsFromEnv } from "../aws/clients.ts";
import { AutoScalingFleetControl } from "../aws/fleet-control.ts";
import { SqsJobQueue } from "../aws/job-queue.ts";
import { deploymentFromEnv } from "../core/runtime.ts";
import type { FleetControl, JobQueue } from "../core/ports.ts";
import { apiDepsFromEnv } from "./compose.ts";
import { fastPathFor, type FastPathOptions, type FastPathOutcome } from "./fast-path.ts";
import { spotBacklog } from "./job-queues.ts";
import { jsonLineLog, silentLog, type ApiLog } from "./log.ts";

/**
 * The event Auto Scaling sends EventBridge once it has terminated an instance of a group
 * (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-event-reference.html,
 * "EC2 Instance Terminate Successful"). Only the fields used here; all optional, as an event from
 * elsewhere (a test invoke) may lack them.
 */
export interface InstanceTerminatedEvent {
  source?: string;
  "detail-type"?: string;
  time?: string;
  detail?: {
    AutoScalingGroupName?: string;
    EC2InstanceId?: string;
    /** Why Auto Scaling terminated it (a Spot interruption, a scale-in, a user's request, ...). */
    Cause?: string;
    ActivityId?: string;
  };
}

/** The event source and detail type the rule matches (infra/constructs/returned-jobs.ts). */
export const TERMINATE_EVENT = { source: "aws.autoscaling", detailType: "EC2 Instance Terminate Successful" } as const;

/** A group whose departures are covered, and the backlog its instances serve. */
export interface CoveredGroup {
  name: string;
  fleet: FleetControl;
  backlog: Pick<JobQueue, "depth">;
}

export interface ReturnedJobsDeps {
  config: { scaling: { fastPath: boolean } };
  /** The Spot group, serving the jobs queue and the high queue (`spotBacklog`). */
  spot?: CoveredGroup;
  /** The On-Demand fallback's group (`scaling.onDemandFallback`), serving the On-Demand queue only. */
  onDemand?: CoveredGroup;
  /** The coalescer's options (first use per FleetControl wins). @default { timeoutMs: 10_000 } */
  fastPath?: FastPathOptions;
}

/** What one event led to (also the log line's fields). */
export type ReturnedJobsOutcome =
  | { action: "ignored"; why: string; group?: string; instanceId?: string }
  | ({ action: "covered"; group: string; kind: "spot" | "on-demand"; instanceId: string; cause?: string } & Exclude<FastPathOutcome, { coalesced: true }>);

/**
 * Capacity for returned jobs on AWS (docs/scaling.md "Capacity for returned jobs"), the same as
 * the local fleet does when an instance leaves its group: on "EC2 Instance Terminate Successful"
 * of the deployment's Spot group (or of its On-Demand group), run the fast path for the backlog
 * that group serves, through the process's coalescer of that group (`api/fast-path.ts`, waiting
 * for the round that covers it, since nobody waits on this Lambda). The round wants every job
 * queued, in flight or delayed (`fastPathWanted`), no more: a lost worker's job still in flight,
 * or one it handed back, gets an instance now when the departure took desired capacity below the
 * backlog (terminated with decrement); a departure with an empty backlog asks for nothing.
 *
 * Never lowers desired capacity (`FleetControl.raiseDesired`), never throws: a failed call is
 * logged and the deficit alarm remains the fallback. Logs one JSON line per event. Does nothing
 * with `scaling.fastPath` off, or for an event of any other group.
 */
export async function coverReturnedJobs(deps: ReturnedJobsDeps, log: ApiLog, event: InstanceTerminatedEvent): Promise<ReturnedJobsOutcome> {
  const outcome = await decide(deps, event);
  const { action: _action, ...fields } = outcome;
  if (outcome.action === "ignored") log.info("returned jobs: nothing to do", fields);
  else if ("failed" in outcome) log.warn("returned jobs: fast path failed; the queue-depth alarms will scale the fleet", fields);
  else log.info("returned jobs", fields);
  return outcome;
}

async function decide(deps: ReturnedJobsDeps, event: InstanceTerminatedEvent): Promise<ReturnedJobsOutcome> {
  const group = event.detail?.AutoScalingGroupName;
  const instanceId = event.detail?.EC2InstanceId;
  const about = { ...(group ? { group } : {}), ...(instanceId ? { instanceId } : {}) };
  if (event.source !== TERMINATE_EVENT.source || event["detail-type"] !== TERMINATE_EVENT.detailType)
    return { action: "ignored", why: `not an "${TERMINATE_EVENT.detailType}" event of ${TERMINATE_EVENT.source} (got ${JSON.stringify(event["detail-type"] ?? null)} of ${JSON.stringify(event.source ?? null)})`, ...about };
  if (!deps.config.scaling.fastPath) return { action: "ignored", why: "scaling.fastPath is off: the queue-depth alarms scale the fleet", ...about };
  const kind = group && group === deps.spot?.name ? "spot" : group && group === deps.onDemand?.name ? "on-demand" : undefined;
  if (!kind) return { action: "ignored", why: "not a group of this deployment", ...about };
  const covered = (kind === "spot" ? deps.spot : deps.onDemand)!;
  const id = instanceId ?? "unknown";
  const coalescer = fastPathFor(covered.fleet, covered.backlog, deps.fastPath ?? { timeoutMs: 10_000 });
  // The coalescer's own lines are dropped: this event's one line carries the round's outcome.
  const r = await coalescer.requestAndWait(silentLog, { instanceId: id });
  return {
    action: "covered",
    group: covered.name,
    kind,
    instanceId: id,
    ...(event.detail?.Cause ? { cause: event.detail.Cause } : {}),
    ...r,
  };
}

/**
 * The returned-jobs function's ports, wired from the environment as the API's (`apiDepsFromEnv`):
 * the Spot group (`SPOTQ_GROUP`) with the jobs and high queues, and, when set, the On-Demand group
 * (`SPOTQ_ONDEMAND_GROUP`) with its queue (`SPOTQ_ONDEMAND_QUEUE_URL`).
 */
export function returnedJobsDepsFromEnv(env: NodeJS.ProcessEnv = process.env, clients: AwsClients = new AwsClients(awsSettingsFromEnv(env))): ReturnedJobsDeps {
  const api = apiDepsFromEnv(env, clients, silentLog, "trigger");
  const names = deploymentFromEnv(env);
  const onDemand =
    names.onDemandGroupName && names.onDemandQueueUrl && api.config.scaling.onDemandFallback
      ? {
          name: names.onDemandGroupName,
          fleet: new AutoScalingFleetControl(clients.autoscaling(), { groupName: names.onDemandGroupName }),
          backlog: new SqsJobQueue(clients.sqs(), { queueUrl: names.onDemandQueueUrl, dlqUrl: names.dlqUrl }),
        }
      : undefined;
  return {
    config: api.config,
    ...(api.fleet && names.groupName ? { spot: { name: names.groupName, fleet: api.fleet, backlog: spotBacklog(api) } } : {}),
    ...(onDemand ? { onDemand } : {}),
  };
}

let deps: ReturnedJobsDeps | undefined;
// Built on the first invocation and kept for the container's life: warm invocations reuse the
// clients, and the coalescer of each group (one round a second per container).
const depsOnce = () => (deps ??= returnedJobsDepsFromEnv());
const lambdaLog = jsonLineLog();

/**
 * Lambda entry of the returned-jobs function (EventBridge, asynchronous invoke). Resolves in every
 * case the fast path can meet, a failed Auto Scaling or SQS call included (the deficit alarm is the
 * fallback; a retry would only add a late round). Only a bad environment throws, naming the variable.
 */
export async function returnedJobsHandler(event: InstanceTerminatedEvent): Promise<ReturnedJobsOutcome> {
  return coverReturnedJobs(depsOnce(), lambdaLog, event);
}
