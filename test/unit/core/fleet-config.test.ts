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
});
