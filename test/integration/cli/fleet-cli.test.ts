import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fleetConfig } from "../../../core/fleet-config.ts";
import { runCli } from "../../../scripts/cli/main.ts";
import { LocalFleet } from "../../../scripts/local/fleet.ts";
import { writeLocalState } from "../../../scripts/local/state.ts";
import { FleetEventLog, IDLE_PROCESS } from "../local/fleet-helpers.ts";

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[]; text: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, (s) => out.push(s), (s) => err.push(s));
  return { code, out, err, text: [...out, ...err].join("\n") };
}

/**
 * `spotq fleet` and the local fleet's chaos commands, against a local fleet alone (no emulators): the
 * CLI finds it through a local-stack state file, as it finds `npm start`.
 */
describe("spotq fleet and spotq local (Auto Scaling chaos) against a local fleet", function () {
  this.timeout(60_000);
  let fleet: LocalFleet;
  let events: FleetEventLog;
  let dir: string;
  const savedDir = process.env.SPOTQ_LOCAL_DIR;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "spotq-fleet-cli-"));
    fleet = await LocalFleet.start({
      config: fleetConfig({ fleet: { minSize: 0, maxSize: 4, bootSeconds: 0 } }),
      launch: IDLE_PROCESS,
      workRoot: path.join(dir, "instances"),
      stopGraceSeconds: 1,
      restartDelaySeconds: 0.2,
      launchRetrySeconds: 0.1,
    });
    events = new FleetEventLog(fleet);
    writeLocalState(dir, {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      apiUrl: "http://127.0.0.1:9",
      controlUrl: fleet.controlEndpoint!,
      aws: { region: "us-east-1", endpoints: {} },
      deployment: { tableName: "t", queueUrl: "q", dlqUrl: "d", bucket: "b", groupName: fleet.groupName },
      dir,
    });
    process.env.SPOTQ_LOCAL_DIR = dir;
  });
  afterEach(async () => {
    if (savedDir === undefined) delete process.env.SPOTQ_LOCAL_DIR;
    else process.env.SPOTQ_LOCAL_DIR = savedDir;
    await fleet.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a boot loop trips the breaker; `spotq fleet` shows it and `spotq fleet resume` resumes launches", async () => {
    const inject = await cli("local", "fail-boots", "--count", "3");
    assert.equal(inject.code, 0, inject.text);
    fleet.setDesired(1);
    await events.waitFor("boot_breaker_tripped");

    const shown = await cli("fleet");
    assert.equal(shown.code, 0, shown.text);
    assert.match(shown.text, /group spotq-workers: desired 1 \(min 0, max 4\), launch template version 1/);
    assert.match(shown.text, /suspended processes: AZRebalance \(User suspended at .+\), Launch \(User suspended at .+\)/);
    assert.match(shown.text, /boot breaker: OPEN since .+: 3 failed boots within 1 h \(the last: i-0[0-9a-f]{16}, user data failed \(injected\)\)/);
    assert.match(shown.text, /fix the cause of the failed boots, then: spotq fleet resume/);

    const json = await cli("fleet", "--json");
    const report = JSON.parse(json.out.join("\n"));
    assert.equal(report.breaker.failures, 3);
    assert.equal(report.group.AutoScalingGroupName, "spotq-workers");

    const resumed = await cli("fleet", "resume");
    assert.equal(resumed.code, 0, resumed.text);
    assert.match(resumed.text, /Launch resumed; breaker cleared \(it said: 3 failed boots/);
    await events.waitFor("instance_in_service");
    assert.match((await cli("fleet")).text, /boot breaker: closed/);
    assert.match((await cli("fleet", "resume")).text, /nothing to resume/);
  });

  it("shows each instance with state, health, protection, zone, type and template version", async () => {
    fleet.setDesired(1);
    const { instanceId } = await events.waitFor("instance_in_service");
    const r = await cli("fleet");
    assert.match(r.text, new RegExp(`instances \\(1\\):\\n  ${instanceId}  InService\\s+Healthy\\s+protected\\s+us-east-1a\\s+g4dn\\.xlarge\\s+v1`));
    const local = await cli("local", "instances");
    assert.match(local.text, new RegExp(`${instanceId}  InService\\s+Healthy\\s+protected\\s+us-east-1a\\s+v1`));
  });

  it("marks an instance unhealthy, bumps the template and refreshes, all from the CLI", async () => {
    fleet.setDesired(1);
    const { instanceId } = await events.waitFor("instance_in_service");
    assert.equal((await cli("local", "unhealthy", instanceId)).code, 0);
    assert.deepEqual(await events.waitFor("instance_terminated"), { instanceId, reason: "unhealthy" });
    const next = await events.waitFor("instance_in_service", (e) => e.instanceId !== instanceId);
    fleet.group.setInstanceProtection([next.instanceId], false);
    assert.match((await cli("local", "bump-template")).text, /launch template version 1 -> 2/);
    const started = await cli("local", "refresh", "--min-healthy", "0", "--warmup", "0");
    assert.equal(started.code, 0, started.text);
    await events.waitFor("instance_refresh", (e) => e.status === "Successful");
    const g = await cli("local", "group");
    assert.match(g.text, /launch template version 2/);
    assert.match(g.text, /instance refresh .+: Successful 100%, 0 to update/);
  });

  it("injects launch failures by code, zone and count, and shows the failed activity", async () => {
    const r = await cli("local", "fail-launches", "--code", "ice", "--az", "us-east-1a", "--count", "1");
    assert.equal(r.code, 0, r.text);
    assert.match(r.text, /launches in us-east-1a now fail with InsufficientInstanceCapacity \(1 times\)/);
    fleet.setDesired(1);
    await events.waitFor("instance_in_service");
    assert.match((await cli("fleet")).text, /last failed activity .+: We currently do not have sufficient g4dn\.xlarge capacity in the Availability Zone you requested \(us-east-1a\)/);
    const bad = await cli("local", "fail-launches", "--code", "meteor");
    assert.equal(bad.code, 1);
    assert.match(bad.text, /must be one of InsufficientInstanceCapacity, VcpuLimitExceeded/);
  });

  it("refuses an unknown local or fleet command, naming the ones it knows", async () => {
    const local = await cli("local", "melt");
    assert.equal(local.code, 2);
    assert.match(local.text, /unknown local command "melt"[\s\S]*fail-launches/);
    const f = await cli("fleet", "melt");
    assert.equal(f.code, 2);
    assert.match(f.text, /use `spotq fleet` or `spotq fleet resume`/);
  });
});
