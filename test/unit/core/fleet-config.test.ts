import assert from "node:assert/strict";
import { defaultFleetConfig, fleetConfig, maxReceiveCount, parseFleetConfig, retryDelaySeconds } from "../../../core/fleet-config.ts";
import { ValidationError } from "../../../core/errors.ts";

function problemsOf(input: unknown) {
  const r = parseFleetConfig(input);
  assert.equal(r.ok, false, "expected the config to be refused");
  return r.ok ? [] : r.problems;
}

describe("core/fleet-config", () => {
  it("fills every default: Spot GPU fleet from zero, Medit command", () => {
    const c = defaultFleetConfig();
    assert.equal(c.fleet.minSize, 0);
    assert.equal(c.fleet.spotAllocationStrategy, "price-capacity-optimized");
    assert.ok(c.fleet.instanceTypes.every((t) => /^g(4dn|5)\./.test(t)));
    assert.deepEqual(c.processor.args, ["--iScanComplete", "{config}"]);
    assert.match(c.processor.command, /Medit_AutoTest\.exe$/);
    assert.equal(maxReceiveCount(c), c.jobs.maxAttempts + c.jobs.interruptionAllowance);
  });

  it("names an unknown key and lists the accepted ones", () => {
    const [p] = problemsOf({ fleet: { maxSzie: 3 } });
    assert.equal(p!.field, "fleet.maxSzie");
    assert.match(p!.reason, /unknown key; accepted keys here: .*maxSize/);
  });

  it("refuses max below min, a 12 h timeout, and no instance types, naming each key", () => {
    const fields = problemsOf({ fleet: { minSize: 3, maxSize: 2, instanceTypes: [] }, jobs: { timeoutSeconds: 43_200 } }).map((p) => p.field);
    assert.deepEqual(fields.sort(), ["fleet.instanceTypes", "fleet.maxSize", "jobs.timeoutSeconds"]);
  });

  it("refuses a heartbeat too slow for the visibility timeout", () => {
    const [p] = problemsOf({ queue: { visibilityTimeoutSeconds: 60 }, jobs: { heartbeatSeconds: 45 } });
    assert.equal(p!.field, "jobs.heartbeatSeconds");
  });

  it("throws a ValidationError whose message names the key", () => {
    assert.throws(() => fleetConfig({ scaling: { periodSeconds: 45 } }, "spotq.config.json"), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.match(e.message, /invalid spotq\.config\.json: scaling\.periodSeconds/);
      return true;
    });
  });

  it("doubles the retry delay per attempt, capped at SQS's 900 s", () => {
    const c = fleetConfig({ jobs: { retryBackoffSeconds: 100 } });
    assert.deepEqual([1, 2, 3, 4, 5].map((a) => retryDelaySeconds(c, a)), [100, 200, 400, 800, 900]);
  });

  describe("keys infra reads (storage prefixes, Lambda runtime, remote state)", () => {
    it("defaults to the whole bucket, nodejs24.x and local state, so older configs still parse", () => {
      const c = fleetConfig({ storage: { retentionDays: 14 } });
      assert.deepEqual(c.storage.sourcePrefixes, []);
      assert.deepEqual(c.storage.targetPrefixes, []);
      assert.equal(c.api.lambdaRuntime, "nodejs24.x");
      assert.equal(c.state, undefined);
    });

    it("accepts folder prefixes and nodejs22.x for regions without Node 24", () => {
      const c = fleetConfig({ storage: { sourcePrefixes: ["inbox/", "scans/2025/"], targetPrefixes: ["results/"] }, api: { lambdaRuntime: "nodejs22.x" } });
      assert.deepEqual(c.storage.sourcePrefixes, ["inbox/", "scans/2025/"]);
      assert.equal(c.api.lambdaRuntime, "nodejs22.x");
    });

    it("refuses prefixes IAM or lifecycle rules would misread, naming the entry", () => {
      for (const bad of ["/inbox/", "inbox", "in*box/", "a//b/", "x/$" + "{y}/", ""]) {
        const [p] = problemsOf({ storage: { targetPrefixes: ["results/", bad] } });
        assert.equal(p!.field, "storage.targetPrefixes.1", `for ${JSON.stringify(bad)}`);
        assert.match(p!.reason, /folder prefix/);
      }
    });

    it("refuses a Lambda runtime other than nodejs24.x or nodejs22.x", () => {
      const [p] = problemsOf({ api: { lambdaRuntime: "nodejs20.x" } });
      assert.equal(p!.field, "api.lambdaRuntime");
    });

    it("takes a remote state bucket and checks its name", () => {
      assert.equal(fleetConfig({ state: { bucket: "acme-tfstate" } }).state?.bucket, "acme-tfstate");
      const [p] = problemsOf({ state: { bucket: "Acme_State" } });
      assert.equal(p!.field, "state.bucket");
      const [q] = problemsOf({ state: { bucket: "acme-tfstate", lockTable: "x" } });
      assert.equal(q!.field, "state.lockTable");
    });
  });
});
