import assert from "node:assert/strict";
import { isNoLifecycleAction, isUnsupportedCall, planTerminateHook } from "../../../worker/lifecycle.ts";

const err = (name: string, message: string, status?: number) => Object.assign(new Error(message), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) });

describe("worker/lifecycle: hooks from the worker's side", () => {
  it("tolerates the refusals that mean there is no lifecycle action to complete", () => {
    assert.ok(isNoLifecycleAction(err("ValidationError", "No active Lifecycle Action found with instance ID i-0abc")));
    assert.ok(isNoLifecycleAction(err("ValidationError", "LifecycleHook spotq-launching not found")));
    assert.ok(isNoLifecycleAction(err("InvalidAction", "The action CompleteLifecycleAction is not valid for this web service.")));
    assert.ok(isNoLifecycleAction(err("UnknownError", "Not Found", 404)));
    assert.equal(isNoLifecycleAction(err("AccessDenied", "User is not authorized to perform autoscaling:CompleteLifecycleAction")), false);
    assert.equal(isNoLifecycleAction(err("Throttling", "Rate exceeded")), false);
    assert.equal(isNoLifecycleAction(err("ValidationError", "1 validation error detected")), false);
    assert.ok(isUnsupportedCall(err("InvalidAction", "x")));
    assert.equal(isUnsupportedCall(err("ValidationError", "No active Lifecycle Action found")), false);
  });

  it("finishes a job that fits in the hook's global timeout (min(48 h, 100 heartbeat timeouts)), heartbeating three times per timeout", () => {
    const plan = planTerminateHook({ heartbeatTimeoutSeconds: 900, jobTimeoutSeconds: 14_400, phase: "process", processSeconds: 600, marginSeconds: 65 });
    assert.equal(plan.action, "finish");
    assert.ok(plan.action === "finish");
    assert.equal(plan.heartbeatEveryMs, 300_000);
    assert.equal(plan.handBackAfterMs, (90_000 - 65) * 1000);
  });

  it("hands back at once a job that may outlast the hook", () => {
    const plan = planTerminateHook({ heartbeatTimeoutSeconds: 30, jobTimeoutSeconds: 14_400, phase: "download", processSeconds: 0, marginSeconds: 20 });
    assert.equal(plan.action, "hand-back");
    assert.match(plan.reason, /may run 14400 s more, but the terminate hook holds the instance at most 3000 s/);
  });

  it("counts only the processor's remaining time while it runs, and none once the outputs upload", () => {
    const base = { heartbeatTimeoutSeconds: 30, jobTimeoutSeconds: 3_500, marginSeconds: 20 };
    assert.equal(planTerminateHook({ ...base, phase: "process", processSeconds: 100 }).action, "hand-back");
    assert.equal(planTerminateHook({ ...base, phase: "process", processSeconds: 600 }).action, "finish");
    assert.equal(planTerminateHook({ ...base, phase: "upload", processSeconds: 0 }).action, "finish");
  });

  it("caps the global timeout at 48 h", () => {
    const plan = planTerminateHook({ heartbeatTimeoutSeconds: 7200, jobTimeoutSeconds: 43_000, phase: "download", processSeconds: 0, marginSeconds: 60 });
    assert.ok(plan.action === "finish" && plan.handBackAfterMs === (172_800 - 60) * 1000);
  });
});
