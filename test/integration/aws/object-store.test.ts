import assert from "node:assert/strict";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { S3ObjectStore } from "../../../aws/object-store.ts";
import { useLocalAws } from "../../support/local-aws.ts";

describe("aws: S3ObjectStore on fauxqs", () => {
  const aws = useLocalAws({}, "spotq-objects-test");
  const bucket = "spotq-objects-test";
  let s3: S3Client;

  /** Counts ListObjectsV2 pages, to see the listing page and stop early. */
  let pages = 0;

  before(async () => {
    s3 = aws().emulators.clients.s3();
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "ListObjectsV2Command") pages++;
        return next(args);
      },
      { step: "initialize", name: "countListPages" },
    );
    const put = (Key: string, size: number) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Buffer.alloc(size, 0x61) }));
    // Five objects (1500 bytes) under scan/, one console folder marker, and a sibling folder sharing the prefix.
    await put("scan/", 0);
    await put("scan/sub/", 0);
    for (let i = 1; i <= 5; i++) await put(`scan/part-${i}.ply`, i * 100);
    await put("scan-2/other.ply", 10_000);
    await put("markers-only/", 0);
    await put("markers-only/inner/", 0);
  });
  beforeEach(() => (pages = 0));

  it("counts objects and bytes across pages, without folder markers or a sibling folder", async () => {
    const store = new S3ObjectStore(s3, { pageSize: 2 });
    assert.deepEqual(await store.summarizeFolder(bucket, "scan"), { objects: 5, bytes: 1500, overLimit: false });
    assert.ok(pages >= 3, `listed page by page (${pages} pages)`);
    assert.deepEqual(await store.summarizeFolder(bucket, "scan/"), { objects: 5, bytes: 1500, overLimit: false }, "a trailing slash is the same folder");
  });

  it("stops listing once the bytes pass the limit", async () => {
    const store = new S3ObjectStore(s3, { pageSize: 1 });
    const r = await store.summarizeFolder(bucket, "scan", { maxBytes: 250 });
    assert.equal(r.overLimit, true);
    assert.ok(r.bytes > 250);
    assert.ok(r.objects < 5, `stopped early (${r.objects} objects counted)`);
    assert.ok(pages < 7, `did not list everything (${pages} pages)`);
  });

  it("is within the limit at exactly the limit", async () => {
    const r = await new S3ObjectStore(s3).summarizeFolder(bucket, "scan", { maxBytes: 1500 });
    assert.deepEqual(r, { objects: 5, bytes: 1500, overLimit: false });
  });

  it("reports an empty folder, and one holding only folder markers, as empty", async () => {
    const store = new S3ObjectStore(s3);
    assert.deepEqual(await store.summarizeFolder(bucket, "nothing/here"), { objects: 0, bytes: 0, overLimit: false });
    assert.deepEqual(await store.summarizeFolder(bucket, "markers-only"), { objects: 0, bytes: 0, overLimit: false });
  });

  it("names the bucket and folder when S3 refuses", async () => {
    await assert.rejects(new S3ObjectStore(s3).summarizeFolder("no-such-bucket-here", "x"), (err: Error) => {
      assert.match(err.message, /^S3 list s3:\/\/no-such-bucket-here\/x\/ failed: NoSuchBucket/);
      assert.equal(err.name, "NoSuchBucket");
      return true;
    });
  });
});
