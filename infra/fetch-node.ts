/**
 * `npm run fetch:node`: downloads the Node.js release the workers run on, once, on a machine with
 * internet access, checks it against the release's SHASUMS256.txt, and prints what to pin in the
 * config. `npm run synth` then checks the file against that SHA-256 and ships it through the
 * artifacts bucket, so no worker ever downloads Node.js from the internet.
 *
 *   npm run fetch:node -- [--config spotq.config.json] [--version 24.11.1] [--platform windows|linux]
 *                         [--arch x64|arm64] [--out <folder>] [--dist https://nodejs.org/dist]
 *
 * Without --version: the config's pinned version, else the newest release of fleet.nodeMajor.
 * The archive goes where synth looks for it by default: vendor/node/ next to the config file.
 */
import { once } from "node:events";
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { ValidationError } from "../core/errors.ts";
import { defaultFleetConfig, loadFleetConfigFile, type FleetConfig } from "../core/fleet-config.ts";
import { ENV } from "../core/runtime.ts";
import { DEFAULT_CONFIG_FILE } from "./deploy-config.ts";
import { NODE_DIST, nodeArchiveName, nodeDistArch, sha256FileStreamed, sha256FromShasums, type NodeDistArch } from "./node-archive.ts";

export interface FetchNodeOptions {
  config: FleetConfig;
  /** Where relative paths of the config resolve, and where vendor/node/ goes by default. */
  baseDir: string;
  version?: string;
  platform?: "windows" | "linux";
  arch?: NodeDistArch;
  outDir?: string;
  dist?: string;
  log?: (line: string) => void;
}

export interface FetchedNode {
  version: string;
  file: string;
  sha256: string;
  /** The config to pin it with. */
  snippet: string;
}

async function getText(url: string): Promise<string> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${res.statusText}`);
  return res.text();
}

/** Downloads, checks and stores the archive; throws naming what did not match. */
export async function fetchNode(o: FetchNodeOptions): Promise<FetchedNode> {
  const log = o.log ?? (() => {});
  const dist = (o.dist ?? NODE_DIST).replace(/\/$/, "");
  const platform = o.platform ?? o.config.fleet.platform;
  const arch = o.arch ?? nodeDistArch(o.config);
  let version = o.version ?? o.config.fleet.artifacts.node?.version;
  if (!version) {
    const latest = await getText(`${dist}/latest-v${o.config.fleet.nodeMajor}.x/SHASUMS256.txt`);
    version = /node-v(\d+\.\d+\.\d+)-/.exec(latest)?.[1];
    if (!version) throw new Error(`${dist}/latest-v${o.config.fleet.nodeMajor}.x/SHASUMS256.txt names no release`);
    log(`newest Node.js ${o.config.fleet.nodeMajor}.x: ${version}`);
  }
  const name = nodeArchiveName(version, platform, arch);
  const shasums = await getText(`${dist}/v${version}/SHASUMS256.txt`);
  const expected = sha256FromShasums(shasums, name);
  if (!expected) throw new Error(`${dist}/v${version}/SHASUMS256.txt lists no ${name}`);
  const outDir = resolve(o.baseDir, o.outDir ?? "vendor/node");
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, name);
  const partial = `${file}.partial`;
  log(`downloading ${dist}/v${version}/${name}`);
  const res = await fetch(`${dist}/v${version}/${name}`);
  if (!res.ok || !res.body) throw new Error(`GET ${dist}/v${version}/${name}: ${res.status} ${res.statusText}`);
  const out = createWriteStream(partial);
  await once(out, "open");
  await pipeline(Readable.fromWeb(res.body as never), out);
  const actual = await sha256FileStreamed(partial);
  if (actual !== expected) {
    rmSync(partial, { force: true });
    throw new Error(`${name} has SHA-256 ${actual}, but the release's SHASUMS256.txt says ${expected}: not stored`);
  }
  renameSync(partial, file);
  const pinned = { version, sha256: actual, ...(o.outDir ? { archive: file } : {}) };
  const snippet = JSON.stringify({ fleet: { nodeMajor: Number(version.split(".")[0]), artifacts: { node: pinned } } }, null, 2);
  return { version, file, sha256: actual, snippet };
}

function argValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (!v || v.startsWith("--")) throw new ValidationError("bad arguments", [{ field: flag, reason: "needs a value" }]);
  return v;
}

async function main(argv: readonly string[]): Promise<number> {
  const log = (line: string) => process.stderr.write(`spotq: ${line}\n`);
  try {
    const configFile = argValue(argv, "--config") ?? process.env[ENV.config] ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
    const config = configFile ? loadFleetConfigFile(configFile) : defaultFleetConfig();
    if (!configFile) log(`no ${DEFAULT_CONFIG_FILE} here: using the defaults (Windows, Node.js ${config.fleet.nodeMajor})`);
    const platform = argValue(argv, "--platform");
    const arch = argValue(argv, "--arch");
    if (platform && platform !== "windows" && platform !== "linux") throw new ValidationError("bad arguments", [{ field: "--platform", reason: "is windows or linux" }]);
    if (arch && arch !== "x64" && arch !== "arm64") throw new ValidationError("bad arguments", [{ field: "--arch", reason: "is x64 or arm64" }]);
    const version = argValue(argv, "--version");
    const outDir = argValue(argv, "--out");
    const dist = argValue(argv, "--dist");
    const fetched = await fetchNode({
      config,
      baseDir: configFile ? dirname(resolve(configFile)) : process.cwd(),
      log,
      ...(version ? { version } : {}),
      ...(platform ? { platform: platform as "windows" | "linux" } : {}),
      ...(arch ? { arch: arch as NodeDistArch } : {}),
      ...(outDir ? { outDir } : {}),
      ...(dist ? { dist } : {}),
    });
    log(`stored ${fetched.file} (SHA-256 ${fetched.sha256}, checked against the release's SHASUMS256.txt)`);
    log(`pin it in ${configFile ?? DEFAULT_CONFIG_FILE}; npm run synth checks the file against it and ships it to the workers:`);
    process.stdout.write(`${fetched.snippet}\n`);
    return 0;
  } catch (err) {
    log(`fetch:node failed: ${(err as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
