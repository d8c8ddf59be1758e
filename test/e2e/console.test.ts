import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import type { Page } from "playwright-core";
import { runCli } from "../../scripts/cli/main.ts";
import { REPO_ROOT } from "../../scripts/local/start.ts";
import { startConsoleBrowser, type ConsoleBrowser } from "../support/console-browser.ts";
import { makeScan, meditRequest, uploadScan } from "../support/e2e-scans.ts";
import { startE2eStack, type E2eStack } from "../support/e2e-stack.ts";

/** `SPOTQ_SCREENSHOTS=1` (npm run screenshots) writes docs/console-*.png for the README. */
const SCREENSHOTS = process.env.SPOTQ_SCREENSHOTS === "1";
const MAX_ATTEMPTS = 2;
/** How often the console polls in this test (`?poll=`): 4 times faster than its 2 s default. */
const POLL_MS = 500;
/** A bound on each wait in the page: generous, it only fails a hung run. */
const UI_TIMEOUT_MS = 90_000;

/**
 * Scripts that run in the page, as text: the test is compiled for Node (no DOM types), and tsx's
 * helpers (`__name`) do not exist in the page.
 */
const IN_PAGE = {
  mark: `(() => {
    window.__spotqMark = 42;
    window.__announced = [];
    const live = document.getElementById("announcer");
    new MutationObserver(() => window.__announced.push(live.textContent || "")).observe(live, { childList: true, characterData: true, subtree: true });
  })()`,
  marked: "window.__spotqMark === 42",
  announced: "window.__announced",
  /** Records each value `#fleet-desired` shows, once per change. */
  recordDesired: `(() => {
    window.__desired = [];
    const record = () => {
      const v = document.getElementById("fleet-desired")?.textContent;
      if (v != null && window.__desired.at(-1) !== v) window.__desired.push(v);
    };
    record();
    new MutationObserver(record).observe(document.getElementById("capacity"), { childList: true, subtree: true, characterData: true });
  })()`,
  desired: "window.__desired",
  unlabelledControls: `[...document.querySelectorAll("input, select, textarea")]
    .filter((el) => el.labels.length === 0 && !el.getAttribute("aria-label"))
    .map((el) => el.outerHTML)`,
  activeTag: "document.activeElement && document.activeElement.tagName",
  rowIds: `[...document.querySelectorAll("tbody tr")].map((r) => r.dataset.jobId)`,
  rowStates: `[...document.querySelectorAll("tbody tr")].map((r) => r.dataset.state)`,
  rowCount: `document.querySelectorAll("tbody tr").length`,
} as const;

/** A free TCP port on loopback (for the fleet's control surface, which the API must know up front). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The web console in a real browser (Debian's chromium, driven by playwright-core) on the whole
 * local stack: real API, real fleet, real worker processes. Every wait is on the page's DOM (or
 * the stack's events), never on a sleep: the console must show each change by itself, without a
 * reload, which a marker set on `window` at the start proves.
 */
describe("e2e: the web console in chromium on the local stack", function () {
  this.timeout(400_000);
  let e: E2eStack;
  let browser: ConsoleBrowser;
  let page: Page;
  const saved = { control: process.env.SPOTQ_FLEET_CONTROL_URL, sample: process.env.SPOTQ_QUEUE_SAMPLE_MS };

  before(async function () {
    this.timeout(120_000);
    browser = await startConsoleBrowser();
    // The API reads these from its environment (api/console/compose.ts): the fleet's control surface
    // for its alarm, and a queue-depth sample a second for the chart.
    const controlPort = await freePort();
    process.env.SPOTQ_FLEET_CONTROL_URL = `http://127.0.0.1:${controlPort}`;
    process.env.SPOTQ_QUEUE_SAMPLE_MS = "1000";
    e = await startE2eStack({
      config: (c) => ({
        ...c,
        fleet: { ...c.fleet, idleTimeoutSeconds: 10 },
        queue: { ...c.queue, receiveWaitSeconds: 5 },
        jobs: { ...c.jobs, heartbeatSeconds: 1, maxAttempts: MAX_ATTEMPTS, retryBackoffSeconds: 1 },
        scaling: { ...c.scaling, periodSeconds: 10 },
      }),
      fleet: { controlPort },
      // The alarm is evaluated every 10 s (the console shows its state) but its datapoints arrive an
      // hour late, so capacity comes from the fast path alone: one instance per job, whatever the
      // machine's load does to a worker's start (a slow start past the warmup would otherwise let
      // the alarm add a second instance, as AWS would).
      metricDelaySeconds: 3600,
    });
    page = await browser.newPage();
  });

  after(async function () {
    this.timeout(120_000);
    for (const [k, v] of [["SPOTQ_FLEET_CONTROL_URL", saved.control], ["SPOTQ_QUEUE_SAMPLE_MS", saved.sample]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await browser?.close();
    await e?.stop();
  });

  const consoleUrl = (hash = "") => `${e.stack.apiUrl}/console?poll=${POLL_MS}${hash}`;
  const s3 = () => e.stack.emulators.clients.s3();

  async function scan(name: string): Promise<string> {
    await uploadScan(s3(), e.stack.resources.bucket, `scans/${name}`, makeScan(name));
    return `scans/${name}`;
  }

  /** Waits for a selector in the page; on timeout says what the page showed. */
  async function see(selector: string, what: string, timeout = UI_TIMEOUT_MS): Promise<void> {
    try {
      await page.waitForSelector(selector, { timeout });
    } catch (err) {
      const text = await page.locator("main").innerText().catch(() => "(no main)");
      throw new Error(`${what}: ${selector} did not appear within ${timeout / 1000} s; the page showed:\n${text.slice(0, 2000)}`, { cause: err });
    }
  }

  /**
   * Waits until an in-page expression is true. Evaluated through the DevTools protocol, as the
   * page's own CSP (no eval) refuses playwright's waitForFunction with a string.
   */
  async function until(expression: string, what: string, timeout = UI_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeout;
    while ((await page.evaluate(expression)) !== true) {
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeout / 1000} s; the page showed:\n${(await page.locator("main").innerText()).slice(0, 2000)}`);
      await page.waitForTimeout(100);
    }
  }

  /** Marks the page, so a later check proves it was never reloaded; and records every announcement. */
  const markPage = () => page.evaluate(IN_PAGE.mark);
  const stillSamePage = async () => (await page.evaluate(IN_PAGE.marked)) === true;
  const announced = async () => (await page.evaluate(IN_PAGE.announced)) as string[];

  async function screenshot(name: string): Promise<void> {
    if (!SCREENSHOTS) return;
    mkdirSync(path.join(REPO_ROOT, "docs"), { recursive: true });
    await page.mouse.move(0, 0); // no hover highlight in the picture
    await page.screenshot({ path: path.join(REPO_ROOT, "docs", `console-${name}.png`), fullPage: true });
  }

  const pageErrors = () => browser.problems.filter((p) => !/Failed to load resource: the server responded with a status of 403/.test(p));

  it("asks for an API key when the API refuses the caller, sends it as x-api-key, and keeps it for the tab", async () => {
    // API Gateway's answer to a request without the key, played in front of the local API.
    const keys: (string | undefined)[] = [];
    const keyPage = await browser.newPage();
    await keyPage.route(/\/(jobs|fleet)(\?|\/|$)/, (route) => {
      const key = route.request().headers()["x-api-key"];
      keys.push(key);
      if (key === "k-4711") return route.continue();
      return route.fulfill({ status: 403, contentType: "application/json", body: '{"message":"Forbidden"}' });
    });
    await keyPage.goto(consoleUrl());
    const dialog = keyPage.locator("#key-dialog");
    await dialog.waitFor({ state: "visible", timeout: UI_TIMEOUT_MS });
    assert.match(await keyPage.locator("#key-reason").innerText(), /needs a key \(403\)/);

    // The dialog takes the key from the keyboard alone: it has the focus, Enter saves.
    await keyPage.getByLabel("Key sent as x-api-key").fill("k-4711");
    await keyPage.keyboard.press("Enter");
    await dialog.waitFor({ state: "hidden" });
    await keyPage.waitForSelector("#jobs-summary:not(:empty)", { timeout: UI_TIMEOUT_MS });
    assert.equal(keys.at(-1), "k-4711");
    assert.equal(await keyPage.evaluate(() => sessionStorage.getItem("spotq.apiKey")), "k-4711");

    // A reload of the same tab keeps the key: no dialog, the list loads.
    const before = keys.length;
    await keyPage.reload();
    await keyPage.waitForSelector("#jobs-summary:not(:empty)", { timeout: UI_TIMEOUT_MS });
    assert.equal(await dialog.isVisible(), false);
    assert.ok(keys.slice(before).every((k) => k === "k-4711"), `every call after the reload sent the key: ${JSON.stringify(keys.slice(before))}`);
    await keyPage.close();
  });

  it("opens /console, sees a job go to SUCCEEDED, opens it from the keyboard and sees its log and timings", async () => {
    const { bucket } = e.stack.resources;
    await page.goto(consoleUrl());
    await see("#jobs-summary:not(:empty)", "the jobs list loads");
    await markPage();

    const jobId = await e.jobs.submit(meditRequest(bucket, await scan("demo"), "results/demo"));
    await see(`tr[data-job-id="${jobId}"]`, "the new job appears in the list");
    await see(`tr[data-job-id="${jobId}"][data-state="SUCCEEDED"]`, "the job's row turns SUCCEEDED");

    await page.focus(`tr[data-job-id="${jobId}"] a`);
    await page.keyboard.press("Enter");
    await see("#log .line", "the attempt's log shows");
    assert.equal(await page.evaluate(IN_PAGE.activeTag), "H1", "the job's heading has the focus after the navigation");
    assert.match(await page.locator("h1").innerText(), new RegExp(jobId));
    await see('#log-status:text-matches("End of the log of attempt 1")', "the log is read to its end");
    const log = await page.locator("#log").innerText();
    assert.match(log, /attempt 1 of job/, "the worker's own lines");
    assert.match(log, /fake-medit: done/, "the processor's stdout");
    const timing = await page.locator(".timing-bar").getAttribute("aria-label");
    assert.match(timing ?? "", /^Timing: Queue wait .+, Download .+, Process .+, Upload .+; .+ in all$/);
    assert.match(await page.locator("section", { has: page.locator("#outputs-h") }).innerText(), /objects, .* in s3:\/\/spotq-local\/results\/demo/);
    assert.equal(await page.locator("#cancel-job").count(), 0, "no cancel button on a finished job");
    assert.ok(await stillSamePage(), "the page was never reloaded");

    // Every form control of the page has a label.
    assert.deepEqual(await page.evaluate(IN_PAGE.unlabelledControls), []);
    await screenshot("job");
  });

  it("shows a job submitted and cancelled from the CLI in both states, without a reload", async () => {
    const { bucket } = e.stack.resources;
    await page.goto(consoleUrl("#/jobs"));
    await see("#jobs-summary:not(:empty)", "the jobs list loads");
    await markPage();
    const cli = async (...argv: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli([...argv, "--api", e.stack.apiUrl], (s) => out.push(s), (s) => err.push(s));
      assert.equal(code, 0, `spotq ${argv.join(" ")}: ${err.join("\n")}`);
      return out;
    };

    const source = await scan("cli");
    const submitted = await cli(
      "submit",
      path.join(REPO_ROOT, "test", "fixtures", "medit-request.json"),
      "--source",
      `s3://${bucket}/${source}`,
      "--target",
      `s3://${bucket}/results/cli`,
      "--set",
      "Fake Medit Behaviour=sleep=60000",
    );
    const jobId = /submitted (\S+)/.exec(submitted[0] ?? "")?.[1];
    assert.ok(jobId, `the CLI printed the job id: ${submitted.join("\n")}`);
    await see(`tr[data-job-id="${jobId}"]:is([data-state="QUEUED"], [data-state="RUNNING"])`, "the submitted job appears, waiting or running");
    const shownFirst = await page.locator(`tr[data-job-id="${jobId}"]`).getAttribute("data-state");

    await cli("cancel", jobId);
    await see(`tr[data-job-id="${jobId}"][data-state="CANCELLED"]`, "the job's row turns CANCELLED");

    assert.ok(await stillSamePage(), "both states came without a reload");
    const said = await announced();
    assert.ok(said.some((t) => t.includes("to CANCELLED")), `the live region announced the cancel: ${JSON.stringify(said)}`);
    assert.ok(shownFirst === "QUEUED" || shownFirst === "RUNNING");
  });

  it("shows a FAILED job's attempts and errors, and redrives it from its page", async () => {
    const { bucket } = e.stack.resources;
    const jobId = await e.jobs.submit(meditRequest(bucket, await scan("failing"), "results/failing", "fail"));
    await page.goto(consoleUrl(`#/jobs/${jobId}`));
    await markPage();
    await see('.head-state [data-state="FAILED"]', "the job ends FAILED after its attempts", 180_000);
    await see(`table.attempts tbody tr[data-attempt="${MAX_ATTEMPTS}"]`, "every attempt is listed");
    assert.match(await page.locator(".reason-box").innerText(), /^Error: /);
    assert.match(await page.locator("table.attempts").innerText(), /PROCESS_EXIT/);
    await see(`#log-status:text-matches("End of the log of attempt ${MAX_ATTEMPTS}")`, "the last attempt's log is read");
    await screenshot("failed-job");

    await page.click("#redrive-job");
    await page.locator("#confirm-dialog").waitFor({ state: "visible" });
    await page.click("#confirm-yes");
    await see('.head-state :is([data-state="QUEUED"], [data-state="RUNNING"])', "the redriven job is back in the queue");
    assert.ok(await stillSamePage());
    const job = await e.jobs.get(jobId);
    assert.ok(job.attemptHistory?.every((a) => a.redriven), "its earlier attempts no longer count");
    // It fails again (the processor still fails): the fleet then idles back to zero for the next test.
    await see('.head-state [data-state="FAILED"]', "the redriven job ends FAILED again", 180_000);
  });

  it("shows the fleet go 0 → 1 → 0 for a job, with the instance, its job and the alarm", async () => {
    const { bucket } = e.stack.resources;
    await e.fleet.until("the fleet is back at zero", () => e.fleet.snapshot().desired === 0 && e.fleet.snapshot().instances === 0, 120_000);
    await page.goto(consoleUrl("#/fleet"));
    await see('#fleet-desired:text-is("0")', "desired capacity 0");
    await see("#no-instances", "no instance");
    await markPage();
    await page.evaluate(IN_PAGE.recordDesired);

    const jobId = await e.jobs.submit(meditRequest(bucket, await scan("fleet"), "results/fleet", "sleep=4000"));
    await see('#fleet-desired:text-is("1")', "desired capacity 1");
    await see(`tr[data-instance-id] a[href="#/jobs/${jobId}"]`, "the instance shows the job it runs");
    const row = page.locator("tr[data-instance-id]");
    assert.equal(await row.count(), 1, `one instance for one job; the fleet's events:\n${e.fleet.describe().join("\n")}`);
    assert.match(await row.innerText(), /InService\s+Healthy\s+Yes/, "in service, healthy, protected while it works");
    await see('tr[data-alarm="spotq-backlog-deficit"] [data-alarm-state]', "the local fleet's scaling alarm, named as infra names it");
    await see('#breaker [data-breaker="closed"]', "the boot breaker, closed");
    await see("#queue-chart svg path.line-visible", "the queue depth chart");
    await screenshot("fleet");

    await see('#fleet-desired:text-is("0")', "desired capacity back to 0", 180_000);
    await see("#no-instances", "no instance left");
    const seen = await page.evaluate(IN_PAGE.desired);
    assert.deepEqual(seen, ["0", "1", "0"], "the page showed 0 → 1 → 0 by itself");
    assert.ok(await stillSamePage());
    const said = (await announced()).join(" | ");
    assert.match(said, /desired capacity 0 to 1/);
    assert.match(said, /desired capacity 1 to 0/);
  });

  it("lists every job newest first, filters by state and searches by path, and had no script error", async () => {
    await page.goto(consoleUrl("#/jobs"));
    await see("#jobs-summary:not(:empty)", "the jobs list loads");
    const ids = (await page.evaluate(IN_PAGE.rowIds)) as string[];
    assert.equal(ids.length, 4, "the four jobs of this suite");
    assert.deepEqual(ids, [...ids].sort().reverse(), "newest first (ids sort by time)");
    await screenshot("jobs");

    await page.getByLabel("CANCELLED", { exact: true }).check();
    await until(`${IN_PAGE.rowStates}.join() === "CANCELLED"`, "only the CANCELLED job is listed");
    assert.match(page.url(), /#\/jobs\?state=CANCELLED$/, "the filter is in the URL");

    await page.getByLabel("All", { exact: true }).check();
    await page.getByLabel("Search", { exact: true }).fill("results/demo");
    await until(`${IN_PAGE.rowCount} === 1`, "only the job whose path matches is listed");
    assert.match(await page.locator("tbody tr").innerText(), /results\/demo/);

    assert.deepEqual(pageErrors(), [], "no uncaught error and no console error in any page");
  });
});
