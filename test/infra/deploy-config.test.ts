import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ValidationError } from "../../core/errors.ts";
import { configFileFrom, deployConfig, loadDeployConfig, WINDOWS_MIN_BOOT_SECONDS } from "../../infra/deploy-config.ts";
import { DEPLOYABLE } from "./support/synth.ts";

/** The problems a config is refused with, as `field: reason` lines. */
function refusal(input: unknown): ValidationError {
  try {
    deployConfig(input, "spotq.config.json");
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the config to be refused");
}

const deployable = (patch: Record<string, unknown>) => {
  const c = structuredClone(DEPLOYABLE) as Record<string, Record<string, unknown>>;
  for (const [section, values] of Object.entries(patch)) c[section] = { ...(c[section] ?? {}), ...(values as object) };
  return c;
};

describe("infra/deploy-config: a bad config fails before synthesis, naming the key", () => {
  it("an unknown key, with the keys accepted there", () => {
    const err = refusal(deployable({ fleet: { maxSzie: 4 } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["fleet.maxSzie"]);
    assert.match(err.message, /fleet\.maxSzie: unknown key; accepted keys here: .*maxSize/);
  });

  it("max below min", () => {
    const err = refusal(deployable({ fleet: { minSize: 4, maxSize: 2 } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["fleet.maxSize"]);
    assert.match(err.message, /fleet\.maxSize: must be at least fleet\.minSize \(4\)/);
  });

  it("a job timeout at 12 h, and above it", () => {
    for (const timeoutSeconds of [43_200, 50_000]) {
      const err = refusal(deployable({ jobs: { timeoutSeconds } }));
      assert.deepEqual(err.problems.map((p) => p.field), ["jobs.timeoutSeconds"]);
      assert.match(err.message, /jobs\.timeoutSeconds: must be below 43200 \(12 h\)/);
    }
  });

  it("no instance types", () => {
    const err = refusal(deployable({ fleet: { instanceTypes: [] } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["fleet.instanceTypes"]);
    assert.match(err.message, /fleet\.instanceTypes: must list at least one instance type/);
  });

  it("no AMI and no subnets: the local defaults cannot be deployed", () => {
    const err = refusal({});
    assert.deepEqual(err.problems.map((p) => p.field).sort(), ["fleet.amiId", "fleet.subnetIds"]);
    assert.match(err.message, /^spotq\.config\.json cannot be deployed: /);
  });

  it("an alarm period SQS metrics cannot fill", () => {
    const err = refusal(deployable({ scaling: { periodSeconds: 30 } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["scaling.periodSeconds"]);
    assert.match(err.problems[0]!.reason, /INSUFFICIENT_DATA/);
  });

  it("a DLQ that would drop messages before the jobs queue does", () => {
    const err = refusal(deployable({ queue: { dlqRetentionDays: 4 } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["queue.dlqRetentionDays"]);
  });

  it("a DLQ no longer than a longer jobs-queue retention, unless both are at SQS's 14-day maximum", () => {
    assert.deepEqual(refusal(deployable({ queue: { retentionDays: 10, dlqRetentionDays: 10 } })).problems.map((p) => p.field), ["queue.dlqRetentionDays"]);
    assert.equal(deployConfig(deployable({ queue: { retentionDays: 14, dlqRetentionDays: 14 } })).queue.retentionDays, 14);
  });

  it("accepts the deployable minimum and fills every default", () => {
    const c = deployConfig(structuredClone(DEPLOYABLE));
    assert.equal(c.fleet.minSize, 0);
    assert.equal(c.fleet.amiId, DEPLOYABLE.fleet.amiId);
  });
});

describe("infra/deploy-config: which file is synthesized", () => {
  const root = mkdtempSync(join(tmpdir(), "spotq-config-"));

  it("--config wins over SPOTQ_CONFIG, which wins over spotq.config.json", () => {
    writeFileSync(join(root, "spotq.config.json"), "{}");
    assert.equal(configFileFrom(["--config", "/x/a.json"], { SPOTQ_CONFIG: "/x/b.json" }, root), "/x/a.json");
    assert.equal(configFileFrom([], { SPOTQ_CONFIG: "/x/b.json" }, root), "/x/b.json");
    assert.equal(configFileFrom([], {}, root), join(root, "spotq.config.json"));
  });

  it("says how to make a config when there is none", () => {
    const empty = mkdtempSync(join(tmpdir(), "spotq-noconfig-"));
    assert.throws(() => configFileFrom([], {}, empty), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.match(e.message, /spotq\.config\.json: not found .*copy spotq\.config\.example\.json/);
      return true;
    });
  });

  it("refuses --config without a file", () => {
    assert.throws(() => configFileFrom(["--config"], {}, root), /--config: needs a file path/);
  });

  it("reports unreadable JSON with the file's name", () => {
    const file = join(root, "broken.json");
    writeFileSync(file, "{ not json");
    assert.throws(() => loadDeployConfig(file), /fleet config .*broken\.json is not valid JSON/);
  });
});

describe("infra/deploy-config: config that cannot strand jobs (issue 8 §10)", () => {
  const fieldsOf = (patch: Record<string, unknown>) => refusal(deployable(patch)).problems.map((p) => p.field);
  const accepts = (patch: Record<string, unknown>) => deployConfig(deployable(patch));

  it("storage.expirePrefixes must be folder prefixes (or \"\" for the whole bucket)", () => {
    assert.deepEqual(fieldsOf({ storage: { expirePrefixes: ["tmp"] } }), ["storage.expirePrefixes.0"]);
    assert.deepEqual(fieldsOf({ storage: { expirePrefixes: ["tmp/", "/inbox/"] } }), ["storage.expirePrefixes.1"]);
    assert.deepEqual(accepts({ storage: { expirePrefixes: ["tmp/", ""] } }).storage.expirePrefixes, ["tmp/", ""]);
  });

  it("the lowest scale-out step must start at a backlog of 1 unless the fast path starts instances", () => {
    const steps = { few: { backlogAtLeast: 3, addInstances: 1 }, many: { backlogAtLeast: 10, addInstances: 4 } };
    const err = refusal(deployable({ scaling: { fastPath: false, scaleOutSteps: steps } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["scaling.scaleOutSteps.few.backlogAtLeast"]);
    assert.match(err.problems[0]!.reason, /a backlog of 2 job\(s\) would never start an instance/);
    assert.equal(accepts({ scaling: { fastPath: true, scaleOutSteps: steps } }).scaling.fastPath, true);
  });

  it("a Windows fleet runs x86_64 GPU types only, naming the type", () => {
    const err = refusal(deployable({ fleet: { instanceTypes: ["g4dn.xlarge", "m5.xlarge", "g5g.xlarge"] } }));
    assert.deepEqual(err.problems.map((p) => p.field).sort(), ["fleet.instanceTypes", "fleet.instanceTypes.1", "fleet.instanceTypes.2"]);
    assert.match(err.message, /m5\.xlarge is not a GPU instance type/);
    assert.match(err.message, /g5g\.xlarge is an arm64 \(Graviton\) type; Windows AMIs on EC2 are x86_64 only/);
    assert.ok(accepts({ fleet: { instanceTypes: ["g6.xlarge", "g4ad.xlarge", "p3.2xlarge"] } }));
  });

  it("a Linux fleet may use any type, but one architecture", () => {
    assert.ok(accepts({ fleet: { platform: "linux", bootSeconds: 90, instanceTypes: ["c7g.xlarge", "g5g.xlarge"] } }));
    assert.deepEqual(fieldsOf({ fleet: { platform: "linux", bootSeconds: 90, instanceTypes: ["g4dn.xlarge", "g5g.xlarge"] } }), ["fleet.instanceTypes"]);
  });

  it("subnets are listed once", () => {
    const subnet = DEPLOYABLE.fleet.subnetIds[0];
    assert.deepEqual(fieldsOf({ fleet: { subnetIds: [subnet, subnet] } }), ["fleet.subnetIds"]);
  });

  it("a Windows boot time shorter than a Windows GPU instance can boot", () => {
    const err = refusal(deployable({ fleet: { bootSeconds: WINDOWS_MIN_BOOT_SECONDS - 1 } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["fleet.bootSeconds"]);
    assert.ok(accepts({ fleet: { bootSeconds: WINDOWS_MIN_BOOT_SECONDS } }));
    assert.ok(accepts({ fleet: { platform: "linux", bootSeconds: 60 } }), "Linux boots in about a minute");
  });

  it("fleet.nodeMajor is an even Node.js line from 22 to 26", () => {
    for (const nodeMajor of [20, 23, 28]) assert.deepEqual(fieldsOf({ fleet: { nodeMajor } }), ["fleet.nodeMajor"], String(nodeMajor));
    for (const nodeMajor of [22, 24, 26]) assert.equal(accepts({ fleet: { nodeMajor } }).fleet.nodeMajor, nodeMajor);
  });

  it("a pinned Node.js release must be of fleet.nodeMajor, with a SHA-256", () => {
    const node = { version: "22.12.0", sha256: "a".repeat(64) };
    assert.deepEqual(fieldsOf({ fleet: { artifacts: { node } } }), ["fleet.artifacts.node.version"]);
    assert.deepEqual(fieldsOf({ fleet: { artifacts: { node: { ...node, version: "24.11.1", sha256: "ABC" } } } }), ["fleet.artifacts.node.sha256"]);
    assert.ok(accepts({ fleet: { nodeMajor: 22, artifacts: { node } } }));
  });

  it("Terraform template sequences in any string, naming where", () => {
    const err = refusal(deployable({ processor: { args: ["--iScanComplete", "{config}", "--key=${LICENSE}"], env: { PATHEXT: "%{x}" } } }));
    assert.deepEqual(err.problems.map((p) => p.field).sort(), ["processor.args[2]", "processor.env.PATHEXT"]);
    assert.match(err.message, /contains "\$\{", which Terraform reads as a template interpolation/);
  });

  it("queue.retentionDays up to SQS's 14 days, and longer than every attempt of a job", () => {
    assert.deepEqual(fieldsOf({ queue: { retentionDays: 15 } }), ["queue.retentionDays"]);
    assert.equal(accepts({ queue: { retentionDays: 14 } }).queue.retentionDays, 14);
    const err = refusal(deployable({ queue: { retentionDays: 1 }, jobs: { maxAttempts: 3, timeoutSeconds: 40_000 } }));
    assert.deepEqual(err.problems.map((p) => p.field), ["queue.retentionDays"]);
    assert.match(err.problems[0]!.reason, /a retried job's message would expire/);
  });

  it("an interactive session needs Windows and a user to log on", () => {
    assert.deepEqual(fieldsOf({ processor: { session: "interactive" } }), ["processor.autoLogon"]);
    const autoLogon = { user: "medit", passwordParameter: "/spotq/medit-password" };
    assert.deepEqual(fieldsOf({ processor: { session: "interactive", autoLogon }, fleet: { platform: "linux" } }), ["processor.session"]);
    assert.deepEqual(fieldsOf({ processor: { autoLogon } }), ["processor.autoLogon"], "autoLogon without an interactive session is a mistake");
    assert.deepEqual(fieldsOf({ processor: { session: "interactive", autoLogon: { ...autoLogon, passwordParameter: "has space" } } }), ["processor.autoLogon.passwordParameter"]);
    assert.equal(accepts({ processor: { session: "interactive", autoLogon } }).processor.session, "interactive");
  });

  it("an instance refresh that would kill busy workers, or an impossible healthy range", () => {
    assert.deepEqual(fieldsOf({ fleet: { instanceRefresh: { scaleInProtectedInstances: "Refresh" } } }), ["fleet.instanceRefresh.scaleInProtectedInstances"]);
    assert.deepEqual(fieldsOf({ fleet: { instanceRefresh: { minHealthyPercentage: 50, maxHealthyPercentage: 200 } } }), ["fleet.instanceRefresh.maxHealthyPercentage"]);
  });

  it("a boot breaker window CloudWatch cannot use as an alarm period", () => {
    assert.deepEqual(fieldsOf({ fleet: { bootBreaker: { windowSeconds: 90 } } }), ["fleet.bootBreaker.windowSeconds"]);
  });
});
