import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseJobRequest } from "../../../core/request.ts";

const fixture = JSON.parse(readFileSync(new URL("../../fixtures/medit-request.json", import.meta.url), "utf8")) as Record<
  string,
  unknown
>;

describe("core/request", () => {
  it("accepts the Medit fixture as is, keeping every key", () => {
    const r = parseJobRequest(fixture);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
    assert.deepEqual(r.value.request, fixture);
    assert.deepEqual(r.value.source, { bucket: "pointcloud.test.until.20240607", prefix: "test/src" });
  });

  it("lists every problem at once, each naming its field", () => {
    const r = parseJobRequest({ ...fixture, "Use GPU": "true", "Complete Type": -1, "File Size": 1.5, "Use Gpu": true });
    assert.equal(r.ok, false);
    if (r.ok) return;
    const fields = r.problems.map((p) => p.field).sort();
    assert.deepEqual(fields, ["Complete Type", "File Size", "Use GPU", "Use Gpu"]);
    const unknown = r.problems.find((p) => p.field === "Use Gpu")!;
    assert.match(unknown.reason, /did you mean "Use GPU"/);
    assert.match(unknown.reason, /accepted keys: Source Folder Path, Target Folder Path/);
  });

  it("requires both paths and refuses overlap", () => {
    const missing = parseJobRequest({ "Use GPU": true });
    assert.equal(missing.ok, false);
    if (!missing.ok) assert.deepEqual(missing.problems.map((p) => p.field).sort(), ["Source Folder Path", "Target Folder Path"]);
    const overlap = parseJobRequest({ ...fixture, "Target Folder Path": "s3://pointcloud.test.until.20240607/test/src/out" });
    assert.equal(overlap.ok, false);
    if (!overlap.ok) assert.match(overlap.problems[0]!.reason, /overlap/);
  });

  it("refuses a bucket the deployment does not serve", () => {
    const r = parseJobRequest(fixture, { servedBuckets: ["spotq-data"] });
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.problems[0]!.reason, /not served by this deployment \(served: spotq-data\)/);
  });

  it("passes declared extra options through and refuses undeclared ones", () => {
    const body = { ...fixture, "Mesh Quality": 3 };
    assert.equal(parseJobRequest(body).ok, false);
    const r = parseJobRequest(body, { extraOptions: ["Mesh Quality"] });
    assert.ok(r.ok);
    assert.equal(r.value.request["Mesh Quality"], 3);
  });

  it("refuses a body that is not an object", () => {
    for (const b of [null, [], "x", 3]) {
      const r = parseJobRequest(b);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.problems[0]!.field, "body");
    }
  });
});
