import assert from "node:assert/strict";
import { MetricAlarm } from "../../../../core/scaling/alarm.ts";
import { SqsMetricFeed, AWS_METRIC_TIMING } from "../../../../core/scaling/metric-feed.ts";

const P = 60_000;

describe("core/scaling: the CloudWatch alarm and the SQS metric feed", () => {
  it("has insufficient data until evaluationPeriods datapoints are published, then needs every one to breach", () => {
    const alarm = new MetricAlarm({ threshold: 1, evaluationPeriods: 2 });
    alarm.record({ at: P, value: 3, publishedAt: 2 * P });
    assert.equal(alarm.evaluate(2 * P).state, "INSUFFICIENT_DATA");
    alarm.record({ at: 2 * P, value: 0, publishedAt: 3 * P });
    assert.equal(alarm.evaluate(3 * P).state, "OK", "a dip keeps it OK");
    alarm.record({ at: 3 * P, value: 2, publishedAt: 4 * P });
    alarm.record({ at: 4 * P, value: 5, publishedAt: 5 * P });
    assert.equal(alarm.evaluate(5 * P - 1).state, "OK", "the 4P datapoint is not out yet");
    const e = alarm.evaluate(5 * P);
    assert.equal(e.state, "ALARM");
    assert.deepEqual(e.datapoints, [2, 5]);
    assert.equal(e.value, 5, "the policy acts on the latest datapoint");
  });

  it("treats a missing datapoint (an idle queue publishes nothing) as not breaching", () => {
    const alarm = new MetricAlarm({ threshold: 1, evaluationPeriods: 1 });
    alarm.record({ at: P, value: undefined, publishedAt: 2 * P });
    assert.equal(alarm.evaluate(2 * P).state, "OK");
  });

  it("compares with > for target tracking's high alarm", () => {
    const alarm = new MetricAlarm({ threshold: 1, comparison: ">", evaluationPeriods: 1 });
    alarm.record({ at: P, value: 1, publishedAt: P });
    assert.equal(alarm.evaluate(P).state, "OK");
    alarm.record({ at: 2 * P, value: 1.5, publishedAt: 2 * P });
    assert.equal(alarm.evaluate(2 * P).state, "ALARM");
  });

  it("refuses zero evaluation periods", () => {
    assert.throws(() => new MetricAlarm({ threshold: 1, evaluationPeriods: 0 }), /evaluationPeriods/);
  });

  describe("SQS publishes only for an active queue, and late after inactivity", () => {
    it("an active queue publishes every period", () => {
      const feed = new SqsMetricFeed(AWS_METRIC_TIMING, 0);
      feed.touch(10 * P, 15 * P);
      assert.ok(feed.publishes(11 * P));
    });

    it("a queue idle for six hours publishes nothing, and its first datapoint after a send comes only after the late delay", () => {
      const feed = new SqsMetricFeed(AWS_METRIC_TIMING, 0);
      const morning = 7 * 3600_000;
      assert.equal(feed.publishes(morning - P), false, "inactive after 6 h without a call");
      feed.touch(morning, 12 * P);
      assert.equal(feed.publishes(morning + P), false);
      assert.equal(feed.publishes(morning + 11 * P), false);
      assert.equal(feed.publishes(morning + 12 * P), true);
    });

    it("a feed that starts with no known activity is inactive", () => {
      const feed = new SqsMetricFeed(AWS_METRIC_TIMING, undefined);
      assert.equal(feed.active(0), false);
      feed.touch(P, 5 * P);
      assert.equal(feed.resumeAt, 6 * P);
    });
  });
});
