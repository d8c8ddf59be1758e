import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { createWriteStream } from "node:fs";
import { mkdir, open, readdir, stat, statfs, writeFile, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { crc32 } from "node:zlib";
import { withContext } from "../aws/clients.ts";
import type { WorkerPlatform } from "../core/config-json.ts";
import { SpotqError } from "../core/errors.ts";
import { forEachBounded } from "./bounded-pool.ts";
import { checkPathSet, keyOf, localPathOf, relativePathOfKey } from "./object-paths.ts";
import { orderUnits, splitIntoUnits, unitCount, type TransferUnit } from "./transfer-plan.ts";

const MiB = 1024 * 1024;
/** S3's smallest multipart part (except the last) and largest part. */
const S3_MIN_PART = 5 * MiB;
const S3_MAX_PART = 5 * 1024 * MiB;
/**
 * Units below this are bound by the per-request latency (tens of ms at S3) rather than by a
 * connection's 85–90 MB/s: they are spread among the large ones (see orderUnits).
 */
const LATENCY_BOUND_BYTES = 1 * MiB;

/** Tuning of folder transfers. */
export interface TransferOptions {
  /** Requests in flight at once: whole small objects and parts of large ones share the limit. @default 16 */
  concurrency: number;
  /**
   * Files larger than this go up as multipart uploads in parts of this size (the AWS CLI's 8 MiB
   * chunk; it also stays under the 11 MiB request body fauxqs accepts). @default 8 MiB
   */
  partSizeBytes: number;
  /** Objects larger than this come down as parallel ranged GETs of this size (AWS suggests 8 to 16 MB per range). @default 16 MiB */
  rangeSizeBytes: number;
  /** Free disk space a download must leave for the processor's results. @default 1 GiB */
  reserveBytes: number;
  /** Further tries of one object or part after a broken transfer (network, 5xx). @default 3 */
  retries: number;
}

export const DEFAULT_TRANSFER_OPTIONS: Readonly<TransferOptions> = {
  concurrency: 16,
  partSizeBytes: 8 * MiB,
  rangeSizeBytes: 16 * MiB,
  reserveBytes: 1024 * MiB,
  retries: 3,
};

/** A transfer failed; `code` is TRANSFER, DISK_FULL or SOURCE_EMPTY. */
export class TransferError extends SpotqError {
  /** A failure a retry cannot mend (a file changed under the upload, S3 stored other bytes). */
  readonly permanent: boolean;
  constructor(code: "TRANSFER" | "DISK_FULL" | "SOURCE_EMPTY", message: string, options?: { cause?: unknown; permanent?: boolean }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TransferError";
    this.permanent = options?.permanent ?? false;
  }
}

/** Bytes and objects moved so far. */
export interface TransferProgress {
  bytesDone: number;
  bytesTotal: number;
  objectsDone: number;
  objectsTotal: number;
}

/** What a finished transfer moved. */
export interface TransferResult {
  objects: number;
  bytes: number;
  /** `/`-separated paths relative to the folder, sorted. */
  files: string[];
}

export interface FolderDownload {
  bucket: string;
  /** Folder prefix without the trailing `/`. */
  prefix: string;
  /** Local folder that receives the objects. */
  dir: string;
  platform: WorkerPlatform;
  signal?: AbortSignal;
  onProgress?: (p: TransferProgress) => void;
}

/** A file of a folder being uploaded. */
export interface LocalFile {
  /** `/`-separated path relative to the folder: the key suffix. */
  rel: string;
  /** Full local path. */
  full: string;
  size: number;
}

export interface FolderUpload {
  /** Local folder whose files are uploaded. */
  dir: string;
  bucket: string;
  /** Folder prefix without the trailing `/`. */
  prefix: string;
  /**
   * Files for which this says true are left out (e.g. already uploaded by an interrupted run);
   * they count in neither the progress nor the result.
   */
  skip?: (file: LocalFile) => boolean | Promise<boolean>;
  signal?: AbortSignal;
  onProgress?: (p: TransferProgress) => void;
}

/** An object of a listed folder. */
export interface RemoteObject {
  key: string;
  size: number;
  etag?: string;
}

/**
 * Moves folders between S3 and the local disk: bounded parallel requests, ranged GETs and multipart
 * uploads for large files, streams written straight to disk, every byte count and checksum checked
 * as the responses come (no second listing).
 */
export class FolderTransfer {
  readonly options: Readonly<TransferOptions>;
  readonly #s3: S3Client;

  constructor(s3: S3Client, options: Partial<TransferOptions> = {}) {
    const o = { ...DEFAULT_TRANSFER_OPTIONS, ...options };
    if (!Number.isInteger(o.concurrency) || o.concurrency < 1 || o.concurrency > 256)
      throw new RangeError(`transfer concurrency must be an integer from 1 to 256, got ${o.concurrency}`);
    if (!Number.isInteger(o.partSizeBytes) || o.partSizeBytes < S3_MIN_PART || o.partSizeBytes > S3_MAX_PART)
      throw new RangeError(`transfer partSizeBytes must be from 5 MiB to 5 GiB (S3's part limits), got ${o.partSizeBytes}`);
    if (!Number.isInteger(o.rangeSizeBytes) || o.rangeSizeBytes < MiB)
      throw new RangeError(`transfer rangeSizeBytes must be an integer of at least 1 MiB, got ${o.rangeSizeBytes}`);
    if (!(o.reserveBytes >= 0)) throw new RangeError(`transfer reserveBytes must be 0 or more, got ${o.reserveBytes}`);
    if (!Number.isInteger(o.retries) || o.retries < 0) throw new RangeError(`transfer retries must be a non-negative integer, got ${o.retries}`);
    this.options = o;
    this.#s3 = s3;
  }

  /** Every object under `prefix/`, folder markers included. */
  async list(bucket: string, prefix: string, signal?: AbortSignal): Promise<RemoteObject[]> {
    const out: RemoteObject[] = [];
    let token: string | undefined;
    do {
      let r;
      try {
        r = await this.#s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }), { abortSignal: signal });
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        throw new TransferError("TRANSFER", withContext(`S3 list s3://${bucket}/${prefix}/`, err).message, { cause: err });
      }
      for (const o of r.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0, ...(o.ETag ? { etag: o.ETag } : {}) });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /**
   * Downloads `s3://bucket/prefix/` into `dir`. Checks first that the disk has room for it plus the
   * reserve, then fetches objects in parallel; objects above the range size arrive as parallel
   * ranged GETs written at their offsets through one file handle per file. Each GET asks for the
   * listed ETag (If-Match), so every byte comes from the version listed, and each response's byte
   * count is checked against the listing as it ends; the SDK checks a whole object's CRC32 when S3
   * has one.
   */
  async download(req: FolderDownload): Promise<TransferResult> {
    const listed = await this.list(req.bucket, req.prefix, req.signal);
    const objects: (RemoteObject & { rel: string; local: string })[] = [];
    for (const o of listed) {
      const rel = relativePathOfKey(req.platform, `${req.prefix}/`, o.key);
      if (rel !== undefined) objects.push({ ...o, rel, local: localPathOf(req.platform, req.dir, rel) });
    }
    if (objects.length === 0) throw new TransferError("SOURCE_EMPTY", `the source folder s3://${req.bucket}/${req.prefix}/ holds no objects`);
    checkPathSet(req.platform, objects.map((o) => o.rel));
    const bytesTotal = objects.reduce((n, o) => n + o.size, 0);

    await mkdir(req.dir, { recursive: true });
    const fs = await statfs(req.dir);
    const free = fs.bavail * fs.bsize;
    if (free < bytesTotal + this.options.reserveBytes)
      throw new TransferError(
        "DISK_FULL",
        `not enough disk space in ${req.dir}: the source folder needs ${formatBytes(bytesTotal)} plus a reserve of ${formatBytes(this.options.reserveBytes)} for results, but ${formatBytes(free)} is free`,
      );
    for (const dir of new Set(objects.map((o) => path.dirname(o.local)))) await mkdir(dir, { recursive: true });

    const range = this.options.rangeSizeBytes;
    const units = orderUnits(splitIntoUnits(objects.map((o) => o.size), range), LATENCY_BOUND_BYTES);
    const progress = this.#progress(bytesTotal, objects.length, req.onProgress);
    const partsLeft = objects.map((o) => unitCount(o.size, range));
    // A ranged file is created at full size once and shared by its parts, each writing at its offset.
    const shared = new Map<number, { handle: Promise<FileHandle>; users: number }>();
    const releaseShared = async (file: number) => {
      const s = shared.get(file)!;
      if (--s.users === 0) {
        shared.delete(file);
        await (await s.handle).close();
      }
    };

    try {
      await forEachBounded(
        units,
        this.options.concurrency,
        async (u) => {
          const o = objects[u.file]!;
          if (o.size === 0) await writeFile(o.local, "");
          else if (u.part === 0)
            await this.#retrying(`download s3://${req.bucket}/${o.key}`, req.signal, () => this.#getWhole(req.bucket, o, req.signal));
          else {
            let s = shared.get(u.file);
            if (!s) shared.set(u.file, (s = { handle: openSized(o.local, o.size), users: partsLeft[u.file]! }));
            const handle = await s.handle;
            try {
              await this.#retrying(`download part ${u.part} of s3://${req.bucket}/${o.key}`, req.signal, () =>
                this.#getRange(req.bucket, o, u, handle, req.signal),
              );
            } finally {
              await releaseShared(u.file);
            }
          }
          progress.add(u.length, --partsLeft[u.file]! === 0 ? 1 : 0);
        },
        req.signal,
      );
    } finally {
      // Parts that never started (a failure or an abort stopped the pool) still hold their file open.
      await Promise.allSettled([...shared.values()].map(async (s) => (await s.handle).close()));
    }
    return { objects: objects.length, bytes: bytesTotal, files: objects.map((o) => o.rel).sort() };
  }

  /**
   * Uploads every file under `dir` (but those `skip` leaves out) to `s3://bucket/prefix/<relative path>`.
   * Files up to the part size go up in one PUT, larger ones as multipart uploads with parallel parts
   * (aborted if anything fails). Every body carries its CRC32, which S3 checks before it answers;
   * the CRC32 S3 answers with is compared with the local one, so no listing is needed at the end.
   */
  async upload(req: FolderUpload): Promise<TransferResult> {
    const files: LocalFile[] = [];
    for (const f of await listLocalFiles(req.dir)) if (!(await req.skip?.(f))) files.push(f);
    const bytesTotal = files.reduce((n, f) => n + f.size, 0);
    const progress = this.#progress(bytesTotal, files.length, req.onProgress);
    const partSize = this.options.partSizeBytes;
    const units = orderUnits(splitIntoUnits(files.map((f) => f.size), partSize), LATENCY_BOUND_BYTES);
    const buffers = new BufferPool();
    const multipart = new Map<number, { key: string; uploadId: Promise<string>; parts: { PartNumber: number; ETag: string; ChecksumCRC32: string }[]; left: number }>();

    try {
      await forEachBounded(
        units,
        this.options.concurrency,
        async (u) => {
          const f = files[u.file]!;
          const key = keyOf(req.prefix, f.rel);
          if (u.part === 0) {
            await this.#retrying(`upload s3://${req.bucket}/${key}`, req.signal, () =>
              buffers.using(u.length, async (buf) => {
                const body = await readRange(f.full, 0, u.length, buf, f.size);
                const checksum = crc32Base64(body);
                const r = await this.#call(`S3 put s3://${req.bucket}/${key}`, req.signal, (o) =>
                  this.#s3.send(
                    sentAtOnce(new PutObjectCommand({ Bucket: req.bucket, Key: key, Body: body, ContentLength: body.length, ChecksumCRC32: checksum })),
                    o,
                  ),
                );
                checkEcho(`s3://${req.bucket}/${key}`, checksum, r.ChecksumCRC32);
              }),
            );
            progress.add(u.length, 1);
            return;
          }
          let mp = multipart.get(u.file);
          if (!mp) {
            const uploadId = this.#call(`S3 create multipart upload s3://${req.bucket}/${key}`, req.signal, (o) =>
              this.#s3.send(new CreateMultipartUploadCommand({ Bucket: req.bucket, Key: key, ChecksumAlgorithm: "CRC32" }), o),
            ).then((r) => r.UploadId!);
            mp = { key, uploadId, parts: [], left: unitCount(f.size, partSize) };
            multipart.set(u.file, mp);
          }
          const uploadId = await mp.uploadId;
          mp.parts[u.part - 1] = await this.#retrying(`upload part ${u.part} of s3://${req.bucket}/${key}`, req.signal, () =>
            buffers.using(u.length, async (buf) => {
              const body = await readRange(f.full, u.start, u.length, buf, f.size);
              const sent = crc32Base64(body);
              const r = await this.#call(`S3 upload part ${u.part} of s3://${req.bucket}/${key}`, req.signal, (o) =>
                this.#s3.send(
                  sentAtOnce(
                    new UploadPartCommand({ Bucket: req.bucket, Key: key, UploadId: uploadId, PartNumber: u.part, Body: body, ContentLength: body.length, ChecksumCRC32: sent }),
                  ),
                  o,
                ),
              );
              checkEcho(`part ${u.part} of s3://${req.bucket}/${key}`, sent, r.ChecksumCRC32);
              return { PartNumber: u.part, ETag: r.ETag!, ChecksumCRC32: sent };
            }),
          );
          if (--mp.left === 0) {
            // S3 checked each part against the CRC32 it was sent with; the completion lists them again.
            const parts = mp.parts;
            const r = await this.#call(`S3 complete multipart upload s3://${req.bucket}/${key}`, req.signal, (o) =>
              this.#s3.send(new CompleteMultipartUploadCommand({ Bucket: req.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }), o),
            );
            checkEcho(`s3://${req.bucket}/${key}`, compositeCrc32(parts.map((p) => p.ChecksumCRC32)), r.ChecksumCRC32);
            multipart.delete(u.file);
          }
          progress.add(u.length, mp.left === 0 ? 1 : 0);
        },
        req.signal,
      );
    } catch (err) {
      // Unfinished multipart uploads keep their parts (and their cost) until aborted.
      await Promise.allSettled(
        [...multipart.values()].map(async (m) =>
          this.#s3.send(new AbortMultipartUploadCommand({ Bucket: req.bucket, Key: m.key, UploadId: await m.uploadId })),
        ),
      );
      throw err;
    }
    return { objects: files.length, bytes: bytesTotal, files: files.map((f) => f.rel).sort() };
  }

  #progress(bytesTotal: number, objectsTotal: number, report?: (p: TransferProgress) => void) {
    const p: TransferProgress = { bytesDone: 0, bytesTotal, objectsDone: 0, objectsTotal };
    return {
      add(bytes: number, objects: number) {
        p.bytesDone += bytes;
        p.objectsDone += objects;
        report?.({ ...p });
      },
    };
  }

  /**
   * A whole object, streamed to its file as it arrives. (Gathering small bodies and writing them in
   * one call, or opening the file while the request waits for its first byte, both cost more CPU
   * than they saved: see docs/transfer.md.)
   */
  async #getWhole(bucket: string, o: RemoteObject & { local: string }, signal?: AbortSignal): Promise<void> {
    const r = await this.#call(`S3 get s3://${bucket}/${o.key}`, signal, (opts) =>
      this.#s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key, IfMatch: o.etag }), opts),
    );
    const out = createWriteStream(o.local);
    await pipeline(r.Body as Readable, out, { signal });
    if (out.bytesWritten !== o.size) throw new TransferError("TRANSFER", `s3://${bucket}/${o.key}: received ${out.bytesWritten} bytes, expected ${o.size}`);
  }

  async #getRange(bucket: string, o: RemoteObject & { local: string }, u: TransferUnit, handle: FileHandle, signal?: AbortSignal): Promise<void> {
    const end = u.start + u.length - 1;
    // If-Match: a part of a newer version of the object must not be stitched to the older parts.
    const r = await this.#call(`S3 get bytes ${u.start}-${end} of s3://${bucket}/${o.key}`, signal, (opts) =>
      this.#s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key, Range: `bytes=${u.start}-${end}`, IfMatch: o.etag }), opts),
    );
    const written = await writeStreamAt(r.Body as Readable, handle, u.start, signal);
    if (written !== u.length)
      throw new TransferError("TRANSFER", `s3://${bucket}/${o.key} part ${u.part}: received ${written} bytes, expected ${u.length}`);
  }

  /** Runs one S3 call, turning its failure into a TransferError that says what was being done. */
  async #call<T>(what: string, signal: AbortSignal | undefined, call: (options: { abortSignal?: AbortSignal }) => Promise<T>): Promise<T> {
    try {
      return await call({ abortSignal: signal });
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      if (err instanceof TransferError) throw err;
      throw new TransferError("TRANSFER", withContext(what, err).message, { cause: err });
    }
  }

  /** Runs one unit again after a broken connection or a server error; a 4xx (missing, changed object) fails at once. */
  async #retrying<T>(what: string, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        const status = httpStatus(err);
        const permanent = (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) || (err as TransferError).permanent === true;
        if (permanent || i >= this.options.retries) {
          if (err instanceof TransferError) throw err;
          throw new TransferError("TRANSFER", `${what} failed: ${(err as Error).message}`, { cause: err });
        }
        await new Promise((r) => setTimeout(r, 200 * 2 ** i));
      }
    }
  }
}

function httpStatus(err: unknown): number | undefined {
  let e = err as { $metadata?: { httpStatusCode?: number }; cause?: unknown } | undefined;
  for (let i = 0; i < 3 && e; i++) {
    if (e.$metadata?.httpStatusCode) return e.$metadata.httpStatusCode;
    e = e.cause as typeof e;
  }
  return undefined;
}

/** Creates (or truncates) a file at its full size and keeps it open for positional writes. */
async function openSized(file: string, size: number): Promise<FileHandle> {
  const fh = await open(file, "w");
  try {
    await fh.truncate(size);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Streams a response body into `handle` from `position` on as it arrives. A write stream, not a
 * write per chunk: while one write is at the disk it gathers the chunks that arrive and writes them
 * together (awaiting a write per chunk took about a quarter more CPU, see docs/transfer.md).
 * The handle stays open for the caller. Returns the bytes written.
 */
async function writeStreamAt(body: Readable, handle: FileHandle, position: number, signal?: AbortSignal): Promise<number> {
  // By fd, not handle.createWriteStream: a FileHandle's own stream holds it open until the stream closes it.
  const out = createWriteStream("", { fd: handle.fd, start: position, autoClose: false });
  await pipeline(body, out, { signal });
  return out.bytesWritten;
}

/**
 * Reads `length` bytes at `start` of a file into `buf`. The file must still have `size` bytes: one
 * that changed since it was listed fails the upload rather than sending a mix of old and new.
 */
async function readRange(file: string, start: number, length: number, buf: Buffer, size: number): Promise<Buffer> {
  const fh = await open(file, "r");
  try {
    if ((await fh.stat()).size !== size) throw new TransferError("TRANSFER", `${file} changed size during the upload`, { permanent: true });
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, start + done);
      if (bytesRead === 0) throw new TransferError("TRANSFER", `${file} is shorter than expected (changed during the upload)`, { permanent: true });
      done += bytesRead;
    }
    return buf.subarray(0, length);
  } finally {
    await fh.close();
  }
}

/**
 * Reusable read buffers for upload bodies, one per request in flight: fresh multi-megabyte buffers
 * for every part cost page faults and garbage collection. A buffer goes back only once its
 * request has settled.
 */
class BufferPool {
  readonly #free: Buffer[] = [];
  async using<T>(bytes: number, use: (buf: Buffer) => Promise<T>): Promise<T> {
    // Best fit, so a small file does not take the buffer a part needs.
    let i = -1;
    for (let j = 0; j < this.#free.length; j++) if (this.#free[j]!.length >= bytes && (i < 0 || this.#free[j]!.length < this.#free[i]!.length)) i = j;
    const buf = i >= 0 ? this.#free.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(Math.max(bytes, 64 * 1024));
    try {
      return await use(buf);
    } finally {
      this.#free.push(buf);
    }
  }
}

/** S3's CRC32 checksum header value: the big-endian CRC32, base64. */
export function crc32Base64(data: Uint8Array): string {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(crc32(data) >>> 0);
  return b.toString("base64");
}

/** S3's checksum of a multipart object uploaded with CRC32 parts: the CRC32 of the parts' CRC32s, then `-<parts>`. */
export function compositeCrc32(partChecksums: readonly string[]): string {
  return `${crc32Base64(Buffer.concat(partChecksums.map((c) => Buffer.from(c, "base64"))))}-${partChecksums.length}`;
}

/** S3 answers with the checksum it stored; one that differs from what was sent means the object is not the file. */
function checkEcho(what: string, sent: string, stored: string | undefined): void {
  // Only a checksum of the same kind compares: a composite one ends in -<parts>, a whole-object one does not.
  if (stored !== undefined && /-\d+$/.test(stored) === /-\d+$/.test(sent) && stored !== sent)
    throw new TransferError("TRANSFER", `${what}: S3 stored CRC32 ${stored}, but the file's is ${sent}`, { permanent: true });
}

type Headers = { request: { headers: Record<string, string> } };

/**
 * How an upload body is sent:
 * - without a SHA-256 of it in the signature (`UNSIGNED-PAYLOAD`): the signed CRC32 header already
 *   lets S3 reject a damaged body, and hashing every byte a second time cost about a third of the
 *   client's CPU on uploads. The AWS SDK does the same for streamed bodies
 *   (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`).
 * - without `Expect: 100-continue` (the SDK's default for bodies of 2 MiB and more): the handshake
 *   costs a round trip to S3 before the first byte of every part, and pays off only when S3 refuses
 *   a request from its headers (credentials, wrong region), an error path for the worker, not its
 *   steady state. Streamed bodies (aws-chunked, of unknown length) go without it too.
 */
function sentAtOnce<C extends { middlewareStack: { add(m: unknown, o: unknown): void } }>(command: C): C {
  command.middlewareStack.add(
    (next: (args: Headers) => Promise<unknown>) => (args: Headers) => {
      args.request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      return next(args);
    },
    { step: "build", name: "spotqUnsignedPayload" },
  );
  // After the build step, where the SDK adds the header; `expect` is never signed, so it can go.
  command.middlewareStack.add(
    (next: (args: Headers) => Promise<unknown>) => (args: Headers) => {
      delete args.request.headers.Expect;
      delete args.request.headers.expect;
      return next(args);
    },
    { step: "finalizeRequest", name: "spotqNoExpectContinue" },
  );
  return command;
}

/** Regular files under `root`, with `/`-separated relative paths (what becomes the key suffix). */
async function listLocalFiles(root: string): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  const walk = async (dir: string, rel: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(full, r);
      else if (e.isFile()) out.push({ rel: r, full, size: (await stat(full)).size });
    }
  };
  await walk(root, "");
  return out;
}

/** `1.5 GiB`, `300 MiB`, `12 KiB`, `7 B`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 10 ? 0 : 1)} ${units[i]}`;
}
