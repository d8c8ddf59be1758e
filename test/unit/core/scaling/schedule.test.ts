import assert from "node:assert/strict";
import { applyScheduledAction, cronProblem, occurrences, parseCron } from "../../../../core/scaling/schedule.ts";
import { fleetConfig } from "../../../../core/fleet-config.ts";
import { ValidationError } from "../../../../core/errors.ts";

const iso = (ms: number[]) => ms.map((m) => new Date(m).toISOString());

describe("core/scaling: scheduled capacity", () => {
  it("parses cron's fields: lists, ranges, steps and names", () => {
    const c = parseCron("*/15 8-17 * JAN,JUL mon-fri");
    assert.deepEqual([...c.minutes], [0, 15, 30, 45]);
    assert.deepEqual([...c.hours], [8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
    assert.deepEqual([...c.months], [1, 7]);
    assert.deepEqual([...c.daysOfWeek], [1, 2, 3, 4, 5]);
    assert.deepEqual([...parseCron("0 0 * * 7").daysOfWeek], [0], "7 is Sunday too");
  });

  it("says which field is wrong", () => {
    assert.match(cronProblem("0 8 * *")!, /has 4 fields/);
    assert.match(cronProblem("0 25 * * *")!, /hour 25 is outside 0-23/);
    assert.match(cronProblem("0 8 * * FUNDAY")!, /day-of-week "FUNDAY"/);
    assert.match(cronProblem("0 8 * 5-2 *")!, /runs backwards/);
    assert.equal(cronProblem("30 7 * * 1-5"), undefined);
  });

  it("fires at wall-clock times of the time zone, across a daylight-saving change", () => {
    // Europe/Berlin moves to summer time on 2025-03-30: 08:00 is 07:00Z before and 06:00Z after.
    const from = Date.parse("2025-03-28T00:00:00Z");
    const to = Date.parse("2025-04-01T00:00:00Z");
    assert.deepEqual(iso(occurrences("0 8 * * *", "Europe/Berlin", from, to)), [
      "2025-03-28T07:00:00.000Z",
      "2025-03-29T07:00:00.000Z",
      "2025-03-30T06:00:00.000Z",
      "2025-03-31T06:00:00.000Z",
    ]);
  });

  it("skips a wall time that does not exist that day (02:30 on the spring-forward night)", () => {
    const from = Date.parse("2025-03-29T00:00:00Z");
    const to = Date.parse("2025-04-01T00:00:00Z");
    assert.equal(occurrences("30 2 * * *", "Europe/Berlin", from, to).length, 2);
  });

  it("matches either day field when both are restricted (cron's rule)", () => {
    // The 1st of the month or any Monday, in January 2025 (Mondays: 6, 13, 20, 27).
    const from = Date.parse("2025-01-01T00:00:00Z");
    const to = Date.parse("2025-02-01T00:00:00Z");
    assert.deepEqual(
      occurrences("0 0 1 * MON", "Etc/UTC", from, to).map((t) => new Date(t).getUTCDate()),
      [1, 6, 13, 20, 27],
    );
  });

  it("applies an action as Auto Scaling does: given sizes replace the old, desired kept within them", () => {
    assert.deepEqual(applyScheduledAction({ minSize: 0, maxSize: 10, desiredCapacity: 0 }, { minSize: 2 }), { minSize: 2, maxSize: 10, desiredCapacity: 2 });
    assert.deepEqual(applyScheduledAction({ minSize: 0, maxSize: 10, desiredCapacity: 7 }, { maxSize: 4 }), { minSize: 0, maxSize: 4, desiredCapacity: 4 });
    assert.deepEqual(applyScheduledAction({ minSize: 2, maxSize: 10, desiredCapacity: 5 }, { desiredCapacity: 1 }), { minSize: 2, maxSize: 10, desiredCapacity: 2 });
  });

  describe("scaling.* config keys", () => {
    it("default to the deficit policy, no schedule and no On-Demand fallback", () => {
      const c = fleetConfig({});
      assert.equal(c.scaling.policy, "deficit");
      assert.deepEqual(c.scaling.schedule, {});
      assert.equal(c.scaling.onDemandFallback, undefined);
      assert.equal(c.scaling.targetBacklogPerInstance, 1);
    });

    it("refuse a bad schedule entry, naming the key and the reason", () => {
      try {
        fleetConfig(
          {
            scaling: {
              schedule: {
                open: { recurrence: "0 8 * *", timeZone: "Mars/Olympus", minSize: 3, maxSize: 2 },
                nothing: { recurrence: "0 8 * * *" },
              },
            },
          },
          "spotq.config.json",
        );
        assert.fail("accepted");
      } catch (e) {
        assert.ok(e instanceof ValidationError);
        const got = e.problems.map((p) => `${p.field}: ${p.reason}`);
        assert.ok(got.some((g) => /^scaling\.schedule\.open\.recurrence: must be a cron recurrence .*has 4 fields/.test(g)), got.join("\n"));
        assert.ok(got.some((g) => /^scaling\.schedule\.open\.timeZone: "Mars\/Olympus" is not an IANA time zone/.test(g)), got.join("\n"));
        assert.ok(got.some((g) => /^scaling\.schedule\.open\.minSize: must not exceed maxSize \(2\)/.test(g)), got.join("\n"));
        assert.ok(got.some((g) => /^scaling\.schedule\.nothing: must set at least one of minSize, maxSize, desiredCapacity/.test(g)), got.join("\n"));
      }
    });

    it("refuse an unknown policy and a fallback without its interruption count", () => {
      assert.throws(() => fleetConfig({ scaling: { policy: "magic" as never } }), /scaling\.policy/);
      assert.throws(() => fleetConfig({ scaling: { onDemandFallback: {} as never } }), /scaling\.onDemandFallback\.afterInterruptions/);
      assert.equal(fleetConfig({ scaling: { onDemandFallback: { afterInterruptions: 2 } } }).scaling.onDemandFallback?.maxSize, 2);
    });
  });
});
