import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

/** One file of the sample scan folder. */
export interface SampleFile {
  /** Path relative to the folder, with forward slashes (as in S3 keys). */
  relativePath: string;
  size: number;
  sha256: string;
}

/**
 * Writes a small, deterministic stand-in for an iScan folder (a few binary "scan" files and a
 * JSON sidecar) so the demo and the tests have real bytes to move. Same seed, same bytes.
 */
export function writeSampleScan(dir: string, options: { files?: number; bytesPerFile?: number; seed?: string } = {}): SampleFile[] {
  const files = options.files ?? 4;
  const size = options.bytesPerFile ?? 1024 * 1024;
  const seed = options.seed ?? "spotq-demo";
  const out: SampleFile[] = [];
  mkdirSync(path.join(dir, "raw"), { recursive: true });
  for (let i = 1; i <= files; i++) {
    const rel = `raw/scan-${String(i).padStart(4, "0")}.bin`;
    const body = seededBytes(`${seed}/${rel}`, size);
    writeFileSync(path.join(dir, rel), body);
    out.push({ relativePath: rel, size: body.length, sha256: sha256(body) });
  }
  const meta = Buffer.from(`${JSON.stringify({ scanner: "Medit i700 (sample)", seed, files }, null, 2)}\n`);
  writeFileSync(path.join(dir, "scan-info.json"), meta);
  out.push({ relativePath: "scan-info.json", size: meta.length, sha256: sha256(meta) });
  return out.sort((a, b) => a.relativePath.localeCompare(b.relativePath));
}

/** Deterministic bytes from a seed (a sha256 chain): the same seed always gives the same content. */
export function seededBytes(seed: string, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let block = createHash("sha256").update(seed).digest();
  for (let off = 0; off < size; off += block.length) {
    block.copy(buf, off, 0, Math.min(block.length, size - off));
    block = createHash("sha256").update(block).digest();
  }
  return buf;
}

function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

/** The sample scan every local stack serves, so the first submit has a real folder to name. */
export const SAMPLE_SCAN = { name: "scan-4711", folder: "sample-scan" } as const;

/**
 * Where the sample lives in the bucket and where its results go: under the config's first
 * source/target prefix when it confines jobs; with tenants, under the local tenant's first prefix
 * (a tenant may submit only there).
 */
export function sampleLocations(
  storage: { sourcePrefixes: readonly string[]; targetPrefixes: readonly string[] },
  tenant?: { prefixes: readonly string[] },
): { source: string; target: string } {
  if (tenant) return { source: `${tenant.prefixes[0]}samples/${SAMPLE_SCAN.name}`, target: `${tenant.prefixes[0]}results/${SAMPLE_SCAN.name}` };
  return {
    source: `${storage.sourcePrefixes[0] ?? ""}samples/${SAMPLE_SCAN.name}`,
    target: `${storage.targetPrefixes[0] ?? "results/"}${SAMPLE_SCAN.name}`,
  };
}

/**
 * The tenant the local stack's demo and printed examples act as, when the config has tenants: the
 * first one with an API key (the local API checks `x-api-key`).
 */
export function localTenant(config: { api: { tenants: readonly { name: string; apiKey?: string | undefined; prefixes: readonly string[] }[] } }) {
  return config.api.tenants.find((t) => t.apiKey !== undefined) as { name: string; apiKey: string; prefixes: readonly string[] } | undefined;
}

/** A local folder and its S3 upload: which objects exist under a prefix, and how to upload a folder there. */
export interface SampleUploader {
  list(bucket: string, prefix: string): Promise<{ key: string; size: number }[]>;
  upload(req: { dir: string; bucket: string; prefix: string }): Promise<unknown>;
}

/**
 * Makes sure the sample scan is there: on disk in `<stack folder>/sample-scan` (for `spotq upload`)
 * and in the bucket (for a first `POST /jobs`). Both are deterministic, so what is already there is
 * kept; only what is missing or differs in size is written.
 */
export async function seedSampleScan(o: { dir: string; bucket: string; prefix: string; transfer: SampleUploader }): Promise<{ folder: string; files: SampleFile[] }> {
  const folder = path.join(o.dir, SAMPLE_SCAN.folder);
  const files = writeSampleScan(folder, { files: 4, bytesPerFile: 256 * 1024, seed: SAMPLE_SCAN.name });
  const there = new Map((await o.transfer.list(o.bucket, o.prefix)).map((r) => [r.key, r.size]));
  if (files.some((f) => there.get(`${o.prefix}/${f.relativePath}`) !== f.size)) await o.transfer.upload({ dir: folder, bucket: o.bucket, prefix: o.prefix });
  return { folder, files };
}
