import assert from "node:assert/strict";
import { formatTags, nameProblem, parseJobLabels, parseTags } from "../../../api/job-labels.ts";

describe("api/job-labels: job names and tags from headers", () => {
  it("takes a printable name and k=v tags, trimming around the separators", () => {
    assert.deepEqual(parseJobLabels({ name: "Case 4711 (upper jaw)", tags: "clinic=north, urgent=yes ,empty=" }), {
      ok: true,
      value: { name: "Case 4711 (upper jaw)", tags: { clinic: "north", urgent: "yes", empty: "" } },
    });
    assert.deepEqual(parseJobLabels({}), { ok: true, value: {} });
    assert.deepEqual(parseTags("a=b=c"), { ok: true, value: { a: "b=c" } }, "the first = splits");
  });

  it("refuses a bad name, naming the header and the reason", () => {
    for (const [name, reason] of [
      ["", /must not be empty/],
      [" lead", /leading or trailing spaces/],
      ["star*", /without \*/],
      ["tab\there", /printable ASCII/],
      ["Müller", /printable ASCII/],
      ["x".repeat(129), /at most 128 characters, got 129/],
    ] as const) {
      const p = nameProblem(name);
      assert.equal(p?.field, "Spotq-Job-Name", name);
      assert.match(p!.reason, reason, name);
    }
  });

  it("refuses bad tags, listing each problem with the header's name", () => {
    const r = parseTags("ok=1,novalue,bad key=2,k=v*,ok=2");
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.ok(r.problems.every((p) => p.field === "Spotq-Job-Tags"));
    assert.deepEqual(
      r.problems.map((p) => p.reason),
      ['"novalue" is not key=value', 'tag key "bad key" must be 1 to 64 letters, digits or . _ : / + @ -', "the value of tag k must be at most 128 printable ASCII characters without , or *", "tag ok is given twice"],
    );
    const many = parseTags(Array.from({ length: 11 }, (_, i) => `k${i}=v`).join(","));
    assert.equal(many.ok, false);
    if (!many.ok) assert.match(many.problems[0]!.reason, /at most 10 tags, got 11/);
    assert.equal(parseTags(" ").ok, false);
  });

  it("cannot be tricked into setting a prototype", () => {
    const r = parseTags("__proto__=x,constructor=y");
    assert.ok(r.ok);
    if (r.ok) {
      assert.deepEqual(Object.keys(r.value), ["__proto__", "constructor"]);
      assert.equal(({} as Record<string, unknown>).x, undefined);
    }
  });

  it("formats tags back, keys sorted", () => {
    assert.equal(formatTags({ z: "1", a: "" }), "a=,z=1");
    assert.equal(formatTags(undefined), "");
  });
});
