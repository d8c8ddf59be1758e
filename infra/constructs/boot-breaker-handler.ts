/**
 * The boot breaker's Lambda (CONTRACTS §6), invoked by the CloudWatch alarm that counts
 * `BootstrapFailed` (Sum >= fleet.bootBreaker.failures over windowSeconds). When the alarm goes
 * to ALARM it stops the boot loop: suspends the group's Launch process, tags the group with
 * {@link BREAKER_TAG} saying why (what `spotq fleet` shows), and publishes to the alarm topic.
 * `spotq fleet resume` (ResumeProcesses Launch, DeleteTags) closes it; so does a deploy, since
 * Terraform owns the group's suspended processes and tags.
 *
 * The logic is written against two small local interfaces ({@link BreakerFleet},
 * {@link BreakerNotifier}) rather than core/ports.ts FleetControl, which has no
 * SuspendProcesses/tags yet; when core/boot-breaker.ts and those FleetControl calls land on
 * main, the fleet half can move onto them. Bundled by infra/bundling.ts as `breaker/index.mjs`.
 */
import { AutoScalingClient, CreateOrUpdateTagsCommand, DescribeAutoScalingGroupsCommand, SuspendProcessesCommand } from "@aws-sdk/client-auto-scaling";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { BREAKER_TAG, resourceNames } from "../../core/names.ts";
import { BREAKER_ENV } from "./boot-breaker-env.ts";


/** What the breaker needs of the Auto Scaling group. */
export interface BreakerFleet {
  /** The group's suspended processes and tags. */
  describe(): Promise<{ suspendedProcesses: string[]; tags: Record<string, string> }>;
  /** SuspendProcesses Launch: no new instances until resumed. */
  suspendLaunch(): Promise<void>;
  /** CreateOrUpdateTags on the group itself (not propagated to instances). */
  tagGroup(key: string, value: string): Promise<void>;
}

/** The alarm topic. */
export interface BreakerNotifier {
  publish(subject: string, message: string): Promise<void>;
}

/** The part of a CloudWatch alarm's Lambda action event the breaker reads. */
export interface AlarmEvent {
  alarmArn?: string;
  time?: string;
  alarmData: { alarmName: string; state: { value: string; reason?: string; timestamp?: string } };
}

export interface BreakerSettings {
  deployment: string;
  group: string;
  failures: number;
  windowSeconds: number;
}

export type BreakerOutcome = { tripped: false; why: string } | { tripped: true; tag: string; problems: string[] };

/** AWS tag values hold at most 256 characters. */
const TAG_VALUE_MAX = 256;

/** The {@link BREAKER_TAG} value: JSON `{ trippedAt, failures, windowSeconds, reason }`, the reason cut to fit a tag. */
export function breakerTagValue(trippedAt: string, failures: number, windowSeconds: number, reason: string): string {
  const make = (r: string) => JSON.stringify({ trippedAt, failures, windowSeconds, reason: r });
  let r = reason;
  while (make(r).length > TAG_VALUE_MAX && r.length > 0) r = r.slice(0, Math.max(0, r.length - (make(r).length - TAG_VALUE_MAX) - 1)) + "…";
  return make(r);
}

/**
 * Trips the breaker for an alarm event: only on ALARM, once (an async retry or a second alarm
 * finds Launch suspended and the tag there and does nothing). Launch is suspended first (what
 * stops the spending); the tag and the notice are each tried even if the other fails, and any
 * failure is reported so Lambda retries the invocation.
 */
export async function tripBootBreaker(event: AlarmEvent, s: BreakerSettings, fleet: BreakerFleet, notifier: BreakerNotifier, now = new Date()): Promise<BreakerOutcome> {
  const state = event.alarmData?.state?.value;
  if (state !== "ALARM") return { tripped: false, why: `the alarm is ${state ?? "in no state"}, not ALARM` };
  const before = await fleet.describe();
  if (before.suspendedProcesses.includes("Launch") && before.tags[BREAKER_TAG]) return { tripped: false, why: `already tripped: ${before.tags[BREAKER_TAG]}` };

  const reason = `${s.failures} or more failed boots within ${s.windowSeconds} s (${event.alarmData.alarmName}: ${event.alarmData.state.reason ?? "no reason given"})`;
  await fleet.suspendLaunch();
  const tag = breakerTagValue(now.toISOString(), s.failures, s.windowSeconds, reason);
  const problems: string[] = [];
  try {
    await fleet.tagGroup(BREAKER_TAG, tag);
  } catch (err) {
    problems.push(`tag the group: ${(err as Error).message}`);
  }
  const logs = resourceNames(s.deployment).bootLogGroup;
  try {
    await notifier.publish(
      `spotq ${s.deployment}: boot breaker tripped, no new workers`,
      [
        `The boot breaker of spotq deployment "${s.deployment}" suspended launches of group ${s.group} at ${now.toISOString()}:`,
        `${reason}.`,
        "",
        `Running workers keep running; jobs wait in the queue. Each failed boot left its evidence in the CloudWatch log group ${logs} (one stream per instance).`,
        `Fix the cause (AMI, config, artifacts), then resume: \`spotq fleet resume\`, or deploy again (a deploy resumes Launch and clears the ${BREAKER_TAG} tag).`,
      ].join("\n"),
    );
  } catch (err) {
    problems.push(`notify: ${(err as Error).message}`);
  }
  return { tripped: true, tag, problems };
}

/** {@link BreakerFleet} through the Auto Scaling API. */
export class AutoScalingBreakerFleet implements BreakerFleet {
  constructor(
    private readonly client: Pick<AutoScalingClient, "send">,
    private readonly group: string,
  ) {}

  async describe(): Promise<{ suspendedProcesses: string[]; tags: Record<string, string> }> {
    const r = await this.client.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [this.group] }));
    const g = r.AutoScalingGroups?.find((x) => x.AutoScalingGroupName === this.group);
    if (!g) throw new Error(`Auto Scaling group ${this.group} does not exist`);
    return {
      suspendedProcesses: (g.SuspendedProcesses ?? []).flatMap((p) => (p.ProcessName ? [p.ProcessName] : [])),
      tags: Object.fromEntries((g.Tags ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? ""]] : []))),
    };
  }

  async suspendLaunch(): Promise<void> {
    await this.client.send(new SuspendProcessesCommand({ AutoScalingGroupName: this.group, ScalingProcesses: ["Launch"] }));
  }

  async tagGroup(key: string, value: string): Promise<void> {
    await this.client.send(
      new CreateOrUpdateTagsCommand({ Tags: [{ ResourceId: this.group, ResourceType: "auto-scaling-group", Key: key, Value: value, PropagateAtLaunch: false }] }),
    );
  }
}

/** {@link BreakerNotifier} through SNS. */
export class SnsBreakerNotifier implements BreakerNotifier {
  constructor(
    private readonly client: Pick<SNSClient, "send">,
    private readonly topicArn: string,
  ) {}

  async publish(subject: string, message: string): Promise<void> {
    // SNS subjects are at most 100 characters.
    await this.client.send(new PublishCommand({ TopicArn: this.topicArn, Subject: subject.slice(0, 100), Message: message }));
  }
}

/** Reads the settings from the environment the construct sets, naming a missing variable. */
export function breakerSettingsFromEnv(env: NodeJS.ProcessEnv): BreakerSettings & { topicArn: string } {
  const need = (name: string) => {
    const v = env[name];
    if (!v) throw new Error(`environment variable ${name} is required but not set`);
    return v;
  };
  return {
    group: need(BREAKER_ENV.group),
    deployment: need(BREAKER_ENV.deployment),
    topicArn: need(BREAKER_ENV.topicArn),
    failures: Number(need(BREAKER_ENV.failures)),
    windowSeconds: Number(need(BREAKER_ENV.windowSeconds)),
  };
}

/** The Lambda entry: CloudWatch invokes it asynchronously on each state change of the breaker alarm. */
export async function handler(event: AlarmEvent): Promise<BreakerOutcome> {
  const s = breakerSettingsFromEnv(process.env);
  const outcome = await tripBootBreaker(event, s, new AutoScalingBreakerFleet(new AutoScalingClient({}), s.group), new SnsBreakerNotifier(new SNSClient({}), s.topicArn));
  console.log(JSON.stringify({ breaker: outcome, alarm: event.alarmData?.alarmName }));
  // A failed tag or notice: fail the invocation so Lambda retries it (suspending again is harmless).
  if (outcome.tripped && outcome.problems.length > 0) throw new Error(`the breaker suspended Launch but could not ${outcome.problems.join("; ")}`);
  return outcome;
}
