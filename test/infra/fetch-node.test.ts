import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fetchNode } from "../../infra/fetch-node.ts";
import { nodeArchivePath, nodeArchiveProblem } from "../../infra/node-archive.ts";
import { testConfig } from "./support/synth.ts";

const projectRoot = fileURLToPath(new URL("../../", import.meta.url));
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

/** A stand-in for nodejs.org/dist with one release of small fake archives. */
function fakeDist(files: Record<string, Buffer | string>): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? "");
    const body = files[req.url ?? ""];
    if (body === undefined) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200).end(body);
  });
  return new Promise((done) => server.listen(0, "127.0.0.1", () => done({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/dist`, server, requests })));
}

describe("infra/fetch-node (npm run fetch:node): a pinned, checksummed Node.js for the workers", () => {
  const zip = Buffer.from("PK fake win-x64 zip of Node.js 24.11.1");
  const tgz = Buffer.from("fake linux-x64 tarball of Node.js 24.11.1");
  const shasums = `${sha(tgz)}  node-v24.11.1-linux-x64.tar.gz\n${sha(zip)}  node-v24.11.1-win-x64.zip\n${"0".repeat(64)}  node-v24.11.1-darwin-arm64.tar.gz\n`;
  let dist: Awaited<ReturnType<typeof fakeDist>>;
  before(async () => {
    dist = await fakeDist({
      "/dist/v24.11.1/SHASUMS256.txt": shasums,
      "/dist/v24.11.1/node-v24.11.1-win-x64.zip": zip,
      "/dist/v24.11.1/node-v24.11.1-linux-x64.tar.gz": Buffer.concat([tgz, Buffer.from("tampered")]),
      "/dist/latest-v24.x/SHASUMS256.txt": shasums,
    });
  });
  after(() => dist.server.close());

  it("downloads the release's archive for the fleet's platform into vendor/node/, checked, and prints what to pin", async () => {
    const baseDir = mkdtempSync(join(tmpdir(), "spotq-fetch-"));
    const config = testConfig();
    const fetched = await fetchNode({ config, baseDir, dist: dist.url });
    assert.equal(fetched.version, "24.11.1", "the newest release of fleet.nodeMajor");
    assert.equal(fetched.file, join(baseDir, "vendor/node/node-v24.11.1-win-x64.zip"));
    assert.deepEqual(readFileSync(fetched.file), zip);
    assert.equal(fetched.sha256, sha(zip));
    assert.deepEqual(JSON.parse(fetched.snippet), { fleet: { nodeMajor: 24, artifacts: { node: { version: "24.11.1", sha256: sha(zip) } } } });
    // What synth then finds and accepts for a config pinned with that snippet, next to the file.
    const pinned = testConfig({ fleet: { artifacts: { node: { version: "24.11.1", sha256: fetched.sha256 } } } });
    assert.equal(nodeArchivePath(pinned, baseDir), fetched.file);
    assert.equal(nodeArchiveProblem(fetched.file, fetched.sha256), undefined);
  });

  it("refuses an archive that does not match SHASUMS256.txt, and leaves nothing behind", async () => {
    const baseDir = mkdtempSync(join(tmpdir(), "spotq-fetch-"));
    const linux = testConfig({ fleet: { platform: "linux", bootSeconds: 90 } });
    await assert.rejects(fetchNode({ config: linux, baseDir, dist: dist.url, version: "24.11.1" }), /node-v24\.11\.1-linux-x64\.tar\.gz has SHA-256 [0-9a-f]{64}, but the release's SHASUMS256\.txt says [0-9a-f]{64}: not stored/);
    assert.deepEqual(readdirSync(join(baseDir, "vendor/node")), []);
  });

  it("names a release or archive nodejs.org does not have", async () => {
    const baseDir = mkdtempSync(join(tmpdir(), "spotq-fetch-"));
    await assert.rejects(fetchNode({ config: testConfig(), baseDir, dist: dist.url, version: "24.99.0" }), /GET .*\/v24\.99\.0\/SHASUMS256\.txt: 404/);
    await assert.rejects(fetchNode({ config: testConfig(), baseDir, dist: dist.url, version: "24.11.1", arch: "arm64" }), /SHASUMS256\.txt lists no node-v24\.11\.1-win-arm64\.zip/);
  });

  it("runs as npm run fetch:node, storing the archive next to the config and printing the config to pin on stdout", async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), "spotq-fetch-cli-"));
    const configFile = join(dir, "spotq.config.json");
    writeFileSync(configFile, JSON.stringify({ fleet: { nodeMajor: 24 } }));
    const child = spawn("npm", ["run", "--silent", "fetch:node", "--", "--config", configFile, "--dist", dist.url], { cwd: projectRoot });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const [code] = (await once(child, "exit")) as [number];
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout), { fleet: { nodeMajor: 24, artifacts: { node: { version: "24.11.1", sha256: sha(zip) } } } });
    assert.match(stderr, /spotq: stored .*vendor\/node\/node-v24\.11\.1-win-x64\.zip \(SHA-256 [0-9a-f]{64}, checked against the release's SHASUMS256\.txt\)/);
    assert.deepEqual(readFileSync(join(dir, "vendor/node/node-v24.11.1-win-x64.zip")), zip);
  });
});
