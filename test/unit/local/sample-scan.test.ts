import assert from "node:assert/strict";
import { sampleLocations, watchedPrefixFor } from "../../../scripts/local/sample-scan.ts";

describe("npm start's printed examples work as printed, with and without tenants", () => {
  it("puts the sample under the tenant's own prefix when the config has tenants", () => {
    const storage = { sourcePrefixes: [], targetPrefixes: [] };
    assert.deepEqual(sampleLocations(storage, { prefixes: ["labs/north/"] }), { source: "labs/north/samples/scan-4711", target: "labs/north/results/scan-4711" });
  });

  it("suggests a marker upload only where the trigger watches and the tenant may submit", () => {
    assert.equal(watchedPrefixFor(["inbox/"]), "inbox/");
    // The tenant's folder lies under a watched prefix: upload into the tenant's folder.
    assert.equal(watchedPrefixFor(["labs/"], { prefixes: ["labs/north/"] }), "labs/north/");
    // A watched prefix inside the tenant's folder: upload there.
    assert.equal(watchedPrefixFor(["inbox/", "labs/north/inbox/"], { prefixes: ["labs/north/"] }), "labs/north/inbox/");
    // Nothing the tenant owns is watched: no example that would be refused.
    assert.equal(watchedPrefixFor(["inbox/"], { prefixes: ["labs/north/"] }), undefined);
  });
});
