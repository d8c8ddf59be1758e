import { constants } from "node:fs";
import { access, mkdir, stat, statfs } from "node:fs/promises";
import path from "node:path";
import type { RegistryAuth } from "../aws/ecr-auth.ts";
import type { WorkerPlatform } from "../core/config-json.ts";
import type { ContainerProfile, FleetConfig } from "../core/fleet-config.ts";
import { ContainerRunner, DOCKER } from "./container.ts";
import { runProcessor } from "./processor.ts";

const GiB = 1024 ** 3;

/** The checks of `fleet.preflight`, in the order they run. */
export type PreflightCheckName = "workRoot" | "disk" | "processor" | "gpu" | "licence";

/** One check's result; a failure names its reason. */
export interface PreflightCheck {
  name: PreflightCheckName;
  ok: boolean;
  /** Skipped checks (no `gpuCheck`, no `licenceCheck`) pass with `skipped`. */
  skipped?: boolean;
  /** What was checked and, on failure, why it failed: "nvidia-smi exited with code 9: NVIDIA-SMI has failed ..." */
  detail: string;
  durationMs: number;
}

export interface PreflightReport {
  ok: boolean;
  checks: PreflightCheck[];
}

/** How a file system entry looks to the executable check. */
export type FileProbe = (file: string) => Promise<{ isFile: boolean; executable: boolean } | undefined>;

export interface PreflightOptions {
  workRoot: string;
  platform: WorkerPlatform;
  /** The environment the processor runs with (PATH, PATHEXT). @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Free bytes of the file system holding `dir`. @default statfs */
  freeBytes?: (dir: string) => Promise<number>;
  /** @default stat + access(X_OK) */
  probe?: FileProbe;
  /** ECR credentials for the container profile's pull. @default ECR through the SDK (SPOTQ_ENDPOINT_ECR locally) */
  registryAuth?: RegistryAuth;
}

/**
 * The checks an instance passes before it takes work (DESIGN §4, `fleet.preflight`): the work root
 * can be created, it has `minFreeDiskGiB` free, the processor's executable exists (and is
 * executable, on POSIX), the GPU check command exits 0 and so does the optional licence check.
 * Commands are spawned without a shell and killed (whole tree) past `timeoutSeconds`; so is any
 * check that hangs. Every check runs, so one report names every problem.
 *
 * With `processor.container` the processor is an image: the `processor` check finds the docker CLI,
 * asks the daemon (`docker version`) and pulls the image (so an image that cannot be pulled is a
 * failed boot, which the boot breaker counts, and the first job starts from a warm cache); with
 * `gpus`, the `gpu` check also runs `nvidia-smi -L` in that image with `--gpus` (the NVIDIA
 * container toolkit, not only the driver).
 */
export async function runPreflight(config: FleetConfig, o: PreflightOptions): Promise<PreflightReport> {
  const p = config.fleet.preflight;
  const timeoutMs = p.timeoutSeconds * 1000;
  const env = o.env ?? process.env;
  const checks: PreflightCheck[] = [];
  const run = async (name: PreflightCheckName, what: () => Promise<{ ok: boolean; detail: string; skipped?: boolean }>, limitMs = timeoutMs) => {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    // The guard of a check that hangs in the file system; a command's own timeout (kill + drain) comes first.
    const timeout = new Promise<{ ok: boolean; detail: string }>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${Math.round(limitMs / 1000)} s (fleet.preflight.timeoutSeconds)` }), limitMs + 5_000);
    });
    let r: { ok: boolean; detail: string; skipped?: boolean };
    try {
      r = await Promise.race([what(), timeout]);
    } catch (err) {
      r = { ok: false, detail: (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
    checks.push({ name, ok: r.ok, ...(r.skipped ? { skipped: true } : {}), detail: r.detail, durationMs: Date.now() - started });
  };

  let rootOk = false;
  await run("workRoot", async () => {
    try {
      await mkdir(o.workRoot, { recursive: true });
      rootOk = true;
      return { ok: true, detail: `work root ${o.workRoot} is ready` };
    } catch (err) {
      return { ok: false, detail: `cannot create the work root ${o.workRoot}: ${(err as Error).message}` };
    }
  });
  await run("disk", async () => {
    if (!rootOk) return { ok: false, detail: `free disk unknown: the work root ${o.workRoot} does not exist` };
    const free = await (o.freeBytes ?? statfsFree)(o.workRoot);
    const need = p.minFreeDiskGiB * GiB;
    const detail = `${gib(free)} free at ${o.workRoot}, at least ${p.minFreeDiskGiB} GiB needed (fleet.preflight.minFreeDiskGiB)`;
    return { ok: free >= need, detail };
  });
  const container = config.processor.container;
  let image: { runner: ContainerRunner; ref: string } | undefined;
  if (container)
    await run(
      "processor",
      async () => {
        const r = await checkContainer(container, o, env, timeoutMs);
        if (r.image) image = r.image;
        return r;
      },
      timeoutMs + container.pullTimeoutSeconds * 1000,
    );
  else
    await run("processor", async () => {
      const command = config.processor.command;
      const found = await resolveExecutable(command, { platform: o.platform, env, probe: o.probe ?? probeFile });
      return found.ok
        ? { ok: true, detail: `processor ${found.path} is executable` }
        : { ok: false, detail: `processor.command ${JSON.stringify(command)}: ${found.reason}` };
    });
  await run("gpu", async () => {
    const host = await runCheckCommand("fleet.preflight.gpuCheck", p.gpuCheck, { timeoutMs, platform: o.platform, cwd: rootOk ? o.workRoot : process.cwd() });
    if (container?.gpus === undefined || !host.ok) return host;
    const before = host.skipped ? "" : `${host.detail}; `;
    if (!image) return { ok: false, detail: `${before}the GPUs in a container are not checked: docker or the image is not ready (see the processor check)` };
    const inContainer = await image.runner.gpuCheck(image.ref, timeoutMs);
    return { ok: inContainer.ok, detail: `${before}${inContainer.detail}` };
  });
  await run("licence", () =>
    runCheckCommand("fleet.preflight.licenceCheck", p.licenceCheck ?? null, { timeoutMs, platform: o.platform, cwd: rootOk ? o.workRoot : process.cwd() }),
  );
  return { ok: checks.every((c) => c.ok), checks };
}

/** The container profile's processor check: the docker CLI, the daemon, the image pulled. */
async function checkContainer(
  container: ContainerProfile,
  o: PreflightOptions,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ ok: boolean; detail: string; image?: { runner: ContainerRunner; ref: string } }> {
  const found = await resolveExecutable(DOCKER, { platform: o.platform, env, probe: o.probe ?? probeFile });
  if (!found.ok) return { ok: false, detail: `processor.container: the docker CLI: ${found.reason}` };
  const runner = new ContainerRunner({ profile: container, workRoot: o.workRoot, ...(o.registryAuth ? { auth: o.registryAuth } : {}) });
  const daemon = await runner.daemon(timeoutMs);
  if (!daemon.ok) return { ok: false, detail: `processor.container: the Docker daemon does not answer: ${daemon.reason}` };
  try {
    const pulled = await runner.pull({ timeoutMs: container.pullTimeoutSeconds * 1000 });
    return { ok: true, detail: `docker ${daemon.version} answers; ${pulled.image} pulled in ${pulled.durationMs} ms`, image: { runner, ref: pulled.image } };
  } catch (err) {
    return { ok: false, detail: `processor.container.image ${JSON.stringify(container.image)} cannot be pulled: ${(err as Error).message}` };
  }
}

/** One line naming every failed check and its reason, for logs and the boot failure. */
export function describePreflightFailures(report: PreflightReport): string {
  return report.checks
    .filter((c) => !c.ok)
    .map((c) => `${c.name}: ${c.detail}`)
    .join("; ");
}

/** Runs a check command (no shell, tree killed on timeout): ok when it exits 0. */
async function runCheckCommand(
  key: string,
  argv: readonly string[] | null,
  o: { timeoutMs: number; platform: WorkerPlatform; cwd: string },
): Promise<{ ok: boolean; detail: string; skipped?: boolean }> {
  if (!argv || argv.length === 0) return { ok: true, skipped: true, detail: `${key} not set: skipped` };
  const [command, ...args] = argv as [string, ...string[]];
  const tail: string[] = [];
  const outcome = await runProcessor({
    command,
    args,
    cwd: o.cwd,
    env: {},
    timeoutMs: o.timeoutMs,
    killGraceMs: 1_000,
    platform: o.platform,
    onLine: (_stream, line) => {
      if (line.trim()) tail.push(line.trim().slice(0, 200));
      if (tail.length > 3) tail.shift();
    },
  });
  const shown = [command, ...args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" ");
  const said = tail.length ? `: ${tail.join(" | ")}` : "";
  if (outcome.startError) return { ok: false, detail: `${key} (${shown}) could not start: ${outcome.startError.message}` };
  if (outcome.killed === "timeout") return { ok: false, detail: `${key} (${shown}) ran past ${o.timeoutMs / 1000} s and was killed${said}` };
  if (outcome.exitCode === 0) return { ok: true, detail: `${shown} exited 0` };
  const how = outcome.exitCode !== null ? `exited with code ${outcome.exitCode}` : `was killed by ${outcome.signal}`;
  return { ok: false, detail: `${key} (${shown}) ${how}${said}` };
}

/**
 * Finds the processor's executable as spawning it without a shell would: a path (absolute or
 * relative) is checked as it is, a bare name is looked up on PATH. On Windows a name without an
 * extension also matches PATHEXT's (.EXE, .CMD ...); on POSIX the file must be executable.
 */
export async function resolveExecutable(
  command: string,
  o: { platform: WorkerPlatform; env: NodeJS.ProcessEnv; probe: FileProbe },
): Promise<{ ok: true; path: string } | { ok: false; reason: string }> {
  const win = o.platform === "win32";
  const p = win ? path.win32 : path.posix;
  const exts = win && !p.extname(command) ? ["", ...(o.env.PATHEXT ?? ".COM;.EXE;.BAT;.CMD").split(";").filter(Boolean)] : [""];
  const hasDir = win ? /[\\/]/.test(command) : command.includes("/");
  const dirs = hasDir ? [""] : (o.env.PATH ?? o.env.Path ?? "").split(win ? ";" : ":").filter(Boolean);
  if (!hasDir && dirs.length === 0) return { ok: false, reason: "not a path, and PATH is empty" };
  let notExecutable: string | undefined;
  for (const dir of dirs)
    for (const ext of exts) {
      const candidate = dir ? p.join(dir, command + ext) : command + ext;
      const found = await o.probe(candidate);
      if (!found?.isFile) continue;
      if (!win && !found.executable) {
        notExecutable ??= candidate;
        continue;
      }
      return { ok: true, path: candidate };
    }
  if (notExecutable) return { ok: false, reason: `${notExecutable} exists but is not executable` };
  return { ok: false, reason: hasDir ? "no such file" : `not found on PATH (${dirs.length} folders searched)` };
}

/** The default probe: stat, and access(X_OK) for the executable bit. */
export const probeFile: FileProbe = async (file) => {
  try {
    const s = await stat(file);
    if (!s.isFile()) return { isFile: false, executable: false };
    const executable = await access(file, constants.X_OK).then(
      () => true,
      () => false,
    );
    return { isFile: true, executable };
  } catch {
    return undefined;
  }
};

async function statfsFree(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

function gib(bytes: number): string {
  return `${(bytes / GiB).toFixed(1)} GiB`;
}
