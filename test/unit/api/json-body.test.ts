import assert from "node:assert/strict";
import { ApiError } from "../../../api/http-errors.ts";
import { readJsonBody } from "../../../api/json-body.ts";

const JSON_TYPE = { "Content-Type": "application/json" };
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

  it("refuses a body longer than the Content-Length it declares, by what it reads", async () => {
    // Declared small enough to pass the first check; the body itself is over the limit.
    const lying = await refusal(post(`"${"x".repeat(150)}"`, { "Content-Type": "application/json", "Content-Length": "10" }));
    assert.deepEqual([lying.status, lying.fields], [413, ["body"]]);
    assert.match(lying.reasons, /at most 100 bytes, got more than 100 bytes/);
  });

  it("reads a body with a Content-Length the same as one streamed without it", async () => {
    const text = '{"Use GPU": true, "Notes": "\u00e9t\u00e9 ☀"}';
    const declared = await readJsonBody(post(text, { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(text)) }), 1000);
    const bytes = new TextEncoder().encode(text);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, 7));
        c.enqueue(bytes.slice(7));
        c.close();
      },
    });
    const streamed = await readJsonBody(new Request("http://localhost/jobs", { method: "POST", body: stream, duplex: "half" } as RequestInit), 1000);
    assert.deepEqual(declared, { "Use GPU": true, Notes: "été ☀" });
    assert.deepEqual(streamed, declared);
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

  it("refuses an object that names a key twice with 400 naming the key, however the key is spelled in JSON", async () => {
    const twice = await refusal(post('{"Use GPU": false, "File Size": 1, "Use GPU": true}', JSON_TYPE), 1000);
    assert.deepEqual([twice.status, twice.fields], [400, ["Use GPU"]]);
    assert.match(twice.reasons, /more than once/);

    // The same key written with an escape is still the same key once parsed.
    const escaped = await refusal(post('{"Use GPU": true, "Use\\u0020GPU": false}', JSON_TYPE), 1000);
    assert.deepEqual(escaped.fields, ["Use GPU"]);

    // Every duplicate is listed, nested ones by their path, each once.
    const many = await refusal(post('{"a": 1, "b": {"x": 1, "x": 2}, "a": 2, "a": 3, "c": [{"y": 1, "y": 2}]}', JSON_TYPE), 1000);
    assert.deepEqual(many.fields, ["b.x", "a", "c.y"]);
  });

  it("accepts the same key in different objects, and keys that only look alike", async () => {
    assert.deepEqual(await readJsonBody(post('{"a": {"k": 1}, "b": {"k": 2}, "k": [{"k": 3}, {"k": 4}]}', JSON_TYPE), 1000), {
      a: { k: 1 },
      b: { k: 2 },
      k: [{ k: 3 }, { k: 4 }],
    });
    // A value that spells a key, escaped quotes and braces inside strings, and keys that differ by case.
    assert.deepEqual(await readJsonBody(post('{"a": "a", "q": "\\"a\\": {", "A": 1, "s": ["a", "a"]}', JSON_TYPE), 1000), { a: "a", q: '"a": {', A: 1, s: ["a", "a"] });
  });
});
