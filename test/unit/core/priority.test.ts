import assert from "node:assert/strict";
import { fleetConfig } from "../../../core/fleet-config.ts";
import { handBackRoute, parsePriority, priorityOf, submitQueue } from "../../../core/priority.ts";
import { deploymentFromEnv, ENV } from "../../../core/runtime.ts";

describe("core/priority: priorities and the queue a job goes to", () => {
  describe("parsePriority", () => {
    it("takes high or normal, whatever the letter case and surrounding spaces", () => {
      assert.deepEqual(parsePriority("high", "h"), { ok: true, value: "high" });
      assert.deepEqual(parsePriority(" NORMAL ", "h"), { ok: true, value: "normal" });
      assert.deepEqual(parsePriority("High", "h"), { ok: true, value: "high" });
    });

    it("refuses anything else, naming the field and the accepted values", () => {
      assert.deepEqual(parsePriority("urgent", "Spotq-Job-Priority"), {
        ok: false,
        problems: [{ field: "Spotq-Job-Priority", reason: 'must be "high" or "normal", got "urgent"' }],
      });
      const empty = parsePriority("  ", "Spotq-Job-Priority");
      assert.ok(!empty.ok && empty.problems[0]!.reason.endsWith("got an empty value"));
      assert.ok(!parsePriority("low", "x").ok);
    });
  });

  it("a submit sends high jobs to the high queue, everything else to the jobs queue; a record without a priority is normal", () => {
    assert.equal(submitQueue("high"), "high");
    assert.equal(submitQueue("normal"), "normal");
    assert.equal(submitQueue(undefined), "normal");
    assert.equal(priorityOf({}), "normal");
  });

  describe("handBackRoute: where a hand-back sends the job", () => {
    const fallback = { afterInterruptions: 2 };

    it("keeps the queue the job came from below the threshold (a high job stays high)", () => {
      assert.equal(handBackRoute({ from: "normal", interruptions: 1, fallback, onDemandQueue: true }).queue, "normal");
      assert.equal(handBackRoute({ from: "high", interruptions: 1, fallback, onDemandQueue: true }).queue, "high");
    });

    it("moves a job to the On-Demand queue once its interruptions reach afterInterruptions (this one counted), from either Spot queue", () => {
      const r = handBackRoute({ from: "normal", interruptions: 2, fallback, onDemandQueue: true });
      assert.equal(r.queue, "ondemand");
      assert.match(r.reason, /handed back 2 times .*afterInterruptions is 2/);
      assert.equal(handBackRoute({ from: "high", interruptions: 5, fallback, onDemandQueue: true }).queue, "ondemand");
    });

    it("a job on the On-Demand queue stays there, whatever the config says now", () => {
      assert.equal(handBackRoute({ from: "ondemand", interruptions: 1, onDemandQueue: false }).queue, "ondemand");
    });

    it("without the fallback, or without an On-Demand queue to send to, a job keeps its queue (and says why)", () => {
      assert.equal(handBackRoute({ from: "normal", interruptions: 9, onDemandQueue: true }).queue, "normal");
      const r = handBackRoute({ from: "high", interruptions: 2, fallback, onDemandQueue: false });
      assert.equal(r.queue, "high");
      assert.match(r.reason, /no On-Demand queue/);
    });
  });

  describe("config: queue.highPriority", () => {
    it("is on by default, with a 1 s long poll on the high queue", () => {
      assert.deepEqual(fleetConfig({}).queue.highPriority, { enabled: true, waitSeconds: 1 });
    });

    it("refuses a short poll (0 s), which can miss a waiting high job", () => {
      assert.throws(() => fleetConfig({ queue: { highPriority: { waitSeconds: 0 } } }), /queue\.highPriority\.waitSeconds.*at least 1/s);
    });
  });

  describe("environment", () => {
    const base = { [ENV.table]: "t", [ENV.queueUrl]: "q", [ENV.dlqUrl]: "d", [ENV.bucket]: "b" };

    it("reads the high and On-Demand queues and the group kind; an empty value is absent (user data sets every variable)", () => {
      const d = deploymentFromEnv({ ...base, [ENV.highQueueUrl]: "hq", [ENV.onDemandQueueUrl]: "", [ENV.groupKind]: "on-demand" });
      assert.equal(d.highQueueUrl, "hq");
      assert.equal(d.onDemandQueueUrl, undefined);
      assert.equal(d.groupKind, "on-demand");
    });

    it("refuses an unknown group kind, naming the variable", () => {
      assert.throws(() => deploymentFromEnv({ ...base, [ENV.groupKind]: "ondemand" }), /SPOTQ_GROUP_KIND must be one of spot, on-demand, got "ondemand"/);
    });
  });
});
