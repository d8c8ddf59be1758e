import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { ECR_ENDPOINT_VAR } from "../../aws/ecr-auth.ts";
import { forgetRegistryLogins } from "../../worker/container.ts";
import { FAKE_MEDIT, REPO, TSX_IMPORT } from "./worker-fixtures.ts";

/**
 * Whether a process has ended: gone, or a zombie (here init reaps orphans only now and then, so a
 * killed grandchild can stay a zombie for seconds). Linux /proc.
 */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** Waits (bounded) until {@link processGone}; true when it did. */
export async function waitGone(pid: number, timeoutMs = 5_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!processGone(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return processGone(pid);
}

/** The registry the fake ECR names (GetAuthorizationToken's proxyEndpoint) for a repository given by name. */
export const FAKE_REGISTRY = "111122223333.dkr.ecr.us-east-1.amazonaws.com";

/** The entrypoint of an image whose processor is fake-medit (run by the fake docker with the container's file system). */
export const FAKE_MEDIT_ENTRYPOINT = [process.execPath, "--import", TSX_IMPORT, FAKE_MEDIT];

/** What test/support/fake-docker.mjs reads from settings.json. */
export interface FakeDockerSettings {
  /** Images a pull finds, by full reference: what the "container" runs. */
  images?: Record<string, { entrypoint?: string[]; missing?: boolean; command?: string }>;
  /** The password a login and a pull must carry (the fake ECR's). */
  password?: string;
  daemonDown?: boolean;
  /** No NVIDIA container toolkit: `--gpus` fails with 125. */
  noGpu?: boolean;
  /** `docker stop` fails without stopping anything (a daemon in trouble): `docker kill` must follow. */
  stopFails?: boolean;
  version?: string;
}

/** One line of the fake's calls.jsonl: a command line (`argv`) or what it did (`event`). */
export interface FakeDockerCall {
  at: number;
  pid: number;
  argv?: string[];
  event?: "login" | "pull" | "run" | "started" | "exited" | "stop" | "kill" | "rm";
  [key: string]: unknown;
}

export interface FakeDocker {
  /** FAKE_DOCKER_HOME: settings, calls, containers. */
  home: string;
  /** The folder holding the `docker` shim (first on PATH while installed). */
  bin: string;
  settings(patch: FakeDockerSettings): void;
  calls(): FakeDockerCall[];
  /** The command lines, in order (`["stop", "--time", "1", "spotq-…"]`). */
  commands(): string[][];
  events<E extends NonNullable<FakeDockerCall["event"]>>(event: E): FakeDockerCall[];
  /** Makes `repository:tag` of {@link FAKE_REGISTRY} (or a full reference) an image that runs fake-medit. */
  addImage(ref: string, image?: { entrypoint?: string[]; missing?: boolean }): string;
  /** Clears the calls log (and what it ran), keeping settings and images. */
  reset(): void;
  uninstall(): void;
}

/**
 * Installs the stand-in docker (test/support/fake-docker.mjs) as `docker` first on this process's
 * PATH, which the worker (in this process) and its child processes use; `uninstall` restores PATH.
 */
export function installFakeDocker(): FakeDocker {
  const home = mkdtempSync(path.join(os.tmpdir(), "spotq-fake-docker-"));
  const bin = path.join(home, "bin");
  mkdirSync(bin);
  const shim = path.join(bin, "docker");
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  writeFileSync(shim, `#!/bin/sh\nFAKE_DOCKER_HOME=${q(home)} exec ${q(process.execPath)} ${q(path.join(REPO, "test", "support", "fake-docker.mjs"))} "$@"\n`);
  chmodSync(shim, 0o755);
  const savedPath = process.env.PATH;
  process.env.PATH = `${bin}${path.delimiter}${savedPath ?? ""}`;
  const settingsFile = path.join(home, "settings.json");
  const read = (): FakeDockerSettings => (existsSync(settingsFile) ? JSON.parse(readFileSync(settingsFile, "utf8")) : {});
  const calls = (): FakeDockerCall[] => {
    const file = path.join(home, "calls.jsonl");
    return existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as FakeDockerCall) : [];
  };
  const fake: FakeDocker = {
    home,
    bin,
    settings(patch) {
      writeFileSync(settingsFile, JSON.stringify({ ...read(), ...patch }, null, 2));
    },
    calls,
    commands: () => calls().flatMap((c) => (c.argv ? [c.argv] : [])),
    events: (event) => calls().filter((c) => c.event === event),
    addImage(ref, image = {}) {
      const full = ref.includes(".amazonaws.com") ? ref : `${FAKE_REGISTRY}/${ref}`;
      fake.settings({ images: { ...read().images, [full]: { entrypoint: FAKE_MEDIT_ENTRYPOINT, ...image } } });
      return full;
    },
    reset() {
      rmSync(path.join(home, "calls.jsonl"), { force: true });
    },
    uninstall() {
      process.env.PATH = savedPath;
      rmSync(home, { recursive: true, force: true });
    },
  };
  return fake;
}

/** A local endpoint answering ECR's GetAuthorizationToken (JSON 1.1) as AWS does, counting the calls. */
export interface FakeEcr {
  endpoint: string;
  /** The password the tokens carry (the fake docker checks it on login and pull). */
  password: string;
  calls: number;
  /** How long the next tokens are valid. @default 12 h */
  validForMs: number;
  /** Answer AccessDeniedException (a role without ecr:GetAuthorizationToken). */
  denied: boolean;
  stop(): Promise<void>;
}

export async function startFakeEcr(password = "ecr-password-1"): Promise<FakeEcr> {
  const state: Omit<FakeEcr, "endpoint" | "stop"> = { password, calls: 0, validForMs: 12 * 3600_000, denied: false };
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"] ?? "");
      res.setHeader("content-type", "application/x-amz-json-1.1");
      if (target !== "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken") {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: "UnknownOperationException", message: `the fake ECR serves GetAuthorizationToken only, not ${target}` }));
        return;
      }
      state.calls++;
      if (state.denied) {
        res.statusCode = 400;
        res.end(
          JSON.stringify({
            __type: "AccessDeniedException",
            message: "User: arn:aws:sts::111122223333:assumed-role/spotq-worker/i-0 is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action",
          }),
        );
        return;
      }
      res.end(
        JSON.stringify({
          authorizationData: [
            {
              authorizationToken: Buffer.from(`AWS:${state.password}`).toString("base64"),
              expiresAt: (Date.now() + state.validForMs) / 1000,
              proxyEndpoint: `https://${FAKE_REGISTRY}`,
            },
          ],
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fake = state as FakeEcr;
  fake.endpoint = endpoint;
  fake.stop = () => new Promise<void>((r) => server.close(() => r()));
  return fake;
}

/**
 * Mocha hooks for a suite that runs the container profile: the stand-in docker on PATH and a fake
 * ECR as SPOTQ_ENDPOINT_ECR (with the password the stand-in expects), for the whole suite; the
 * calls log and the worker's cached logins are cleared before each test.
 */
export function useFakeDocker(): { docker: () => FakeDocker; ecr: () => FakeEcr } {
  let docker: FakeDocker | undefined;
  let ecr: FakeEcr | undefined;
  let savedEndpoint: string | undefined;
  before(async () => {
    docker = installFakeDocker();
    ecr = await startFakeEcr();
    docker.settings({ password: ecr.password });
    savedEndpoint = process.env[ECR_ENDPOINT_VAR];
    process.env[ECR_ENDPOINT_VAR] = ecr.endpoint;
  });
  beforeEach(() => {
    docker!.reset();
    forgetRegistryLogins();
  });
  after(async () => {
    if (savedEndpoint === undefined) delete process.env[ECR_ENDPOINT_VAR];
    else process.env[ECR_ENDPOINT_VAR] = savedEndpoint;
    docker?.uninstall();
    await ecr?.stop();
  });
  return {
    docker: () => docker!,
    ecr: () => ecr!,
  };
}
