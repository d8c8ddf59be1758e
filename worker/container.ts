import { spawn } from "node:child_process";
import { chown, mkdir } from "node:fs/promises";
import path from "node:path";
import { EcrRegistryAuth, type RegistryAuth } from "../aws/ecr-auth.ts";
import { CONTAINER_FOLDERS, type JobFolders } from "../core/config-json.ts";
import { imageUri, parseImageReference, registryHostOf, type ImageReference } from "../core/container-image.ts";
import type { ContainerProfile } from "../core/fleet-config.ts";
import { runProcessor, type OutputStream, type ProcessorOutcome } from "./processor.ts";

/** The Docker CLI, looked up on PATH. */
export const DOCKER = "docker";

/** Labels on every job container: which job and attempt it runs, and on which instance (how a restarted worker finds its predecessor's). */
export const CONTAINER_LABELS = { job: "spotq.job", attempt: "spotq.attempt", instance: "spotq.instance" } as const;

/** A login is renewed this long before its token expires (ECR tokens last 12 h). */
const LOGIN_MARGIN_MS = 3600_000;

/** Bound of the short docker commands (version, login, stop, kill, rm, ps) beyond their own waits. */
const DOCKER_COMMAND_MS = 30_000;

/** The container of one job attempt: derived from the job id and attempt, so a cancel or a restarted worker can name it. */
export function containerName(jobId: string, attempt: number): string {
  return `spotq-${jobId}-${attempt}`;
}

/** What one job's `docker run` is made of. */
export interface DockerRunSpec {
  name: string;
  /** The full reference pulled (`<registry>/<repository>:<tag>`). */
  image: string;
  profile: Pick<ContainerProfile, "gpus" | "user" | "shmSizeMiB">;
  /** The job's folders on the instance, mounted at {@link CONTAINER_FOLDERS}. */
  host: Pick<JobFolders, "source" | "target">;
  /** Environment variables the container gets, by name: `--env NAME` takes the value from the client's environment, so no value is on a command line. */
  envNames: readonly string[];
  labels: Readonly<Record<string, string>>;
  /** `processor.args`, rendered with container paths; they follow the image (its entrypoint gets them). */
  args: readonly string[];
}

/**
 * The `docker run` command line of a job (without the `docker`): removed when it ends, never
 * pulled behind the worker's back (the pull is explicit, authenticated and timed), named, labelled,
 * the source read-only and the target writable, GPUs, user and /dev/shm as configured.
 */
export function dockerRunArgs(spec: DockerRunSpec): string[] {
  const p = spec.profile;
  return [
    "run",
    "--rm",
    "--pull",
    "never",
    "--name",
    spec.name,
    ...Object.entries(spec.labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
    ...(p.gpus !== undefined ? ["--gpus", String(p.gpus)] : []),
    ...(p.user !== undefined ? ["--user", p.user] : []),
    ...(p.shmSizeMiB !== undefined ? ["--shm-size", `${p.shmSizeMiB}m`] : []),
    "--mount",
    bindMount(spec.host.source, CONTAINER_FOLDERS.source, true),
    "--mount",
    bindMount(spec.host.target, CONTAINER_FOLDERS.target, false),
    ...spec.envNames.flatMap((n) => ["--env", n]),
    spec.image,
    ...spec.args,
  ];
}

/** A `--mount` value; docker reads it as CSV, so a path with a comma or a quote is quoted. */
function bindMount(source: string, target: string, readonly: boolean): string {
  const field = (f: string) => (/[",\n]/.test(f) ? `"${f.replaceAll('"', '""')}"` : f);
  return ["type=bind", field(`source=${source}`), `target=${target}`, ...(readonly ? ["readonly"] : [])].join(",");
}

/**
 * How a job's container is stopped (cancel, timeout, Spot hand-back, service stop): `docker stop`
 * sends the image's stop signal (SIGTERM unless it says otherwise) and kills after the timeout;
 * `docker kill` follows only if the container is still there (a daemon that did not stop it).
 * The `docker run` client's own process tree is killed last (processor.ts).
 */
export function containerStopCommands(name: string, stopTimeoutSeconds: number): { stop: string[]; kill: string[] } {
  return { stop: ["stop", "--time", String(stopTimeoutSeconds), name], kill: ["kill", name] };
}

/** A failed pull: the registry, the login or the daemon (not the request). */
export class ImagePullError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ImagePullError";
  }
}

/** The outcome of a short docker command. */
export interface DockerResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The command could not start (no docker on PATH). */
  startError?: Error;
  timedOut?: boolean;
}

/** The last non-empty lines of a command's output, for an error message. */
export function lastLines(text: string, n = 3): string {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(" | ");
}

export interface ContainerRunnerOptions {
  profile: ContainerProfile;
  /** The worker's work root: the Docker CLI's own config (the registry login) lives in `<workRoot>/.docker`, private to the worker. */
  workRoot: string;
  /** The region of a repository given by name. @default AWS_REGION, else us-east-1 */
  region?: string;
  /** @default ECR through the SDK (SPOTQ_ENDPOINT_ECR for a local endpoint) */
  auth?: RegistryAuth;
  /** @default "docker" on PATH */
  docker?: string;
}

/** Logins in effect, by Docker config folder and registry: the token's expiry. */
const logins = new Map<string, { expiresAt: number; host: string }>();

/** Forgets every registry login (tests). */
export function forgetRegistryLogins(): void {
  logins.clear();
}

/** One job's container run. */
export interface ContainerJobRun {
  jobId: string;
  attempt: number;
  instanceId: string;
  /** The job's folders on the instance. */
  folders: JobFolders;
  /** The full image reference {@link ContainerRunner.pull} returned. */
  image: string;
  /** `processor.args` rendered with container paths. */
  args: readonly string[];
  /** The container's environment (`processor.env`, SPOTQ_JOB_ID, SPOTQ_ATTEMPT). */
  env: Readonly<Record<string, string>>;
  timeoutMs: number;
  /** How long to wait for the client to end after `docker stop` / `docker kill`, and between SIGTERM and SIGKILL of the client. */
  killGraceMs: number;
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
  onLine: (stream: OutputStream, line: string) => void;
  /** The worker's own notes for the job log (the command line, the stop, the cleanup). */
  onNote?: (line: string) => void;
}

/**
 * Runs a processor as a Docker container (`processor.container`): logs in to ECR and pulls the
 * image, runs a job's `docker run` and stops its container on timeout or abort, checks the daemon
 * and the GPU runtime for the preflight, and removes containers a crashed predecessor left.
 */
export class ContainerRunner {
  readonly profile: ContainerProfile;
  readonly #ref: ImageReference;
  readonly #region: string;
  readonly #auth: RegistryAuth;
  readonly #docker: string;
  readonly #dockerConfig: string;

  constructor(o: ContainerRunnerOptions) {
    this.profile = o.profile;
    const parsed = parseImageReference(o.profile.image);
    if (!parsed.ok) throw new Error(`processor.container.image ${parsed.reason}`);
    this.#ref = parsed.value;
    this.#region = parsed.value.registry?.region ?? o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
    this.#auth = o.auth ?? EcrRegistryAuth.fromEnv();
    this.#docker = o.docker ?? DOCKER;
    this.#dockerConfig = path.join(o.workRoot, ".docker");
  }

  /** The environment of every docker command: the worker's, with its private Docker config. */
  get dockerEnv(): Record<string, string> {
    return { DOCKER_CONFIG: this.#dockerConfig };
  }

  /** Runs a short docker command (no shell), optionally writing `input` to its stdin. */
  docker(args: readonly string[], o: { input?: string; timeoutMs?: number; env?: Readonly<Record<string, string>> } = {}): Promise<DockerResult> {
    return new Promise((resolve) => {
      const child = spawn(this.#docker, [...args], {
        shell: false,
        windowsHide: true,
        env: { ...process.env, ...o.env, ...this.dockerEnv },
        stdio: [o.input !== undefined ? "pipe" : "ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      let timedOut = false;
      child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, o.timeoutMs ?? DOCKER_COMMAND_MS);
      child.once("error", (err) => {
        clearTimeout(timer);
        resolve({ code: null, stdout, stderr, startError: err });
      });
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr, ...(timedOut ? { timedOut } : {}) });
      });
      if (o.input !== undefined) {
        child.stdin!.on("error", () => undefined);
        child.stdin!.end(o.input);
      }
    });
  }

  /** Whether the Docker daemon answers (`docker version`), with its version or the reason. */
  async daemon(timeoutMs: number): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
    const r = await this.docker(["version", "--format", "{{.Server.Version}}"], { timeoutMs });
    if (r.startError) return { ok: false, reason: `docker could not start: ${r.startError.message}` };
    if (r.timedOut) return { ok: false, reason: `docker version got no answer from the daemon within ${timeoutMs / 1000} s` };
    if (r.code !== 0) return { ok: false, reason: `docker version exited with ${r.code}: ${lastLines(r.stderr || r.stdout) || "no output"}` };
    return { ok: true, version: r.stdout.trim() };
  }

  /**
   * Logs in to the image's registry with an ECR token (renewed an hour before it expires; the
   * password goes through stdin, never a command line) and pulls the image. Returns the full
   * reference pulled. A pull refused right after a cached login is tried once more with a fresh one.
   * Throws {@link ImagePullError}; an abort ends the pull and rejects too (the caller knows why).
   */
  async pull(o: { timeoutMs: number; signal?: AbortSignal; onLine?: (line: string) => void }): Promise<{ image: string; durationMs: number }> {
    const started = Date.now();
    for (let round = 1; ; round++) {
      const { host, fresh } = await this.#login(round > 1);
      const image = imageUri(this.#ref, host);
      const tail: string[] = [];
      const outcome = await runProcessor({
        command: this.#docker,
        args: ["pull", image],
        cwd: process.cwd(),
        env: this.dockerEnv,
        timeoutMs: o.timeoutMs,
        killGraceMs: 2_000,
        platform: "posix",
        ...(o.signal ? { signal: o.signal } : {}),
        onLine: (_stream, line) => {
          if (line.trim()) tail.push(line.trim().slice(0, 300));
          if (tail.length > 3) tail.shift();
          o.onLine?.(line);
        },
      });
      if (outcome.startError) throw new ImagePullError(`docker could not start: ${outcome.startError.message}`);
      if (outcome.killed === "aborted") throw new ImagePullError(`the pull of ${image} was stopped`);
      if (outcome.killed === "timeout") throw new ImagePullError(`the pull of ${image} ran past processor.container.pullTimeoutSeconds (${o.timeoutMs / 1000} s)`);
      if (outcome.exitCode === 0) return { image, durationMs: Date.now() - started };
      if (!fresh && round === 1) continue; // perhaps a token revoked or expired early: once more with a fresh login
      throw new ImagePullError(`docker pull ${image} exited with ${outcome.exitCode ?? outcome.signal}${tail.length ? `: ${tail.join(" | ")}` : ""}`);
    }
  }

  /** `docker login` to the image's registry unless a login is still good; the registry host of a repository given by name comes with the token. */
  async #login(force: boolean): Promise<{ host: string; fresh: boolean }> {
    const key = `${this.#dockerConfig}|${this.#region}|${this.#ref.registry?.host ?? ""}`;
    const known = logins.get(key);
    if (!force && known && known.expiresAt - LOGIN_MARGIN_MS > Date.now()) return { host: known.host, fresh: false };
    let creds;
    try {
      creds = await this.#auth.credentials(this.#region);
    } catch (err) {
      throw new ImagePullError(`no ECR authorization token: ${(err as Error).message}`, { cause: err });
    }
    const host = this.#ref.registry?.host ?? registryHostOf(creds.proxyEndpoint);
    await mkdir(this.#dockerConfig, { recursive: true, mode: 0o700 });
    const r = await this.docker(["login", "--username", creds.username, "--password-stdin", host], { input: creds.password });
    if (r.startError) throw new ImagePullError(`docker could not start: ${r.startError.message}`);
    if (r.code !== 0) throw new ImagePullError(`docker login ${host} exited with ${r.code ?? "a timeout"}: ${lastLines(r.stderr || r.stdout) || "no output"}`);
    logins.set(key, { expiresAt: creds.expiresAt.getTime(), host });
    return { host, fresh: true };
  }

  /**
   * Whether the GPUs reach a container: `nvidia-smi -L` in the job's image (already pulled) with
   * `--gpus`, as the NVIDIA container toolkit provides it. Docker answers 125 ("could not select
   * device driver") where the toolkit is missing.
   */
  async gpuCheck(image: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
    const gpus = String(this.profile.gpus ?? "all");
    const name = `spotq-gpu-check-${process.pid}-${Date.now().toString(36)}`;
    const args = ["run", "--rm", "--pull", "never", "--name", name, "--gpus", gpus, "--env", "NVIDIA_DRIVER_CAPABILITIES=utility,compute", "--entrypoint", "nvidia-smi", image, "-L"];
    const tail: string[] = [];
    const outcome = await runProcessor({
      command: this.#docker,
      args,
      cwd: process.cwd(),
      env: this.dockerEnv,
      timeoutMs,
      killGraceMs: 1_000,
      platform: "posix",
      onLine: (_s, line) => {
        if (line.trim()) tail.push(line.trim().slice(0, 200));
        if (tail.length > 3) tail.shift();
      },
      stopFirst: () => this.docker(["kill", name]).then(() => undefined),
    });
    const shown = `docker run --gpus ${gpus} --entrypoint nvidia-smi ${image} -L`;
    const said = tail.length ? `: ${tail.join(" | ")}` : "";
    if (outcome.startError) return { ok: false, detail: `${shown} could not start: ${outcome.startError.message}` };
    if (outcome.killed) return { ok: false, detail: `${shown} ran past ${timeoutMs / 1000} s${said}` };
    if (outcome.exitCode === 0) return { ok: true, detail: `${shown} sees the GPUs${said}` };
    return { ok: false, detail: `${shown} exited with ${outcome.exitCode ?? outcome.signal}${said}` };
  }

  /**
   * Removes the job containers an earlier worker on this instance left running (it crashed: the
   * container is not in its process tree, so nothing else stopped it). One job runs per instance,
   * so any is a leftover. Returns their names.
   */
  async removeLeftovers(instanceId: string): Promise<string[]> {
    const ps = await this.docker(["ps", "--all", "--filter", `label=${CONTAINER_LABELS.instance}=${instanceId}`, "--format", "{{.Names}}"]);
    if (ps.code !== 0) throw new Error(`docker ps exited with ${ps.code ?? "a timeout"}: ${lastLines(ps.stderr) || "no output"}`);
    const names = ps.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
    if (names.length === 0) return [];
    const rm = await this.docker(["rm", "--force", ...names]);
    if (rm.code !== 0) throw new Error(`docker rm --force ${names.join(" ")} exited with ${rm.code ?? "a timeout"}: ${lastLines(rm.stderr) || "no output"}`);
    return names;
  }

  /**
   * Runs one job's container and waits for it (processor.ts streams its output). On timeout or
   * abort its container is stopped (`docker stop --time <stopTimeoutSeconds>`, then `docker kill`
   * if it is still there), then the client's process tree is killed if it is still alive, and a
   * container left behind is removed. The outcome is `docker run`'s (processor-outcome.ts).
   */
  async run(o: ContainerJobRun): Promise<ProcessorOutcome> {
    const note = o.onNote ?? (() => undefined);
    const name = containerName(o.jobId, o.attempt);
    if (this.profile.user !== undefined) {
      // The worker made the target folder; the container's user must be able to write into it.
      const [uid, gid] = this.profile.user.split(":").map(Number) as [number, number | undefined];
      await chown(o.folders.target, uid, gid ?? -1);
    }
    const args = dockerRunArgs({
      name,
      image: o.image,
      profile: this.profile,
      host: o.folders,
      envNames: Object.keys(o.env),
      labels: { [CONTAINER_LABELS.job]: o.jobId, [CONTAINER_LABELS.attempt]: String(o.attempt), [CONTAINER_LABELS.instance]: o.instanceId },
      args: o.args,
    });
    note(`running ${this.#docker} ${args.map((a) => JSON.stringify(a)).join(" ")}`);
    const outcome = await runProcessor({
      command: this.#docker,
      args,
      cwd: o.folders.root,
      env: { ...o.env, ...this.dockerEnv },
      timeoutMs: o.timeoutMs,
      killGraceMs: o.killGraceMs,
      platform: "posix",
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onSpawn ? { onSpawn: o.onSpawn } : {}),
      onLine: o.onLine,
      stopFirst: (exited) => this.#stop(name, exited, o.killGraceMs, note),
    });
    if (!outcome.killed && o.signal?.aborted) {
      // The client ended by itself as the stop came (a service stop signals the whole unit, the client
      // included, and docker forwards the signal): the container must not outlive the run either.
      await this.#stop(name, Promise.resolve(), 0, note);
    }
    if (outcome.killed || o.signal?.aborted) {
      // --rm removes a container that stopped; one whose client died before it started is removed here.
      const rm = await this.docker(["rm", "--force", name]);
      if (rm.code === 0) note(`removed the container ${name} the stopped run left`);
    }
    return outcome;
  }

  /** `docker stop`, then `docker kill` if the client (which ends with its container) is still there. */
  async #stop(name: string, exited: Promise<void>, graceMs: number, note: (line: string) => void): Promise<void> {
    const { stop, kill } = containerStopCommands(name, this.profile.stopTimeoutSeconds);
    const stopped = await this.docker(stop, { timeoutMs: this.profile.stopTimeoutSeconds * 1000 + DOCKER_COMMAND_MS });
    note(`docker ${stop.join(" ")}: ${stopped.code === 0 ? "stopped" : `exited with ${stopped.code ?? "a timeout"}: ${lastLines(stopped.stderr) || "no output"}`}`);
    if (await within(exited, graceMs)) return;
    const killed = await this.docker(kill);
    note(`docker ${kill.join(" ")}: ${killed.code === 0 ? "killed" : `exited with ${killed.code ?? "a timeout"}: ${lastLines(killed.stderr) || "no output"}`}`);
    await within(exited, graceMs);
  }
}

/** True when `p` settles within `ms`. */
async function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
