import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { AwsClients } from "../../../aws/clients.ts";
import { parseS3Uri } from "../../../core/s3-uri.ts";
import { FolderTransfer, type RemoteObject } from "../../../worker/transfer.ts";
import { MARKER_FILE } from "../../../core/intake.ts";
import { markerToWrite, writeMarker, type MarkerWritten } from "./upload-marker.ts";
import { CliError } from "../cli-error.ts";
import { formatBytes } from "../format.ts";
import { ProgressBar } from "../progress-bar.ts";
import type { Target } from "../target.ts";

export interface UploadSummary {
  uploaded: number;
  skipped: number;
  bytesUploaded: number;
  /** The `spotq.json` written last (issue 10), and the job the trigger made of it, when found. */
  marker?: MarkerWritten;
}

/**
 * Uploads a local scan folder to `s3://bucket/folder` with the worker's transfer engine (parallel
 * requests, multipart for large files) and a progress bar. A re-run is resumable: a file whose
 * object is already there with the same size and the same ETag (MD5, or the multipart ETag for
 * the same part size) is skipped, so an interrupted upload only sends what is missing.
 */
export async function upload(
  target: Target,
  dir: string,
  destination: string,
  o: { concurrency?: number; tty?: boolean; write?: (s: string) => void; submit?: string; findJobMs?: number } = {},
): Promise<UploadSummary> {
  const dest = parseS3Uri(destination);
  if (!dest.ok) throw new CliError(`destination ${destination}: ${dest.reason}`, "use s3://bucket/folder");
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => err);
  if (info instanceof Error) {
    if (info.code === "ENOENT") throw new CliError(`${dir} does not exist (looked for ${path.resolve(dir)})`, "check the path; pass the scan folder to upload");
    throw new CliError(`cannot read ${dir}: ${info.message}`, "pass a scan folder you can read");
  }
  if (!info.isDirectory()) throw new CliError(`${dir} is a file, not a folder`, `pass the folder that holds it: ${path.dirname(dir)}`);
  // spotq.json submits its folder where a trigger watches: it must land after everything else.
  const marker = await markerToWrite(dir, o.submit);
  const clients = new AwsClients(target.aws);
  try {
    const transfer = new FolderTransfer(clients.s3(), o.concurrency ? { concurrency: o.concurrency } : {});
    const { bucket, prefix } = dest.value;
    let remote: Map<string, RemoteObject>;
    try {
      remote = new Map((await transfer.list(bucket, prefix)).map((r) => [r.key, r]));
    } catch (err) {
      throw new CliError(`cannot list s3://${bucket}/${prefix}: ${(err as Error).message}`, "check the bucket name and your AWS credentials (--profile, --region)");
    }
    let skipped = 0;
    const write = o.write ?? ((s: string) => process.stderr.write(s));
    const bar = new ProgressBar(`upload ${destination}`, { ...(o.tty !== undefined ? { tty: o.tty } : {}), write });
    const partSize = transfer.options.partSizeBytes;
    const result = await transfer.upload({
      dir,
      bucket,
      prefix,
      skip: async (f) => {
        if (marker && f.rel === MARKER_FILE) return true; // written last, below
        const existing = remote.get(`${prefix}/${f.rel}`);
        if (!existing || existing.size !== f.size || !existing.etag) return false;
        const same = (await localEtag(f.full, f.size, partSize)) === existing.etag.replace(/"/g, "");
        if (same) skipped++;
        return same;
      },
      onProgress: (p) => bar.update(p),
    });
    bar.done();
    write(
      `uploaded ${result.objects} file(s), ${formatBytes(result.bytes)} to ${destination}` +
        (skipped ? `; skipped ${skipped} already there (same size and checksum)` : "") +
        "\n",
    );
    if (!marker) return { uploaded: result.objects, skipped, bytesUploaded: result.bytes };
    const written = await writeMarker(target, clients, bucket, prefix, marker, write, o.findJobMs ?? 30_000);
    return { uploaded: result.objects, skipped, bytesUploaded: result.bytes, marker: written };
  } finally {
    clients.destroy();
  }
}

/** The ETag S3 gives a file uploaded the way FolderTransfer uploads it: MD5, or MD5 of the parts' MD5s with "-N". */
export async function localEtag(file: string, size: number, partSize: number): Promise<string> {
  if (size <= partSize) return md5Of(file, 0, size);
  const part = Math.max(partSize, Math.ceil(size / 10_000)); // as FolderTransfer: S3 allows 10,000 parts
  const parts: Buffer[] = [];
  for (let start = 0; start < size; start += part) parts.push(Buffer.from(await md5Of(file, start, Math.min(size, start + part)), "hex"));
  return `${createHash("md5").update(Buffer.concat(parts)).digest("hex")}-${parts.length}`;
}

async function md5Of(file: string, start: number, end: number): Promise<string> {
  const hash = createHash("md5");
  if (end > start) for await (const chunk of createReadStream(file, { start, end: end - 1 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
