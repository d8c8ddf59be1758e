import assert from "node:assert/strict";
import fc from "fast-check";
import { randomInt } from "node:crypto";
import { BOOLEAN_KEYS, INTEGER_KEYS, parseJobRequest, REQUEST_KEYS } from "../../../core/request.ts";
import { BUCKET, fixtureRequest, SOURCE, useApiHarness, type ErrorAnswer } from "./api-harness.ts";

/** Keys of every object the harness uploaded: the only folders a valid submit can name. */
const UPLOADED = [`${SOURCE.prefix}/scan-001.ply`, `${SOURCE.prefix}/scan-002.ply`, `${SOURCE.prefix}/meta/info.json`];

/** Valid values for every optional key, any subset of them. */
const validOptions = fc.record(
  Object.fromEntries([
    ...BOOLEAN_KEYS.map((k) => [k, fc.boolean()]),
    ...INTEGER_KEYS.map((k) => [k, fc.nat({ max: 2 ** 31 - 1 })]),
  ]) as Record<string, fc.Arbitrary<boolean | number>>,
  { requiredKeys: [] },
);

const folderName = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,12}$/);

/** Source URIs: mostly the uploaded folder or a parent of it, sometimes an empty folder. */
const goodSource = fc.oneof(
  { weight: 6, arbitrary: fc.constant(`s3://${BUCKET}/${SOURCE.prefix}`) },
  { weight: 1, arbitrary: fc.constant(`s3://${BUCKET}/${SOURCE.prefix}/`) },
  { weight: 1, arbitrary: fc.constant(`s3://${BUCKET}/scans`) },
  { weight: 1, arbitrary: folderName.map((f) => `s3://${BUCKET}/empty/${f}`) },
);
const goodTarget = folderName.map((f) => `s3://${BUCKET}/results/${f}`);

/** URIs that must be refused wherever they appear. */
const badUri = fc.oneof(
  fc.constantFrom(
    "",
    "s3://",
    "s3:///x",
    `s3://${BUCKET}`,
    `s3://${BUCKET}/`,
    `s3://${BUCKET}//x`,
    `s3://${BUCKET}/a/../b`,
    `s3://${BUCKET}/./b`,
    `s3://${BUCKET.toUpperCase()}/x`,
    `https://${BUCKET}.s3.amazonaws.com/x`,
    "s3://pointcloud.test.until.20240607/test/src",
    "s3://192.168.0.1/x",
    `s3://${BUCKET}/a\u0000b`,
    `S3://${BUCKET}/x`,
  ),
  fc.string({ maxLength: 60 }),
  folderName.map((b) => `s3://${b}-other/${b}`),
  fc.string({ minLength: 1, maxLength: 40 }).map((p) => `s3://${BUCKET}/${p}`),
);

/** Any JSON value, nested a few levels. */
const junk = fc.jsonValue({ maxDepth: 4 });
const wrongType = fc.oneof(junk, fc.constant(null), fc.string({ maxLength: 20 }), fc.double(), fc.array(fc.boolean()), fc.object());
const unknownKey = fc.oneof(
  fc.string({ minLength: 1, maxLength: 30 }).filter((k) => !REQUEST_KEYS.includes(k)),
  fc.constantFrom("__proto__", "constructor", "toString", "use gpu", "Use  GPU", "Source Folder Path ", "source folder path"),
);

type Body = Record<string, unknown>;

/** A fixture-like body, then zero to three mutations. */
const mutatedBody: fc.Arbitrary<Body> = fc
  .tuple(
    goodSource,
    goodTarget,
    validOptions,
    fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant("wrongType" as const), key: fc.constantFrom(...REQUEST_KEYS), value: wrongType }),
        fc.record({ kind: fc.constant("unknownKey" as const), key: unknownKey, value: junk }),
        fc.record({ kind: fc.constant("badUri" as const), key: fc.constantFrom("Source Folder Path", "Target Folder Path"), value: badUri }),
        fc.record({ kind: fc.constant("drop" as const), key: fc.constantFrom(...REQUEST_KEYS) }),
        fc.record({ kind: fc.constant("overlap" as const), sub: fc.option(folderName, { nil: undefined }) }),
        fc.record({ kind: fc.constant("huge" as const), key: fc.constantFrom(...REQUEST_KEYS, "Notes"), size: fc.integer({ min: 1_000, max: 40_000 }) }),
      ),
      { maxLength: 3 },
    ),
  )
  .map(([source, target, options, mutations]) => {
    const body: Body = { "Source Folder Path": source, "Target Folder Path": target, ...options };
    for (const m of mutations) {
      if (m.kind === "drop") delete body[m.key];
      else if (m.kind === "overlap") body["Target Folder Path"] = `${String(body["Source Folder Path"]).replace(/\/$/, "")}${m.sub ? `/${m.sub}` : ""}`;
      else if (m.kind === "huge") body[m.key] = "x".repeat(m.size);
      else Object.defineProperty(body, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
    }
    return body;
  });

/** What a client sends: a body text and headers. */
interface Submission {
  text: string;
  /** A key the text's object names twice (JSON.parse alone would keep the last value silently). */
  repeatedKey?: string;
  contentType?: string;
  idempotencyKey?: string;
}

const someSubmission: fc.Arbitrary<Submission> = fc.record(
  {
    text: fc.oneof(
      { weight: 8, arbitrary: mutatedBody.map((b) => JSON.stringify(b)) },
      { weight: 2, arbitrary: fc.constant(JSON.stringify(fixtureRequest())) },
      { weight: 1, arbitrary: junk.map((v) => JSON.stringify(v)) },
      { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
      { weight: 1, arbitrary: mutatedBody.chain((b) => fc.nat({ max: 200 }).map((n) => JSON.stringify(b).slice(0, n))) },
      { weight: 1, arbitrary: fc.constantFrom("", " ", "{", "{}", "[]", "null", "true", '"s3://x/y"', "\uFEFF{}", "{\"a\":1}garbage") },
    ),
    contentType: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom("application/json", "application/json; charset=utf-8", "application/vnd.spotq+json") },
      { weight: 1, arbitrary: fc.constantFrom("text/plain", "multipart/form-data", "application/x-www-form-urlencoded", "json") },
    ),
    // Mostly fresh keys; a small pool of reused ones makes replays (same body) and reuses (another body).
    idempotencyKey: fc.oneof(
      { weight: 4, arbitrary: fc.uuid() },
      { weight: 2, arbitrary: fc.constantFrom("retry-1", "retry-2", "retry-3") },
      { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
      { weight: 1, arbitrary: fc.constantFrom("", "a b", "k".repeat(300), "cl\u00e9", "key\twith-tab", " retry-1", "retry-2\t", "  ") },
    ),
  },
  { requiredKeys: ["text"] },
);

/** Mostly the submissions above; sometimes one of them with a key of its body sent a second time. */
const submission: fc.Arbitrary<Submission> = fc.oneof(
  { weight: 12, arbitrary: someSubmission },
  {
    weight: 1,
    arbitrary: fc.tuple(someSubmission, mutatedBody, fc.option(junk, { freq: 3 })).chain(([s, body, other]) =>
      fc.constantFrom(...(Object.keys(body).length ? Object.keys(body) : ["Use GPU"])).map((key): Submission => {
        const text = JSON.stringify(body);
        // Mostly the same value again (the request would be valid but for the repeat), sometimes another.
        const value = other === null ? (body[key] ?? true) : other;
        const repeated = `${text.slice(0, -1)}${text === "{}" ? "" : ","}${JSON.stringify(key)}:${JSON.stringify(value)}}`;
        return { ...s, text: repeated, ...(key in body ? { repeatedKey: key } : {}) };
      }),
    ),
  },
);

/**
 * The Idempotency-Key the server receives: HTTP drops a header value's leading and trailing
 * whitespace (RFC 9110 §5.5; the Fetch standard's Headers strip tabs, spaces, CR and LF), so
 * " retry-1" arrives as "retry-1" and "  " as the empty string.
 */
function receivedKey(s: Submission): string | undefined {
  return s.idempotencyKey?.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
}

/** Whether the API must accept this submission: the same rules, restated from the design. */
function mustAccept(s: Submission, maxBodyBytes: number): boolean {
  if (Buffer.byteLength(s.text) > maxBodyBytes) return false;
  if (s.contentType !== undefined && !/^application\/(?:[\w.-]+\+)?json$/.test(s.contentType.split(";")[0]!.trim())) return false;
  const key = receivedKey(s);
  if (key !== undefined && !/^[A-Za-z0-9._:+=/-]{1,255}$/.test(key)) return false;
  let body: unknown;
  try {
    body = JSON.parse(s.text.replace(/^\uFEFF/, ""));
  } catch {
    return false;
  }
  if (s.repeatedKey !== undefined) return false;
  const parsed = parseJobRequest(body, { servedBuckets: [BUCKET] });
  if (!parsed.ok) return false;
  const folder = `${parsed.value.source.prefix}/`;
  return UPLOADED.some((k) => k.startsWith(folder));
}

/**
 * The seed of every property below: `FC_SEED` replays a run (add `FC_PATH` from a failure's report
 * to go straight to its shrunk counterexample), else a fresh one. Printed before each property runs.
 */
function fcParameters(name: string): { seed: number; path?: string } {
  const raw = process.env.FC_SEED;
  if (raw !== undefined && raw !== "" && !/^-?\d+$/.test(raw)) throw new RangeError(`FC_SEED must be an integer, got "${raw}"`);
  const seed = raw ? Number(raw) : randomInt(-(2 ** 31), 2 ** 31);
  const path = process.env.FC_PATH || undefined;
  process.stdout.write(`      ${name}: fast-check seed ${seed} (replay with FC_SEED=${seed}${path ? ` FC_PATH=${path}` : ""})\n`);
  return { seed, ...(path ? { path } : {}) };
}

describe("api: POST /jobs under generated bodies (fast-check, real emulators)", () => {
  const h = useApiHarness();

  it("never answers 5xx, lists problems on every refusal, and stores and enqueues only what it accepts", async function () {
    this.timeout(300_000);
    const app = h().app();
    const accepted = new Map<string, string>(); // idempotency key -> jobId
    let created = 0;
    const itemsBefore = await h().jobItems();

    await fc.assert(
      fc.asyncProperty(submission, async (s) => {
        const messagesBefore = await h().queuedMessages();
        const headers: Record<string, string> = {};
        if (s.contentType !== undefined) headers["Content-Type"] = s.contentType;
        if (s.idempotencyKey !== undefined) headers["Idempotency-Key"] = s.idempotencyKey;

        const res = await app.request("/jobs", { method: "POST", body: new TextEncoder().encode(s.text), headers });

        assert.ok(res.status < 500, `${res.status}: ${await res.clone().text()}`);
        const replayed = res.headers.get("idempotent-replayed") === "true";
        const key = receivedKey(s);
        if (res.status === 202) {
          const { jobId, state } = (await res.json()) as { jobId: string; state: string };
          // Bookkeeping first: the emulators keep their state while fast-check shrinks a failure.
          if (!replayed) {
            created++;
            if (key) accepted.set(key, jobId);
          }
          assert.ok(mustAccept(s, h().deps.config.api.maxBodyBytes), "accepted a request the rules refuse");
          if (replayed) assert.equal(accepted.get(key!), jobId, "a replay returns the key's first job");
          else assert.equal(state, "QUEUED");
        } else {
          const reused = res.status === 422 && key !== undefined && accepted.has(key);
          assert.ok(reused || !mustAccept(s, h().deps.config.api.maxBodyBytes), `refused a valid request: ${res.status} ${await res.clone().text()}`);
          const { error } = (await res.json()) as ErrorAnswer;
          assert.ok(error.problems && error.problems.length > 0, "a refusal lists its problems");
          if (s.repeatedKey !== undefined && res.status === 400 && mustAccept({ ...s, repeatedKey: undefined }, h().deps.config.api.maxBodyBytes))
            assert.deepEqual(error.problems.map((p) => p.field), [s.repeatedKey], "a repeated key is named");
          for (const p of error.problems) assert.ok(typeof p.field === "string" && p.field && typeof p.reason === "string" && p.reason);
        }
        assert.equal(await h().queuedMessages(), messagesBefore + (res.status === 202 && !replayed ? 1 : 0), "one message per new job, none otherwise");
      }),
      { numRuns: 2000, ...fcParameters("bodies") },
    );

    assert.equal(await h().jobItems(), itemsBefore + created, "one record per new job, none otherwise");
    assert.ok(created > 100, `the generator reaches the accepting path often enough (${created} jobs)`);
  });

  it("never answers 5xx to generated ids, queries and methods on /jobs", async function () {
    this.timeout(120_000);
    const app = h().app();
    const param = fc.oneof(fc.constantFrom("state", "limit", "next", "status"), fc.string({ maxLength: 8 }));
    const value = fc.oneof(fc.constantFrom("QUEUED", "RUNNING", "0", "1", "100", "101", "-1", "1e2", ""), fc.string({ maxLength: 40 }), fc.base64String({ maxLength: 80 }));
    const path = fc.oneof(
      fc.tuple(fc.array(fc.tuple(param, value), { maxLength: 4 })).map(([pairs]) => `/jobs?${new URLSearchParams(pairs).toString()}`),
      fc.string({ maxLength: 60 }).map((id) => `/jobs/${encodeURIComponent(id)}`),
      fc.stringMatching(/^[0-9A-Za-z]{26}$/).map((id) => `/jobs/${id}`),
      fc.string({ maxLength: 30 }).map((p) => `/${encodeURIComponent(p)}`),
    );
    const method = fc.constantFrom("GET", "DELETE", "PUT", "PATCH", "POST", "OPTIONS", "HEAD");

    await fc.assert(
      fc.asyncProperty(path, method, async (p, m) => {
        const res = await app.request(p, { method: m, ...(m === "POST" || m === "PUT" || m === "PATCH" ? { body: "{}", headers: { "Content-Type": "application/json" } } : {}) });
        assert.ok(res.status < 500, `${m} ${p} -> ${res.status}: ${await res.clone().text()}`);
        if (m !== "HEAD" && res.status >= 400) assert.ok(((await res.json()) as ErrorAnswer).error.code);
      }),
      { numRuns: 1000, ...fcParameters("ids, queries and methods") },
    );
  });
});
