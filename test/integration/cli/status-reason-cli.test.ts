import assert from "node:assert/strict";
import { startApiServer, type ApiServer } from "../../../api/server.ts";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import { wait } from "../../../scripts/cli/commands/jobs.ts";
import { runCli } from "../../../scripts/cli/main.ts";
import type { Target } from "../../../scripts/cli/target.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../../scripts/local/autoscaling-server.ts";
import { LIFECYCLE } from "../../../scripts/local/fleet-group.ts";
import { fixtureRequest, useApiHarness } from "../api/api-harness.ts";

const INSTANCE = "i-0eeeeeeeeeeeeeee5";
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * `spotq status`, `list` and `wait` say why a job waits or runs (issue 11 §4): the API (served over
 * HTTP, reading a local Auto Scaling group through the production adapter) derives `statusReason`,
 * the CLI shows it.
 */
describe("spotq CLI: status reasons in status, list and wait (issue 11 §4)", function () {
  this.timeout(60_000);
  const h = useApiHarness();
  let asg: AutoScalingServer;
  let clients: AwsClients;
  const apis: ApiServer[] = [];
  let running: string;
  let queued: string;

  /** An API server of its own (its own 5 s fleet cache) on the harness's tables and the local group. */
  async function api(): Promise<ApiServer> {
    const port = new AutoScalingFleetControl(clients.autoscaling(), { groupName: asg.group.name });
    const s = await startApiServer({ deps: { ...h().deps, console: { group: port }, log: quiet }, port: 0 });
    apis.push(s);
    return s;
  }
  async function cli(server: ApiServer, ...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli([...argv, "--api", server.url], (s) => out.push(s), (s) => err.push(s));
    return { code, out, err };
  }

  before(async () => {
    // One instance, and the group at its maximum: one job runs on it, the next waits.
    asg = await startAutoScalingServer({ group: { name: "spotq-workers", minSize: 0, maxSize: 1, desiredCapacity: 1 } });
    asg.group.addInstance(INSTANCE);
    asg.group.setLifecycleState(INSTANCE, LIFECYCLE.inService);
    clients = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: asg.endpoint } });
    const server = await api();
    const submit = async (n: number) => {
      const res = await fetch(`${server.url}/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(fixtureRequest({ "Target Folder Path": `s3://spotq-api-test/results/cli-${n}` })) });
      assert.equal(res.status, 202, await res.clone().text());
      return ((await res.json()) as { jobId: string }).jobId;
    };
    running = await submit(1);
    queued = await submit(2);
    const now = new Date().toISOString();
    await h().deps.store.transition(running, { state: "QUEUED", attempts: 0 }, "RUNNING", { attempts: 1, instanceId: INSTANCE, startedAt: now, progress: { phase: "process", updatedAt: now } });
  });
  after(async () => {
    for (const s of apis) await s.close();
    clients?.destroy();
    await asg?.stop();
  });

  it("status and list: a waiting job says the fleet is at its maximum; a healthy running job's line needs no reason", async () => {
    const server = await api();
    const status = await cli(server, "status", queued);
    const list = await cli(server, "list", "--limit", "100");

    assert.equal(status.code, 0, status.err.join("\n"));
    assert.match(status.out.join("\n"), new RegExp(`^${queued} {2}QUEUED .* {2}\\(fleet at max\\)\\n {2}reason {3}Waiting for capacity: the fleet is at its maximum size \\(1 of 1 instance, all busy\\); the job starts when one of them finishes\\n`));
    const lines = list.out.join("\n").split("\n");
    assert.match(lines.find((l) => l.startsWith(queued)) ?? "", / {2}\(fleet at max\)$/);
    assert.match(lines.find((l) => l.startsWith(running)) ?? "", new RegExp(` {2}on ${INSTANCE} {2}process$`), "healthy: state, instance and phase say it all");
    const json = JSON.parse((await cli(server, "status", queued, "--json")).out.join("\n")) as { statusReason?: { code: string } };
    assert.equal(json.statusReason?.code, "FLEET_AT_MAX");
  });

  it("status, list and wait: a RUNNING job whose instance left the group shows WARNING: instance gone, and when it returns to the queue", async () => {
    asg.group.terminateInstance(INSTANCE, false);
    asg.group.removeInstance(INSTANCE);
    const server = await api();

    const status = await cli(server, "status", running);
    const list = await cli(server, "list", "--state", "RUNNING", "--limit", "100");

    const text = status.out.join("\n");
    assert.match(text, new RegExp(`^${running} {2}RUNNING .* {2}on ${INSTANCE} {2}process {2}\\(WARNING: instance gone\\)\\n`));
    assert.match(text, new RegExp(`\\n {2}reason {3}WARNING: Instance ${INSTANCE} is gone from the group; the job returns to the queue within the visibility timeout \\(by \\d\\d:\\d\\d:\\d\\d UTC\\)\\n`));
    assert.match(list.out.find((l) => l.startsWith(running)) ?? "", /\(WARNING: instance gone\)$/);

    // wait: the reason once, on its own line, under the job's line; the job then finishes.
    const printed: string[] = [];
    const target: Target = { kind: "deployed", apiUrl: server.url, aws: { region: "us-east-1" } as Target["aws"] };
    let finished = false;
    const code = await wait(target, running, { tty: false, intervalMs: 20, timeoutSeconds: 10 }, (line) => {
      printed.push(line);
      if (line.startsWith("  reason") && !finished) {
        finished = true;
        void h().deps.store.transition(running, { state: "RUNNING" }, "SUCCEEDED", { finishedAt: new Date().toISOString() });
      }
    });
    assert.equal(code, 0);
    assert.match(printed[0]!, /\(WARNING: instance gone\)$/);
    assert.match(printed[1]!, new RegExp(`^ {2}reason {3}WARNING: Instance ${INSTANCE} is gone from the group; `));
    assert.equal(printed.filter((l) => l.startsWith("  reason")).length, 1, "said once, not at every poll");
    assert.match(printed.find((l) => l.startsWith(running) && / SUCCEEDED /.test(l)) ?? "", /took/, "then the final line");
  });

  it("wait on a terminal: the reason is printed above the live line, which keeps the short form", async () => {
    const server = await api();
    const writes: string[] = [];
    const target: Target = { kind: "deployed", apiUrl: server.url, aws: { region: "us-east-1" } as Target["aws"] };
    const code = await wait(target, queued, { tty: true, timeoutSeconds: 0, write: (s) => writes.push(s) }, () => undefined);
    assert.equal(code, 4, "timed out: the job still waits");
    assert.match(writes[0]!, new RegExp(`^\\r\\x1b\\[2K {2}reason {3}Auto Scaling is launching an instance .*\\n\\r\\x1b\\[2K${queued} {2}QUEUED .* {2}\\(instance starting\\)$`), "the instance left; the group launches another");
  });
});
