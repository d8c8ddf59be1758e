import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ValidationError } from "../../core/errors.ts";
import { configFileFrom, deployConfig, loadDeployConfig } from "../../infra/deploy-config.ts";
import { DEPLOYABLE } from "./support/synth.ts";

/** The problems a config is refused with, as `field: reason` lines. */
function refusal(input: unknown): ValidationError {
  try {
    deployConfig(input, "spotq.config.json");
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the config to be refused");
}

const deployable = (patch: Record<string, unknown>) => {
  const c = structuredClone(DEPLOYABLE) as Record<string, Record<string, unknown>>;
  for (const [section, values] of Object.entries(patch)) c[section] = { ...(c[section] ?? {}), ...(values as object) };
  return c;
};

describe("infra/deploy-config: a bad config fails before synthesis, naming the key", () => {
  it("an unknown key, with the keys accepted there", () => {
    const err = refusal(deployable({ fleet: { maxSzie: 4 } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["fleet.maxSzie"]);
    assert.match(err.message, /fleet\.maxSzie: unknown key; accepted keys here: .*maxSize/);
  });

  it("max below min", () => {
    const err = refusal(deployable({ fleet: { minSize: 4, maxSize: 2 } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["fleet.maxSize"]);
    assert.match(err.message, /fleet\.maxSize: must be at least fleet\.minSize \(4\)/);
  });

  it("a job timeout at 12 h, and above it", () => {
    for (const timeoutSeconds of [43_200, 50_000]) {
      const err = refusal(deployable({ jobs: { timeoutSeconds } }));
      assert.deepEqual(err.problems.map((p) => p.field), ["jobs.timeoutSeconds"]);
      assert.match(err.message, /jobs\.timeoutSeconds: must be below 43200 \(12 h\)/);
    }
  });

  it("no instance types", () => {
    const err = refusal(deployable({ fleet: { instanceTypes: [] } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["fleet.instanceTypes"]);
    assert.match(err.message, /fleet\.instanceTypes: must list at least one instance type/);
  });

  it("no AMI and no subnets: the local defaults cannot be deployed", () => {
    const err = refusal({});
    assert.deepEqual(err.problems.map((p) => p.field).sort(), ["fleet.amiId", "fleet.subnetIds"]);
    assert.match(err.message, /^spotq\.config\.json cannot be deployed: /);
  });

  it("an alarm period SQS metrics cannot fill", () => {
    const err = refusal(deployable({ scaling: { periodSeconds: 30 } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["scaling.periodSeconds"]);
    assert.match(err.problems[0]!.reason, /INSUFFICIENT_DATA/);
  });

  it("a DLQ that would drop messages before the jobs queue does", () => {
    const err = refusal(deployable({ queue: { dlqRetentionDays: 4 } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["queue.dlqRetentionDays"]);
  });

  it("accepts the deployable minimum and fills every default", () => {
    const c = deployConfig(structuredClone(DEPLOYABLE));
    assert.equal(c.fleet.minSize, 0);
    assert.equal(c.fleet.amiId, DEPLOYABLE.fleet.amiId);
  });
});

describe("infra/deploy-config: which file is synthesized", () => {
  const root = mkdtempSync(join(tmpdir(), "spotq-config-"));

  it("--config wins over SPOTQ_CONFIG, which wins over spotq.config.json", () => {
    writeFileSync(join(root, "spotq.config.json"), "{}");
    assert.equal(configFileFrom(["--config", "/x/a.json"], { SPOTQ_CONFIG: "/x/b.json" }, root), "/x/a.json");
    assert.equal(configFileFrom([], { SPOTQ_CONFIG: "/x/b.json" }, root), "/x/b.json");
    assert.equal(configFileFrom([], {}, root), join(root, "spotq.config.json"));
  });

  it("says how to make a config when there is none", () => {
    const empty = mkdtempSync(join(tmpdir(), "spotq-noconfig-"));
    assert.throws(() => configFileFrom([], {}, empty), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.match(e.message, /spotq\.config\.json: not found .*copy spotq\.config\.example\.json/);
      return true;
    });
  });

  it("refuses --config without a file", () => {
    assert.throws(() => configFileFrom(["--config"], {}, root), /--config: needs a file path/);
  });

  it("reports unreadable JSON with the file's name", () => {
    const file = join(root, "broken.json");
    writeFileSync(file, "{ not json");
    assert.throws(() => loadDeployConfig(file), /fleet config .*broken\.json is not valid JSON/);
  });
});
