import assert from "node:assert/strict";
import { ApiError } from "../../../api/http-errors.ts";
import { readJsonBody } from "../../../api/json-body.ts";

const post = (body: RequestInit["body"], headers: Record<string, string> = {}) => new Request("http://localhost/jobs", { method: "POST", body, headers });

/** The ApiError a read throws: status and the fields its problems name. */
async function refusal(req: Request, max = 100): Promise<{ status: number; fields: string[]; reasons: string }> {
  try {
    await readJsonBody(req, max);
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    return { status: err.status, fields: err.problems?.map((p) => p.field) ?? [], reasons: err.problems?.map((p) => p.reason).join("; ") ?? "" };
  }
  assert.fail("the body was accepted");
}

describe("api/json-body", () => {
  it("reads JSON sent as application/json, a +json type, or without a Content-Type", async () => {
    assert.deepEqual(await readJsonBody(post('{"a":1}', { "Content-Type": "application/json; charset=utf-8" }), 100), { a: 1 });
    assert.deepEqual(await readJsonBody(post('{"a":2}', { "Content-Type": "application/vnd.spotq+json" }), 100), { a: 2 });
    assert.deepEqual(await readJsonBody(post(new TextEncoder().encode('{"a":3}')), 100), { a: 3 });
  });

  it("ignores a UTF-8 byte order mark", async () => {
    assert.deepEqual(await readJsonBody(post(new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode("[1]")])), 100), [1]);
  });

  it("refuses a body over the limit with 413 naming body, by its Content-Length or by what it reads", async () => {
    const declared = await refusal(post("x".repeat(101), { "Content-Type": "application/json", "Content-Length": "101" }));
    assert.deepEqual([declared.status, declared.fields], [413, ["body"]]);
    assert.match(declared.reasons, /at most 100 bytes, got 101 bytes/);

    // A chunked body (no Content-Length) is counted while it streams.
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new Uint8Array(20).fill(0x20));
        c.close();
      },
    });
    const streamed = await refusal(new Request("http://localhost/jobs", { method: "POST", body: stream, duplex: "half" } as RequestInit));
    assert.deepEqual([streamed.status, streamed.fields], [413, ["body"]]);
  });

  it("accepts a body of exactly the limit", async () => {
    const text = `"${"x".repeat(98)}"`;
    assert.equal(await readJsonBody(post(text, { "Content-Type": "application/json" }), 100), "x".repeat(98));
  });

  it("refuses another media type with 415 naming Content-Type", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "json"]) {
      const r = await refusal(post("{}", { "Content-Type": type }));
      assert.deepEqual([r.status, r.fields], [415, ["Content-Type"]], type);
    }
  });

  it("refuses an empty body and text that is not JSON with 400 naming body", async () => {
    for (const [text, reason] of [["", /is empty/], ["  \n", /is empty/], ["{", /not valid JSON/], ["{'a':1}", /not valid JSON/], ["NaN", /not valid JSON/]] as const) {
      const r = await refusal(post(text, { "Content-Type": "application/json" }));
      assert.deepEqual([r.status, r.fields], [400, ["body"]], text);
      assert.match(r.reasons, reason);
    }
  });
});
