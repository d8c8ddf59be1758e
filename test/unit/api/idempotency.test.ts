import assert from "node:assert/strict";
import { parseIdempotencyKey, sameRequest } from "../../../api/idempotency.ts";

describe("api/idempotency", () => {
  it("accepts no key, UUIDs, ULIDs and base64 keys", () => {
    assert.deepEqual(parseIdempotencyKey(null), { ok: true });
    for (const key of ["3f1d9a8e-6a54-4f7e-b0a1-1c2d3e4f5a6b", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "aGVsbG8/d29ybGQ+IQ==", "job:2026-11-22.retry_1", "k".repeat(255)])
      assert.deepEqual(parseIdempotencyKey(key), { ok: true, key });
  });

  it("refuses an empty, too long or oddly spelt key, naming the header and why", () => {
    for (const [key, reason] of [
      ["", /must not be empty/],
      ["k".repeat(256), /at most 255 characters, got 256/],
      ["two words", /may hold only/],
      ["clé", /may hold only/],
      ["idem#1", /may hold only/],
    ] as const) {
      const r = parseIdempotencyKey(key);
      assert.equal(r.ok, false, key);
      if (!r.ok) {
        assert.equal(r.problem.field, "Idempotency-Key");
        assert.match(r.problem.reason, reason);
      }
    }
  });

  it("sees the same request whatever the key order, and a changed value as another request", () => {
    const a = { "Source Folder Path": "s3://b/x", "Target Folder Path": "s3://b/y", "Use GPU": true, "Complete Type": 1 };
    const reordered = { "Complete Type": 1, "Use GPU": true, "Target Folder Path": "s3://b/y", "Source Folder Path": "s3://b/x" };
    assert.ok(sameRequest(a, reordered));
    assert.equal(sameRequest(a, { ...a, "Use GPU": false }), false);
    assert.equal(sameRequest(a, { ...a, "Complete Type": "1" }), false);
    assert.equal(sameRequest(a, { ...a, "File Size": 0 }), false);
    const { "Complete Type": _dropped, ...fewer } = a;
    assert.equal(sameRequest(a, fewer), false);
  });
});
