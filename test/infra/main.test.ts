import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const projectRoot = fileURLToPath(new URL("../../", import.meta.url));
const example = JSON.parse(readFileSync(join(projectRoot, "spotq.config.example.json"), "utf8")) as Record<string, Record<string, unknown>>;

/** Runs `npm run synth -- <args>` as a user would, with cdktf's output folder in a scratch place. */
function synth(args: string[], env: Record<string, string> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), "spotq-synth-"));
  const r = spawnSync("npm", ["run", "--silent", "synth", "--", ...args], {
    cwd: projectRoot,
    env: { ...process.env, CDKTF_OUTDIR: outdir, ...env },
    encoding: "utf8",
    timeout: 90_000,
  });
  return { status: r.status, stderr: r.stderr, outdir };
}

function configFile(patch: (c: Record<string, Record<string, unknown>>) => void): string {
  const c = structuredClone(example);
  patch(c);
  const file = join(mkdtempSync(join(tmpdir(), "spotq-cfg-")), "spotq.config.json");
  writeFileSync(file, JSON.stringify(c));
  return file;
}

describe("infra/main.ts (npm run synth): fails before synthesis on a bad config, naming the key", function () {
  this.timeout(120_000);

  const cases: [string, (c: Record<string, Record<string, unknown>>) => void, RegExp][] = [
    ["an unknown key", (c) => (c.fleet!.maxSzie = 3), /fleet\.maxSzie: unknown key; accepted keys here: .*maxSize/],
    ["max below min", (c) => Object.assign(c.fleet!, { minSize: 5, maxSize: 2 }), /fleet\.maxSize: must be at least fleet\.minSize \(5\)/],
    ["a job timeout of 12 h", (c) => (c.jobs!.timeoutSeconds = 43_200), /jobs\.timeoutSeconds: must be below 43200 \(12 h\)/],
    ["no instance types", (c) => (c.fleet!.instanceTypes = []), /fleet\.instanceTypes: must list at least one instance type/],
  ];
  for (const [what, patch, message] of cases)
    it(`refuses ${what}`, () => {
      const r = synth(["--config", configFile(patch)]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /spotq: invalid fleet config .*spotq\.config\.json\n/);
      assert.match(r.stderr, message);
      assert.ok(!existsSync(join(r.outdir, "stacks")), "nothing is synthesized");
    });

  it("says how to start when there is no config", () => {
    const r = synth([], { SPOTQ_CONFIG: join(tmpdir(), "does-not-exist", "spotq.config.json") });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot read fleet config .*does-not-exist/);
  });

  it("synthesizes the example config as shipped", () => {
    const r = synth(["--config", join(projectRoot, "spotq.config.example.json")]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /spotq: bundling the API Lambda, the worker and the boot breaker with esbuild/);
    const tf = JSON.parse(readFileSync(join(r.outdir, "stacks", "spotq", "cdk.tf.json"), "utf8"));
    assert.ok(tf.resource.aws_autoscaling_group);
    assert.match(r.stderr, /spotq: wrote .*stacks\/spotq\/cdk\.tf\.json/);
  });
});
