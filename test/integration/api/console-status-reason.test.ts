import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { startApiServer, type ApiServer } from "../../../api/server.ts";
import { AwsClients } from "../../../aws/clients.ts";
import { AutoScalingFleetControl } from "../../../aws/fleet-control.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../../scripts/local/autoscaling-server.ts";
import { LIFECYCLE } from "../../../scripts/local/fleet-group.ts";
import { startConsoleBrowser, type ConsoleBrowser } from "../../support/console-browser.ts";
import { fixtureRequest, useApiHarness } from "./api-harness.ts";

const INSTANCE = "i-0fffffffffffffff6";
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
/** A bound on each wait in the page: the API reads the fleet once per 5 s, the console polls every 250 ms. */
const UI_TIMEOUT_MS = 20_000;

/**
 * The web console shows why a job waits or runs (issue 11 §4), in a real browser (Debian's
 * chromium through playwright-core), on an API served over HTTP that reads a local Auto Scaling
 * group through the production adapter. Lighter than test/e2e/console.test.ts: no fleet, no
 * workers; the job is moved by hand as a worker's claim moves it, and its instance is removed
 * from the group as Spot would.
 */
describe("console: status reasons in the jobs table and the job page, in chromium (issue 11 §4)", function () {
  this.timeout(90_000);
  const h = useApiHarness();
  let asg: AutoScalingServer;
  let clients: AwsClients;
  let server: ApiServer;
  let browser: ConsoleBrowser;
  let page: Page;
  let running: string;
  let queued: string;

  before(async function () {
    this.timeout(60_000);
    asg = await startAutoScalingServer({ group: { name: "spotq-workers", minSize: 0, maxSize: 1, desiredCapacity: 1 } });
    asg.group.addInstance(INSTANCE);
    asg.group.setLifecycleState(INSTANCE, LIFECYCLE.inService);
    clients = new AwsClients({ region: "us-east-1", endpoints: { autoscaling: asg.endpoint } });
    const group = new AutoScalingFleetControl(clients.autoscaling(), { groupName: asg.group.name });
    server = await startApiServer({ deps: { ...h().deps, console: { group }, log: quiet }, port: 0 });
    const submit = async (n: number) => {
      const res = await fetch(`${server.url}/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(fixtureRequest({ "Target Folder Path": `s3://spotq-api-test/results/console-${n}` })),
      });
      assert.equal(res.status, 202, await res.clone().text());
      return ((await res.json()) as { jobId: string }).jobId;
    };
    running = await submit(1);
    queued = await submit(2);
    const now = new Date().toISOString();
    await h().deps.store.transition(running, { state: "QUEUED", attempts: 0 }, "RUNNING", { attempts: 1, instanceId: INSTANCE, startedAt: now, progress: { phase: "process", updatedAt: now } });
    browser = await startConsoleBrowser();
    page = await browser.newPage();
  });
  after(async function () {
    this.timeout(30_000);
    await browser?.close();
    await server?.close();
    clients?.destroy();
    await asg?.stop();
  });

  /** Waits for a selector; on timeout says what the page showed. */
  async function see(selector: string, what: string): Promise<void> {
    try {
      await page.waitForSelector(selector, { timeout: UI_TIMEOUT_MS });
    } catch (err) {
      const text = await page.locator("main").innerText().catch(() => "(no main)");
      throw new Error(`${what}: ${selector} did not appear; the page showed:\n${text.slice(0, 2000)}`, { cause: err });
    }
  }

  it("the jobs table says why the queued job waits; the job page of the running job says it runs, then, its instance gone, warns without a reload", async () => {
    await page.goto(`${server.url}/console?poll=250#/jobs`);
    await see(`tr[data-job-id="${queued}"] .reason[data-reason="FLEET_AT_MAX"]`, "the queued job's reason in the table");
    const waiting = await page.locator(`tr[data-job-id="${queued}"] .reason`).innerText();
    assert.equal(waiting, "Waiting for capacity: the fleet is at its maximum size (1 of 1 instance, all busy); the job starts when one of them finishes");

    await page.goto(`${server.url}/console?poll=250#/jobs/${running}`);
    await see(`.reason-box[data-reason="RUNNING"]:not([hidden])`, "the running job's reason on its page");
    assert.match(await page.locator(".reason-box").innerText(), new RegExp(`^Status: Running on ${INSTANCE} since `));
    assert.equal(await page.locator(".reason-box.is-warning").count(), 0, "healthy: no warning");

    asg.group.terminateInstance(INSTANCE, false);
    asg.group.removeInstance(INSTANCE);
    await see(`.reason-box.is-warning[data-reason="INSTANCE_GONE"]`, "the page warns once the API's next fleet read sees the instance gone");
    assert.match(await page.locator(".reason-box").innerText(), new RegExp(`^Warning: Instance ${INSTANCE} is gone from the group; the job returns to the queue within the visibility timeout \\(by \\d\\d:\\d\\d:\\d\\d UTC\\)$`));
    assert.equal(await page.locator(".head-state [data-state]").getAttribute("data-state"), "RUNNING", "the record still says RUNNING; the reason says it is not healthy");

    await page.goto(`${server.url}/console?poll=250#/jobs`);
    await see(`tr[data-job-id="${running}"] .reason.is-warning[data-reason="INSTANCE_GONE"]`, "the table warns too");
    assert.match(await page.locator(`tr[data-job-id="${running}"] .reason`).innerText(), /^Warning: Instance .* is gone from the group/);
    assert.deepEqual(browser.problems, [], "no script error");
  });
});
