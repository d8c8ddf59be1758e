import assert from "node:assert/strict";
import { parseFleetConfig } from "../../../core/fleet-config.ts";

/** The one problem a config has: its field and reason. */
function problem(input: unknown): { field: string; reason: string } {
  const r = parseFleetConfig(input);
  assert.equal(r.ok, false, "expected the config to be refused");
  if (r.ok) throw new Error("unreachable");
  assert.equal(r.problems.length, 1, JSON.stringify(r.problems));
  return r.problems[0]!;
}

/** zod's generic English phrases: none may reach a user. */
const LIBRARY_WORDING = /Invalid input|Invalid option|Too small|Too big|expected (int|number|string|object)|received|Invalid (string|number|email|key)|Unrecognized key/;

describe("core/fleet-config: problems in spotq's words", () => {
  it("says what a key must be and what it got, never zod's wording", () => {
    const cases: [unknown, string, RegExp][] = [
      [{ fleet: { maxSize: "4" } }, "fleet.maxSize", /^must be a number, got the string "4"$/],
      [{ fleet: { maxSize: 2.5 } }, "fleet.maxSize", /^must be a whole number, got 2\.5$/],
      [{ fleet: { maxSize: 0 } }, "fleet.maxSize", /^must be at least 1, got 0$/],
      [{ fleet: { maxSize: 5000 } }, "fleet.maxSize", /^must be at most 1000, got 5000$/],
      [{ fleet: { platform: "Linux" } }, "fleet.platform", /^must be one of "windows", "linux", got the string "Linux" \(did you mean "linux"\?\)$/],
      [{ fleet: null }, "fleet", /^must be an object \(\{ \.\.\. \}\), got null$/],
      [{ fleet: { instanceTypes: "g5.xlarge" } }, "fleet.instanceTypes", /^must be a list \(\[ \.\.\. \]\), got the string "g5\.xlarge"$/],
      [{ scaling: { fastPath: "yes" } }, "scaling.fastPath", /^must be true or false, got the string "yes"$/],
      [{ processor: { env: { A: 1 } } }, "processor.env.A", /^must be a string, got 1$/],
      [{ jobs: { extraOptions: [""] } }, "jobs.extraOptions.0", /^must not be empty$/],
      [{ monitoring: { alarmEmail: "ops" } }, "monitoring.alarmEmail", /^must be an email address such as ops@example\.com, got the string "ops"$/],
      [{ scaling: { scaleOutSteps: { Big: { backlogAtLeast: 1, addInstances: 1 } } } }, "scaling.scaleOutSteps.Big", /^is not an accepted name here: step names are lowercase words$/],
      [{ scaling: { scaleOutSteps: { big: { backlogAtLeast: 1 } } } }, "scaling.scaleOutSteps.big.addInstances", /^is required$/],
    ];
    for (const [input, field, reason] of cases) {
      const p = problem(input);
      assert.equal(p.field, field, JSON.stringify(input));
      assert.match(p.reason, reason, JSON.stringify(input));
      assert.doesNotMatch(p.reason, LIBRARY_WORDING, JSON.stringify(input));
    }
  });

  it("never echoes a secret-looking key's value", () => {
    const r = parseFleetConfig({ monitoring: { alarmEmail: "x" }, processor: { env: { API_TOKEN: 12345 } } });
    assert.equal(r.ok, false);
    const reasons = r.ok ? [] : r.problems.map((p) => `${p.field}: ${p.reason}`);
    assert.ok(reasons.includes("processor.env.API_TOKEN: must be a string"), reasons.join("\n"));
  });

  it("keeps the schema's own messages", () => {
    assert.equal(problem({ fleet: { instanceTypes: [] } }).reason, "must list at least one instance type");
    assert.match(problem({ name: "Spotq" }).reason, /^must be 2 to 23 lowercase letters/);
    assert.match(problem({ fleet: { minSize: 3, maxSize: 2 } }).reason, /^must be at least fleet\.minSize \(3\)$/);
  });

  it("suggests the key a typo meant, at any depth, and none when nothing is close", () => {
    assert.match(problem({ fleet: { maxSzie: 3 } }).reason, /^unknown key; accepted keys here: .*maxSize.*; did you mean "maxSize"\?$/);
    assert.match(problem({ flet: {} }).reason, /; did you mean "fleet"\?$/);
    assert.match(problem({ fleet: { MaxSize: 3 } }).reason, /; did you mean "maxSize"\?$/);
    assert.match(problem({ fleet: { idle_timeout_seconds: 30 } }).reason, /; did you mean "idleTimeoutSeconds"\?$/);
    assert.match(problem({ fleet: { bootBreaker: { failure: 2 } } }).reason, /accepted keys here: failures, windowSeconds; did you mean "failures"\?$/);
    assert.doesNotMatch(problem({ fleet: { colour: "blue" } }).reason, /did you mean/);
  });
});
