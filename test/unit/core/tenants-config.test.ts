import assert from "node:assert/strict";
import { fleetConfig, parseFleetConfig, withoutApiKeys } from "../../../core/fleet-config.ts";

const KEY = "abcdefghij0123456789";
const tenant = (name: string, prefixes: string[], extra: Record<string, unknown> = {}) => ({ name, apiKey: `${name.replace(/-/g, "")}${KEY}`, prefixes, ...extra });
const problems = (api: unknown) => {
  const r = parseFleetConfig({ api });
  return r.ok ? [] : r.problems.map((p) => `${p.field}: ${p.reason}`);
};

describe("core/fleet-config: api.tenants", () => {
  it("defaults to no tenants, and takes name, apiKey, prefixes, principals and per-tenant limits", () => {
    assert.deepEqual(fleetConfig({}).api.tenants, []);
    const c = fleetConfig({ api: { tenants: [tenant("lab-a", ["labs/a/"], { quotaPerDay: 50 })] } });
    assert.deepEqual(c.api.tenants, [{ name: "lab-a", apiKey: `laba${KEY}`, prefixes: ["labs/a/"], principals: [], quotaPerDay: 50 }]);
  });

  it("refuses bad names, keys and prefixes, naming the field", () => {
    const found = problems({ tenants: [{ name: "Lab A", apiKey: "short", prefixes: [] }, { name: "ok", apiKey: `has-dash${KEY}`, prefixes: ["/abs/"] }] });
    assert.ok(found.some((p) => p.startsWith("api.tenants.0.name: must be 1 to 32 lowercase")));
    assert.ok(found.some((p) => p.startsWith("api.tenants.0.apiKey: must be 20 to 128 letters and digits")));
    assert.ok(found.some((p) => p.startsWith("api.tenants.0.prefixes: must list at least one folder prefix")));
    assert.ok(found.some((p) => p.startsWith("api.tenants.1.apiKey:")));
    assert.ok(found.some((p) => p.startsWith("api.tenants.1.prefixes.0:")));
  });

  it("makes every folder, key and principal belong to one tenant at most", () => {
    const found = problems({
      tenants: [
        tenant("lab-a", ["labs/a/"], { principals: ["arn:aws:sts::123456789012:assumed-role/Lab/*"] }),
        { ...tenant("lab-a", ["labs/a/case-1/"], { principals: ["arn:aws:sts::123456789012:assumed-role/Lab/alice"] }), apiKey: `laba${KEY}` },
        tenant("lab-c", ["labs/c/", "labs/"]),
      ],
    });
    assert.deepEqual(found.sort(), [
      'api.tenants.1.apiKey: is tenant "lab-a"\'s key too; each tenant needs its own',
      'api.tenants.1.name: repeats tenant 0\'s name "lab-a"',
      'api.tenants.1.prefixes.0: overlaps tenant "lab-a"\'s prefix "labs/a/": a folder must belong to one tenant',
      'api.tenants.1.principals.0: also matches tenant "lab-a"\'s principal "arn:aws:sts::123456789012:assumed-role/Lab/*": a caller must map to one tenant',
      'api.tenants.2.prefixes.1: overlaps tenant "lab-a"\'s prefix "labs/a/": a folder must belong to one tenant',
      'api.tenants.2.prefixes.1: overlaps tenant "lab-a"\'s prefix "labs/a/case-1/": a folder must belong to one tenant',
    ].sort());
  });

  it("with IAM auth, needs each tenant's principals", () => {
    assert.deepEqual(problems({ auth: "iam", tenants: [{ name: "lab-a", prefixes: ["labs/a/"] }] }), [
      'api.tenants.0.principals: must list at least one principal with api.auth "iam": it is how a signed caller maps to this tenant',
    ]);
    assert.deepEqual(problems({ auth: "iam", tenants: [{ name: "lab-a", prefixes: ["labs/a/"], principals: ["arn:aws:iam::123456789012:user/a"] }] }), []);
    assert.ok(problems({ tenants: [tenant("lab-a", ["labs/a/"], { principals: ["not-an-arn"] })] })[0]?.startsWith("api.tenants.0.principals.0: must be an IAM or STS principal ARN"));
  });

  it("withoutApiKeys drops every key value and keeps the rest", () => {
    const c = fleetConfig({ api: { tenants: [tenant("lab-a", ["labs/a/"]), { name: "lab-b", prefixes: ["labs/b/"] }] } });
    const stripped = withoutApiKeys(c);
    assert.ok(!JSON.stringify(stripped).includes(KEY));
    assert.deepEqual(stripped.api.tenants.map((t) => [t.name, t.prefixes]), [["lab-a", ["labs/a/"]], ["lab-b", ["labs/b/"]]]);
    assert.equal(c.api.tenants[0]!.apiKey, `laba${KEY}`, "the input is left as it was");
  });
});
