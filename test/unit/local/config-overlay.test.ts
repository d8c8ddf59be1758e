import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ValidationError } from "../../../core/errors.ts";
import { layConfig, localStackConfig } from "../../../scripts/local/config-overlay.ts";
import { localDefaultConfig } from "../../../scripts/local/local-config.ts";
import { REPO_ROOT } from "../../../scripts/local/start.ts";

describe("scripts/local/config-overlay: a partial SPOTQ_CONFIG over the local default", () => {
  let dir: string;
  const file = (name: string, json: unknown) => {
    const f = path.join(dir, name);
    writeFileSync(f, typeof json === "string" ? json : JSON.stringify(json));
    return f;
  };
  before(() => (dir = mkdtempSync(path.join(os.tmpdir(), "spotq-overlay-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("merges objects key by key at every depth; lists and plain values replace", () => {
    const base = { a: { b: 1, c: [1, 2], d: { e: "x", f: "y" } }, g: true };
    assert.deepEqual(layConfig(base, { a: { c: [3], d: { f: "z" } }, g: null }), { a: { b: 1, c: [3], d: { e: "x", f: "z" } }, g: null });
    assert.deepEqual(base, { a: { b: 1, c: [1, 2], d: { e: "x", f: "y" } }, g: true }, "the base is not changed");
    const evil = layConfig({}, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>).polluted, undefined, "a __proto__ key stays a plain key");
    assert.deepEqual(Object.keys(evil), ["__proto__"]);
  });

  it("a file holding only fleet.maxSize keeps the rest of the local default (the stand-in processor, the small fleet)", () => {
    const { config, source } = localStackConfig(REPO_ROOT, { SPOTQ_CONFIG: file("max.json", { fleet: { maxSize: 2 } }) });
    const local = localDefaultConfig(REPO_ROOT);
    assert.equal(config.fleet.maxSize, 2);
    assert.equal(config.fleet.idleTimeoutSeconds, local.fleet.idleTimeoutSeconds);
    assert.deepEqual(config.processor, local.processor, "still fake-medit, not the Medit .exe of the production default");
    assert.match(source, /^SPOTQ_CONFIG=.*max\.json laid over the local default config$/);
  });

  it("merges maps such as processor.env, and replaces lists such as jobs.extraOptions whole", () => {
    const { config } = localStackConfig(REPO_ROOT, {
      SPOTQ_CONFIG_JSON: JSON.stringify({ processor: { env: { EXTRA: "1" } }, jobs: { extraOptions: ["Scanner Model"] } }),
    });
    assert.deepEqual(config.processor.env, { FAKE_MEDIT_SLEEP_MS: "2000", EXTRA: "1" });
    assert.deepEqual(config.jobs.extraOptions, ["Scanner Model"]);
  });

  it("runs the example config (a full file) as laid over the local default", () => {
    const { config } = localStackConfig(REPO_ROOT, { SPOTQ_CONFIG: path.join(REPO_ROOT, "spotq.config.example.json") });
    assert.deepEqual(config.storage.sourcePrefixes, ["inbox/"]);
  });

  it("names the key and where the value came from when the result is invalid, or the file is missing or not JSON", () => {
    const bad = file("bad.json", { fleet: { maxSzie: 2, minSize: 5 } });
    assert.throws(
      () => localStackConfig(REPO_ROOT, { SPOTQ_CONFIG: bad }),
      (e: unknown) => {
        assert.ok(e instanceof ValidationError);
        assert.match(e.message, /^invalid SPOTQ_CONFIG=.*bad\.json laid over the local default config: /);
        assert.deepEqual(e.problems.map((p) => p.field).sort(), ["fleet.maxSize", "fleet.maxSzie"]);
        return true;
      },
    );
    assert.throws(() => localStackConfig(REPO_ROOT, { SPOTQ_CONFIG: path.join(dir, "nope.json") }), /SPOTQ_CONFIG: no file at .*nope\.json/);
    assert.throws(() => localStackConfig(REPO_ROOT, { SPOTQ_CONFIG: file("text.json", "{fleet:") }), /is not valid JSON/);
    assert.throws(() => localStackConfig(REPO_ROOT, { SPOTQ_CONFIG: file("list.json", [1]) }), /\(root\): must be a JSON object/);
  });
});
