import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fleetConfig, type FleetConfigInput } from "../../../core/fleet-config.ts";
import { FLEET_EVENT_NAMES, LocalFleet, type FleetEvents, type LocalFleetOptions } from "../../../scripts/local/fleet.ts";

const REPO = resolve(import.meta.dirname, "../../..");

/** The test worker (test/support/fleet-test-worker.ts), run with this Node and tsx. */
export const TEST_WORKER = {
  command: process.execPath,
  args: ["--import", "tsx", "test/support/fleet-test-worker.ts"],
  cwd: REPO,
};

/** A process that starts in milliseconds and idles, for tests that only count instances. */
export const IDLE_PROCESS = { command: process.execPath, args: ["-e", "setInterval(() => {}, 1 << 30)"] };

type Name = keyof FleetEvents;
type Payload<K extends Name> = FleetEvents[K][0];

/**
 * Every event of a fleet, recorded from its start, so a test waits for "the event that says X"
 * whether it already happened or is still to come.
 */
export class FleetEventLog {
  readonly entries: { name: Name; payload: unknown }[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(fleet: LocalFleet) {
    for (const name of FLEET_EVENT_NAMES)
      fleet.on(name, ((payload: unknown) => {
        this.entries.push({ name, payload });
        for (const w of this.#waiters) w();
      }) as never);
  }

  all<K extends Name>(name: K, where: (p: Payload<K>) => boolean = () => true): Payload<K>[] {
    return this.entries.filter((e) => e.name === name && where(e.payload as Payload<K>)).map((e) => e.payload as Payload<K>);
  }

  /** Resolves with the `count`-th event `name` matching `where` (counting those already seen). */
  waitFor<K extends Name>(name: K, where: (p: Payload<K>) => boolean = () => true, options: { count?: number; timeoutMs?: number } = {}): Promise<Payload<K>> {
    const count = options.count ?? 1;
    const timeoutMs = options.timeoutMs ?? 20_000;
    return new Promise((resolvePromise, reject) => {
      const check = () => {
        const found = this.all(name, where);
        if (found.length >= count) {
          this.#waiters.delete(check);
          clearTimeout(timer);
          resolvePromise(found[count - 1]);
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        const seen = this.entries.filter((e) => e.name !== "alarm_evaluated").map((e) => `${e.name} ${JSON.stringify(e.payload)}`);
        reject(new Error(`no ${count}. ${name} within ${timeoutMs} ms; events so far:\n  ${seen.join("\n  ")}`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }
}

/** Polls for a file a worker writes (a process in another address space cannot emit our events). */
export async function waitForFile<T = Record<string, unknown>>(path: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** Steers one test worker through command files in its instance folder. */
export class TestWorker {
  #next = 1;
  constructor(readonly dir: string) {}

  /** Sends a command and waits for the worker's answer. */
  async send(cmd: Record<string, unknown>): Promise<{ ok: boolean; error?: { name: string; message: string }; [k: string]: unknown }> {
    const n = this.#next++;
    const tmp = join(this.dir, `.command-${n}.tmp`);
    writeFileSync(tmp, JSON.stringify(cmd));
    renameSync(tmp, join(this.dir, `command-${n}.json`));
    return waitForFile(join(this.dir, `result-${n}.json`));
  }

  /** What the worker reported at start (instance id, pid, environment), for the run with this pid. */
  started(pid: number): Promise<{ instanceId: string; pid: number; env: Record<string, string | null> }> {
    return waitForFile(join(this.dir, `worker-${pid}.json`));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until a process is gone (reaping may lag its death by a moment). */
export async function waitUntilGone(pid: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && !isZombie(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} is still alive after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function isZombie(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/**
 * Starts a fleet for one mocha suite (desired 0 unless told) in a temporary folder, with short
 * process-facing times, and stops it and removes the folder afterwards.
 */
export function useLocalFleet(
  options: { config?: FleetConfigInput } & Partial<Omit<LocalFleetOptions, "config" | "workRoot">> = {},
): () => { fleet: LocalFleet; events: FleetEventLog; workRoot: string } {
  let state: { fleet: LocalFleet; events: FleetEventLog; workRoot: string } | undefined;
  beforeEach(async function () {
    const workRoot = mkdtempSync(join(tmpdir(), "spotq-fleet-"));
    const { config, ...rest } = options;
    const fleet = await LocalFleet.start({
      config: fleetConfig(config ?? { fleet: { minSize: 0, maxSize: 4, bootSeconds: 0 } }),
      launch: TEST_WORKER,
      workRoot,
      env: { ...process.env, FLEET_TEST_MARK: "from-the-caller" },
      stopGraceSeconds: 3,
      restartDelaySeconds: 0.2,
      ...rest,
    });
    const events = new FleetEventLog(fleet);
    state = { fleet, events, workRoot };
  });
  afterEach(async function () {
    this.timeout(30_000);
    await state?.fleet.stop();
    if (state) rmSync(state.workRoot, { recursive: true, force: true });
    state = undefined;
  });
  return () => {
    if (!state) throw new Error("the fleet is not started: call useLocalFleet() inside a describe()");
    return state;
  };
}
