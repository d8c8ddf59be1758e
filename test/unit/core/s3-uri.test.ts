import assert from "node:assert/strict";
import { bucketNameProblem, locationsOverlap, parseS3Uri } from "../../../core/s3-uri.ts";

describe("core/s3-uri", () => {
  it("parses the fixture's dotted bucket and normalises a trailing slash", () => {
    const r = parseS3Uri("s3://pointcloud.test.until.20240607/test/src/");
    assert.deepEqual(r, { ok: true, value: { bucket: "pointcloud.test.until.20240607", prefix: "test/src" } });
  });

  for (const [uri, why] of [
    ["http://bucket/x", /s3:\/\/bucket\/folder/],
    ["s3://Bucket/x", /lowercase/],
    ["s3://ab/x", /3 to 63/],
    ["s3://a..b/x", /adjacent dots/],
    ["s3://192.168.1.1/x", /IP address/],
    ["s3://bucket", /not the whole bucket/],
    ["s3://bucket/", /not the whole bucket/],
    ["s3://bucket/a//b", /empty path segment/],
    ["s3://bucket//a", /empty path segment/],
    ["s3://bucket/a/../b", /"\.\." path segment/],
    ["s3://bucket/./b", /"\." path segment/],
  ] as const) {
    it(`refuses ${uri}`, () => {
      const r = parseS3Uri(uri);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.reason, why);
    });
  }

  it("refuses non-strings with the type in the reason", () => {
    const r = parseS3Uri(42);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, /got number/);
  });

  it("finds overlap only on segment boundaries of the same bucket", () => {
    const loc = (bucket: string, prefix: string) => ({ bucket, prefix });
    assert.equal(locationsOverlap(loc("b", "test/src"), loc("b", "test/src/out")), true);
    assert.equal(locationsOverlap(loc("b", "test/src/out"), loc("b", "test/src")), true);
    assert.equal(locationsOverlap(loc("b", "test/src"), loc("b", "test/src")), true);
    assert.equal(locationsOverlap(loc("b", "test/src"), loc("b", "test/src2")), false);
    assert.equal(locationsOverlap(loc("b", "test/src"), loc("c", "test/src")), false);
  });

  it("accepts valid bucket names", () => {
    for (const b of ["abc", "my-bucket.v2", "a".repeat(63)]) assert.equal(bucketNameProblem(b), undefined, b);
  });
});
