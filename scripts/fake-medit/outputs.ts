import { createHash } from "node:crypto";

/** One input file as the manifest lists it. */
export interface ManifestEntry {
  /** Path relative to the source folder, `/`-separated on every platform. */
  path: string;
  size: number;
  sha256: string;
}

/** `manifest.json`: every input file, sorted by path, with the totals. */
export interface Manifest {
  files: ManifestEntry[];
  count: number;
  bytes: number;
}

/** Names of the files fake-medit writes into the target folder. */
export const OUTPUT_FILES = {
  manifest: "manifest.json",
  result: "result.bin",
  /** Copies of the inputs when `Save Source To Result Folder` is true, under this folder. */
  sourceCopy: "source",
  /** Written by the `hang` behaviour: the pid of the helper process it started. */
  helperPid: "helper.pid",
} as const;

/** The manifest of a set of files: sorted by path (code-point order), so it is the same on every run and platform. */
export function buildManifest(entries: readonly ManifestEntry[]): Manifest {
  const files = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, count: files.length, bytes: files.reduce((n, f) => n + f.size, 0) };
}

/** The manifest file's exact bytes. */
export function renderManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/**
 * The "processed" output: a sha256 chain over the manifest (each step hashes the previous digest,
 * the path and the file's digest). 32 bytes that change if any input byte, name or the file set changes.
 */
export function resultDigest(manifest: Manifest): Buffer {
  let digest = createHash("sha256").update("fake-medit/1").digest();
  for (const f of manifest.files) {
    digest = createHash("sha256").update(digest).update(f.path).update("\0").update(f.sha256, "hex").digest();
  }
  return digest;
}

/** What fake-medit writes for a folder of inputs given in memory (what a test uploaded), by output path. */
export function expectedOutputs(inputs: ReadonlyMap<string, Buffer>, options: { saveSource?: boolean } = {}): Map<string, Buffer> {
  const manifest = buildManifest(
    [...inputs].map(([path, body]) => ({ path, size: body.length, sha256: createHash("sha256").update(body).digest("hex") })),
  );
  const out = new Map<string, Buffer>([
    [OUTPUT_FILES.manifest, Buffer.from(renderManifest(manifest))],
    [OUTPUT_FILES.result, resultDigest(manifest)],
  ]);
  if (options.saveSource) for (const [path, body] of inputs) out.set(`${OUTPUT_FILES.sourceCopy}/${path}`, body);
  return out;
}
