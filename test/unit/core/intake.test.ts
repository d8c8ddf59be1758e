import assert from "node:assert/strict";
import { decodeS3EventKey, encodeS3EventKey, kafkaIdempotencyKey, markerNotificationFilters, matchesNotificationFilter, markerFolder, markerIdempotencyKey, markerRequest } from "../../../core/intake.ts";
import { parseIdempotencyKey } from "../../../api/idempotency.ts";

describe("core/intake: jobs from an uploaded spotq.json", () => {
  it("takes the marker's folder as the source, and names it below the trigger prefix", () => {
    const r = markerFolder("inbox/lab-a/case-1/spotq.json", ["inbox/"]);
    assert.deepEqual(r, { ok: true, value: { prefix: "inbox/", folder: "inbox/lab-a/case-1", relative: "lab-a/case-1" } });
  });

  it("refuses a marker right in the prefix, one elsewhere, and a look-alike name", () => {
    const reasons = ["inbox/spotq.json", "scans/case-1/spotq.json", "inbox/case-1/xspotq.json", "inbox2/case/spotq.json"].map((k) => {
      const r = markerFolder(k, ["inbox/"]);
      assert.equal(r.ok, false, k);
      return r.ok ? "" : r.reason;
    });
    assert.match(reasons[0]!, /directly in the trigger prefix inbox\//);
    assert.match(reasons[1]!, /not under a trigger prefix/);
    assert.match(reasons[2]!, /not a spotq.json inside a folder/);
    assert.match(reasons[3]!, /not under a trigger prefix/);
  });

  it("fills in only the path keys the marker leaves out", () => {
    const folder = { prefix: "inbox/", folder: "inbox/case-1", relative: "case-1" };
    assert.deepEqual(markerRequest({ "Use GPU": true }, { bucket: "b", folder, targetPrefix: "results/" }), {
      "Use GPU": true,
      "Source Folder Path": "s3://b/inbox/case-1",
      "Target Folder Path": "s3://b/results/case-1",
    });
    const own = { "Target Folder Path": "s3://b/out/x" };
    assert.deepEqual(markerRequest(own, { bucket: "b", folder, targetPrefix: "results/" }), { ...own, "Source Folder Path": "s3://b/inbox/case-1" });
    assert.equal(markerRequest("not an object", { bucket: "b", folder, targetPrefix: "results/" }), "not an object");
  });

  it("decodes S3 event keys (URL-encoded, + for a space), and encodes them as S3 does", () => {
    assert.equal(decodeS3EventKey("inbox/case+1%2Ba/spotq.json"), "inbox/case 1+a/spotq.json");
    assert.equal(encodeS3EventKey("inbox/case 1+a/ü.json"), "inbox/case+1%2Ba/%C3%BC.json");
    assert.equal(decodeS3EventKey(encodeS3EventKey("inbox/a b/+/%/spotq.json")), "inbox/a b/+/%/spotq.json");
  });

  it("filters notifications as S3 does: a trigger prefix and the spotq.json suffix", () => {
    const f = markerNotificationFilters(["inbox/", "drop/"]);
    assert.deepEqual(f, [{ prefix: "inbox/", suffix: "spotq.json" }, { prefix: "drop/", suffix: "spotq.json" }]);
    assert.deepEqual(
      ["inbox/c/spotq.json", "drop/c/spotq.json", "inbox/c/xspotq.json", "scans/c/spotq.json", "inbox/c/scan.ply"].map((k) => matchesNotificationFilter(f, k)),
      [true, true, true, false, false],
    );
  });

  it("makes idempotency keys the API accepts, equal for the same upload and different for a new ETag or record", () => {
    const a = markerIdempotencyKey("b", "inbox/x/spotq.json", '"abc"');
    assert.equal(a, markerIdempotencyKey("b", "inbox/x/spotq.json", "abc"));
    assert.notEqual(a, markerIdempotencyKey("b", "inbox/x/spotq.json", "abd"));
    const k = kafkaIdempotencyKey("arn:aws:kafka:...", "jobs", 0, 15);
    assert.notEqual(k, kafkaIdempotencyKey("arn:aws:kafka:...", "jobs", 0, 16));
    for (const key of [a, k]) assert.deepEqual(parseIdempotencyKey(key), { ok: true, key });
  });
});
