import assert from "node:assert/strict";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { FolderTransfer, TransferError, type TransferProgress } from "../../../worker/transfer.ts";
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
});
