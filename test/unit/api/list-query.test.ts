import assert from "node:assert/strict";
import { encodeListCursor, parseListQuery } from "../../../api/list-query.ts";

const parse = (q: string, tenant?: string) => parseListQuery(new URLSearchParams(q), tenant ? { tenant } : {});
const fields = (q: string) => {
  const r = parse(q);
  assert.equal(r.ok, false, q);
  return r.ok ? [] : r.problems.map((p) => p.field).sort();
};

describe("api/list-query", () => {
  it("defaults to 20 jobs of every state", () => {
    assert.deepEqual(parse(""), { ok: true, value: { limit: 20 } });
  });

  it("takes a state, a limit from 1 to 100, and a cursor of the same listing", () => {
    const next = encodeListCursor({ state: "RUNNING" }, undefined, "store-cursor");
    assert.deepEqual(parse(`state=RUNNING&limit=100&next=${next}`), { ok: true, value: { state: "RUNNING", limit: 100, next: "store-cursor" } });
    assert.deepEqual(parse(`limit=1&next=${encodeListCursor({}, undefined, "c2")}`), { ok: true, value: { limit: 1, next: "c2" } });
  });

  it("refuses a state that is not one, naming the states", () => {
    const r = parse("state=DONE");
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.problems[0]!.reason, /must be one of QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLING, CANCELLED, got "DONE"/);
  });

  it("refuses limits outside 1..100 and anything but digits", () => {
    for (const limit of ["0", "101", "-1", "1.5", "1e2", "", "ten", " 5", "00000001"]) assert.deepEqual(fields(`limit=${encodeURIComponent(limit)}`), ["limit"], limit);
  });

  it("refuses a cursor that is not one, or one from a listing of another state", () => {
    assert.deepEqual(fields("next=abc"), ["next"]);
    assert.deepEqual(fields(`next=${Buffer.from(JSON.stringify({ s: "DONE", n: "x" })).toString("base64url")}`), ["next"]);
    assert.deepEqual(fields(`next=${Buffer.from(JSON.stringify({ s: null, n: "" })).toString("base64url")}`), ["next"]);
    const r = parse(`next=${encodeListCursor({ state: "QUEUED" }, undefined, "c")}`);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.problems[0]!.reason, /belongs to a listing of state=QUEUED; pass the same state filter with it/);
  });

  it("takes a name (a trailing * for a prefix) and repeated tags (key=value or key)", () => {
    assert.deepEqual(parse("name=case%204711"), { ok: true, value: { limit: 20, name: "case 4711" } });
    assert.deepEqual(parse("name=case-*&tag=clinic=north&tag=urgent"), {
      ok: true,
      value: { limit: 20, namePrefix: "case-", tags: [{ key: "clinic", value: "north" }, { key: "urgent" }] },
    });
    assert.deepEqual(parse("tag=empty="), { ok: true, value: { limit: 20, tags: [{ key: "empty", value: "" }] } });
  });

  it("refuses a bad name or tag, naming the parameter", () => {
    for (const q of ["name=", "name=*", "name=a*b", "name=%20lead", `name=${"x".repeat(129)}`, "tag=", "tag==v", "tag=k=a,b", "tag=sp%20ace=v", `tag=${"k".repeat(65)}`])
      assert.deepEqual(fields(q), [q.startsWith("name") ? "name" : "tag"], q);
    assert.deepEqual(fields(Array.from({ length: 11 }, (_, i) => `tag=k${i}`).join("&")), ["tag"]);
  });

  it("binds a cursor to its tenant and its filters: another tenant's cursor is not one, other filters are named", () => {
    const a = encodeListCursor({ name: "x" }, "lab-a", "c");
    assert.equal(parse(`name=x&next=${a}`, "lab-a").ok, true);
    const other = parse(`name=x&next=${a}`, "lab-b");
    assert.equal(other.ok, false);
    if (!other.ok) assert.deepEqual(other.problems, [{ field: "next", reason: "is not a cursor from a previous page of GET /jobs" }]);
    assert.equal(parse(`name=x&next=${a}`).ok, false, "nor the operator's");
    const filters = parse(`name=y&next=${a}`, "lab-a");
    assert.equal(filters.ok, false);
    if (!filters.ok) assert.match(filters.problems[0]!.reason, /other name or tag filters/);
    // Tag order does not make another listing.
    const t = encodeListCursor({ tags: [{ key: "a" }, { key: "b", value: "1" }] }, undefined, "c");
    assert.equal(parse(`tag=b=1&tag=a&next=${t}`).ok, true);
  });

  it("refuses unknown and repeated parameters, listing every problem", () => {
    assert.deepEqual(fields("status=QUEUED"), ["status"]);
    assert.deepEqual(fields("state=QUEUED&state=RUNNING"), ["state"]);
    assert.deepEqual(fields("state=X&limit=0&next=%25&colour=red"), ["colour", "limit", "next", "state"]);
  });
});
