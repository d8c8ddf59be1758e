import assert from "node:assert/strict";
import { encodeListCursor, parseListQuery } from "../../../api/list-query.ts";

const parse = (q: string) => parseListQuery(new URLSearchParams(q));
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
    const next = encodeListCursor("RUNNING", "store-cursor");
    assert.deepEqual(parse(`state=RUNNING&limit=100&next=${next}`), { ok: true, value: { state: "RUNNING", limit: 100, next: "store-cursor" } });
    assert.deepEqual(parse(`limit=1&next=${encodeListCursor(undefined, "c2")}`), { ok: true, value: { limit: 1, next: "c2" } });
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
    const r = parse(`next=${encodeListCursor("QUEUED", "c")}`);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.problems[0]!.reason, /belongs to a listing of state=QUEUED; pass the same state filter with it/);
  });

  it("refuses unknown and repeated parameters, listing every problem", () => {
    assert.deepEqual(fields("status=QUEUED"), ["status"]);
    assert.deepEqual(fields("state=QUEUED&state=RUNNING"), ["state"]);
    assert.deepEqual(fields("state=X&limit=0&next=%25&colour=red"), ["colour", "limit", "next", "state"]);
  });
});
