import assert from "node:assert/strict";
import { fleetConfig } from "../../../core/fleet-config.ts";
import { defaultWorkRoot, resolveWorkerOptions } from "../../../worker/options.ts";

describe("worker/options", () => {
  const config = fleetConfig({ fleet: { workRoot: undefined } });

  it("takes its defaults from the fleet config", () => {
    const o = resolveWorkerOptions({ instanceId: "i-1", config, platform: "win32" });
    assert.equal(o.visibilityTimeoutSeconds, 300);
    assert.equal(o.heartbeatSeconds, 60);
    assert.equal(o.receiveWaitSeconds, 20);
    assert.equal(o.idleTimeoutSeconds, 300);
    assert.equal(o.jobTimeoutSeconds, 14_400);
    assert.equal(o.spotPollSeconds, 5);
    assert.equal(o.workRoot, "C:\\spotq\\work");
  });

  it("uses the config's work root, else a platform default", () => {
    assert.equal(resolveWorkerOptions({ instanceId: "i-1", config: fleetConfig({ fleet: { workRoot: "D:\\jobs" } }) }).workRoot, "D:\\jobs");
    assert.equal(defaultWorkRoot("win32"), "C:\\spotq\\work");
    assert.match(defaultWorkRoot("posix"), /spotq-work$/);
  });

  it("refuses a heartbeat that is not shorter than the visibility timeout, naming both", () => {
    assert.throws(
      () => resolveWorkerOptions({ instanceId: "i-1", config, visibilityTimeoutSeconds: 10, heartbeatSeconds: 10 }),
      /heartbeatSeconds: must be less than visibilityTimeoutSeconds \(10\)/,
    );
  });

  it("lists every bad option at once", () => {
    try {
      resolveWorkerOptions({ instanceId: "", config, receiveWaitSeconds: 30, spotPollSeconds: 0 });
      assert.fail("accepted bad options");
    } catch (err) {
      const fields = (err as { problems: { field: string }[] }).problems.map((p) => p.field).sort();
      assert.deepEqual(fields, ["instanceId", "receiveWaitSeconds", "spotPollSeconds"]);
    }
  });
});
