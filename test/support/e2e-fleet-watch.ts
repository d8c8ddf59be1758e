import { FLEET_EVENT_NAMES, type FleetEvents, type LocalFleet } from "../../scripts/local/fleet.ts";

type Name = keyof FleetEvents;
type Payload<K extends Name> = FleetEvents[K][0];

/** The group as it stood right after an event. */
export interface FleetSnapshot {
  /** Instances in the group, booting, in service or terminating. */
  instances: number;
  /** Instances that count toward desired capacity (not terminating). */
  active: number;
  desired: number;
}

/** One fleet event and the group right after it. */
export interface FleetEntry<K extends Name = Name> {
  name: K;
  payload: Payload<K>;
  after: FleetSnapshot;
}

/** Every fleet event but the per-period alarm evaluations, which would only add noise. */
const NAMES = FLEET_EVENT_NAMES.filter((n) => n !== "alarm_evaluated");

/**
 * Records every fleet event from the moment it is made, each with the group's size right after
 * it, so a test can assert on the whole history (the largest group ever seen) and wait for an
 * event whether it already happened or is still to come.
 */
export class FleetWatch {
  readonly entries: FleetEntry[] = [];
  readonly #fleet: LocalFleet;
  readonly #waiters = new Set<() => void>();
  readonly #listeners: [Name, (p: unknown) => void][] = [];

  constructor(fleet: LocalFleet) {
    this.#fleet = fleet;
    for (const name of NAMES) {
      const listener = (payload: unknown) => {
        this.entries.push({ name, payload: payload as never, after: this.snapshot() });
        for (const w of [...this.#waiters]) w();
      };
      fleet.on(name, listener as never);
      this.#listeners.push([name, listener]);
    }
  }

  /** The group now. */
  snapshot(): FleetSnapshot {
    const all = this.#fleet.instances();
    return {
      instances: all.length,
      active: all.filter((i) => !i.lifecycleState.startsWith("Terminat")).length,
      desired: this.#fleet.group.describe().desiredCapacity,
    };
  }

  all<K extends Name>(name: K, where: (p: Payload<K>) => boolean = () => true): Payload<K>[] {
    return this.entries.filter((e) => e.name === name && where(e.payload as Payload<K>)).map((e) => e.payload as Payload<K>);
  }

  /** The largest value of a snapshot field over every recorded event. */
  max(field: keyof FleetSnapshot): number {
    return this.entries.reduce((m, e) => Math.max(m, e.after[field]), 0);
  }

  /** Every worker main process the fleet started (first starts and restarts). */
  workerPids(): number[] {
    const pids = [
      ...this.all("instance_in_service").map((e) => e.pid),
      ...this.all("worker_restarted").map((e) => e.pid),
    ];
    return pids.filter((p): p is number => p !== undefined);
  }

  /** Resolves once `condition` holds, checked now and after every event; rejects after `timeoutMs` naming `what`. */
  until(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`${what}: not seen within ${timeoutMs / 1000} s; the group now ${JSON.stringify(this.snapshot())}; fleet events:\n  ${this.describe().join("\n  ")}`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** The history as lines, for failure messages. */
  describe(): string[] {
    return this.entries.map((e) => `${e.name} ${JSON.stringify(e.payload)} -> ${JSON.stringify(e.after)}`);
  }

  /** Stops recording. */
  detach(): void {
    for (const [name, listener] of this.#listeners) this.#fleet.off(name, listener as never);
  }
}
