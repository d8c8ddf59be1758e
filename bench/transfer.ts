/**
 * Transfer benchmark: download and upload of a ~1 GiB folder (about 200 files, a few large ones)
 * through the local S3 emulator (fauxqs, run in a child process so it does not share the client's
 * event loop), for three clients in the same run:
 * - spotq: worker/transfer.ts (bounded parallel requests, ranged GETs and multipart for large files);
 * - s3-sync-client: the `aws s3 sync` port for Node;
 * - plain loop: one GET or PUT per file with the same concurrency, no ranged GETs; a file over the
 *   part size goes up as a multipart upload whose parts are sent one after another (fauxqs refuses
 *   request bodies over 11 MiB, so a single PUT cannot carry it). The floor.
 *
 *   npm run bench:transfer            # 1 GiB, 7 rounds, about 4 minutes
 *   BENCH_MIB=256 BENCH_ROUNDS=1 npm run bench:transfer
 *
 * Tuning knobs: BENCH_CONCURRENCY (every client), BENCH_SPOTQ_CONCURRENCY and BENCH_SPOTQ_RANGE_MIB
 * (spotq only), BENCH_ONLY=spotq,s3-sync (which clients run).
 * Before each timed run the page cache is flushed (`sync`), so no client pays for another's writes.
 * Prints a markdown table: medians over the rounds, and each client's time over s3-sync-client's in
 * the same round (median of those ratios), which the machine's changing load affects less.
 */
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { spawn, spawnSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
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
import { FolderTransfer, DEFAULT_TRANSFER_OPTIONS } from "../worker/transfer.ts";

const MiB = 1024 * 1024;
const BUCKET = "bench";
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? DEFAULT_TRANSFER_OPTIONS.concurrency);
/** spotq's own concurrency for this run (tuning); the other clients keep CONCURRENCY. */
const SPOTQ_CONCURRENCY = Number(process.env.BENCH_SPOTQ_CONCURRENCY ?? CONCURRENCY);
/** spotq's ranged-GET size for this run (tuning); the other clients keep theirs. */
const SPOTQ_RANGE = Number(process.env.BENCH_SPOTQ_RANGE_MIB ?? DEFAULT_TRANSFER_OPTIONS.rangeSizeBytes / (1024 * 1024)) * 1024 * 1024;
/** Which clients run (comma-separated names' first words), for tuning runs. */
const ONLY = process.env.BENCH_ONLY?.split(",");


interface Client {
  name: string;
  download(s3: S3Client, prefix: string, dir: string): Promise<void>;
  upload(s3: S3Client, dir: string, prefix: string): Promise<void>;
}

const ALL_CLIENTS: Client[] = [
  {
    name: "spotq (worker/transfer.ts)",
    async download(s3, prefix, dir) {
      await new FolderTransfer(s3, { reserveBytes: 0, concurrency: SPOTQ_CONCURRENCY, rangeSizeBytes: SPOTQ_RANGE }).download({
        bucket: BUCKET,
        prefix,
        dir,
        platform: "posix",
      });
    },
    async upload(s3, dir, prefix) {
      await new FolderTransfer(s3, { concurrency: SPOTQ_CONCURRENCY }).upload({ bucket: BUCKET, prefix, dir });
    },
  },
  {
    name: "s3-sync-client",
    async download(s3, prefix, dir) {
      await new S3SyncClient({ client: s3 }).sync(`s3://${BUCKET}/${prefix}`, dir, { maxConcurrentTransfers: CONCURRENCY });
    },
    async upload(s3, dir, prefix) {
      await new S3SyncClient({ client: s3 }).sync(dir, `s3://${BUCKET}/${prefix}`, {
        maxConcurrentTransfers: CONCURRENCY,
        partSize: DEFAULT_TRANSFER_OPTIONS.partSizeBytes,
      });
    },
  },
  {
    name: "plain parallel GET/PUT (floor)",
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
      const partSize = DEFAULT_TRANSFER_OPTIONS.partSizeBytes;
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

const clients = ALL_CLIENTS.filter((c) => !ONLY || ONLY.some((o) => c.name.startsWith(o)));

async function main(): Promise<void> {
  const totalMiB = Number(process.env.BENCH_MIB ?? 1024);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
  const emulator = await startEmulatorProcess();
  const work = await mkdtemp(path.join(os.tmpdir(), "spotq-bench-"));
  try {
    const source = path.join(work, "source");
    const files = await generateFolder(source, totalMiB * MiB);
    const bytes = files.reduce((n, f) => n + f.size, 0);
    const large = files.filter((f) => f.size > DEFAULT_TRANSFER_OPTIONS.partSizeBytes);
    console.error(
      `folder: ${files.length} files, ${(bytes / MiB).toFixed(0)} MiB, ${large.length} above the ${DEFAULT_TRANSFER_OPTIONS.partSizeBytes / MiB} MiB part size (largest ${(Math.max(...files.map((f) => f.size)) / MiB).toFixed(0)} MiB)`,
    );
    const setup = new AwsClients({ region: "us-east-1", endpoints: { s3: emulator.url } });
    await setup.s3().send(new CreateBucketCommand({ Bucket: BUCKET }));
    await new FolderTransfer(setup.s3()).upload({ bucket: BUCKET, prefix: "src", dir: source });

    // Warm-up, not timed: each client moves one small subfolder once, so module loading, JIT and
    // the first connections do not land on whichever client happens to run first.
    for (const c of clients) {
      const aws = new AwsClients({ region: "us-east-1", endpoints: { s3: emulator.url } });
      await c.download(aws.s3(), "src/frames/0", path.join(work, "warm"));
      await c.upload(aws.s3(), path.join(work, "warm"), "warm");
      await deletePrefix(aws.s3(), "warm");
      await rm(path.join(work, "warm"), { recursive: true, force: true });
      aws.destroy();
    }

    const results = new Map<string, { down: number[]; up: number[] }>(clients.map((c) => [c.name, { down: [], up: [] }]));
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round so no client always runs first (cold) or last.
      const order = clients.map((_, i) => clients[(i + round) % clients.length]!);
      for (const c of order) {
        const aws = new AwsClients({ region: "us-east-1", endpoints: { s3: emulator.url } });
        const s3 = aws.s3();
        const dir = path.join(work, `down-${round}`);
        settleDisk();
        let t = performance.now();
        await c.download(s3, "src", dir);
        const down = (performance.now() - t) / 1000;
        await verifyFolder(dir, files);
        await rm(dir, { recursive: true, force: true });

        const prefix = `up/${round}`;
        settleDisk();
        t = performance.now();
        await c.upload(s3, source, prefix);
        const up = (performance.now() - t) / 1000;
        await verifyPrefix(s3, prefix, files);
        await deletePrefix(s3, prefix);
        aws.destroy();
        results.get(c.name)!.down.push(down);
        results.get(c.name)!.up.push(up);
        console.error(`round ${round + 1}/${rounds} ${c.name}: download ${down.toFixed(2)} s, upload ${up.toFixed(2)} s`);
      }
    }
    setup.destroy();

    const mib = bytes / MiB;
    const sync = results.get(ALL_CLIENTS[1]!.name);
    // Each client's time over s3-sync-client's in the same round, median over rounds: robust to the
    // machine's load drifting during the run, which moves both clients of a round together.
    const pairedRatio = (mine: number[], theirs: number[] | undefined) =>
      theirs && theirs.length === mine.length ? median(mine.map((t, i) => t / theirs[i]!)) : undefined;
    const rows = clients.map((c) => {
      const r = results.get(c.name)!;
      return {
        name: c.name,
        down: median(r.down),
        up: median(r.up),
        downRatio: pairedRatio(r.down, sync?.down),
        upRatio: pairedRatio(r.up, sync?.up),
      };
    });
    const ratio = (x: number | undefined) => (x === undefined ? "–" : `${x.toFixed(2)}`);
    console.log(
      `\nTransfer of ${files.length} files, ${mib.toFixed(0)} MiB (${large.length} above the 8 MiB part size, the largest ${(Math.max(...files.map((f) => f.size)) / MiB).toFixed(0)} MiB) through fauxqs on loopback; ${CONCURRENCY} requests in flight for every client; median of ${rounds} rounds; ${os.cpus().length} CPUs, Node ${process.version}\n`,
    );
    console.log("| client | download s | download MiB/s | download time vs s3-sync-client | upload s | upload MiB/s | upload time vs s3-sync-client |");
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const r of rows)
      console.log(
        `| ${r.name} | ${r.down.toFixed(2)} | ${(mib / r.down).toFixed(0)} | ${ratio(r.downRatio)} | ${r.up.toFixed(2)} | ${(mib / r.up).toFixed(0)} | ${ratio(r.upRatio)} |`,
      );
    const spotq = rows.find((r) => r.name.startsWith("spotq"));
    // Compared at the table's precision: a ratio that shows as 1.00 is a tie.
    const verdict = (x: number) => (Number(x.toFixed(2)) <= 1 ? `no slower (${x.toFixed(2)} of its time)` : `SLOWER (${x.toFixed(2)}x its time)`);
    if (spotq?.downRatio !== undefined && spotq.upRatio !== undefined)
      console.log(`\nspotq vs s3-sync-client (median of per-round time ratios): download ${verdict(spotq.downRatio)}, upload ${verdict(spotq.upRatio)}`);
  } finally {
    await rm(work, { recursive: true, force: true });
    await emulator.stop();
  }
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
async function startEmulatorProcess(): Promise<{ url: string; stop(): Promise<void> }> {
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
  await main();
}
