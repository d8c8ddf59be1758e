import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { AwsSettings } from "../../aws/clients.ts";
import type { DeploymentNames } from "../../core/runtime.ts";
import { isAlive } from "../../worker/leftovers.ts";

/** What a running local stack tells other processes (the CLI, tests) about itself. */
export interface LocalStackState {
  pid: number;
  startedAt: string;
  /** The jobs API, e.g. http://127.0.0.1:8787 */
  apiUrl: string;
  /** The local fleet's control surface. */
  controlUrl: string;
  /** The emulated AWS endpoints. */
  aws: AwsSettings;
  deployment: DeploymentNames;
  /** The stack's folder: worker work roots, telemetry, logs. */
  dir: string;
}

/** The folder a local stack keeps its state in: `SPOTQ_LOCAL_DIR`, else `.spotq/local` under the working directory. */
export function localStackDir(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return path.resolve(cwd, env.SPOTQ_LOCAL_DIR ?? path.join(".spotq", "local"));
}

export function stateFile(dir: string): string {
  return path.join(dir, "state.json");
}

/** Writes the state atomically (a reader never sees half a file). */
export function writeLocalState(dir: string, state: LocalStackState): void {
  mkdirSync(dir, { recursive: true });
  const tmp = `${stateFile(dir)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, stateFile(dir));
}

/** The state of the local stack in `dir`, or undefined when none is running there. */
export function readLocalState(dir: string): LocalStackState | undefined {
  let state: LocalStackState;
  try {
    state = JSON.parse(readFileSync(stateFile(dir), "utf8")) as LocalStackState;
  } catch {
    return undefined;
  }
  if (!isAlive(state.pid)) return undefined;
  return state;
}

export function clearLocalState(dir: string): void {
  rmSync(stateFile(dir), { force: true });
}
