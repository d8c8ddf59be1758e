#!/usr/bin/env node
// A stand-in for the `docker` CLI and its daemon, for machines without Docker. The worker's
// container profile runs it through a shim named `docker` on PATH (test/support/fake-docker.ts).
// It answers the commands the worker uses, the way Docker does (messages and exit codes), and
// records every call in $FAKE_DOCKER_HOME/calls.jsonl:
//
//   version --format ...         the daemon's version; "Cannot connect to the Docker daemon" when it is down
//   login -u U --password-stdin H  the password from stdin into $DOCKER_CONFIG/config.json
//   pull REF                     needs a login to REF's registry; knows the images of settings.json
//   run [flags] IMAGE ARGS...    --rm --pull never --name --label --gpus --user --shm-size --mount --env --entrypoint:
//                                runs the image's entrypoint (settings.json) as the "container": its own
//                                process group, outside the client's tree (killing the client does not
//                                stop it), with only the --env variables, the container paths of the bind
//                                mounts mapped onto the host folders (fake-container-fs.mjs) and its output
//                                relayed by the client; the client forwards SIGTERM/SIGINT/SIGHUP to it
//                                (docker's default --sig-proxy) and exits with its code, or 128 + signal
//   stop --time T NAME           SIGTERM to the container's process group, SIGKILL after T seconds
//   kill NAME                    SIGKILL to the container's process group
//   rm --force NAME...           kill and forget
//   ps --all --filter label=K=V --format {{.Names}}
//
// settings.json: { images: { "<full ref>": { entrypoint: [..], missing?: true } }, password?,
// daemonDown?, noGpu?, stopFails?, version? } — tests change it between calls.
import { spawn } from "node:child_process";
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HOME = process.env.FAKE_DOCKER_HOME;
if (!HOME) {
  process.stderr.write("fake-docker: FAKE_DOCKER_HOME is not set\n");
  process.exit(1);
}
const HERE = path.dirname(fileURLToPath(import.meta.url));
const CONTAINERS = path.join(HOME, "containers");
mkdirSync(CONTAINERS, { recursive: true });
const settings = () => (existsSync(path.join(HOME, "settings.json")) ? JSON.parse(readFileSync(path.join(HOME, "settings.json"), "utf8")) : {});
const record = (entry) => appendFileSync(path.join(HOME, "calls.jsonl"), `${JSON.stringify({ at: Date.now(), pid: process.pid, ...entry })}\n`);
const fail = (message, code = 1) => {
  process.stderr.write(`${message}\n`);
  process.exit(code);
};
const DAEMON_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";

const argv = process.argv.slice(2);
record({ argv });
const [command, ...rest] = argv;
const s = settings();
if (s.daemonDown && command !== "login") fail(command === "run" ? `docker: ${DAEMON_DOWN}` : DAEMON_DOWN, command === "run" ? 125 : 1);

const stateFile = (name) => path.join(CONTAINERS, `${name}.json`);
const readState = (name) => (existsSync(stateFile(name)) ? JSON.parse(readFileSync(stateFile(name), "utf8")) : undefined);
/** Whether any process of the group still runs; a zombie (dead, not yet reaped by init) does not count. Linux /proc. */
const alive = (pgid) => {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z") return true;
  }
  return false;
};
const signalGroup = (pid, signal) => {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const forget = (name) => {
  for (const f of [stateFile(name), path.join(CONTAINERS, `${name}.out`), path.join(CONTAINERS, `${name}.err`)]) rmSync(f, { force: true });
};
const dockerConfig = () => path.join(process.env.DOCKER_CONFIG ?? path.join(process.env.HOME ?? tmpdir(), ".docker"), "config.json");

switch (command) {
  case "version":
    process.stdout.write(`${s.version ?? "25.0.18-fake"}\n`);
    break;

  case "login": {
    const user = rest[rest.indexOf("--username") + 1] ?? rest[rest.indexOf("-u") + 1];
    const host = rest.at(-1);
    if (!rest.includes("--password-stdin")) fail("fake-docker: the worker must pass the password on stdin");
    const chunks = [];
    for await (const c of process.stdin) chunks.push(c);
    const password = Buffer.concat(chunks).toString("utf8").replace(/\n$/, "");
    record({ event: "login", host, user, password });
    if (s.password !== undefined && password !== s.password)
      fail(`Error response from daemon: login attempt to https://${host}/v2/ failed with status: 400 Bad Request`);
    const file = dockerConfig();
    const config = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
    config.auths = { ...config.auths, [host]: { auth: Buffer.from(`${user}:${password}`).toString("base64") } };
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(config, null, 2));
    process.stdout.write("Login Succeeded\n");
    break;
  }

  case "pull": {
    const ref = rest[0];
    const host = ref.split("/")[0];
    const file = dockerConfig();
    const auth = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")).auths?.[host]?.auth : undefined;
    const password = auth ? Buffer.from(auth, "base64").toString("utf8").split(":").slice(1).join(":") : undefined;
    const [repoPath, tag] = ref.slice(host.length + 1).split(/[:@](?=[^/]*$)/);
    if (!auth || (s.password !== undefined && password !== s.password))
      fail(`Error response from daemon: Head "https://${host}/v2/${repoPath}/manifests/${tag}": no basic auth credentials`);
    if (!s.images?.[ref]) fail(`Error response from daemon: manifest for ${ref} not found: manifest unknown: Requested image not found`);
    process.stdout.write(`${tag}: Pulling from ${repoPath}\nDigest: sha256:${"0".repeat(64)}\nStatus: Image is up to date for ${ref}\n${ref}\n`);
    const pulledFile = path.join(HOME, "pulled.json");
    const pulled = existsSync(pulledFile) ? JSON.parse(readFileSync(pulledFile, "utf8")) : [];
    if (!pulled.includes(ref)) writeFileSync(pulledFile, JSON.stringify([...pulled, ref]));
    record({ event: "pull", ref });
    break;
  }

  case "run":
    await run(rest);
    break;

  case "stop": {
    const i = rest.indexOf("--time");
    const seconds = i >= 0 ? Number(rest[i + 1]) : 10;
    const name = rest.at(-1);
    if (s.stopFails) fail(`Error response from daemon: cannot stop container: ${name}: tried to kill container, but did not receive an exit event`);
    const st = readState(name);
    if (!st || !alive(st.pid)) fail(`Error response from daemon: No such container: ${name}`);
    signalGroup(st.pid, "SIGTERM");
    const deadline = Date.now() + seconds * 1000;
    while (alive(st.pid) && Date.now() < deadline) await sleep(20);
    const graceful = !alive(st.pid);
    if (!graceful) signalGroup(st.pid, "SIGKILL");
    record({ event: "stop", name, seconds, graceful });
    process.stdout.write(`${name}\n`);
    break;
  }

  case "kill": {
    const name = rest.at(-1);
    const st = readState(name);
    if (!st || !alive(st.pid)) fail(`Error response from daemon: cannot kill container: ${name}: container ${name} is not running`);
    signalGroup(st.pid, "SIGKILL");
    record({ event: "kill", name });
    process.stdout.write(`${name}\n`);
    break;
  }

  case "rm": {
    let failed = false;
    for (const name of rest.filter((a) => !a.startsWith("-"))) {
      const st = readState(name);
      if (!st) {
        process.stderr.write(`Error response from daemon: No such container: ${name}\n`);
        failed = true;
        continue;
      }
      if (alive(st.pid)) signalGroup(st.pid, "SIGKILL");
      forget(name);
      record({ event: "rm", name });
      process.stdout.write(`${name}\n`);
    }
    if (failed) process.exit(1);
    break;
  }

  case "ps": {
    const filters = rest.flatMap((a, i) => (rest[i - 1] === "--filter" && a.startsWith("label=") ? [a.slice(6)] : []));
    const all = rest.includes("--all") || rest.includes("-a");
    for (const f of readdirSync(CONTAINERS).filter((f) => f.endsWith(".json"))) {
      const st = JSON.parse(readFileSync(path.join(CONTAINERS, f), "utf8"));
      if (!all && !alive(st.pid)) continue;
      if (filters.every((kv) => `${kv.split("=")[0]}=${st.labels[kv.split("=")[0]]}` === kv)) process.stdout.write(`${st.name}\n`);
    }
    break;
  }

  default:
    fail(`docker: '${command}' is not a docker command the stand-in knows.`);
}

async function run(args) {
  const spec = { rm: false, pull: "missing", labels: {}, mounts: [], env: [], gpus: undefined, user: undefined, shmSize: undefined, entrypoint: undefined, name: undefined };
  let i = 0;
  for (; i < args.length && args[i].startsWith("-"); i++) {
    const a = args[i];
    const value = () => args[++i];
    if (a === "--rm") spec.rm = true;
    else if (a === "--pull") spec.pull = value();
    else if (a === "--name") spec.name = value();
    else if (a === "--label") {
      const [k, ...v] = value().split("=");
      spec.labels[k] = v.join("=");
    } else if (a === "--gpus") spec.gpus = value();
    else if (a === "--user") spec.user = value();
    else if (a === "--shm-size") spec.shmSize = value();
    else if (a === "--entrypoint") spec.entrypoint = value();
    else if (a === "--env" || a === "-e") spec.env.push(value());
    else if (a === "--mount") spec.mounts.push(parseMount(value()));
    else fail(`docker: unknown flag: ${a}\nSee 'docker run --help'.`, 125);
  }
  const image = args[i];
  const cmd = args.slice(i + 1);
  spec.name ??= `fake_${process.pid}`;
  record({ event: "run", ...spec, image, args: cmd });
  if (!image) fail('docker: "docker run" requires at least 1 argument.', 125);
  const pulled = existsSync(path.join(HOME, "pulled.json")) ? JSON.parse(readFileSync(path.join(HOME, "pulled.json"), "utf8")) : [];
  if (spec.pull === "never" && !pulled.includes(image)) fail(`docker: Error response from daemon: No such image: ${image}.`, 125);
  if (spec.gpus !== undefined && s.noGpu) fail('docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].', 125);
  const existing = readState(spec.name);
  if (existing && alive(existing.pid)) fail(`docker: Error response from daemon: Conflict. The container name "/${spec.name}" is already in use by container "${existing.pid}".`, 125);
  for (const m of spec.mounts) if (!existsSync(m.source)) fail(`docker: Error response from daemon: invalid mount config for type "bind": bind source path does not exist: ${m.source}.`, 125);

  let entrypoint;
  if (spec.entrypoint === "nvidia-smi") entrypoint = [process.execPath, path.join(HERE, "..", "..", "scripts", "fake-nvidia-smi.mjs")];
  else {
    const img = s.images?.[image] ?? {};
    if (img.missing) fail(`docker: Error response from daemon: failed to create task for container: exec: "${img.command ?? "processor"}": executable file not found in $PATH: unknown.`, 127);
    entrypoint = img.entrypoint;
    if (!entrypoint) fail(`docker: Error response from daemon: No command specified.`, 125);
  }
  // Only what --env passes: "NAME" takes the client's value (and is left out when the client has none).
  const env = { PATH: process.env.PATH, HOME: process.env.HOME ?? "/root", HOSTNAME: spec.name, FAKE_CONTAINER_MOUNTS: JSON.stringify(spec.mounts) };
  for (const e of spec.env) {
    const eq = e.indexOf("=");
    if (eq >= 0) env[e.slice(0, eq)] = e.slice(eq + 1);
    else if (process.env[e] !== undefined) env[e] = process.env[e];
  }
  const [exe, ...pre] = entrypoint;
  const fsShim = entrypoint === undefined || spec.entrypoint === "nvidia-smi" ? [] : ["--import", path.join(HERE, "fake-container-fs.mjs")];
  const out = path.join(CONTAINERS, `${spec.name}.out`);
  const err = path.join(CONTAINERS, `${spec.name}.err`);
  const outFd = openSync(out, "w");
  const errFd = openSync(err, "w");
  // A node entrypoint gets the container file system; its own --import flags stay first.
  const nodeArgs = exe === process.execPath ? [...fsShim, ...pre] : pre;
  const container = spawn(exe, [...nodeArgs, ...cmd], { env, cwd: tmpdir(), detached: true, stdio: ["ignore", outFd, errFd] });
  closeSync(outFd);
  closeSync(errFd);
  writeFileSync(stateFile(spec.name), JSON.stringify({ name: spec.name, pid: container.pid, image, labels: spec.labels, startedAt: new Date().toISOString() }));
  record({ event: "started", name: spec.name, pid: container.pid });
  // --sig-proxy (docker's default): the client passes these on to the container.
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, () => signalGroup(container.pid, sig));

  const offsets = { [out]: 0, [err]: 0 };
  const relay = () => {
    for (const [file, stream] of [
      [out, process.stdout],
      [err, process.stderr],
    ]) {
      let fd;
      try {
        fd = openSync(file, "r");
      } catch {
        continue;
      }
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, offsets[file]);
        if (n <= 0) break;
        offsets[file] += n;
        stream.write(buf.subarray(0, n));
      }
      closeSync(fd);
    }
  };
  const timer = setInterval(relay, 20);
  const [code, signal] = await new Promise((r) => container.once("exit", (c, sg) => r([c, sg])));
  clearInterval(timer);
  relay();
  record({ event: "exited", name: spec.name, code, signal });
  if (spec.rm) forget(spec.name);
  process.exitCode = code ?? 128 + (constants.signals[signal] ?? 0);
}

/** `type=bind,source=/a,target=/b,readonly`, CSV as docker reads it. */
function parseMount(value) {
  const fields = [];
  let cur = "";
  let quoted = false;
  for (let k = 0; k < value.length; k++) {
    const c = value[k];
    if (c === '"') {
      if (quoted && value[k + 1] === '"') {
        cur += '"';
        k++;
      } else quoted = !quoted;
    } else if (c === "," && !quoted) {
      fields.push(cur);
      cur = "";
    } else cur += c;
  }
  fields.push(cur);
  const m = { readonly: false };
  for (const f of fields) {
    const eq = f.indexOf("=");
    const k = eq >= 0 ? f.slice(0, eq) : f;
    const v = eq >= 0 ? f.slice(eq + 1) : "";
    if (k === "type") m.type = v;
    else if (k === "source" || k === "src") m.source = v;
    else if (k === "target" || k === "destination" || k === "dst") m.target = v;
    else if (k === "readonly" || k === "ro") m.readonly = v === "" || v === "true" || v === "1";
    else fail(`docker: invalid argument "${value}" for "--mount" flag: unexpected key '${k}' in '${f}'`, 125);
  }
  if (m.type !== "bind") fail(`docker: invalid argument "${value}" for "--mount" flag: the stand-in knows bind mounts only`, 125);
  return m;
}
