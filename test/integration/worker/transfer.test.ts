import assert from "node:assert/strict";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import { appendFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { compositeCrc32, crc32Base64, FolderTransfer, TransferError, type TransferProgress } from "../../../worker/transfer.ts";
import { useLocalAws } from "../../support/local-aws.ts";
import { tempDir } from "../../support/worker-fixtures.ts";

const MiB = 1024 * 1024;

describe("worker/transfer against the local S3 (fauxqs)", function () {
  this.timeout(60_000);
  const aws = useLocalAws();
  let n = 0;

  async function put(objects: Record<string, Buffer>): Promise<string> {
    const prefix = `transfer/${++n}/in`;
    const s3 = aws().emulators.clients.s3();
    for (const [rel, body] of Object.entries(objects)) await s3.send(new PutObjectCommand({ Bucket: aws().resources.bucket, Key: `${prefix}/${rel}`, Body: body }));
    return prefix;
  }

  it("downloads a folder byte for byte: nested keys, an empty object, a large object in ranged parts; folder markers skipped", async () => {
    const objects = {
      "scan/big.bin": randomBytes(10 * MiB + 7), // under fauxqs's 11 MiB body limit for the PUT that stores it
      "scan/frames/0001.dat": randomBytes(70_000),
      "notes.txt": Buffer.from("upper jaw"),
      "empty.bin": Buffer.alloc(0),
    };
    const prefix = await put({ ...objects, "scan/frames/": Buffer.alloc(0) });
    const dir = await tempDir();
    const progress: TransferProgress[] = [];
    const t = new FolderTransfer(aws().emulators.clients.s3(), { rangeSizeBytes: 5 * MiB, concurrency: 4, reserveBytes: 0 });
    const r = await t.download({ bucket: aws().resources.bucket, prefix, dir, platform: "posix", onProgress: (p) => progress.push(p) });
    assert.deepEqual(r.files, ["empty.bin", "notes.txt", "scan/big.bin", "scan/frames/0001.dat"]);
    assert.equal(r.bytes, 10 * MiB + 7 + 70_000 + 9);
    for (const [rel, body] of Object.entries(objects)) assert.ok((await readFile(path.join(dir, rel))).equals(body), rel);
    // 3 ranged parts of the big object plus 3 whole objects; the last report is complete.
    assert.equal(progress.length, 6);
    assert.deepEqual(progress.at(-1), { bytesDone: r.bytes, bytesTotal: r.bytes, objectsDone: 4, objectsTotal: 4 });
  });

  it("checks free disk space before downloading, naming what is needed and what is free", async () => {
    const prefix = await put({ "a.bin": randomBytes(1000) });
    const t = new FolderTransfer(aws().emulators.clients.s3(), { reserveBytes: 1024 ** 5 });
    await assert.rejects(
      t.download({ bucket: aws().resources.bucket, prefix, dir: await tempDir(), platform: "posix" }),
      (err: TransferError) => err.code === "DISK_FULL" && /needs 1000 B plus a reserve of 1024 TiB for results, but .* is free/.test(err.message),
    );
  });

  it("refuses an empty source folder", async () => {
    const t = new FolderTransfer(aws().emulators.clients.s3());
    await assert.rejects(
      t.download({ bucket: aws().resources.bucket, prefix: "transfer/none", dir: await tempDir(), platform: "posix" }),
      (err: TransferError) => err.code === "SOURCE_EMPTY",
    );
  });

  it("uploads a folder with a multipart upload for the large file, keys /-separated, and verifies sizes", async () => {
    const dir = await tempDir();
    const files = { "result.ply": randomBytes(11 * MiB + 3), "logs/run.txt": Buffer.from("ok"), "logs/deep/x.bin": randomBytes(4096) };
    for (const [rel, body] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await writeFile(path.join(dir, rel), body);
    }
    const s3 = aws().emulators.clients.s3();
    const sent: string[] = [];
    s3.middlewareStack.add((next, ctx) => async (args) => {
      sent.push(String(ctx.commandName));
      return next(args);
    }, { step: "initialize", name: "recordCommands" });
    try {
      const t = new FolderTransfer(s3, { partSizeBytes: 5 * MiB });
      const r = await t.upload({ dir, bucket: aws().resources.bucket, prefix: `transfer/${++n}/out` });
      assert.equal(r.objects, 3);
      for (const [rel, body] of Object.entries(files)) {
        const got = await s3.send(new GetObjectCommand({ Bucket: aws().resources.bucket, Key: `transfer/${n}/out/${rel}` }));
        assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(body), rel);
      }
      assert.equal(sent.filter((c) => c === "UploadPartCommand").length, 3, "11 MiB in 5 MiB parts");
      assert.equal(sent.filter((c) => c === "CompleteMultipartUploadCommand").length, 1);
      assert.equal(sent.filter((c) => c === "PutObjectCommand").length, 2);
    } finally {
      s3.middlewareStack.remove("recordCommands");
    }
  });

  it("leaves out the files `skip` names, counting only what it uploaded", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "done.bin"), "already there");
    await writeFile(path.join(dir, "new.bin"), "to send");
    const prefix = `transfer/${++n}/out`;
    const t = new FolderTransfer(aws().emulators.clients.s3());
    const r = await t.upload({ dir, bucket: aws().resources.bucket, prefix, skip: (f) => f.rel === "done.bin" });
    assert.deepEqual([r.objects, r.bytes, r.files], [1, 7, ["new.bin"]]);
    assert.deepEqual((await t.list(aws().resources.bucket, prefix)).map((o) => o.key), [`${prefix}/new.bin`]);
  });

  it("aborts a multipart upload whose part fails for good, and reports which part", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "big.bin"), randomBytes(11 * MiB));
    const s3 = aws().emulators.clients.s3();
    const sent: string[] = [];
    // S3 refusing part 2 (as a 403 would): the one thing fauxqs cannot be told to do.
    s3.middlewareStack.add(
      (next, ctx) => async (args) => {
        sent.push(String(ctx.commandName));
        const input = args.input as { PartNumber?: number };
        if (ctx.commandName === "UploadPartCommand" && input.PartNumber === 2)
          throw Object.assign(new Error("Access Denied"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } });
        return next(args);
      },
      { step: "initialize", name: "failPart2" },
    );
    try {
      const t = new FolderTransfer(s3, { partSizeBytes: 5 * MiB });
      await assert.rejects(
        t.upload({ dir, bucket: aws().resources.bucket, prefix: `transfer/${++n}/out` }),
        (err: TransferError) => err.code === "TRANSFER" && /upload part 2 of s3:\/\/.*big\.bin failed: AccessDenied: Access Denied/.test(err.message),
      );
      assert.equal(sent.filter((c) => c === "AbortMultipartUploadCommand").length, 1);
      assert.equal(sent.filter((c) => c === "CompleteMultipartUploadCommand").length, 0);
    } finally {
      s3.middlewareStack.remove("failPart2");
    }
  });

  it("stops at once when aborted", async () => {
    const prefix = await put({ "a.bin": randomBytes(2 * MiB), "b.bin": randomBytes(2 * MiB) });
    const abort = new AbortController();
    abort.abort(new Error("interrupted"));
    const t = new FolderTransfer(aws().emulators.clients.s3(), { reserveBytes: 0 });
    await assert.rejects(t.download({ bucket: aws().resources.bucket, prefix, dir: await tempDir(), platform: "posix", signal: abort.signal }), /interrupted/);
  });

  it("uploads every body with its CRC32, an unsigned payload hash and no 100-continue handshake, checks the CRC32 S3 stored, and needs no listing afterwards", async () => {
    const dir = await tempDir();
    const big = randomBytes(11 * MiB + 5);
    const small = randomBytes(70_000);
    await writeFile(path.join(dir, "big.bin"), big);
    await writeFile(path.join(dir, "small.bin"), small);
    const s3 = aws().emulators.clients.s3();
    const sent: { command: string; crc?: string; payloadHash?: string; expect?: string; stored?: string }[] = [];
    s3.middlewareStack.add(
      (next, ctx) => async (args) => {
        const headers = (args.request as { headers: Record<string, string> }).headers;
        const r = await next(args);
        const answer = (r.response as { headers: Record<string, string> }).headers;
        sent.push({
          command: String(ctx.commandName),
          crc: headers["x-amz-checksum-crc32"],
          payloadHash: headers["x-amz-content-sha256"],
          expect: headers.Expect ?? headers.expect,
          stored: answer["x-amz-checksum-crc32"],
        });
        return r;
      },
      // The last step before the request goes out: what is recorded is what is sent.
      { step: "deserialize", name: "recordBodies" },
    );
    try {
      const prefix = `transfer/${++n}/out`;
      await new FolderTransfer(s3, { partSizeBytes: 5 * MiB }).upload({ dir, bucket: aws().resources.bucket, prefix });
      const bodies = sent.filter((c) => c.command === "PutObjectCommand" || c.command === "UploadPartCommand");
      assert.equal(bodies.length, 4, "one PUT and three parts");
      const parts = [big.subarray(0, 5 * MiB), big.subarray(5 * MiB, 10 * MiB), big.subarray(10 * MiB)];
      assert.deepEqual(bodies.map((b) => b.crc).sort(), [small, ...parts].map(crc32Base64).sort());
      for (const b of bodies) {
        assert.equal(b.payloadHash, "UNSIGNED-PAYLOAD", `${b.command} hashed its body for the signature`);
        assert.equal(b.expect, undefined, `${b.command} waited for 100-continue`);
      }
      const complete = sent.find((c) => c.command === "CompleteMultipartUploadCommand")!;
      assert.equal(complete.stored, compositeCrc32(parts.map(crc32Base64)));
      assert.equal(sent.filter((c) => c.command === "ListObjectsV2Command").length, 0, "no listing after the upload");
      const got = await s3.send(new GetObjectCommand({ Bucket: aws().resources.bucket, Key: `${prefix}/big.bin` }));
      assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(big));
    } finally {
      s3.middlewareStack.remove("recordBodies");
    }
  });

  it("fails, without retrying, when S3 says it stored a different checksum than the file's, and aborts the multipart upload", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "big.bin"), randomBytes(11 * MiB));
    const s3 = aws().emulators.clients.s3();
    const sent: string[] = [];
    // As if the bytes had been damaged on the way: S3 answers part 2 with another CRC32.
    s3.middlewareStack.add(
      (next, ctx) => async (args) => {
        sent.push(String(ctx.commandName));
        const r = await next(args);
        if (ctx.commandName === "UploadPartCommand" && (args.input as { PartNumber?: number }).PartNumber === 2)
          (r.output as { ChecksumCRC32?: string }).ChecksumCRC32 = crc32Base64(Buffer.from("something else"));
        return r;
      },
      { step: "initialize", name: "damagePart2" },
    );
    try {
      await assert.rejects(
        new FolderTransfer(s3, { partSizeBytes: 5 * MiB }).upload({ dir, bucket: aws().resources.bucket, prefix: `transfer/${++n}/out` }),
        (err: TransferError) => err.code === "TRANSFER" && /part 2 of s3:\/\/.*big\.bin: S3 stored CRC32 .*, but the file's is /.test(err.message),
      );
      assert.equal(sent.filter((c) => c === "UploadPartCommand").length, 3, "part 2 sent once: a retry cannot mend it");
      assert.equal(sent.filter((c) => c === "AbortMultipartUploadCommand").length, 1);
      assert.equal(sent.filter((c) => c === "CompleteMultipartUploadCommand").length, 0);
    } finally {
      s3.middlewareStack.remove("damagePart2");
    }
  });

  it("refuses to upload a file that changed size after it was listed, naming it", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "result.ply"), randomBytes(1000));
    const t = new FolderTransfer(aws().emulators.clients.s3());
    await assert.rejects(
      t.upload({
        dir,
        bucket: aws().resources.bucket,
        prefix: `transfer/${++n}/out`,
        // The processor (or anything else) still writing the file once the upload has listed it.
        skip: async (f) => {
          await appendFile(f.full, "more");
          return false;
        },
      }),
      (err: TransferError) => err.code === "TRANSFER" && /result\.ply changed size during the upload/.test(err.message),
    );
  });

  it("fails a download whose object changed after the listing rather than mixing two versions, and leaves no file open", async () => {
    const big = randomBytes(10 * MiB);
    const prefix = await put({ "scan/big.bin": big, "a.txt": Buffer.from("a") });
    const s3 = aws().emulators.clients.s3();
    let replaced = false;
    // The first GET finds the object replaced by a new upload since the listing.
    s3.middlewareStack.add(
      (next, ctx) => async (args) => {
        if (ctx.commandName === "GetObjectCommand" && !replaced) {
          replaced = true;
          await s3.send(new PutObjectCommand({ Bucket: aws().resources.bucket, Key: `${prefix}/scan/big.bin`, Body: randomBytes(10 * MiB) }));
        }
        return next(args);
      },
      { step: "initialize", name: "replaceObject" },
    );
    const fdsBefore = await openFiles();
    try {
      await assert.rejects(
        new FolderTransfer(s3, { rangeSizeBytes: 4 * MiB, concurrency: 2, reserveBytes: 0 }).download({ bucket: aws().resources.bucket, prefix, dir: await tempDir(), platform: "posix" }),
        (err: TransferError) => err.code === "TRANSFER" && /PreconditionFailed/.test(err.message),
      );
    } finally {
      s3.middlewareStack.remove("replaceObject");
    }
    if (fdsBefore !== undefined) assert.equal(await openFiles(), fdsBefore, "a file handle was left open");
  });
});

/** Open file descriptors of this process (Linux), to see that a failed transfer closed its files. */
async function openFiles(): Promise<number | undefined> {
  try {
    return (await readdir("/proc/self/fd")).length;
  } catch {
    return undefined;
  }
}
