import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type { FleetConfig } from "../core/fleet-config.ts";
import { instanceArchitecture } from "../core/instance-types.ts";

/**
 * The Node.js release a fleet runs on, as nodejs.org publishes it: one archive per OS and CPU,
 * listed with its SHA-256 in the release's SHASUMS256.txt. infra ships the pinned archive
 * (`fleet.artifacts.node`) through the artifacts bucket; `npm run fetch:node` downloads it.
 */

/** The release folder on nodejs.org. */
export const NODE_DIST = "https://nodejs.org/dist";

export type NodeDistArch = "x64" | "arm64";

/** nodejs.org's CPU name for the fleet's instance types (config validation keeps them to one architecture). */
export function nodeDistArch(config: FleetConfig): NodeDistArch {
  return config.fleet.instanceTypes.length > 0 && instanceArchitecture(config.fleet.instanceTypes[0]!) === "arm64" ? "arm64" : "x64";
}

/** The archive's file name: `node-v24.11.1-win-x64.zip`, `node-v24.11.1-linux-x64.tar.gz`. */
export function nodeArchiveName(version: string, platform: "windows" | "linux", arch: NodeDistArch): string {
  return platform === "windows" ? `node-v${version}-win-${arch}.zip` : `node-v${version}-linux-${arch}.tar.gz`;
}

/** Where the pinned archive is on the deploying machine: `fleet.artifacts.node.archive`, else under vendor/node/, relative to `baseDir` (the config file's folder). */
export function nodeArchivePath(config: FleetConfig, baseDir: string): string | undefined {
  const node = config.fleet.artifacts.node;
  if (!node) return undefined;
  const file = node.archive ?? `vendor/node/${nodeArchiveName(node.version, config.fleet.platform, nodeDistArch(config))}`;
  return isAbsolute(file) ? file : resolve(baseDir, file);
}

/** SHA-256 of a file, hex. */
export function sha256File(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** SHA-256 of a file, hex, streamed (for archives of tens of MB in the fetch script). */
export function sha256FileStreamed(file: string): Promise<string> {
  return new Promise((done, fail) => {
    const hash = createHash("sha256");
    createReadStream(file)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", fail)
      .on("end", () => done(hash.digest("hex")));
  });
}

/** Why the archive at `file` is not the pinned release, or undefined when it is. */
export function nodeArchiveProblem(file: string, sha256: string): string | undefined {
  if (!existsSync(file) || !statSync(file).isFile()) return `${file} does not exist: run \`npm run fetch:node\` on a machine with internet access and copy the archive here`;
  const actual = sha256File(file);
  if (actual !== sha256) return `${file} has SHA-256 ${actual}, not the pinned ${sha256}: a different or corrupted download; fetch it again`;
  return undefined;
}

/** The archive's line in a release's SHASUMS256.txt: its SHA-256, or undefined when the release lists no such file. */
export function sha256FromShasums(shasums: string, fileName: string): string | undefined {
  for (const line of shasums.split(/\r?\n/)) {
    const m = /^([0-9a-f]{64})\s+\*?(\S+)$/.exec(line.trim());
    if (m && m[2] === fileName) return m[1];
  }
  return undefined;
}
