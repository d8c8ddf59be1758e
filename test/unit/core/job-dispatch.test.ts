import assert from "node:assert/strict";
import { LEGACY_DISPATCH_ID, matchDispatch, newDispatchId } from "../../../core/job.ts";

/** The receive rule of dispatch tokens (CONTRACTS §5), as the worker and `spotq redrive` apply it. */
describe("core/job: dispatch tokens", () => {
  it("makes fresh, distinct, URL-safe tokens", () => {
    const tokens = new Set(Array.from({ length: 1000 }, newDispatchId));
    assert.equal(tokens.size, 1000);
    for (const t of tokens) assert.match(t, /^[A-Za-z0-9_-]{22}$/);
  });

  it("the record's own token is live in every state; another token is a stale copy", () => {
    for (const state of ["QUEUED", "RUNNING", "CANCELLING", "FAILED", "SUCCEEDED", "CANCELLED"] as const) {
      assert.equal(matchDispatch("t1", { state, dispatchId: "t1" }), "live", state);
      assert.equal(matchDispatch("t0", { state, dispatchId: "t1" }), "stale", state);
    }
  });

  it("a record from before tokens matches any message, with or without a token", () => {
    assert.equal(matchDispatch(undefined, { state: "QUEUED" }), "live");
    assert.equal(matchDispatch("t1", { state: "RUNNING" }), "live");
  });

  it("a QUEUED record adopts the message it names as replaced (its replacement may never have been sent)", () => {
    assert.equal(matchDispatch("t0", { state: "QUEUED", dispatchId: "t1", previousDispatchId: "t0" }), "adopt");
    // ... a tokenless one too, when the replaced message had no token.
    assert.equal(matchDispatch(undefined, { state: "QUEUED", dispatchId: "t1", previousDispatchId: LEGACY_DISPATCH_ID }), "adopt");
    // Once the job runs again, the replaced message is only a stale copy.
    assert.equal(matchDispatch("t0", { state: "RUNNING", dispatchId: "t1", previousDispatchId: "t0" }), "stale");
  });

  it("a message without a token is stale against a record with one, unless the record adopts tokenless messages", () => {
    assert.equal(matchDispatch(undefined, { state: "QUEUED", dispatchId: "t1" }), "stale");
    assert.equal(matchDispatch(undefined, { state: "QUEUED", dispatchId: "t1", previousDispatchId: "t0" }), "stale");
  });
});
