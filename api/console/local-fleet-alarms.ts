import type { AlarmState, AlarmStates, AlarmStateValue } from "../../core/console-ports.ts";

const STATES: readonly AlarmStateValue[] = ["OK", "ALARM", "INSUFFICIENT_DATA"];

/** The part of the local fleet's `GET /group` (scripts/local/fleet-control-server.ts) read here. */
interface LocalGroupView {
  alarm?: { state?: unknown; datapoints?: unknown; at?: unknown; step?: unknown };
}

/**
 * The local stand-in of CloudWatch `DescribeAlarms`: the local fleet evaluates the deployment's
 * queue-depth alarm itself and shows its last evaluation on its control surface (`GET /group`).
 * A fleet without an alarm (no scaling wired) has none to show.
 */
export class LocalFleetAlarmStates implements AlarmStates {
  readonly #controlUrl: string | undefined;
  readonly #alarmName: string;

  /**
   * @param options.controlUrl the local fleet's control surface (`SPOTQ_FLEET_CONTROL_URL`); absent: the
   *   alarms are unavailable, and say why
   * @param options.alarmName the name shown, as infra names the scaling alarm (`<name>-backlog-deficit`, `<name>-backlog`)
   */
  constructor(options: { controlUrl?: string; alarmName: string }) {
    this.#controlUrl = options.controlUrl?.replace(/\/+$/, "");
    this.#alarmName = options.alarmName;
  }

  async list(): Promise<AlarmState[]> {
    if (!this.#controlUrl) throw new Error("the local fleet's control surface is not known to the API (set SPOTQ_FLEET_CONTROL_URL)");
    let view: LocalGroupView;
    try {
      const res = await fetch(`${this.#controlUrl}/group`, { signal: AbortSignal.timeout(3_000) });
      if (!res.ok) throw new Error(`answered ${res.status}`);
      view = (await res.json()) as LocalGroupView;
    } catch (err) {
      throw new Error(`the local fleet's control surface ${this.#controlUrl} failed: ${(err as Error).message}`, { cause: err });
    }
    const alarm = view.alarm;
    if (!alarm || !STATES.includes(alarm.state as AlarmStateValue)) return [];
    const datapoints = Array.isArray(alarm.datapoints) ? alarm.datapoints.filter((d) => typeof d === "number") : [];
    const step = typeof alarm.step === "string" ? `; step ${alarm.step}` : "";
    return [
      {
        name: this.#alarmName,
        state: alarm.state as AlarmStateValue,
        reason: `local fleet: datapoints [${datapoints.join(", ")}]${step}`,
        ...(typeof alarm.at === "string" ? { updatedAt: alarm.at } : {}),
      },
    ];
  }
}
