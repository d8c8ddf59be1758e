import { DescribeAlarmsCommand, type CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { AlarmState, AlarmStates, AlarmStateValue } from "../core/console-ports.ts";
import { withContext } from "./clients.ts";

const STATES: readonly AlarmStateValue[] = ["OK", "ALARM", "INSUFFICIENT_DATA"];

/**
 * The deployment's CloudWatch alarms (scaling and monitoring; infra names every one `<name>-…`),
 * metric and composite, by `DescribeAlarms` with `AlarmNamePrefix`, following `NextToken`.
 */
export class CloudWatchAlarmStates implements AlarmStates {
  readonly #cloudwatch: CloudWatchClient;
  readonly #prefix: string;

  /** @param options.alarmNamePrefix e.g. `spotq-` for the deployment `spotq` */
  constructor(cloudwatch: CloudWatchClient, options: { alarmNamePrefix: string }) {
    this.#cloudwatch = cloudwatch;
    this.#prefix = options.alarmNamePrefix;
  }

  async list(): Promise<AlarmState[]> {
    const out: AlarmState[] = [];
    let token: string | undefined;
    try {
      do {
        const r = await this.#cloudwatch.send(
          new DescribeAlarmsCommand({ AlarmNamePrefix: this.#prefix, AlarmTypes: ["MetricAlarm", "CompositeAlarm"], MaxRecords: 100, NextToken: token }),
        );
        for (const a of [...(r.MetricAlarms ?? []), ...(r.CompositeAlarms ?? [])]) {
          if (!a.AlarmName || !STATES.includes(a.StateValue as AlarmStateValue)) continue;
          out.push({
            name: a.AlarmName,
            state: a.StateValue as AlarmStateValue,
            ...(a.StateReason ? { reason: a.StateReason } : {}),
            ...(a.StateUpdatedTimestamp ? { updatedAt: a.StateUpdatedTimestamp.toISOString() } : {}),
          });
        }
        token = r.NextToken;
      } while (token);
    } catch (err) {
      throw withContext(`CloudWatch describe alarms ${this.#prefix}*`, err);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }
}
