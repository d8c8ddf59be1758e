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
import { mkdir, open, readdir, readFile, stat, statfs, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { withContext } from "../aws/clients.ts";
import type { WorkerPlatform } from "../core/config-json.ts";
import { SpotqError } from "../core/errors.ts";
import { forEachBounded } from "./bounded-pool.ts";
import { checkPathSet, keyOf, localPathOf, relativePathOfKey } from "./object-paths.ts";

const MiB = 1024 * 1024;
/** S3's smallest multipart part (except the last) and largest part count. */
const S3_MIN_PART = 5 * MiB;
const S3_MAX_PART = 5 * 1024 * MiB;
const S3_MAX_PARTS = 10_000;

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
  constructor(code: "TRANSFER" | "DISK_FULL" | "SOURCE_EMPTY", message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "TransferError";
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

/** One request's worth of work: a whole object, or one byte range of a large one. */
interface Unit {
  file: number;
  start: number;
  /** Bytes in this unit. */
  length: number;
  /** 1-based part number for ranged units, 0 for a whole object. */
  part: number;
}

/**
 * Moves folders between S3 and the local disk: bounded parallel requests, ranged GETs and multipart
 * uploads for large files, streams written straight to disk, sizes verified at the end.
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
   * reserve, then fetches objects in parallel; objects above the part size arrive as parallel ranged
   * GETs written at their offsets. Every file's size is checked against the listing.
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

    // Largest first, so the long ranged downloads start early and small files fill the gaps.
    objects.sort((a, b) => b.size - a.size);
    const units = this.#units(objects.map((o) => o.size), this.options.rangeSizeBytes);
    const prepared = new Map<number, Promise<void>>();
    const progress = this.#progress(bytesTotal, objects.length, req.onProgress);
    const partsLeft = objects.map((o) => this.#partCount(o.size, this.options.rangeSizeBytes));

    await forEachBounded(
      units,
      this.options.concurrency,
      async (u) => {
        const o = objects[u.file]!;
        if (o.size === 0) await writeFile(o.local, "");
        else if (u.part === 0)
          await this.#retrying(`download s3://${req.bucket}/${o.key}`, req.signal, () => this.#getWhole(req.bucket, o, req.signal));
        else {
          // A ranged object's file is created at full size once; each part then writes at its offset.
          let p = prepared.get(u.file);
          if (!p) prepared.set(u.file, (p = preallocate(o.local, o.size)));
          await p;
          await this.#retrying(`download part ${u.part} of s3://${req.bucket}/${o.key}`, req.signal, () =>
            this.#getRange(req.bucket, o, u, req.signal),
          );
        }
        progress.add(u.length, --partsLeft[u.file]! === 0 ? 1 : 0);
      },
      req.signal,
    );

    for (const o of objects) {
      const size = (await stat(o.local)).size;
      if (size !== o.size) throw new TransferError("TRANSFER", `downloaded ${o.key} has ${size} bytes, but S3 lists ${o.size}`);
    }
    return { objects: objects.length, bytes: bytesTotal, files: objects.map((o) => o.rel).sort() };
  }

  /**
   * Uploads every file under `dir` (but those `skip` leaves out) to `s3://bucket/prefix/<relative path>`. Files above the part size
   * go up as multipart uploads with parallel parts (aborted if anything fails). The uploaded objects'
   * sizes are checked against the local files with a listing at the end.
   */
  async upload(req: FolderUpload): Promise<TransferResult> {
    const files: LocalFile[] = [];
    for (const f of await listLocalFiles(req.dir)) if (!(await req.skip?.(f))) files.push(f);
    files.sort((a, b) => b.size - a.size);
    const bytesTotal = files.reduce((n, f) => n + f.size, 0);
    const progress = this.#progress(bytesTotal, files.length, req.onProgress);
    const units = this.#units(files.map((f) => f.size), this.options.partSizeBytes);
    const multipart = new Map<number, { uploadId: Promise<string>; etags: string[]; left: number }>();
    const started: { key: string; uploadId: Promise<string> }[] = [];

    try {
      await forEachBounded(
        units,
        this.options.concurrency,
        async (u) => {
          const f = files[u.file]!;
          const key = keyOf(req.prefix, f.rel);
          if (u.part === 0) {
            await this.#retrying(`upload s3://${req.bucket}/${key}`, req.signal, async () => {
              const body = await readFile(f.full);
              if (body.length !== f.size) throw new TransferError("TRANSFER", `${f.full} changed size during the upload`);
              await this.#call(`S3 put s3://${req.bucket}/${key}`, req.signal, (o) =>
                this.#s3.send(new PutObjectCommand({ Bucket: req.bucket, Key: key, Body: body }), o),
              );
            });
            progress.add(u.length, 1);
            return;
          }
          let mp = multipart.get(u.file);
          if (!mp) {
            const uploadId = this.#call(`S3 create multipart upload s3://${req.bucket}/${key}`, req.signal, (o) =>
              this.#s3.send(new CreateMultipartUploadCommand({ Bucket: req.bucket, Key: key }), o),
            ).then((r) => r.UploadId!);
            mp = { uploadId, etags: [], left: this.#partCount(f.size, this.options.partSizeBytes) };
            multipart.set(u.file, mp);
            started.push({ key, uploadId });
          }
          const uploadId = await mp.uploadId;
          const etag = await this.#retrying(`upload part ${u.part} of s3://${req.bucket}/${key}`, req.signal, async () => {
            const body = await readRange(f.full, u.start, u.length);
            const r = await this.#call(`S3 upload part ${u.part} of s3://${req.bucket}/${key}`, req.signal, (o) =>
              this.#s3.send(new UploadPartCommand({ Bucket: req.bucket, Key: key, UploadId: uploadId, PartNumber: u.part, Body: body }), o),
            );
            return r.ETag!;
          });
          mp.etags[u.part - 1] = etag;
          if (--mp.left === 0) {
            const parts = mp.etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 }));
            await this.#call(`S3 complete multipart upload s3://${req.bucket}/${key}`, req.signal, (o) =>
              this.#s3.send(
                new CompleteMultipartUploadCommand({ Bucket: req.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
                o,
              ),
            );
            multipart.delete(u.file);
          }
          progress.add(u.length, mp.left === 0 ? 1 : 0);
        },
        req.signal,
      );
    } catch (err) {
      // Unfinished multipart uploads keep their parts (and their cost) until aborted.
      const unfinished = started.filter((s) => [...multipart.values()].some((m) => m.uploadId === s.uploadId));
      await Promise.allSettled(
        unfinished.map(async (s) =>
          this.#s3.send(new AbortMultipartUploadCommand({ Bucket: req.bucket, Key: s.key, UploadId: await s.uploadId })),
        ),
      );
      throw err;
    }

    const remote = new Map((await this.list(req.bucket, req.prefix, req.signal)).map((o) => [o.key, o.size]));
    for (const f of files) {
      const key = keyOf(req.prefix, f.rel);
      const size = remote.get(key);
      if (size !== f.size) throw new TransferError("TRANSFER", `uploaded s3://${req.bucket}/${key} ${size === undefined ? "is missing" : `has ${size} bytes`}, but the local file has ${f.size}`);
    }
    return { objects: files.length, bytes: bytesTotal, files: files.map((f) => f.rel).sort() };
  }

  /** Part size for an object: the configured one, grown when S3's 10,000-part limit requires. */
  #partSize(size: number, configured: number): number {
    return Math.max(configured, Math.ceil(size / S3_MAX_PARTS));
  }

  #partCount(size: number, configured: number): number {
    return size > configured ? Math.ceil(size / this.#partSize(size, configured)) : 1;
  }

  /** The requests of a transfer: whole objects up to `configured` bytes, parts of that size above it. */
  #units(sizes: readonly number[], configured: number): Unit[] {
    const units: Unit[] = [];
    sizes.forEach((size, file) => {
      if (size <= configured) {
        units.push({ file, start: 0, length: size, part: 0 });
        return;
      }
      const part = this.#partSize(size, configured);
      for (let i = 0, start = 0; start < size; i++, start += part) units.push({ file, start, length: Math.min(part, size - start), part: i + 1 });
    });
    return units;
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

  async #getWhole(bucket: string, o: RemoteObject & { local: string }, signal?: AbortSignal): Promise<void> {
    const r = await this.#call(`S3 get s3://${bucket}/${o.key}`, signal, (opts) =>
      this.#s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key, IfMatch: o.etag }), opts),
    );
    // Streamed to disk as it arrives: receiving and writing overlap (measured faster than buffering a unit).
    const out = createWriteStream(o.local);
    await pipeline(r.Body as Readable, out, { signal });
    if (out.bytesWritten !== o.size) throw new TransferError("TRANSFER", `s3://${bucket}/${o.key}: received ${out.bytesWritten} bytes, expected ${o.size}`);
  }

  async #getRange(bucket: string, o: RemoteObject & { local: string }, u: Unit, signal?: AbortSignal): Promise<void> {
    const end = u.start + u.length - 1;
    // If-Match: a part of a newer version of the object must not be stitched to the older parts.
    const r = await this.#call(`S3 get bytes ${u.start}-${end} of s3://${bucket}/${o.key}`, signal, (opts) =>
      this.#s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key, Range: `bytes=${u.start}-${end}`, IfMatch: o.etag }), opts),
    );
    const out = createWriteStream(o.local, { flags: "r+", start: u.start });
    await pipeline(r.Body as Readable, out, { signal });
    if (out.bytesWritten !== u.length)
      throw new TransferError("TRANSFER", `s3://${bucket}/${o.key} part ${u.part}: received ${out.bytesWritten} bytes, expected ${u.length}`);
  }

  /** Runs one S3 call, turning its failure into a TransferError that says what was being done. */
  async #call<T>(what: string, signal: AbortSignal | undefined, call: (options: { abortSignal?: AbortSignal }) => Promise<T>): Promise<T> {
    try {
      return await call({ abortSignal: signal });
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
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
        const permanent = status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
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

async function preallocate(file: string, size: number): Promise<void> {
  const fh = await open(file, "w");
  try {
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}

async function readRange(file: string, start: number, length: number): Promise<Buffer> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, start + done);
      if (bytesRead === 0) throw new TransferError("TRANSFER", `${file} is shorter than expected (changed during the upload)`);
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
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
