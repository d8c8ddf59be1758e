import assert from "node:assert/strict";
import { BootBreaker, parseBreakerTag } from "../../../core/boot-breaker.ts";

describe("boot breaker", () => {
  const MIN = 60_000;
  const t0 = Date.parse("2026-01-05T10:00:00Z");

  it("trips on the N-th failed boot within the window, naming the count, the window and the last failure", () => {
    const b = new BootBreaker({ failures: 3, windowSeconds: 3600 });
    assert.equal(b.record({ at: t0, instanceId: "i-1" }), undefined);
    assert.equal(b.record({ at: t0 + 10 * MIN, instanceId: "i-2" }), undefined);
    const trip = b.record({ at: t0 + 20 * MIN, instanceId: "i-3", cause: "worker exit 3 (preflight failed)" });
    assert.ok(trip, "the third failure within an hour trips it");
    assert.equal(trip.trippedAt, "2026-01-05T10:20:00.000Z");
    assert.equal(trip.failures, 3);
    assert.equal(trip.windowSeconds, 3600);
    assert.match(trip.reason, /3 failed boots within 1 h/);
    assert.match(trip.reason, /i-3, worker exit 3 \(preflight failed\)/);
    assert.match(trip.reason, /spotq fleet resume/);
  });

  it("forgets failures that fell out of the window", () => {
    const b = new BootBreaker({ failures: 3, windowSeconds: 3600 });
    b.record({ at: t0 });
    b.record({ at: t0 + 30 * MIN });
    // 60 min after the first: the first is no longer inside (now - 1 h, now].
    assert.equal(b.record({ at: t0 + 60 * MIN }), undefined);
    assert.equal(b.failuresInWindow(t0 + 60 * MIN), 2);
    assert.ok(b.record({ at: t0 + 61 * MIN }), "three within the last hour again");
  });

  it("after a trip, needs N new failures to trip again; reset forgets everything", () => {
    const b = new BootBreaker({ failures: 2, windowSeconds: 600 });
    b.record({ at: t0 });
    assert.ok(b.record({ at: t0 + 1000 }));
    assert.equal(b.record({ at: t0 + 2000 }), undefined, "the failures before the trip do not count twice");
    assert.ok(b.lastTrip);
    b.reset();
    assert.equal(b.lastTrip, undefined);
    assert.equal(b.failuresInWindow(t0 + 2000), 0);
  });

  it("a single allowed failure trips at once", () => {
    assert.ok(new BootBreaker({ failures: 1, windowSeconds: 60 }).record({ at: t0 }));
  });

  it("refuses settings that cannot work, naming the key", () => {
    assert.throws(() => new BootBreaker({ failures: 0, windowSeconds: 60 }), /bootBreaker\.failures/);
    assert.throws(() => new BootBreaker({ failures: 2, windowSeconds: 0 }), /bootBreaker\.windowSeconds/);
    assert.throws(() => new BootBreaker({ failures: 2, windowSeconds: 60 }).record({ at: Number.NaN }), /time/);
  });

  it("reads its own tag back, and ignores a tag that is not a trip", () => {
    const trip = new BootBreaker({ failures: 1, windowSeconds: 60 }).record({ at: t0, instanceId: "i-9" })!;
    assert.deepEqual(parseBreakerTag(JSON.stringify(trip)), trip);
    assert.equal(parseBreakerTag("manual"), undefined);
    assert.equal(parseBreakerTag(undefined), undefined);
  });
});
