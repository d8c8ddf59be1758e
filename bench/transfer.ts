/**
 * Transfer benchmark: download and upload of a ~1 GiB folder (201 files, four large ones) through
 * the local S3 emulator (fauxqs, in a child process so it does not share the client's event loop),
 * on two links, for three clients in the same run:
 * - links: **loopback** (straight to the emulator) and the **S3-like link** (bench/support/s3-link.ts,
 *   in its own process: 87.5 MB/s per connection and 30 ms to the first byte of each response, from
 *   AWS's S3 performance guidelines; see docs/transfer.md);
 * - spotq: worker/transfer.ts with its defaults;
 * - s3-sync-client: the `aws s3 sync` port for Node;
 * - plain loop: one GET or PUT per file with the same concurrency, no ranged GETs; a file over the
 *   part size goes up as a multipart upload whose parts are sent one after another (fauxqs refuses
 *   request bodies over 11 MiB, so a single PUT cannot carry it).
 *
 *   npm run bench:transfer                       # 1 GiB, 5 rounds, both links, about 10 minutes
 *   BENCH_MIB=256 BENCH_ROUNDS=1 npm run bench:transfer
 *
 * Knobs: BENCH_ROUNDS, BENCH_MIB, BENCH_CONCURRENCY (every client), BENCH_LINKS=loopback,s3,
 * BENCH_ONLY=spotq,s3-sync,plain (which clients run), BENCH_SPOTQ_OPTIONS='{"rangeSizeBytes":8388608}'
 * (spotq's TransferOptions for a tuning run), BENCH_SPOTQ_ALT=<module path> (adds a row for another
 * FolderTransfer, e.g. an older copy, beside the current one), BENCH_LATENCY_MS and
 * BENCH_LINK_MBPS (the S3-like link's profile), BENCH_DIRECTIONS=down,up.
 *
 * Method: every round runs every link and every client, in an order rotated each round; the page
 * cache is flushed (`sync`) before each timed run. Each client's time is divided by the baselines'
 * times of the same round and link, and the table gives the median of those per-round ratios with
 * their min–max, which the shared machine's changing load affects far less than the raw times.
 */
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { Agent as HttpAgent } from "node:http";
import { spawn, spawnSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { createReadStream, createWriteStream, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { S3SyncClient } from "s3-sync-client";
import { AwsClients } from "../aws/clients.ts";
import { forEachBounded } from "../worker/bounded-pool.ts";
import { DEFAULT_TRANSFER_OPTIONS, FolderTransfer, type TransferOptions } from "../worker/transfer.ts";
import { LOOPBACK_LINK, S3_LIKE_LINK, startLinkProcess, type LinkProfile, type LinkStats } from "./support/s3-link.ts";

/** The baselines' part size: the AWS CLI's 8 MiB, under the 11 MiB request body fauxqs accepts. */
const PLAIN_PART_SIZE = 8 * 1024 * 1024;

const MiB = 1024 * 1024;
const BUCKET = "bench";
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? DEFAULT_TRANSFER_OPTIONS.concurrency);
/** spotq's options for this run (tuning); the other clients keep theirs. */
const SPOTQ_OPTIONS = JSON.parse(process.env.BENCH_SPOTQ_OPTIONS ?? "{}") as Partial<TransferOptions>;
/** Which clients run (names' first words), for tuning runs. */
const ONLY = process.env.BENCH_ONLY?.split(",");
const DIRECTIONS = (process.env.BENCH_DIRECTIONS ?? "down,up").split(",").filter((d): d is "down" | "up" => d === "down" || d === "up");

const S3_LINK: LinkProfile = {
  ...S3_LIKE_LINK,
  name: "S3-like",
  firstByteLatencyMs: Number(process.env.BENCH_LATENCY_MS ?? S3_LIKE_LINK.firstByteLatencyMs),
  bytesPerSecondPerConnection: Number(process.env.BENCH_LINK_MBPS ?? S3_LIKE_LINK.bytesPerSecondPerConnection! / 1e6) * 1e6,
};
const LINKS = (process.env.BENCH_LINKS ?? "loopback,s3").split(",");

interface Client {
  name: string;
  /** A baseline: the others' times are divided by its time. */
  baseline?: "sync" | "plain";
  download(s3: S3Client, prefix: string, dir: string): Promise<void>;
  upload(s3: S3Client, dir: string, prefix: string): Promise<void>;
}

/** spotq's client row for a FolderTransfer class (the current one, or BENCH_SPOTQ_ALT's). */
function spotqClient(name: string, Transfer: typeof FolderTransfer, options: Partial<TransferOptions>): Client {
  return {
    name,
    async download(s3, prefix, dir) {
      await new Transfer(s3, { ...options, reserveBytes: 0 }).download({ bucket: BUCKET, prefix, dir, platform: "posix" });
    },
    async upload(s3, dir, prefix) {
      await new Transfer(s3, options).upload({ bucket: BUCKET, prefix, dir });
    },
  };
}

const ALL_CLIENTS: Client[] = [
  spotqClient("spotq (worker/transfer.ts)", FolderTransfer, SPOTQ_OPTIONS),
  {
    name: "s3-sync-client",
    baseline: "sync",
    async download(s3, prefix, dir) {
      await new S3SyncClient({ client: s3 }).sync(`s3://${BUCKET}/${prefix}`, dir, { maxConcurrentTransfers: CONCURRENCY });
    },
    async upload(s3, dir, prefix) {
      await new S3SyncClient({ client: s3 }).sync(dir, `s3://${BUCKET}/${prefix}`, {
        maxConcurrentTransfers: CONCURRENCY,
        partSize: PLAIN_PART_SIZE,
      });
    },
  },
  {
    name: "plain parallel GET/PUT loop",
    baseline: "plain",
    async download(s3, prefix, dir) {
      const keys = await listKeys(s3, prefix);
      await forEachBounded(keys, CONCURRENCY, async (key) => {
        const file = path.join(dir, key.slice(prefix.length + 1));
        await mkdir(path.dirname(file), { recursive: true });
        const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
        await pipeline(r.Body as Readable, createWriteStream(file));
      });
    },
    async upload(s3, dir, prefix) {
      const files = await walk(dir);
      const partSize = PLAIN_PART_SIZE;
      await forEachBounded(files, CONCURRENCY, async (f) => {
        const file = path.join(dir, f);
        const size = (await stat(file)).size;
        const Key = `${prefix}/${f}`;
        if (size <= partSize) {
          await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: createReadStream(file), ContentLength: size }));
          return;
        }
        const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key }));
        const Parts: { ETag: string; PartNumber: number }[] = [];
        for (let start = 0, n = 1; start < size; start += partSize, n++) {
          const end = Math.min(size, start + partSize) - 1;
          const r = await s3.send(
            new UploadPartCommand({ Bucket: BUCKET, Key, UploadId, PartNumber: n, Body: createReadStream(file, { start, end }), ContentLength: end - start + 1 }),
          );
          Parts.push({ ETag: r.ETag!, PartNumber: n });
        }
        await s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key, UploadId, MultipartUpload: { Parts } }));
      });
    },
  },
];

interface Sample {
  link: string;
  client: string;
  round: number;
  down?: number;
  up?: number;
  /** CPU seconds of the client, the emulator and the link together, per direction. */
  downCpu?: number;
  upCpu?: number;
}

/**
 * CPU seconds used so far by this process and the given child processes (Linux: /proc/<pid>/stat),
 * so a table can show what a transfer cost besides how long it took on a shared machine.
 */
function cpuSeconds(pids: number[]): number {
  const self = process.cpuUsage();
  let total = (self.user + self.system) / 1e6;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      total += (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    } catch {
      return NaN;
    }
  }
  return total;
}
const CLOCK_TICKS = process.platform === "linux" ? Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim()) || 100 : 100;

async function main(): Promise<void> {
  const totalMiB = Number(process.env.BENCH_MIB ?? 1024);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const clients = ALL_CLIENTS.filter((c) => !ONLY || ONLY.some((o) => c.name.startsWith(o)));
  if (process.env.BENCH_SPOTQ_ALT) {
    const alt = (await import(path.resolve(process.env.BENCH_SPOTQ_ALT))) as { FolderTransfer: typeof FolderTransfer };
    clients.splice(1, 0, spotqClient(`spotq (${path.basename(process.env.BENCH_SPOTQ_ALT)})`, alt.FolderTransfer, {}));
  }
  const emulator = await startEmulatorProcess();
  const stops: (() => Promise<void>)[] = [() => emulator.stop()];
  const links: { profile: LinkProfile; url: string; pids: number[]; stats?: () => LinkStats }[] = [];
  if (LINKS.includes("loopback")) links.push({ profile: LOOPBACK_LINK, url: emulator.url, pids: [emulator.pid] });
  if (LINKS.includes("s3")) {
    const link = await startLinkProcess(emulator.url, S3_LINK);
    stops.unshift(() => link.close());
    links.push({ profile: S3_LINK, url: link.url, pids: [emulator.pid, link.pid], stats: () => link.stats() });
  }
  const work = await mkdtemp(path.join(os.tmpdir(), "spotq-bench-"));
  const load0 = os.loadavg();
  try {
    const source = path.join(work, "source");
    const files = await generateFolder(source, totalMiB * MiB);
    const bytes = files.reduce((n, f) => n + f.size, 0);
    const large = files.filter((f) => f.size > PLAIN_PART_SIZE);
    const folder = `${files.length} files, ${(bytes / MiB).toFixed(0)} MiB (${large.length} above 8 MiB, the largest ${(Math.max(...files.map((f) => f.size)) / MiB).toFixed(0)} MiB)`;
    console.error(`folder: ${folder}`);
    const setup = new AwsClients({ region: "us-east-1", endpoints: { s3: emulator.url } });
    await setup.s3().send(new CreateBucketCommand({ Bucket: BUCKET }));
    await new FolderTransfer(setup.s3()).upload({ bucket: BUCKET, prefix: "src", dir: source });

    // Warm-up, not timed: each client moves one small subfolder once over each link, so module
    // loading, JIT and the first connections do not land on whichever client happens to run first.
    for (const link of links)
      for (const c of clients) {
        const { s3, destroy } = benchS3(link.url);
        await c.download(s3, "src/frames/0", path.join(work, "warm"));
        await c.upload(s3, path.join(work, "warm"), "warm");
        await deletePrefix(s3, "warm");
        await rm(path.join(work, "warm"), { recursive: true, force: true });
        destroy();
      }

    const samples: Sample[] = [];
    const failures: string[] = [];
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round so no link or client always runs first (cold) or last; the
      // clients of one link and direction run back to back, so a ratio compares neighbours in time.
      const linkOrder = links.map((_, i) => links[(i + round) % links.length]!);
      for (const link of linkOrder) {
        const order = clients.map((_, i) => clients[(i + round) % clients.length]!);
        const inRound = new Map(order.map((c) => [c.name, { link: link.profile.name, client: c.name, round } as Sample]));
        for (const direction of DIRECTIONS)
          for (const c of order) {
            const { s3, destroy } = benchS3(link.url);
            const sample = inRound.get(c.name)!;
            const dir = path.join(work, `down-${round}`);
            const prefix = `up/${round}`;
            settleDisk();
            const cpu = cpuSeconds(link.pids);
            const t = performance.now();
            try {
              // A hung library promise must not hang the whole run.
              await within(direction === "down" ? c.download(s3, "src", dir) : c.upload(s3, source, prefix), RUN_LIMIT_MS);
              const seconds = (performance.now() - t) / 1000;
              const used = cpuSeconds(link.pids) - cpu;
              if (direction === "down") {
                [sample.down, sample.downCpu] = [seconds, used];
                await verifyFolder(dir, files);
              } else {
                [sample.up, sample.upCpu] = [seconds, used];
                await verifyPrefix(s3, prefix, files);
              }
              console.error(
                `round ${round + 1}/${rounds} ${link.profile.name} ${direction === "down" ? "download" : "upload"} ${c.name}: ${seconds.toFixed(2)} s, CPU ${used.toFixed(2)} s (load ${os.loadavg()[0]!.toFixed(1)})`,
              );
            } catch (err) {
              // Counted as a failed run (left out of the medians and of that round's ratios), not hidden.
              if (direction === "down") [sample.down, sample.downCpu] = [NaN, NaN];
              else [sample.up, sample.upCpu] = [NaN, NaN];
              failures.push(`round ${round + 1} ${link.profile.name} ${direction} ${c.name}: ${(err as Error).message}`);
              console.error(`round ${round + 1}/${rounds} ${link.profile.name} ${direction} ${c.name}: FAILED: ${(err as Error).message}`);
            } finally {
              await rm(dir, { recursive: true, force: true });
              await deletePrefix(s3, prefix).catch(() => undefined);
              destroy();
            }
          }
        samples.push(...inRound.values());
      }
    }
    setup.destroy();
    const load1 = os.loadavg();

    const mib = bytes / MiB;
    const linkText = links
      .map((l) =>
        l.profile.bytesPerSecondPerConnection
          ? `${l.profile.name}: a proxy capping each connection at ${l.profile.bytesPerSecondPerConnection / 1e6} MB/s each way and holding each response's first byte ${l.profile.firstByteLatencyMs} ms`
          : `${l.profile.name}: straight to the emulator`,
      )
      .join("; ");
    console.log(
      `\nLinks: ${linkText}. ${folder}; ${CONCURRENCY} requests in flight for every client; median of ${rounds} rounds [min–max]; ratios are each client's time over the baseline's in the same round and link (median of the per-round ratios [min–max]); CPU s: median CPU time of the client, the emulator and the link together; ${os.cpus().length} shared CPUs (load ${load0[0]!.toFixed(1)} → ${load1[0]!.toFixed(1)}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}` +
        (Object.keys(SPOTQ_OPTIONS).length ? `; spotq options ${JSON.stringify(SPOTQ_OPTIONS)}` : ""),
    );
    for (const dir of DIRECTIONS) {
      console.log(`\n**${dir === "down" ? "Download" : "Upload"}**\n`);
      console.log("| link | client | time s | MiB/s | CPU s | time vs s3-sync-client | time vs plain loop |");
      console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
      for (const link of links)
        for (const c of clients) {
          const mine = samples.filter((s) => s.link === link.profile.name && s.client === c.name && Number.isFinite(s[dir]));
          const times = mine.map((s) => s[dir]!);
          const ratio = (baseline: "sync" | "plain") => {
            const b = clients.find((x) => x.baseline === baseline);
            if (!b) return "–";
            if (b === c) return "1.00";
            const rs = mine
              .map((s) => s[dir]! / (samples.find((x) => x.link === s.link && x.client === b.name && x.round === s.round)?.[dir] ?? NaN))
              .filter(Number.isFinite);
            return rs.length ? spreadText(rs, 2) : "–";
          };
          const cpu = mine.map((s) => (dir === "down" ? s.downCpu : s.upCpu)!);
          const n = mine.length < rounds ? ` (${mine.length} of ${rounds} rounds)` : "";
          console.log(
            times.length
              ? `| ${link.profile.name} | ${c.name}${n} | ${spreadText(times, 2)} | ${(mib / median(times)).toFixed(0)} | ${median(cpu).toFixed(1)} | ${ratio("sync")} | ${ratio("plain")} |`
              : `| ${link.profile.name} | ${c.name} | failed every round | | | | |`,
          );
        }
    }
    if (failures.length) console.log(`\nFailed runs (left out above):\n${failures.map((f) => `- ${f}`).join("\n")}`);
    for (const link of links) if (link.stats) console.error(`${link.profile.name}: ${JSON.stringify(link.stats())}`);
  } finally {
    await rm(work, { recursive: true, force: true });
    for (const stop of stops) await stop();
  }
}

/** A timed run that has not ended after this long is counted as failed. */
const RUN_LIMIT_MS = 10 * 60_000;

/**
 * The S3 client every benchmarked client gets: the worker's settings (aws/clients.ts: keep-alive
 * pool of 64, 5 min request timeout), but 60 s to connect instead of 5, for all alike: on a loaded
 * shared machine a client's event loop can stall past 5 s, and that is not what is measured.
 */
function benchS3(url: string): { s3: S3Client; destroy(): void } {
  const base = new AwsClients({ region: "us-east-1", endpoints: { s3: url } }).config("s3");
  const s3 = new S3Client({
    ...base,
    forcePathStyle: true,
    requestHandler: new NodeHttpHandler({ httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }), connectionTimeout: 60_000, requestTimeout: 300_000 }),
  });
  return { s3, destroy: () => s3.destroy() };
}

async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not done after ${ms / 1000} s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** `1.23 [1.10–1.40]`: the median and the range. */
function spreadText(xs: number[], digits: number): string {
  if (xs.length === 1) return xs[0]!.toFixed(digits);
  return `${median(xs).toFixed(digits)} [${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}]`;
}

/** ~`total` bytes in about 200 files: four large ones (the Medit scans) and many small and medium ones. */
async function generateFolder(root: string, total: number): Promise<{ rel: string; size: number }[]> {
  const large = [0.16, 0.125, 0.11, 0.1].map((share) => Math.round(total * share));
  const rest = total - large.reduce((a, b) => a + b, 0);
  const count = 196;
  // Sizes from ~40 KiB to ~10 MiB (log-spread), scaled so they add up to the rest.
  let rnd = 42;
  const next = () => ((rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const raw = Array.from({ length: count }, () => Math.exp(Math.log(40 * 1024) + next() * Math.log(256)));
  const scale = rest / raw.reduce((a, b) => a + b, 0);
  const sizes = [...large, ...raw.map((r) => Math.max(1, Math.round(r * scale)))];
  const out: { rel: string; size: number }[] = [];
  const chunk = Buffer.allocUnsafe(4 * MiB);
  for (const [i, size] of sizes.entries()) {
    const rel = i < large.length ? `scan-${i}.bin` : `frames/${String(i % 8)}/frame-${String(i).padStart(4, "0")}.dat`;
    const file = path.join(root, ...rel.split("/"));
    await mkdir(path.dirname(file), { recursive: true });
    const ws = createWriteStream(file);
    for (let left = size; left > 0; left -= chunk.length) {
      const n = Math.min(left, chunk.length);
      randomFillSync(chunk, 0, n);
      if (!ws.write(Buffer.from(chunk.subarray(0, n)))) await new Promise<void>((r) => ws.once("drain", () => r()));
    }
    await new Promise<void>((resolve, reject) => ws.end((err?: Error | null) => (err ? reject(err) : resolve())));
    out.push({ rel, size });
  }
  await writeFile(path.join(root, "README.txt"), "bench folder\n");
  out.push({ rel: "README.txt", size: 13 });
  return out;
}

async function verifyFolder(dir: string, files: { rel: string; size: number }[]): Promise<void> {
  for (const f of files) {
    const size = (await stat(path.join(dir, ...f.rel.split("/")))).size;
    if (size !== f.size) throw new Error(`download check: ${f.rel} has ${size} bytes, expected ${f.size}`);
  }
}

async function verifyPrefix(s3: S3Client, prefix: string, files: { rel: string; size: number }[]): Promise<void> {
  const sizes = new Map<string, number>();
  let token: string | undefined;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/`, ContinuationToken: token }));
    for (const o of r.Contents ?? []) sizes.set(o.Key!, o.Size ?? 0);
    token = r.NextContinuationToken;
  } while (token);
  for (const f of files)
    if (sizes.get(`${prefix}/${f.rel}`) !== f.size) throw new Error(`upload check: ${prefix}/${f.rel} is ${sizes.get(`${prefix}/${f.rel}`)} bytes, expected ${f.size}`);
}

async function listKeys(s3: S3Client, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/`, ContinuationToken: token }));
    for (const o of r.Contents ?? []) keys.push(o.Key!);
    token = r.NextContinuationToken;
  } while (token);
  return keys;
}

async function deletePrefix(s3: S3Client, prefix: string): Promise<void> {
  const keys = await listKeys(s3, prefix);
  for (let i = 0; i < keys.length; i += 1000)
    await s3.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) } }));
}

async function walk(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(root, r)));
    else out.push(r);
  }
  return out;
}

/**
 * Flushes dirty pages to disk before a timed run, so no client pays for the write-back of the
 * previous one (which otherwise decides who looks faster more than the client does).
 */
function settleDisk(): void {
  if (process.platform !== "win32") spawnSync("sync");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** fauxqs in a child process (this same file with --serve-s3); closing its stdin stops it. */
async function startEmulatorProcess(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--serve-s3"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the emulator process exited with code ${code} before listening`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const m = /^PORT (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.stdin!.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

if (process.argv.includes("--serve-s3")) {
  // Child mode: the emulator alone in its own process.
  const { startFauxqs } = await import("fauxqs");
  const server = await startFauxqs({ port: 0, host: "127.0.0.1", logger: false });
  process.stdout.write(`PORT ${server.port}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => void server.stop().then(() => process.exit(0)));
} else {
  // A library's lost promise (seen from s3-sync-client under heavy load) is reported, not fatal:
  // the run it belongs to fails through RUN_LIMIT_MS or its own error.
  process.on("unhandledRejection", (err) => console.error(`unhandled rejection: ${(err as Error)?.message ?? String(err)}`));
  await main();
}
