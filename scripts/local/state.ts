import { createHash } from "node:crypto";
import { linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AwsSettings } from "../../aws/clients.ts";
import { SpotqError } from "../../core/errors.ts";
import type { DeploymentNames } from "../../core/runtime.ts";
import { isAlive } from "../../worker/leftovers.ts";

/**
 * What a running local stack tells other processes (the CLI, tests) about itself. Written as JSON
 * to `<stack folder>/state.json` and, so the CLI finds it from any folder, to
 * `<spotq home>/local-stacks/<id>.json` (see {@link spotqHome}); both are removed when it stops.
 */
export interface LocalStackState {
  pid: number;
  startedAt: string;
  /** The jobs API, e.g. http://127.0.0.1:8787 */
  apiUrl: string;
  /** The local fleet's control surface. */
  controlUrl: string;
  /** The local fleet's Auto Scaling endpoint. */
  autoscalingUrl?: string;
  /** The emulated AWS endpoints. */
  aws: AwsSettings;
  deployment: DeploymentNames;
  /** The stack's folder: emulator data, worker work roots, telemetry, logs. */
  dir: string;
}

/** The folder a local stack keeps its state in: `SPOTQ_LOCAL_DIR`, else `.spotq/local` under the working directory. */
export function localStackDir(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return path.resolve(cwd, env.SPOTQ_LOCAL_DIR ?? path.join(".spotq", "local"));
}

/** The user's spotq folder, where running local stacks register: `SPOTQ_HOME`, else `~/.spotq`. */
export function spotqHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.SPOTQ_HOME || path.join(os.homedir(), ".spotq"));
}

export function stateFile(dir: string): string {
  return path.join(dir, "state.json");
}

/** The registration of the stack in `dir` under the spotq home: one file per stack folder. */
export function homeStateFile(dir: string, env: NodeJS.ProcessEnv = process.env): string {
  const id = createHash("sha256").update(path.resolve(dir)).digest("hex").slice(0, 16);
  return path.join(spotqHome(env), "local-stacks", `${id}.json`);
}

function writeAtomically(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Writes the state atomically (a reader never sees half a file), in the stack's folder and under the spotq home. */
export function writeLocalState(dir: string, state: LocalStackState, env: NodeJS.ProcessEnv = process.env): void {
  const text = `${JSON.stringify(state, null, 2)}\n`;
  writeAtomically(stateFile(dir), text);
  try {
    writeAtomically(homeStateFile(dir, env), text);
  } catch (err) {
    // The stack works without it; only `spotq` from another folder will not find it.
    process.stderr.write(`spotq: could not register the local stack under ${spotqHome(env)}: ${(err as Error).message}\n`);
  }
}

function readState(file: string): LocalStackState | undefined {
  try {
    const state = JSON.parse(readFileSync(file, "utf8")) as LocalStackState;
    return typeof state.pid === "number" && typeof state.apiUrl === "string" ? state : undefined;
  } catch {
    return undefined;
  }
}

/** The state of the local stack in `dir`, or undefined when none is running there. */
export function readLocalState(dir: string): LocalStackState | undefined {
  const state = readState(stateFile(dir));
  return state && isAlive(state.pid) ? state : undefined;
}

/**
 * Every running local stack registered under the spotq home, newest first. Registrations of
 * stacks that are gone (killed without a chance to clean up) are removed on the way.
 */
export function runningLocalStacks(env: NodeJS.ProcessEnv = process.env): LocalStackState[] {
  const folder = path.join(spotqHome(env), "local-stacks");
  let names: string[];
  try {
    names = readdirSync(folder).filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
  const alive: LocalStackState[] = [];
  for (const name of names) {
    const file = path.join(folder, name);
    const state = readState(file);
    if (state && isAlive(state.pid)) alive.push(state);
    else rmSync(file, { force: true });
  }
  return alive.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

/**
 * The local stack the CLI talks to: the one whose folder is `dir` (SPOTQ_LOCAL_DIR, else
 * ./.spotq/local) when it runs, else the newest one registered under the spotq home.
 */
export function findLocalStack(dir: string, env: NodeJS.ProcessEnv = process.env): { state: LocalStackState; others: number } | undefined {
  const here = readLocalState(dir);
  if (here) return { state: here, others: 0 };
  const all = runningLocalStacks(env);
  return all[0] ? { state: all[0], others: all.length - 1 } : undefined;
}

export function clearLocalState(dir: string, env: NodeJS.ProcessEnv = process.env): void {
  rmSync(stateFile(dir), { force: true });
  const home = homeStateFile(dir, env);
  if (readState(home)?.pid === process.pid || readState(home) === undefined) rmSync(home, { force: true });
}

/** A local stack already runs from this folder: the second one refuses to start and touches nothing. */
export class StackRunningError extends SpotqError {
  readonly pid: number;
  readonly state: LocalStackState | undefined;
  constructor(dir: string, pid: number, state: LocalStackState | undefined) {
    const where = state
      ? `: pid ${pid}, jobs API ${state.apiUrl}, SQS + S3 ${state.aws.endpoints.sqs}, DynamoDB ${state.aws.endpoints.dynamodb}, fleet control ${state.controlUrl}, since ${state.startedAt}`
      : `: pid ${pid} (still starting)`;
    super("STACK_RUNNING", `a local stack is already running from ${dir}${where}`);
    this.name = "StackRunningError";
    this.pid = pid;
    this.state = state;
  }
}

/** The lock that makes a stack folder single-user. */
export function lockFile(dir: string): string {
  return path.join(dir, "stack.lock");
}

/**
 * Takes the stack folder for this process, before anything in it is read or changed: creates
 * `stack.lock` (exclusively) holding this pid. When another live process holds it, throws
 * {@link StackRunningError} naming that stack; a lock left by a process that is gone is taken over.
 * Returns the release function (removes the lock if it is still this process's).
 */
export function lockStackFolder(dir: string, pid = process.pid): () => void {
  mkdirSync(dir, { recursive: true });
  const file = lockFile(dir);
  const holderOf = (): number | undefined => {
    try {
      const n = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
      return Number.isInteger(n) ? n : undefined;
    } catch {
      return undefined;
    }
  };
  // The lock appears whole or not at all: written beside it, then hard-linked into place (fails if it exists).
  const tmp = `${file}.${pid}.tmp`;
  writeFileSync(tmp, `${pid}\n`);
  try {
    for (let tries = 0; tries < 3; tries++) {
      try {
        linkSync(tmp, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        const holder = holderOf();
        if (holder !== undefined && isAlive(holder)) {
          const state = readState(stateFile(dir));
          throw new StackRunningError(dir, holder, state?.pid === holder ? state : undefined);
        }
        // Left by a stack that did not stop cleanly: take it over, unless another process just did.
        if (holderOf() === holder) rmSync(file, { force: true });
        continue;
      }
      return () => {
        if (holderOf() === pid) rmSync(file, { force: true });
      };
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  throw new SpotqError("STACK_LOCK", `cannot take the lock ${file}: another process keeps creating it`);
}
