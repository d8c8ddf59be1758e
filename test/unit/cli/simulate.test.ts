import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../../scripts/cli/main.ts";

/** Runs the CLI in-process and keeps what it printed. */
async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("cli: spotq simulate and spotq tune", () => {
  let dir: string;
  let config: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "spotq-sim-"));
    config = join(dir, "spotq.config.json");
    writeFileSync(config, JSON.stringify({ fleet: { instanceTypes: ["g4dn.xlarge"], maxSize: 6, idleTimeoutSeconds: 900 }, scaling: { policy: "visible" } }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("--json prints the issue's shape: workload, a row per policy, the lower bound", async () => {
    const r = await cli("simulate", "--config", config, "--workload", "steady", "--jobs-per-day", "40", "--seed", "11", "--json", "--policy", "deficit+fast");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.seed, 11);
    assert.deepEqual(Object.keys(j.workload).sort(), ["description", "jobs", "name", "spanSeconds"]);
    assert.equal(j.workload.spanSeconds, 86_400);
    assert.deepEqual(
      j.policies.map((p: { name: string }) => p.name),
      ["config", "deficit+fast"],
      "config is always compared",
    );
    for (const p of j.policies) {
      for (const k of ["jobs", "costUsd", "costPerJobUsd", "interruptedJobs"]) assert.equal(typeof p[k], "number", k);
      assert.deepEqual(Object.keys(p.instanceSeconds).sort(), ["boot", "busy", "idle"]);
      for (const k of ["p50", "p95", "max"]) assert.equal(typeof p.waitSeconds[k], "number");
      assert.equal(p.jobs, j.workload.jobs, "every job finished");
    }
    assert.equal(typeof j.lowerBound.costUsd, "number");
    for (const k of ["p50", "p95", "max"]) assert.equal(typeof j.lowerBound.waitSeconds[k], "number");
  });

  it("replays a run from its seed", async () => {
    const a = await cli("simulate", "--config", config, "--seed", "5", "--json");
    const b = await cli("simulate", "--config", config, "--seed", "5", "--json");
    assert.equal(a.out, b.out);
  });

  it("prints a table by default, with the seed to replay it", async () => {
    const r = await cli("simulate", "--config", config, "--workload", "nightly-batch", "--jobs-per-day", "12", "--seed", "3");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /seed 3: the same seed replays the same run/);
    assert.match(r.out, /^policy +jobs +cost/m);
    assert.match(r.out, /^lower bound +12 /m);
  });

  it("runs a CSV trace and writes a self-contained HTML report", async () => {
    const trace = join(dir, "trace.csv");
    writeFileSync(trace, "submit_s,process_s\n0,600\n30,600\n4000,900\n");
    const html = join(dir, "report.html");
    const r = await cli("simulate", "--config", config, "--trace", trace, "--html", html, "--seed", "1");
    assert.equal(r.code, 0, r.err);
    const page = readFileSync(html, "utf8");
    assert.match(page, /^<!doctype html>/);
    assert.ok((page.match(/<svg /g) ?? []).length >= 3, "charts over time");
    assert.doesNotMatch(page, /<script|https?:\/\/(?!www\.w3\.org)/, "no script, nothing fetched");
    assert.match(page, /<th>lower bound<\/th>/);
  });

  it("refuses bad input naming the option and the reason", async () => {
    const unknown = await cli("simulate", "--config", config, "--policy", "magic");
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /--policy: unknown "magic"; known: config, visible/);
    const workload = await cli("simulate", "--config", config, "--workload", "weekly");
    assert.match(workload.err, /--workload: unknown generator "weekly"; known: steady, clinic-hours, nightly-batch/);
    const missing = await cli("simulate", "--config", join(dir, "nope.json"));
    assert.match(missing.err, /cannot read config .*nope\.json/);
    const badTrace = join(dir, "bad.csv");
    writeFileSync(badTrace, "submit_s,process_s\n1,x\n");
    assert.match((await cli("simulate", "--config", config, "--trace", badTrace)).err, /bad\.csv:2: process_s "x" must be a number of seconds > 0/);
    assert.match((await cli("tune", "--config", config)).err, /--p95-wait: is required/);
    assert.match((await cli("tune", "--config", config, "--p95-wait", "soon")).err, /--p95-wait: "soon" is not a duration/);
  });

  it("tune prints the cheapest setting that meets the target as a diff, beside today's figures", async function () {
    this.timeout(120_000);
    const args = ["tune", "--config", config, "--workload", "clinic-hours", "--jobs-per-day", "60", "--p95-wait", "12m", "--seed", "2", "--seeds", "1"];
    const r = await cli(...args, "--json");
    assert.equal(r.code, 0, r.err + r.out);
    const j = JSON.parse(r.out) as {
      today: { costUsd: number; waitSeconds: { p95: number } };
      recommended: { figures: { costUsd: number; waitSeconds: { p95: number } }; changes: { key: string; before: unknown; after: unknown }[] };
    };
    assert.ok(j.recommended.figures.waitSeconds.p95 <= 720, "meets the target");
    assert.ok(j.recommended.figures.costUsd < j.today.costUsd, `cheaper than today (idle 900 s): $${j.recommended.figures.costUsd} vs $${j.today.costUsd}`);
    assert.ok(j.recommended.changes.some((c) => c.key === "fleet.idleTimeoutSeconds" && c.before === 900));

    // The diff, applied to the file, is the setting whose figures were printed.
    const raw = JSON.parse(readFileSync(config, "utf8")) as Record<string, Record<string, unknown>>;
    for (const c of j.recommended.changes) {
      const [group, key] = c.key.split(".") as [string, string];
      raw[group] ??= {};
      if (c.after === undefined) delete raw[group]![key];
      else raw[group]![key] = c.after;
    }
    const applied = join(dir, "applied.json");
    writeFileSync(applied, JSON.stringify(raw));
    const again = await cli("tune", "--config", applied, ...args.slice(3), "--json");
    const k = JSON.parse(again.out) as { today: { costUsd: number } };
    assert.equal(k.today.costUsd, j.recommended.figures.costUsd);

    const text = await cli(...args);
    assert.match(text.out, /^- fleet\.idleTimeoutSeconds: 900$/m);
    assert.match(text.out, /^\+\+\+ recommended$/m);
    assert.match(text.out, /^today +\$[\d.]+ /m);
    assert.match(text.out, /^recommended +\$[\d.]+ /m);
  });
});
